"""The one object the GUI talks to, and the Qt adapter of the parts it is made of:

    SessionController (signals; navigation; the model in use)
      .session   ObjectSession   the object in progress: operations run on the worker
                                 (annotator/object_session.py, op_queue.py, session_ops.py)
      .workspace Workspace       the open project: every change an undoable, journaled edit
                                 (engine/workspace.py, no Qt)
      .edits     ProjectEdits    the user's changes to the project, as edits
      .rows      ProjectReader   read-only rows and masks for the widgets (no Qt)
      .history   History         where Undo / Redo go (the object in progress or the project),
                                 and putting back an object in progress Esc or a crash left

Widgets call these parts and redraw on the controller's signals; they never touch a
predictor, the project's files or the mutable project.
"""
from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import Click
from engine.annotations import ProjectError
from engine.inference.options import InferenceOptions
from engine.journal import Recovery
from engine.project_reader import ProjectReader
from engine.workspace import Changed, Step, Workspace
from annotator.history import History
from annotator.object_session import ObjectSession
from annotator.project_edits import ProjectEdits
from weights import DEFAULT_MODEL, MODELS


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
    proposals_changed = Signal()  # session.view.proposals or .current_proposal changed
    message = Signal(str)
    error = Signal(str)

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto",
                 parent: QObject | None = None, options: InferenceOptions | None = None) -> None:
        super().__init__(parent)
        self.workspace: Workspace | None = None  # the open project: changed only through it
        self.unreadable: dict[str, str] = {}  # file name -> why it could not be loaded
        self.recovery: Recovery | None = None  # what the last opening replayed from a crash
        self._files: list[str] = []
        # Zoom-In, BRS mode, TAIZ... (the GUI's defaults are the official demo's)
        self.session = ObjectSession(model, device, options or InferenceOptions.demo(),
                                     self._journal_progress, self)
        self.rows = ProjectReader()
        self.history = History(self)
        self.edits = ProjectEdits(self.message.emit, self.error.emit,
                                  self.history.drop_correction)
        s = self.session
        for theirs, ours in ((s.session_changed, self.session_changed),
                             (s.proposals_changed, self.proposals_changed),
                             (s.prediction_timed, self.prediction_timed),
                             (s.queue.busy_changed, self.busy_changed),
                             (s.message, self.message), (s.error, self.error)):
            theirs.connect(ours)
        s.image_loaded.connect(self._on_image_loaded)
        s.image_failed.connect(self._on_image_failed)
        s.model_changed.connect(self._on_model_changed)
        s.finished.connect(self.edits.store_finished)

    # -- the model in use: the session's, here for annotator/model_panel.py (owned by the
    #    inference work of issue 19); they go once the panel talks to ``session`` ------
    @property
    def model_name(self) -> str:
        return self.session.model_name

    @property
    def options(self) -> InferenceOptions:
        return self.session.options

    @property
    def device(self) -> str:
        return self.session.device

    @property
    def proposals_enabled(self) -> bool:
        return self.session.proposals_enabled

    @property
    def current_family(self) -> str | None:
        """The checkpoint family of the model in use ("ritm", "fbrs"...; None: GrabCut)."""
        return MODELS[self.session.model_name].family

    def set_model(self, name: str) -> None:
        self.session.set_model(name)

    def set_options(self, options: InferenceOptions) -> None:
        self.session.set_options(options)

    def set_device(self, device: str) -> None:
        self.session.set_device(device)

    def set_proposals_enabled(self, enabled: bool) -> None:
        """Offer first-click proposals after the next first clicks (or stop offering)."""
        self.session.proposals_enabled = enabled

    # -- the open project and its images --------------------------------------------------
    @property
    def files(self) -> list[str]:
        return list(self._files)

    @property
    def current_index(self) -> int:
        current = self.session.current_file
        return self._files.index(current) if current in self._files else -1

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
        self.workspace = self.edits.workspace = workspace
        self.recovery = recovery
        self.history.forget()
        self.rows.show(workspace, None)
        workspace.subscribe(self._on_workspace_changed)
        project = workspace.project
        if recovery is not None and recovery.restored_object_ids:
            self.message.emit(f"Restored {len(recovery.restored_object_ids)} object(s) "
                              "finished before Clickmask stopped unexpectedly.")
        self._files = [e.file_name for e in project.present_images()]
        self.unreadable.clear()
        self.session.current_file = None
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

    def go_to(self, index: int) -> None:
        """Show image ``index``; the object in progress is dropped (ask the user first)."""
        if not 0 <= index < len(self._files) or self.workspace is None:
            return
        file_name = self._files[index]
        self.rows.show(self.workspace, file_name)
        self.session.load(file_name, str(self.workspace.project.image_path(file_name)))
        self.image_loading.emit(file_name)
        self.objects_changed.emit()
        self.session_changed.emit()
        self.proposals_changed.emit()

    # -- the object in progress -------------------------------------------------------------
    @property
    def has_object_in_progress(self) -> bool:
        return self.session.in_progress

    def add_click(self, y: float, x: float, is_positive: bool) -> None:
        image = self.session.image
        if image is None or not (0 <= y < image.shape[0] and 0 <= x < image.shape[1]):
            return
        self.history.forget()  # a new object: undo steps through its clicks now
        self.session.add_clicks([Click(y, x, is_positive)])
        self.session_changed.emit()

    def finish_object(self, category: str | None = None) -> None:
        """Store the object in progress with ``category`` (a correction keeps its own)."""
        self.session.finish(category)

    def correct_object(self, object_id: int) -> None:
        """Make an existing instance the object in progress, to be corrected with clicks;
        KeyError when there is no such object."""
        self.session.correct(object_id, self.rows.object_mask(object_id).copy())
        self.objects_changed.emit()

    def shutdown(self) -> None:
        """Stop the worker, then the journal. Objects the user asked to finish are stored
        first (with the work queued before them); the rest of the queue is dropped."""
        self.session.queue.shutdown()  # reports nothing after this: the journal can close
        if self.workspace is not None:
            self.workspace.close()

    # -- what the parts tell ----------------------------------------------------------------
    def _journal_progress(self, file_name: str, clicks: list[Click], editing: int | None,
                          hand_mask: tuple[np.ndarray, int] | None) -> None:
        if self.workspace is not None:
            self.workspace.record_progress(file_name, clicks, editing, hand_mask)

    def _on_image_loaded(self, file_name: str, image: np.ndarray) -> None:
        self.unreadable.pop(file_name, None)
        if self.workspace is not None:
            self.workspace.project.note_image_size(file_name, *image.shape[:2])
        self.image_loaded.emit(file_name, image)
        self.objects_changed.emit()

    def _on_image_failed(self, file_name: str, message: str) -> None:
        self.unreadable[file_name] = message
        self.image_failed.emit(file_name, message)

    def _on_model_changed(self, name: str) -> None:
        self.model_changed.emit(name)
        self.objects_changed.emit()  # redrawn with whatever the new model shows

    def _on_workspace_changed(self, changed: Changed) -> None:
        """Every project change ends here: redraw, and go to the image an undo changed."""
        if changed.step is Step.DO:
            self.history.forget()  # undo now means this edit
        touched = changed.touched.images or frozenset()  # None: any image, the shown one too
        images = [name for name in touched if name in self._files]
        if (changed.step is not Step.DO and touched
                and self.session.current_file not in touched and not self.has_object_in_progress):
            self.go_to(min(map(self._files.index, images)) if images else self.current_index)
        if changed.touched.categories:
            self.categories_changed.emit()
        self.objects_changed.emit()
        self.history_changed.emit()
