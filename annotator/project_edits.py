"""What the user changes in the open project: each action builds an edit
(engine/edit_builders.py) and makes it through the workspace, so each is journaled,
saved and undoable. A refused edit is told to the user (category edits raise EditError,
a ValueError with the message, for the dialog that asked)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine import edit_builders as build
from engine.annotations import Category, Project, ReviewOutcome
from engine.coco import ImportReport
from engine.edits import Edit, EditError, ObjectChange
from engine.workspace import Workspace
from annotator.session_ops import Finished, FinishRequest

Report = Callable[[str], None]

_DECISIONS = {ReviewOutcome.ACCEPTED: ObjectChange.ACCEPT,
              ReviewOutcome.REJECTED: ObjectChange.REJECT,
              ReviewOutcome.PENDING: ObjectChange.REVERT_REVIEW}


class ProjectEdits:
    def __init__(self, message: Report, error: Report,
                 drop_correction: Callable[[int, bool], None]) -> None:
        """``drop_correction(object_id, restorable)``: the object being changed must stop
        being corrected (``restorable``: Undo may put the correction back)."""
        self._message, self._error = message, error
        self._drop_correction = drop_correction
        self.workspace: Workspace | None = None  # the controller's: None while none is open
        self.last_category: str | None = None  # the category the user last gave an object

    # -- finished objects -----------------------------------------------------------------
    def delete_object(self, object_id: int) -> None:
        self._drop_correction(object_id, False)  # the object is gone: so is its correction
        if self.apply(build.delete_object(self._project(), object_id)):
            self._message(f"Deleted object {object_id} — Ctrl+Z to undo")

    def rename_object(self, object_id: int, category: str) -> None:
        self.apply(build.relabel(self._project(), object_id, category))
        self.last_category = category

    def set_object_visible(self, object_id: int, visible: bool) -> None:
        self.apply(build.set_visibility(self._project(), [object_id], visible))

    def set_objects_visible(self, file_name: str | None, visible: bool) -> None:
        """Show or hide every object of image ``file_name`` (None: no image shown)."""
        if file_name is None or self.workspace is None:
            return
        project = self.workspace.project
        self.apply(build.set_visibility(
            project, [obj.id for obj in project.images[file_name].objects], visible))

    def set_review_outcome(self, object_id: int, outcome: str) -> None:
        """Decide the review of an imported object: "accepted", "rejected", or "pending"
        (undo the review: the imported mask and category again). A correction of it in
        progress is dropped."""
        decision = _DECISIONS[ReviewOutcome(outcome)]
        self._drop_correction(object_id, True)
        self.apply(build.review_decision(self._project(), object_id, decision))

    def edit_object(self, object_id: int, edit: Callable[[np.ndarray], np.ndarray],
                    what: str) -> None:
        """Replace finished object ``object_id``'s mask with ``edit`` of it, saved and
        journaled like a correction. An edit that would empty the mask is refused."""
        project = self._project()
        mask = project.find_object(object_id)[1].mask
        edited = edit(mask)
        if np.array_equal(edited, mask):
            self._message(f"{what}: object {object_id} has nothing to change.")
        elif not edited.any():
            self._message(f"{what} would leave object {object_id} empty: unchanged.")
        elif self.apply(build.replace_mask(project, object_id, edited, None,
                                           ObjectChange.EDIT_MASK)):
            self._message(f"{what}: object {object_id} changed.")

    def store_finished(self, request: FinishRequest, finished: Finished) -> None:
        """Store an object the user finished: a new one, or the correction of one."""
        project = self._project()
        if request.editing_object_id is not None:
            object_id = request.editing_object_id
            edit = build.replace_mask(project, object_id, finished.mask, finished.clicks,
                                      ObjectChange.CORRECT)
            if edit is None or self.apply(edit, finishes=True):
                self._message(f"Object {object_id} corrected.")
            return
        try:
            added = build.add_object(project, request.file_name, finished.mask,
                                     request.category or "", finished.clicks)
        except EditError as exc:
            self._error(f"The object was not added: {exc}")
            return
        if self.apply(added, finishes=True):
            self.last_category = request.category
            self._message(f"Object {max(added.touched().objects)} added as "
                          f"'{request.category}'.")

    # -- categories (each raises EditError, a ValueError, with a message; nothing changes) --
    def add_category(self, name: str, color: tuple[int, int, int] | None = None) -> Category:
        edit = build.add_category(self._project(), name, color)
        self.apply(edit, raising=True)
        return self._project().category(edit.state.id)

    def rename_category(self, category_id: int, name: str) -> None:
        self.apply(build.rename_category(self._project(), category_id, name), raising=True)

    def recolor_category(self, category_id: int, color: tuple[int, int, int]) -> None:
        self.apply(build.recolor_category(self._project(), category_id, color), raising=True)

    def change_category_id(self, category_id: int, new_id: int) -> None:
        self.apply(build.change_category_id(self._project(), category_id, new_id),
                   raising=True)

    def delete_category(self, category_id: int) -> None:
        self.apply(build.remove_category(self._project(), category_id), raising=True)

    def import_coco(self, path: str | Path) -> ImportReport:
        """Add a COCO file's instances to the open folder, as one undoable edit; raises
        CocoFormatError."""
        assert self.workspace is not None
        return self.workspace.import_coco(path)

    def apply(self, edit: Edit | None, raising: bool = False, finishes: bool = False) -> bool:
        """Make ``edit`` (None: nothing to change) through the workspace; False when it
        was refused, with a message (``raising``: the EditError raised for the caller)."""
        if edit is None or self.workspace is None:
            return False
        try:
            self.workspace.apply(edit, finishes)
        except EditError as exc:
            if raising:
                raise
            self._error(f"{edit.describe()}: {exc}")
            return False
        return True

    def _project(self) -> Project:
        assert self.workspace is not None, "no project is open"
        return self.workspace.project
