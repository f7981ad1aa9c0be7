"""The one object the GUI talks to: project, current image, current object, worker.

Widgets call the controller's methods and redraw on its signals; they never touch the
session, a predictor or the project files. All session work runs on the inference worker
in the order it was asked for; clicks that arrive while a prediction runs are coalesced
into the next prediction, and results that belong to an image the user has left are
dropped.
"""
from __future__ import annotations

import copy
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
from engine import edit_builders as build
from engine.annotations import (AnnotatedObject, Category, ImageEntry, Project, ProjectError,
                                ReviewOutcome)
from engine.coco import ImportReport
from engine.edits import Edit, EditError, ObjectChange
from engine.imageio import load_image
from engine.journal import InProgress, Recovery
from engine.masks import decode_rle, encode_rle
from engine.review import ReviewQueue, imported_rle
from engine.views import (CategoryRow, ImageRow, ObjectRow, category_rows, image_row,
                          object_rows)
from engine.workspace import Changed, Step, Workspace
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
    history_changed = Signal()  # what Edit > Undo / Redo would do changed
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
        self.workspace: Workspace | None = None  # the open project: changed only through it
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
        # The object in progress that Esc dropped, until Undo puts it back (or other work
        # makes that undo meaningless): in the journal's terms, as a crash would leave it.
        self._discarded: InProgress | None = None
        self._masks: dict[int, tuple[dict, np.ndarray]] = {}  # see object_mask
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
    def project(self) -> Project | None:
        """The open project, to read (changes go through :attr:`workspace`)."""
        return self.workspace.project if self.workspace is not None else None

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
        return self._displayed_history()[0]

    def _displayed_history(self) -> tuple[list[tuple[Click, ...]], list[tuple[Click, ...]]]:
        """The clicks of each step (and of each redoable step) of the object in progress
        once the worker has done what it was asked: the view's steps with the running and
        pending operations replayed. Undo takes away a whole step, which for a proposal
        choice or an edit holds no click."""
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
        return steps, redo

    # -- read-only rows for the widgets (they never hold the project) -----------------------
    @property
    def folder(self) -> Path | None:
        """The folder of the open project."""
        return self.project.root if self.project is not None else None

    @property
    def project_path(self) -> Path | None:
        """Where the open project is saved."""
        return self.project.path if self.project is not None else None

    def category_rows(self) -> tuple[CategoryRow, ...]:
        return category_rows(self.project) if self.project is not None else ()

    def object_rows(self) -> tuple[ObjectRow, ...]:
        """The objects of the current image."""
        if self.project is None or self.current_file is None:
            return ()
        return object_rows(self.project, self.current_file)

    def object_row(self, object_id: int) -> ObjectRow:
        """Object ``object_id`` of any image; KeyError when there is none."""
        assert self.project is not None
        entry, _ = self.project.find_object(object_id)
        return next(row for row in object_rows(self.project, entry.file_name)
                    if row.id == object_id)

    def image_row(self, file_name: str) -> ImageRow:
        assert self.project is not None
        return image_row(self.project, file_name)

    def object_mask(self, object_id: int) -> np.ndarray:
        """The mask of object ``object_id`` (decoded once per version of it, kept for the
        objects of the current image)."""
        assert self.project is not None
        _, obj = self.project.find_object(object_id)
        cached = self._masks.get(object_id)
        if cached is None or cached[0] is not obj.rle:  # an edit gives a changed object a new rle
            cached = self._masks[object_id] = (obj.rle, obj.mask)
        return cached[1]

    def export_snapshot(self) -> Project:
        """A copy of the project for a background export (the user may keep annotating)."""
        assert self.project is not None
        return copy.deepcopy(self.project)

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
        previous = self.workspace
        if previous is not None:
            previous.project.release_lock()  # the folder may be the one open now
        try:
            workspace, recovery = Workspace.open(folder, project_path, report=self.error.emit)
        except ProjectError:
            if previous is not None:
                with suppress(ProjectError, OSError):  # if another took it, its saves say so
                    previous.project.hold_lock()
            raise
        if previous is not None:
            previous.close()
        self.workspace, self.recovery, self._discarded = workspace, recovery, None
        workspace.subscribe(self._on_workspace_changed)
        project = workspace.project
        if recovery is not None and recovery.restored_object_ids:
            self.message.emit(f"Restored {len(recovery.restored_object_ids)} object(s) "
                              "finished before Clickmask stopped unexpectedly.")
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
        assert self.workspace is not None
        return self.workspace.save_as(path)

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
        self._masks.clear()  # kept for the current image's objects only
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
        self._discarded = None  # a new object: undo steps through its clicks now
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
        mask = self.project.find_object(object_id)[1].mask
        edited = edit(mask)
        if np.array_equal(edited, mask):
            self.message.emit(f"{what}: object {object_id} has nothing to change.")
            return
        if not edited.any():
            self.message.emit(f"{what} would leave object {object_id} empty: unchanged.")
            return
        if self._apply_edit(build.replace_mask(self.project, object_id, edited, None,
                                               ObjectChange.EDIT_MASK)):
            self.message.emit(f"{what}: object {object_id} changed.")

    def undo(self) -> None:
        """Undo a step of the object in progress; without one, put back the object Esc
        dropped, else undo the last project edit (going to its image)."""
        if self.has_object_in_progress:
            self._enqueue(_Op("undo"))
            self.session_changed.emit()  # the clicks shown change before the worker answers
        elif self._discarded is not None:
            state, self._discarded = self._discarded, None
            self.restore_in_progress(state)
            self.message.emit("The discarded object is back.")
            self.history_changed.emit()
        elif self.workspace is not None:
            self._store_requested_finishes()  # a finish asked for is the last edit
            self._step_history(self.workspace.undo, "Undid")

    def redo(self) -> None:
        """Redo a step of the object in progress (also one undone down to no click);
        otherwise the last project edit undone."""
        if self._session_redoes:
            self._enqueue(_Op("redo"))
            self.session_changed.emit()
        elif self.workspace is not None:
            self._step_history(self.workspace.redo, "Redid")

    @property
    def _session_redoes(self) -> bool:
        """Redo acts on the object in progress: one is there, or has steps to redo."""
        return (self.has_object_in_progress or self.workspace is None
                or bool(self._displayed_history()[1]))

    @property
    def can_undo(self) -> bool:
        return (self.view.can_undo or self.busy or self._discarded is not None
                or (not self.has_object_in_progress and self.workspace is not None
                    and self.workspace.can_undo))

    @property
    def can_redo(self) -> bool:
        if self._session_redoes:
            return self.view.can_redo or self.busy
        return self.workspace is not None and self.workspace.can_redo

    @property
    def undo_text(self) -> str | None:
        """What Undo would undo, for the Edit menu; None for a click step or nothing."""
        if self.has_object_in_progress or self.workspace is None:
            return None
        if self._discarded is not None:
            return "Discard object"
        return self.workspace.undo_text

    @property
    def redo_text(self) -> str | None:
        if self._session_redoes or self.workspace is None:
            return None
        return self.workspace.redo_text

    def _step_history(self, step: Callable[[], Edit | None], done: str) -> None:
        try:
            edit = step()
        except EditError as exc:  # only if the project changed behind the workspace's back
            self.error.emit(f"Cannot undo or redo: {exc}")
            return
        if edit is not None:
            self.message.emit(f"{done}: {edit.describe()}")

    def reset_object(self) -> None:
        """Drop the object in progress (Undo puts it back); a correction is cancelled, its
        instance unchanged."""
        editing = self.editing_object_id
        if self.editing_object_id is not None:
            self.editing_object_id = None
            self.objects_changed.emit()
        if self.has_object_in_progress and self.current_file is not None:
            hand = self._hand_mask
            self._discarded = InProgress(self.current_file, self.displayed_clicks, editing,
                                         *((encode_rle(hand[0]), hand[1]) if hand else ()))
            self.message.emit("Object discarded — Ctrl+Z to undo")
        self._enqueue(_Op("reset"))
        # Dropped now, as the user chose: nothing to offer back after a crash, nor after a
        # quit that stops the worker before it runs the reset.
        self._hand_mask = None
        self._journal_progress([])
        self.history_changed.emit()

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

    # -- finished objects (each change an edit of the workspace: undoable) ----------------
    def delete_object(self, object_id: int) -> None:
        assert self.project is not None
        if object_id == self.editing_object_id:
            self.reset_object()
            self._discarded = None  # the object is gone: its correction cannot come back
        if self._apply_edit(build.delete_object(self.project, object_id)):
            self.message.emit(f"Deleted object {object_id} — Ctrl+Z to undo")

    def rename_object(self, object_id: int, category: str) -> None:
        assert self.project is not None
        self._apply_edit(build.relabel(self.project, object_id, category))
        self.last_category = category

    def set_object_visible(self, object_id: int, visible: bool) -> None:
        assert self.project is not None
        self._apply_edit(build.set_visibility(self.project, [object_id], visible))

    # -- review of imported objects ------------------------------------------------------
    def review_queue(self) -> ReviewQueue:
        """A snapshot of the imported objects of the folder's images, in review order."""
        return ReviewQueue.from_project(self.project) if self.project else ReviewQueue([])

    def set_review_outcome(self, object_id: int, outcome: str) -> None:
        """Decide the review of an imported object: "accepted", "rejected", or "pending"
        (undo the review: the imported mask and category again). A correction of it in
        progress is dropped."""
        assert self.project is not None
        decision = {ReviewOutcome.ACCEPTED: ObjectChange.ACCEPT,
                    ReviewOutcome.REJECTED: ObjectChange.REJECT,
                    ReviewOutcome.PENDING: ObjectChange.REVERT_REVIEW}[ReviewOutcome(outcome)]
        if object_id == self.editing_object_id:
            self.reset_object()
        self._apply_edit(build.review_decision(self.project, object_id, decision))

    def imported_mask(self, object_id: int) -> np.ndarray | None:
        """The mask an imported object came with (before any correction); None otherwise."""
        assert self.project is not None
        rle = imported_rle(self.project.find_object(object_id)[1])
        return decode_rle(rle) if rle is not None else None

    def set_current_objects_visible(self, visible: bool) -> None:
        """Show or hide every object of the current image."""
        if self.project is None:
            return
        self._apply_edit(build.set_visibility(
            self.project, [obj.id for obj in self.current_objects()], visible))

    # -- categories (each raises EditError, a ValueError, with a message; nothing changes) --
    def add_category(self, name: str, color: tuple[int, int, int] | None = None) -> Category:
        assert self.project is not None
        edit = build.add_category(self.project, name, color)
        self._apply_edit(edit, raising=True)
        return self.project.category(edit.state.id)

    def rename_category(self, category_id: int, name: str) -> None:
        assert self.project is not None
        self._apply_edit(build.rename_category(self.project, category_id, name), raising=True)

    def recolor_category(self, category_id: int, color: tuple[int, int, int]) -> None:
        assert self.project is not None
        self._apply_edit(build.recolor_category(self.project, category_id, color),
                         raising=True)

    def change_category_id(self, category_id: int, new_id: int) -> None:
        assert self.project is not None
        self._apply_edit(build.change_category_id(self.project, category_id, new_id),
                         raising=True)

    def delete_category(self, category_id: int) -> None:
        assert self.project is not None
        self._apply_edit(build.remove_category(self.project, category_id), raising=True)

    def import_coco(self, path: str | Path) -> ImportReport:
        """Add a COCO file's instances to the open folder, as one undoable edit; raises
        CocoFormatError."""
        assert self.workspace is not None
        return self.workspace.import_coco(path)

    def _apply_edit(self, edit: Edit | None, raising: bool = False,
                    finishes: bool = False) -> bool:
        """Make ``edit`` (None: nothing to change) through the workspace; False when it
        was refused, with a message (``raising``: the EditError raised for the caller)."""
        if edit is None or self.workspace is None:
            return False
        try:
            self.workspace.apply(edit, finishes)
        except EditError as exc:
            if raising:
                raise
            self.error.emit(f"{edit.describe()}: {exc}")
            return False
        return True

    def _on_workspace_changed(self, changed: Changed) -> None:
        """Every project change ends here: redraw, and go to the image an undo changed."""
        if changed.step is Step.DO:
            self._discarded = None  # undo now means this edit
        images = changed.touched.images
        if (changed.step is not Step.DO and images and self.current_file not in images
                and not self.has_object_in_progress):
            self.go_to(min(self._files.index(name) for name in images if name in self._files)
                       if any(name in self._files for name in images) else self.current_index)
        if changed.touched.categories:
            self.categories_changed.emit()
        self.objects_changed.emit()
        self.history_changed.emit()

    def shutdown(self) -> None:
        """Stop the worker, then the journal. Objects the user asked to finish are stored
        first (with the work queued before them); the rest of the queue is dropped."""
        self._store_requested_finishes()
        self._pending.clear()
        self._worker.shutdown()  # reports nothing after this: the journal can close
        if self.workspace is not None:
            self.workspace.close()

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
            height, width = self.image.shape[:2]
            self.project.note_image_size(self.current_file, height, width)
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
            object_id = request.editing_object_id
            edit = build.replace_mask(self.project, object_id, finished.mask, finished.clicks,
                                      ObjectChange.CORRECT)
            if edit is None or self._apply_edit(edit, finishes=True):
                self.message.emit(f"Object {object_id} corrected.")
            return
        try:
            edit = build.add_object(self.project, request.file_name, finished.mask,
                                    request.category or "", finished.clicks)
        except EditError as exc:
            self.error.emit(f"The object was not added: {exc}")
            return
        if self._apply_edit(edit, finishes=True):
            self.last_category = request.category
            object_id = max(edit.touched().objects)
            self.message.emit(f"Object {object_id} added as '{request.category}'.")

    # -- the crash journal (of the object in progress; edits are the workspace's) ----------
    @staticmethod
    def _made_by_hand(view: SessionView) -> tuple[np.ndarray, int] | None:
        """(mask, clicks) when a step without clicks shaped ``view``'s mask, else None."""
        if view.mask is None or all(view.step_clicks):
            return None
        return view.mask, len(view.clicks)

    def _journal_progress(self, clicks: list[Click],
                          hand_mask: tuple[np.ndarray, int] | None = None) -> None:
        if self.current_file is not None and self.workspace is not None:
            self.workspace.record_progress(self.current_file, clicks, self.editing_object_id,
                                           hand_mask)
