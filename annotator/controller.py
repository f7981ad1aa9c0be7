"""The one object the GUI talks to: project, current image, current object, worker.

Widgets call the controller's methods and redraw on its signals; they never touch the
session, a predictor or the project files. All session work runs on the inference worker
in the order it was asked for; clicks that arrive while a prediction runs are coalesced
into the next prediction, and results that belong to an image the user has left are
dropped.
"""
from __future__ import annotations

import os
import time
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Signal

from engine import Click, InteractiveSession, Predictor
from engine.session import DEFAULT_PROB_THRESH
from engine.annotations import (AnnotatedObject, Category, ImageEntry, Project, ProjectError,
                                fallback_project_path)
from engine.coco import ImportReport, import_coco
from engine.imageio import load_image
from engine.journal import InProgress, Journal, JournalError, Recovery, set_aside
from engine.masks import decode_rle
from engine.review import ReviewQueue, accept, imported_rle, reject, relabel, revert
from engine.inference.options import InferenceOptions
from engine.proposals import Proposal, ProposalGenerator
from annotator.overlays import display_copy
from annotator.worker import InferenceWorker
from weights import DEFAULT_MODEL, MODELS, build_predictor


@dataclass(frozen=True)
class SessionView:
    """What the GUI shows of the object in progress, produced on the worker thread."""

    clicks: list[Click] = field(default_factory=list)
    mask: np.ndarray | None = None  # probability > threshold
    can_undo: bool = False
    can_redo: bool = False
    proposals: tuple[Proposal, ...] = ()  # the first click's alternatives, while shown
    current_proposal: int | None = None  # the one the mask is
    probability: np.ndarray | None = None  # the map the mask is thresholded from
    threshold: float = DEFAULT_PROB_THRESH
    # The clicks of each undoable / redoable step ((): a proposal choice or a hand edit).
    step_clicks: tuple[tuple[Click, ...], ...] = ()
    redo_step_clicks: tuple[tuple[Click, ...], ...] = ()


@dataclass(frozen=True)
class _Op:
    kind: str  # load | model | options | device | clicks | propose | choose | undo | redo
    #            | reset | initial_mask | edit | finish
    payload: object = None


# Operations that rebuild the predictor: they outlive a change of image.
_SETUP_OPS = ("model", "options", "device")


@dataclass(frozen=True)
class _FinishRequest:
    file_name: str
    category: str | None  # None: a correction keeps the instance's category
    editing_object_id: int | None


@dataclass(frozen=True)
class _Finished:
    mask: np.ndarray
    clicks: list[Click]


