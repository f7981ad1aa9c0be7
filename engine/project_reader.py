"""What the GUI reads of the open project (no Qt): rows, masks, the review queue.

Widgets never hold the :class:`~engine.annotations.Project`; they ask this reader for
immutable rows (engine/views.py) when told the project changed. Masks are decoded on
demand and kept for the current image's objects only.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from engine.annotations import AnnotatedObject, Project
from engine.masks import decode_rle
from engine.review import ReviewQueue, imported_rle
from engine.views import (CategoryRow, ImageRow, ObjectRow, category_rows, image_row,
                          object_rows)
from engine.workspace import Workspace


class ProjectReader:
    def __init__(self) -> None:
        self._workspace: Workspace | None = None
        self._file_name: str | None = None
        self._masks: dict[int, tuple[dict, np.ndarray]] = {}  # see object_mask

    def show(self, workspace: Workspace | None, file_name: str | None) -> None:
        """Read ``workspace``'s project, image ``file_name`` being the current one."""
        self._workspace, self._file_name = workspace, file_name
        self._masks.clear()  # kept for the current image's objects only

    @property
    def project(self) -> Project | None:
        """The open project, to read (changes go through the workspace)."""
        return self._workspace.project if self._workspace is not None else None

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
        if self.project is None or self._file_name is None:
            return ()
        return object_rows(self.project, self._file_name)

    def object_row(self, object_id: int) -> ObjectRow:
        """Object ``object_id`` of any image; KeyError when there is none."""
        project = self._open()
        entry, _ = project.find_object(object_id)
        return next(row for row in object_rows(project, entry.file_name)
                    if row.id == object_id)

    def image_row(self, file_name: str) -> ImageRow:
        return image_row(self._open(), file_name)

    def object_mask(self, object_id: int) -> np.ndarray:
        """The mask of object ``object_id`` (decoded once per version of it)."""
        _, obj = self._open().find_object(object_id)
        cached = self._masks.get(object_id)
        if cached is None or cached[0] is not obj.rle:  # an edit gives a changed object a new rle
            cached = self._masks[object_id] = (obj.rle, obj.mask)
        return cached[1]

    def imported_mask(self, object_id: int) -> np.ndarray | None:
        """The mask an imported object came with (before any correction); None otherwise."""
        rle = imported_rle(self._open().find_object(object_id)[1])
        return decode_rle(rle) if rle is not None else None

    def current_objects(self) -> list[AnnotatedObject]:
        """The current image's objects (copies would cost a decode: do not change them)."""
        if self.project is None or self._file_name is None:
            return []
        return list(self.project.images[self._file_name].objects)

    def category_name(self, obj: AnnotatedObject) -> str:
        return self._open().category(obj.category_id).name

    def review_queue(self) -> ReviewQueue:
        """A snapshot of the imported objects of the folder's images, in review order."""
        return ReviewQueue.from_project(self.project) if self.project else ReviewQueue([])

    def export_snapshot(self) -> Project:
        """A copy of the project for a background export (the user may keep annotating)."""
        return copy.deepcopy(self._open())

    def _open(self) -> Project:
        project = self.project
        assert project is not None, "no project is open"
        return project
