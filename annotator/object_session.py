"""The object in progress on the image shown: its clicks, its mask, the model that makes it.

Everything it asks of the model runs as an operation (annotator/session_ops.py, and
annotator/predictor_ops.py for loading an image or changing the predictor) on the
inference worker, in the order it was asked for (annotator/op_queue.py); clicks that arrive
while a prediction runs are coalesced into the next prediction, and results that belong to
an image the user has left are dropped. It knows nothing of the project: a finished object
leaves as the ``finished`` signal, and the crash journal is a callable it is given.
Operations show their results by setting its attributes and emitting its signals: they and
it are one part, cut in two files.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import Click, Predictor
from engine.inference.options import InferenceOptions
from engine.journal import InProgress
from engine.masks import decode_rle, encode_rle
from engine.session import DEFAULT_PROB_THRESH
from annotator.op_queue import OpQueue
from annotator import predictor_ops
from annotator import session_ops as ops
from annotator.session_ops import SessionView, Steps, WorkerState
from weights import MODELS

# (file name, clicks, corrected object id, (hand-made mask, clicks before it) or None)
JournalProgress = Callable[[str, list[Click], int | None, tuple[np.ndarray, int] | None], None]


class ObjectSession(QObject):
    image_loaded = Signal(str, object)  # file name, H x W x 3 uint8 image
    image_failed = Signal(str, str)  # file name, message
    session_changed = Signal()  # clicks or current mask changed
    proposals_changed = Signal()  # view.proposals or view.current_proposal changed
    model_changed = Signal(str)  # the predictor changed (or a change failed)
    prediction_timed = Signal(float)  # seconds of the last prediction
    finished = Signal(object, object)  # FinishRequest, Finished: to store in the project
    message = Signal(str)
    error = Signal(str)

    def __init__(self, model: str, device: str, options: InferenceOptions,
                 journal: JournalProgress, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # What the user asked for (the worker's state says what runs).
        self.model_name, self.device, self.options = model, device, options
        self.prob_thresh = DEFAULT_PROB_THRESH  # the shown and the finished mask's cut
        # First-click proposals (the DISNet workflow) cost 3 more model runs per object:
        # off by default, a switch in the GUI.
        self.proposals_enabled = False
        self.current_file: str | None = None
        self.image: np.ndarray | None = None
        self.display_image: np.ndarray | None = None  # the canvas's copy, made on the worker
        self.view = SessionView()
        self.editing_object_id: int | None = None
        # The mask of the object in progress when a step without clicks (a stroke, a
        # clean-up, a chosen proposal) shaped it, and its click count: journaled with the
        # clicks, which alone cannot give it back after a crash.
        self.hand_mask: tuple[np.ndarray, int] | None = None
        self._journal = journal
        self.queue = OpQueue(self, WorkerState(model, options, device),
                             lambda: self.prob_thresh)

    # -- state the GUI reads ------------------------------------------------------------
    @property
    def model_title(self) -> str:
        return MODELS[self.model_name].title

    @property
    def predictor(self) -> Predictor | None:
        """The predictor in use (the worker's; read it only while the queue is idle)."""
        return self.queue.state.predictor

    @property
    def busy(self) -> bool:
        """Operations are running or waiting (busy_changed tells when this changes)."""
        return self.queue.busy

    @property
    def predicting(self) -> bool:
        """True while clicks are waiting for the model or being predicted."""
        return any(isinstance(op, ops.AddClicks) for op in self.queue.ops)

    def displayed_history(self) -> tuple[Steps, Steps]:
        """The clicks of each step (and of each redoable step) of the object in progress
        once the worker has done what it was asked: the view's steps with the running and
        pending operations replayed."""
        steps, redo = list(self.view.step_clicks), list(self.view.redo_step_clicks)
        for op in self.queue.ops:
            op.replay(steps, redo)
        return steps, redo

    @property
    def displayed_clicks(self) -> list[Click]:
        """Clicks of the object in progress, including those still waiting for the model."""
        return [click for step in self.displayed_history()[0] for click in step]

    @property
    def in_progress(self) -> bool:
        return bool(self.displayed_history()[0]) or self.editing_object_id is not None

    # -- what the user does ---------------------------------------------------------------
    def load(self, file_name: str, path: str) -> None:
        """Show ``file_name``; the object in progress is dropped."""
        leaving_object = self.in_progress
        self.queue.leave_image()
        self.current_file = file_name
        self.image = self.display_image = None
        self.hand_mask = None
        self.editing_object_id = None
        if leaving_object:  # dropped, as the user chose: nothing to restore after a crash
            self.journal_progress([])
        self.view = SessionView()
        self.queue.enqueue(predictor_ops.Load(path))

    def add_clicks(self, clicks: list[Click]) -> None:
        self.queue.enqueue(ops.AddClicks(tuple(clicks)))
        self.journal_progress(self.displayed_clicks)  # before the model runs

    def set_model(self, name: str) -> None:
        """Switch to registry model ``name``; the object in progress is dropped (ask first).
        If the model cannot be built (weights missing or damaged) the old one stays."""
        self.editing_object_id = None
        self.queue.enqueue(predictor_ops.ChangeModel(name))

    def set_options(self, options: InferenceOptions) -> None:
        """Run the model with ``options`` (Zoom-In, BRS, TAIZ...) from the next object on (as
        the official demo); like a model switch, the object in progress is dropped."""
        self.options = options
        self.editing_object_id = None
        self.queue.enqueue(predictor_ops.ChangeOptions(options))

    def set_device(self, device: str) -> None:
        """Run the model on ``device`` ("auto", "cpu", "cuda") from the next object on; like
        a model switch, the object in progress is dropped."""
        self.device = device
        self.editing_object_id = None
        self.queue.enqueue(predictor_ops.ChangeDevice(device))

    @property
    def refines(self) -> bool:
        """True when predictions run a BRS optimisation (seconds per click on a CPU)."""
        return (self.options.brs_mode != "NoBRS"
                and MODELS[self.model_name].family in ("ritm", "fbrs"))

    def choose_proposal(self, index: int) -> None:
        """Continue from the first click's proposal ``index`` (an undoable step)."""
        if 0 <= index < len(self.view.proposals):
            self.queue.enqueue(ops.ChooseProposal(index))

    def edit_mask(self, edit: Callable[[np.ndarray], np.ndarray], what: str | None = None
                  ) -> None:
        """Change the mask of the object in progress by hand: ``edit`` (current mask -> new
        mask, run on the worker after every earlier operation) makes one undoable step in
        the clicks' history. Starts a new object when there is none. ``what`` names the
        edit in the message when it changes nothing ("Fill holes"); None: no message."""
        if self.image is None:
            return
        self.queue.enqueue(ops.EditMask(edit, what))
        self.session_changed.emit()

    def step(self, op: ops.Undo | ops.Redo) -> None:
        """Undo or redo a step of the object in progress."""
        self.queue.enqueue(op)
        self.session_changed.emit()  # the clicks shown change before the worker answers

    def set_threshold(self, threshold: float) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"the threshold must lie strictly between 0 and 1, got {threshold}")
        self.prob_thresh = threshold
        self.view = self.thresholded(self.view)
        self.session_changed.emit()

    def discard(self) -> InProgress | None:
        """Drop the object in progress; returns it, in the journal's terms, to put back."""
        editing, self.editing_object_id = self.editing_object_id, None
        dropped = None
        if self.in_progress and self.current_file is not None:
            hand = self.hand_mask
            dropped = InProgress(self.current_file, self.displayed_clicks, editing,
                                 *((encode_rle(hand[0]), hand[1]) if hand else ()))
        self.queue.enqueue(ops.Reset())
        # Dropped now, as the user chose: nothing to offer back after a crash, nor after a
        # quit that stops the worker before it runs the reset.
        self.hand_mask = None
        self.journal_progress([])
        return dropped

    def finish(self, category: str | None) -> None:
        if self.editing_object_id is None and not category:
            raise ValueError("a new object needs a category")
        assert self.current_file is not None
        self.queue.enqueue(ops.Finish(ops.FinishRequest(self.current_file, category,
                                                        self.editing_object_id)))
        self.editing_object_id = None

    def correct(self, object_id: int, mask: np.ndarray) -> None:
        """Make finished object ``object_id`` (its ``mask``) the object in progress."""
        self.editing_object_id = object_id
        self.queue.enqueue(ops.Reset())
        self.queue.enqueue(ops.InitialMask(mask))

    def restore(self, state: InProgress) -> None:
        """Queue ``state``'s clicks, then the hand-made mask they led to, then the clicks
        made after it (on the image shown, its correction already started)."""
        before = state.mask_clicks if state.mask_rle is not None else len(state.clicks)
        if state.clicks[:before]:
            self.queue.enqueue(ops.AddClicks(tuple(state.clicks[:before])))
        if state.mask_rle is not None:
            mask = decode_rle(state.mask_rle)
            self.queue.enqueue(ops.EditMask(lambda _: mask, None))
            self.hand_mask = (mask, before)
        if state.clicks[before:]:
            self.queue.enqueue(ops.AddClicks(tuple(state.clicks[before:])))
        if state.clicks or state.mask_rle is not None:
            self.journal_progress(self.displayed_clicks)
        self.session_changed.emit()

    def journal_progress(self, clicks: list[Click]) -> None:
        if self.current_file is not None:
            self._journal(self.current_file, clicks, self.editing_object_id, self.hand_mask)

    # -- what operations tell it (GUI thread) ---------------------------------------------
    def show(self, view: SessionView, journaled: bool, then: Callable[[], None] = lambda: None
             ) -> None:
        """Show ``view`` (cut at the threshold now: it may have moved during the job).
        ``journaled``: its clicks are journaled first; ``then`` runs before it is shown."""
        previous, self.view = self.view, self.thresholded(view)
        if journaled:
            self.hand_mask = _made_by_hand(self.view)
            self.journal_progress(self.view.clicks)
        then()
        self.session_changed.emit()
        if (previous.proposals is not self.view.proposals
                or previous.current_proposal != self.view.current_proposal):
            self.proposals_changed.emit()

    def thresholded(self, view: SessionView) -> SessionView:
        if view.probability is None or view.threshold == self.prob_thresh:
            return view
        return replace(view, mask=view.probability > self.prob_thresh,
                       threshold=self.prob_thresh)


def _made_by_hand(view: SessionView) -> tuple[np.ndarray, int] | None:
    """(mask, clicks) when a step without clicks shaped ``view``'s mask, else None."""
    if view.mask is None or all(view.step_clicks):
        return None
    return view.mask, len(view.clicks)