class SessionController(QObject):
    project_opened = Signal()
    image_loading = Signal(str)  # file name
    image_loaded = Signal(str, object)  # file name, H x W x 3 uint8 image
    image_failed = Signal(str, str)  # file name, message
    session_changed = Signal()  # clicks or current mask changed
    objects_changed = Signal()  # objects of the current image changed
    categories_changed = Signal()  # a category was added, renamed, recoloured, re-id'd, removed
    busy_changed = Signal(bool)
    model_changed = Signal(str)  # registry name of the model now in use (also sent when
    #                              its options or device changed, or a change failed)
    prediction_timed = Signal(float)  # seconds of the last prediction
    proposals_changed = Signal()  # view.proposals or view.current_proposal changed
    message = Signal(str)
    error = Signal(str)

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto",
                 parent: QObject | None = None, options: InferenceOptions | None = None) -> None:
        super().__init__(parent)
        self.model_name = model
        self.device = device
        # Zoom-In, BRS mode, TAIZ... (the GUI's defaults are the official demo's)
        self.options = options or InferenceOptions.demo()
        self.project: Project | None = None
        self.current_file: str | None = None
        self.image: np.ndarray | None = None
        self.display_image: np.ndarray | None = None  # the canvas's copy, made on the worker
        self.view = SessionView()
        self.editing_object_id: int | None = None
        self.last_category: str | None = None
        # Read by the worker at the start of each job: the shown and the finished mask.
        self.prob_thresh = DEFAULT_PROB_THRESH
        self.unreadable: dict[str, str] = {}
        self.recovery: Recovery | None = None  # what the last opening replayed from a crash
        self._files: list[str] = []
        self._worker = InferenceWorker(self)
        self._worker.finished.connect(self._on_job_done)
        self._worker.failed.connect(self._on_job_failed)
        self._pending: list[_Op] = []
        self._running: tuple[int, int, _Op] | None = None  # job id, generation, op
        self._generation = 0
        # The mask of the object in progress when a step without clicks (a stroke, a
        # clean-up, a chosen proposal) shaped it, and its click count: journaled with the
        # clicks, which alone cannot give it back after a crash.
        self._hand_mask: tuple[np.ndarray, int] | None = None
        # First-click proposals (the DISNet workflow) cost 3 more model runs per object:
        # off by default, a switch in the GUI.
        self.proposals_enabled = False
        self._proposal_generator = ProposalGenerator()
        # Owned by the worker thread: only jobs read or write these.
        self._predictor: Predictor | None = None
        self._options = self.options
        self._device = device
        self._session: InteractiveSession | None = None

    # -- state the GUI reads ------------------------------------------------------------
    @property
    def model_title(self) -> str:
        return MODELS[self.model_name].title

    @property
    def files(self) -> list[str]:
        return list(self._files)

    @property
    def current_index(self) -> int:
        return self._files.index(self.current_file) if self.current_file in self._files else -1

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._pending)

    @property
    def predicting(self) -> bool:
        """True while clicks are waiting for the model or being predicted."""
        running = [self._running[2]] if self._running is not None else []
        return any(op.kind == "clicks" for op in running + self._pending)

    @property
    def displayed_clicks(self) -> list[Click]:
        """Clicks of the object in progress, including those still waiting for the model."""
        return [click for step in self._displayed_steps() for click in step]

    @property
    def has_object_in_progress(self) -> bool:
        return bool(self._displayed_steps()) or self.editing_object_id is not None

    def _displayed_steps(self) -> list[tuple[Click, ...]]:
        """The clicks of each step of the object in progress once the worker has done what
        it was asked: the view's steps with the running and pending operations replayed.
        Undo takes away a whole step, which for a proposal choice or an edit holds no click."""
        steps, redo = list(self.view.step_clicks), list(self.view.redo_step_clicks)
        ops = ([self._running[2]] if self._running is not None else []) + self._pending
        coalesce = False
        for index, op in enumerate(ops):
            if op.kind == "clicks":
                if coalesce:  # _dispatch predicts queued clicks together: one step
                    steps[-1] += tuple(op.payload)
                else:
                    steps.append(tuple(op.payload))
                redo.clear()
            elif op.kind in ("choose", "edit"):
                steps.append(())
                redo.clear()
            elif op.kind == "undo" and steps:
                redo.append(steps.pop())
            elif op.kind == "redo" and redo:
                steps.append(redo.pop())
            elif op.kind in ("reset", "finish", "load"):
                steps, redo = [], []
            # Queued clicks join the queued clicks before them; the running job is alone.
            coalesce = op.kind == "clicks" and (index > 0 or self._running is None)
        return steps

    def current_entry(self) -> ImageEntry | None:
        if self.project is None or self.current_file is None:
            return None
        return self.project.images[self.current_file]

    def current_objects(self) -> list[AnnotatedObject]:
        entry = self.current_entry()
        return list(entry.objects) if entry else []

    def category_name(self, obj: AnnotatedObject) -> str:
        assert self.project is not None
        return self.project.category(obj.category_id).name

    # -- project and images -------------------------------------------------------------
    def open_folder(self, folder: str | Path, project_path: str | Path | None = None) -> None:
        """Open a folder of images (and its project, locked while it is open); raises
        ProjectError with a message, naming who has it open when another program does."""
        previous = self.project
        if previous is not None:
            previous.release_lock()  # the folder may be the one open now
        try:
            project = Project.open_folder(folder, project_path, lock=True)
        except ProjectError:
            if previous is not None:
                with suppress(ProjectError, OSError):  # if another took it, its saves say so
                    previous.hold_lock()
            raise
        if previous is not None and previous.journal is not None:
            previous.journal.close()
        self.recovery = self._open_journal(project)
        self.project = project
        self._files = [e.file_name for e in project.present_images()]
        self.unreadable.clear()
        self.current_file = None
        self.project_opened.emit()
        if project_path is None and not os.access(project.root, os.W_OK):
            self.message.emit(f"{project.root} is read-only: the project is saved to "
                              f"{project.path} instead.")
        if self._files:
            self.go_to(0)
        else:
            self.message.emit(f"No images found in {project.root}")

    def save_project_as(self, path: str | Path) -> bool:
        """Save the project to ``path`` from now on; False (the user told why) when it could
        not be saved. A place that cannot be written falls back like every save does: the
        project's ``path`` says where it went."""
        assert self.project is not None
        # The old journal stays beside the old file until the new file is written.
        journal, self.project.journal = self.project.journal, None
        old, self.project.path = self.project.path, Path(path)
        saved = self._save()
        if not saved:
            self.project.path = old  # still saved where it was (another may have it open)
        if journal is not None:
            self.project.journal = journal
            if saved:
                journal.relocate()
        return saved

    def discard_recovered(self) -> None:
        """The user declined to restore the object a crash left: stop offering it."""
        self._journal_progress([])

    def restore_in_progress(self, state: InProgress) -> None:
        """Make ``state`` (an object in progress a crash left) the object in progress again."""
        if state.file_name not in self._files:
            self.message.emit(f"{state.file_name} is no longer in the folder: its unfinished "
                              "object cannot be restored.")
            return
        if state.file_name != self.current_file:
            self.go_to(self._files.index(state.file_name))
        if state.editing_object_id is not None:
            try:
                self.correct_object(state.editing_object_id)
            except KeyError:  # the object was deleted: restore its clicks as a new object
                pass
        # Clicks, then the hand-made mask they led to, then the clicks made after it.
        before = state.mask_clicks if state.mask_rle is not None else len(state.clicks)
        if state.clicks[:before]:
            self._enqueue(_Op("clicks", list(state.clicks[:before])))
        if state.mask_rle is not None:
            mask = decode_rle(state.mask_rle)
            self._enqueue(_Op("edit", (lambda _: mask, None)))
            self._hand_mask = (mask, before)
        if state.clicks[before:]:
            self._enqueue(_Op("clicks", list(state.clicks[before:])))
        if state.clicks or state.mask_rle is not None:
            self._journal_progress(self.displayed_clicks, self._hand_mask)
        self.session_changed.emit()

    def go_to(self, index: int) -> None:
        """Show image ``index``; the object in progress is dropped (ask the user first)."""
        if not 0 <= index < len(self._files):
            return
        leaving_object = self.has_object_in_progress
        self._generation += 1
        # A finish asked for before leaving still runs (on the old session, before the load).
        # So does a change of model, options or device the user already confirmed.
        self._pending = [op for op in self._pending if op.kind in ("finish", *_SETUP_OPS)]
        self.current_file = self._files[index]
        self.image = self.display_image = None
        self._hand_mask = None
        self.editing_object_id = None
        if leaving_object:  # dropped, as the user chose: nothing to restore after a crash
            self._journal_progress([])
        self.view = SessionView()
        self.image_loading.emit(self.current_file)
        self.objects_changed.emit()
        self.session_changed.emit()
        self.proposals_changed.emit()
        self._enqueue(_Op("load", self.project.image_path(self.current_file)))

    def next_image(self) -> None:
        self.go_to(self.current_index + 1)

    def previous_image(self) -> None:
        self.go_to(self.current_index - 1)

    # -- the object in progress ---------------------------------------------------------
    def add_click(self, y: float, x: float, is_positive: bool) -> None:
        if self.image is None:
            return
        height, width = self.image.shape[:2]
        if not (0 <= y < height and 0 <= x < width):
            return
        self._enqueue(_Op("clicks", [Click(y, x, is_positive)]))
        self._journal_progress(self.displayed_clicks, self._hand_mask)  # before the model runs
        self.session_changed.emit()

    def set_model(self, name: str) -> None:
        """Switch to registry model ``name``; the object in progress is dropped (ask first).

        If the model cannot be built (weights missing or damaged) the old one stays.
        """
        self.editing_object_id = None
        self._enqueue(_Op("model", name))

    def set_options(self, options: InferenceOptions) -> None:
        """Run the model with ``options`` (Zoom-In, BRS, TAIZ...) from the next object on (as
        the official demo); like a model switch, the object in progress is dropped (ask first)."""
        self.options = options
        self.editing_object_id = None
        self._enqueue(_Op("options", options))

    def set_device(self, device: str) -> None:
        """Run the model on ``device`` ("auto", "cpu", "cuda") from the next object on; like
        a model switch, the object in progress is dropped (ask first)."""
        self.device = device
        self.editing_object_id = None
        self._enqueue(_Op("device", device))

    @property
    def current_family(self) -> str | None:
        """The checkpoint family of the model in use ("ritm", "fbrs"...; None: GrabCut)."""
        return MODELS[self.model_name].family

    @property
    def refines(self) -> bool:
        """True when predictions run a BRS optimisation (seconds per click on a CPU)."""
        return self.options.brs_mode != "NoBRS" and self.current_family in ("ritm", "fbrs")

    def set_threshold(self, threshold: float) -> None:
        """Cut the probability map at ``threshold`` from now on: the shown mask changes at
        once, without running the model, and finished objects use it."""
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"the threshold must lie strictly between 0 and 1, got {threshold}")
        self.prob_thresh = threshold
        self.view = self._thresholded(self.view)
        self.session_changed.emit()

    def _thresholded(self, view: SessionView) -> SessionView:
        if view.probability is None or view.threshold == self.prob_thresh:
            return view
        return replace(view, mask=view.probability > self.prob_thresh,
                       threshold=self.prob_thresh)

    def set_proposals_enabled(self, enabled: bool) -> None:
        """Offer first-click proposals after the next first clicks (or stop offering)."""
        self.proposals_enabled = enabled

    def choose_proposal(self, index: int) -> None:
        """Continue from the first click's proposal ``index`` (an undoable step)."""
        if 0 <= index < len(self.view.proposals):
            self._enqueue(_Op("choose", index))

    def edit_mask(self, edit: Callable[[np.ndarray], np.ndarray], what: str | None = None
                  ) -> None:
        """Change the mask of the object in progress by hand: ``edit`` (current mask -> new
        mask, run on the worker after every earlier operation) makes one undoable step in
        the clicks' history. Starts a new object when there is none. ``what`` names the
        edit in the message when it changes nothing ("Fill holes"); None: no message."""
        if self.image is None:
            return
        self._enqueue(_Op("edit", (edit, what)))
        self.session_changed.emit()

    def edit_object(self, object_id: int, edit: Callable[[np.ndarray], np.ndarray],
                    what: str) -> None:
        """Replace finished object ``object_id``'s mask with ``edit`` of it, saved and
        journaled like a correction. An edit that would empty the mask is refused."""
        assert self.project is not None
        entry, obj = self.project.find_object(object_id)
        mask = obj.mask
        edited = edit(mask)
        if np.array_equal(edited, mask):
            self.message.emit(f"{what}: object {object_id} has nothing to change.")
            return
        if not edited.any():
            self.message.emit(f"{what} would leave object {object_id} empty: unchanged.")
            return
        obj = self.project.replace_mask(object_id, edited, obj.clicks)
        self._journal_object(entry.file_name, obj, replaces=True)
        self._save()
        self.message.emit(f"{what}: object {object_id} changed.")
        self.objects_changed.emit()

    def undo(self) -> None:
        self._enqueue(_Op("undo"))
        self.session_changed.emit()  # the clicks shown change before the worker answers

    def redo(self) -> None:
        self._enqueue(_Op("redo"))
        self.session_changed.emit()

    def reset_object(self) -> None:
        """Drop the object in progress; a correction is cancelled, its instance unchanged."""
        if self.editing_object_id is not None:
            self.editing_object_id = None
            self.objects_changed.emit()
        self._enqueue(_Op("reset"))
        # Dropped now, as the user chose: nothing to offer back after a crash, nor after a
        # quit that stops the worker before it runs the reset.
        self._hand_mask = None
        self._journal_progress([])

    def finish_object(self, category: str | None = None) -> None:
        """Store the object in progress with ``category`` (a correction keeps its own)."""
        if self.editing_object_id is None and not category:
            raise ValueError("a new object needs a category")
        self._enqueue(_Op("finish", _FinishRequest(self.current_file, category,
                                                   self.editing_object_id)))
        self.editing_object_id = None

    def correct_object(self, object_id: int) -> None:
        """Make an existing instance the object in progress, to be corrected with clicks."""
        assert self.project is not None
        _, obj = self.project.find_object(object_id)
        self.editing_object_id = object_id
        self._enqueue(_Op("reset"))
        self._enqueue(_Op("initial_mask", obj.mask))
        self.objects_changed.emit()

    # -- finished objects ---------------------------------------------------------------
    def delete_object(self, object_id: int) -> None:
        assert self.project is not None
        if object_id == self.editing_object_id:
            self.reset_object()
        self.project.remove_object(object_id)
        self._journal(lambda journal: journal.record_delete(object_id))
        self._save()
        self.objects_changed.emit()

    def rename_object(self, object_id: int, category: str) -> None:
        assert self.project is not None
        relabel(self.project, object_id, category)  # an imported object records it
        self._journal(lambda journal: journal.record_category(object_id, category))
        self.last_category = category
        self._save()
        self.objects_changed.emit()

    def set_object_visible(self, object_id: int, visible: bool) -> None:
        assert self.project is not None
        self.project.find_object(object_id)[1].visible = visible
        self._journal(lambda journal: journal.record_visible(object_id, visible))
        self._save()
        self.objects_changed.emit()

    # -- review of imported objects ------------------------------------------------------
    def review_queue(self) -> ReviewQueue:
        """A snapshot of the imported objects of the folder's images, in review order."""
        return ReviewQueue.from_project(self.project) if self.project else ReviewQueue([])

    def set_review_outcome(self, object_id: int, outcome: str) -> None:
        """Decide the review of an imported object: "accepted", "rejected", or "pending"
        (undo the review: the imported mask and category again). A correction of it in
        progress is dropped."""
        assert self.project is not None
        decide = {"accepted": accept, "rejected": reject, "pending": revert}[outcome]
        if object_id == self.editing_object_id:
            self.reset_object()
        decide(self.project, object_id)
        self._save()
        self.objects_changed.emit()

    def imported_mask(self, object_id: int) -> np.ndarray | None:
        """The mask an imported object came with (before any correction); None otherwise."""
        assert self.project is not None
        rle = imported_rle(self.project.find_object(object_id)[1])
        return decode_rle(rle) if rle is not None else None

    def set_current_objects_visible(self, visible: bool) -> None:
        """Show or hide every object of the current image."""
        if self.project is None:
            return
        for obj in self.current_objects():
            obj.visible = visible
        self._save()
        self.objects_changed.emit()

    # -- categories (each raises ValueError with a message for the user; nothing changes) --
    def add_category(self, name: str, color: tuple[int, int, int] | None = None) -> Category:
        return self._change_categories(self.project.add_category, name, color)

    def rename_category(self, category_id: int, name: str) -> None:
        self._change_categories(self.project.rename_category, category_id, name)

    def recolor_category(self, category_id: int, color: tuple[int, int, int]) -> None:
        self._change_categories(self.project.recolor_category, category_id, color)

    def change_category_id(self, category_id: int, new_id: int) -> None:
        self._change_categories(self.project.change_category_id, category_id, new_id)

    def delete_category(self, category_id: int) -> None:
        self._change_categories(self.project.remove_category, category_id)

    def _change_categories(self, change: Callable, *args) -> object:
        assert self.project is not None
        result = change(*args)
        self._save()
        self.categories_changed.emit()
        self.objects_changed.emit()  # their names and colours are drawn with the objects
        return result

    def import_coco(self, path: str | Path) -> ImportReport:
        """Add a COCO file's instances to the open folder; raises CocoFormatError."""
        assert self.project is not None
        report = import_coco(self.project, path)
        self._save()
        self.objects_changed.emit()
        return report

    def shutdown(self) -> None:
        """Stop the worker, then the journal. Objects the user asked to finish are stored
        first (with the work queued before them); the rest of the queue is dropped."""
        self._store_requested_finishes()
        self._pending.clear()
        self._worker.shutdown()  # reports nothing after this: the journal can close
        if self.project is not None and self.project.journal is not None:
            self.project.journal.close()
        if self.project is not None:
            self.project.release_lock()

    # -- the queue ------------------------------------------------------------------------
    def _store_requested_finishes(self) -> None:
        """Run the queue up to its last finish, and until that finish is stored."""
        finishes = [index for index, op in enumerate(self._pending) if op.kind == "finish"]
        if finishes:
            self._pending = self._pending[:finishes[-1] + 1]
        while self._running is not None and any(
                op.kind == "finish" for op in [self._running[2], *self._pending]):
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents
                                           | QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)

    def _enqueue(self, op: _Op) -> None:
        was_busy = self.busy
        self._pending.append(op)
        if not was_busy:
            self.busy_changed.emit(True)
        self._dispatch()

    def _dispatch(self) -> None:
        if self._running is not None or not self._pending:
            return
        op = self._pending.pop(0)
        if op.kind == "clicks":
            # Everything clicked while the previous prediction ran goes into one prediction.
            clicks = list(op.payload)
            while self._pending and self._pending[0].kind == "clicks":
                clicks += self._pending.pop(0).payload
            op = _Op("clicks", clicks)
        job_id = self._worker.submit(lambda: self._run_op(op))
        self._running = (job_id, self._generation, op)

    def _run_op(self, op: _Op) -> object:
        """Runs on the worker thread."""
        if op.kind == "load":
            image = load_image(op.payload)
            if self._predictor is None:
                self._predictor = build_predictor(self.model_name, self._device, self._options)
            self._session = InteractiveSession(self._predictor, image, self.prob_thresh)
            return image, display_copy(image)
        if op.kind in _SETUP_OPS:
            if op.kind == "model":
                self._predictor = build_predictor(op.payload, self._device, self._options)
            elif op.kind == "options":
                self._predictor = build_predictor(self.model_name, self._device, op.payload)
                self._options = op.payload
            else:
                self._predictor = build_predictor(self.model_name, op.payload, self._options)
                self._device = op.payload
            if self._session is not None:
                self._session = InteractiveSession(self._predictor, self._session.image,
                                                   self.prob_thresh)
            return op.payload, SessionView()
        session = self._session
        if session is None:  # the image failed to load: nothing to act on
            return None
        session.prob_thresh = self.prob_thresh
        started = time.perf_counter()
        result: object = None
        if op.kind == "clicks":
            session.add_clicks(op.payload)
            result = time.perf_counter() - started
        elif op.kind == "propose":
            session.propose(self._proposal_generator)
            result = time.perf_counter() - started
        elif op.kind == "choose":
            if op.payload < len(session.proposals):  # a later click may have ended the choice
                session.choose_proposal(op.payload)
        elif op.kind == "undo":
            session.undo()
        elif op.kind == "redo":
            session.redo()
        elif op.kind == "reset":
            session.reset()
        elif op.kind == "initial_mask":
            session.set_initial_mask(op.payload)
        elif op.kind == "edit":
            edit, _ = op.payload
            result = session.edit_mask(edit(session.mask))
        elif op.kind == "finish":
            mask = session.mask
            if not mask.any():
                return None
            result = _Finished(mask, session.clicks)
            session.reset()
        else:
            raise ValueError(f"unknown operation {op.kind}")
        probability = session.probability
        return result, SessionView(session.clicks, session.mask if probability is not None
                                   else None, session.can_undo, session.can_redo,
                                   session.proposals, session.current_proposal, probability,
                                   session.prob_thresh, tuple(session.step_clicks),
                                   tuple(session.redo_step_clicks))

    def _take_running(self, job_id: int) -> tuple[bool, _Op]:
        assert self._running is not None and self._running[0] == job_id
        _, generation, op = self._running
        self._running = None
        return generation == self._generation, op

    def _on_job_done(self, job_id: int, result: object) -> None:
        current, op = self._take_running(job_id)
        if op.kind == "finish" and result is not None:
            self._store_finished(result[0], op.payload)  # belongs to its image, not the view
        if op.kind in _SETUP_OPS:  # the predictor changed, whichever image is shown now
            if op.kind == "model":
                self.model_name = op.payload
            self.model_changed.emit(self.model_name)
            if current:
                self.objects_changed.emit()
        if current:
            self._apply(op, result)
        self._dispatch()
        if not self.busy:
            self.busy_changed.emit(False)

    def _on_job_failed(self, job_id: int, exc: Exception) -> None:
        current, op = self._take_running(job_id)
        # A failed change of model, options or device is told whichever image is shown:
        # the old predictor stays, and the GUI shows what is still in use.
        if op.kind == "model":
            self.error.emit(f"Could not switch to {MODELS[op.payload].title}: {exc}. "
                            f"Still using {self.model_title}.")
        elif op.kind == "options":
            self.options = self._options  # the predictor still runs with these
            self.error.emit(f"Could not apply the inference options: {exc}")
        elif op.kind == "device":
            self.device = self._device
            self.error.emit(f"Could not run {self.model_title} on {op.payload}: {exc}. "
                            f"Still on {self._device}.")
        if op.kind in _SETUP_OPS:
            self.model_changed.emit(self.model_name)
        elif current:
            if op.kind == "load":
                self._session = None
                self.unreadable[self.current_file] = str(exc)
                self.image_failed.emit(self.current_file, str(exc))
            else:
                self.error.emit(f"{op.kind} failed: {exc}")
        self._dispatch()
        if not self.busy:
            self.busy_changed.emit(False)

    def _apply(self, op: _Op, result: object) -> None:
        if op.kind == "load":
            self.image, self.display_image = result
            self.unreadable.pop(self.current_file, None)
            entry = self.current_entry()
            entry.height, entry.width = self.image.shape[:2]
            self.image_loaded.emit(self.current_file, self.image)
            self.objects_changed.emit()
            self.session_changed.emit()
            return
        if result is None:  # finish of an empty mask, or no session
            if op.kind == "finish":
                self.message.emit("The mask is empty: nothing to finish.")
            return
        previous = self.view
        outcome, view = result
        self.view = self._thresholded(view)  # the threshold may have moved during the job
        if op.kind in ("clicks", "undo", "redo", "reset", "choose", "initial_mask", "edit",
                       "finish"):
            self._hand_mask = self._made_by_hand(self.view)
            self._journal_progress(self.view.clicks, self._hand_mask)  # before it is shown
        if op.kind == "clicks":
            self.prediction_timed.emit(outcome)
            if (self.proposals_enabled and len(self.view.clicks) == 1 and not self._pending
                    and self.editing_object_id is None):
                self._enqueue(_Op("propose"))
        elif op.kind == "propose" and self.view.proposals:
            count = len(self.view.proposals)
            self.message.emit(f"{count} proposals in {outcome:.2f} s: press 1-{count} or "
                              "click one to continue from it" if count > 1 else
                              "No alternative to this mask among the proposals.")
        elif op.kind == "edit" and not outcome and op.payload[1]:
            self.message.emit(f"{op.payload[1]}: the mask has nothing to change.")
        self.session_changed.emit()
        if (previous.proposals is not self.view.proposals
                or previous.current_proposal != self.view.current_proposal):
            self.proposals_changed.emit()

    def _store_finished(self, finished: _Finished, request: _FinishRequest) -> None:
        assert self.project is not None
        if request.editing_object_id is not None:
            obj = self.project.replace_mask(request.editing_object_id, finished.mask,
                                            finished.clicks)
            self._journal_object(request.file_name, obj, replaces=True)
            self.message.emit(f"Object {obj.id} corrected.")
        else:
            try:
                obj = self.project.add_object(request.file_name, finished.mask,
                                              request.category, "clicked", finished.clicks)
            except ValueError as exc:  # the image file changed size under the project
                self.error.emit(f"The object was not added: {exc}")
                return
            self._journal_object(request.file_name, obj, replaces=False)
            self.last_category = request.category
            self.message.emit(f"Object {obj.id} added as '{request.category}'.")
        self._save()
        self.objects_changed.emit()

    def _save(self) -> bool:
        """Save the project; where its file cannot be written (a read-only folder), save it
        in the user's data folder from now on and say so. False (the user told why) when
        neither could be written."""
        assert self.project is not None
        try:
            self.project.save()
            return True
        except ProjectError as exc:  # changed by another program, or open in another
            kept = "in memory" + (" and in the crash journal" if self.project.journal else "")
            self.error.emit(f"{exc}. Your work is kept {kept}; use File > Save Project As to "
                            "save it elsewhere.")
            return False
        except OSError as exc:
            failed, reason = self.project.path, exc.strerror or str(exc)
        fallback = fallback_project_path(self.project.root)
        if failed != fallback and self._move_project(fallback):
            self.error.emit(f"The project cannot be saved to {failed} ({reason}). It was saved "
                            f"to {fallback} instead, and is saved there from now on; your work "
                            "is safe. Use File > Save Project As to choose another place.")
            return True
        self.error.emit(f"Could not save the project to {failed} ({reason}). Your work is kept "
                        "in memory; use File > Save Project As to save it elsewhere.")
        return False

    def _move_project(self, path: Path) -> bool:
        """Save the project as ``path`` from now on, its journal moved beside it; False (and
        nothing changed) when ``path`` cannot be written either."""
        project = self.project
        journal, project.journal = project.journal, None  # it may not be writable where it is
        old, project.path = project.path, path
        try:
            project.save()
        except (OSError, ProjectError):
            project.path, project.journal = old, journal
            return False
        project.journal = journal
        if journal is not None:
            try:
                journal.relocate()
            except OSError as exc:
                self._journal_failed(exc)
        return True

    # -- the crash journal ----------------------------------------------------------------
    def _open_journal(self, project: Project) -> Recovery | None:
        """Replay what a crash left in ``project``'s journal and journal from now on."""
        try:
            journal, recovery = Journal.open(project)
        except JournalError as exc:
            try:
                aside = set_aside(project)
                journal, recovery = Journal.open(project)
            except (OSError, JournalError) as again:
                self.error.emit(f"{exc}. The crash journal is off: {again}")
                return None
            self.error.emit(f"{exc}. It was kept as {aside}; a new journal was started.")
            if exc.replayed is not None:  # the objects before the damage: kept and saved
                recovery = Recovery(exc.replayed.restored_object_ids,
                                    exc.replayed.edited_object_ids)
        except OSError as exc:
            self.error.emit(f"The crash journal of {project.path} cannot be used: {exc}. "
                            "Work since the last save would be lost in a crash.")
            return None
        if recovery.restored_object_ids:
            self.message.emit(f"Restored {len(recovery.restored_object_ids)} object(s) "
                              "finished before Clickmask stopped unexpectedly.")
        return recovery

    @staticmethod
    def _made_by_hand(view: SessionView) -> tuple[np.ndarray, int] | None:
        """(mask, clicks) when a step without clicks shaped ``view``'s mask, else None."""
        if view.mask is None or all(view.step_clicks):
            return None
        return view.mask, len(view.clicks)

    def _journal_progress(self, clicks: list[Click],
                          hand_mask: tuple[np.ndarray, int] | None = None) -> None:
        if self.current_file is not None:
            file_name, editing = self.current_file, self.editing_object_id
            self._journal(lambda journal: journal.record_progress(file_name, clicks, editing,
                                                                  hand_mask))

    def _journal_object(self, file_name: str, obj: AnnotatedObject, replaces: bool) -> None:
        category = self.category_name(obj)
        self._journal(lambda journal: journal.record_object(file_name, obj, category, replaces))

    def _journal(self, record: Callable[[Journal], None]) -> None:
        """Write ``record`` into the journal, if there is one; a journal that fails is
        switched off with a message (the project's saves go on)."""
        journal = self.project.journal if self.project is not None else None
        if journal is None:
            return
        try:
            record(journal)
        except (OSError, JournalError) as exc:
            self._journal_failed(exc)

    def _journal_failed(self, exc: Exception) -> None:
        self.project.journal.close()
        self.project.journal = None
        self.error.emit(f"The crash journal stopped: {exc}. Your work is saved with the "
                        "project as usual, but clicks in progress would be lost in a crash.")
