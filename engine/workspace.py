"""The open project and the one path every change to it takes (no Qt).

A :class:`Workspace` owns the open :class:`~engine.annotations.Project`, its lock, its crash
journal and its saving. :meth:`Workspace.apply` is the only way a project changes:

    edit.apply(project) -> journal the edit (fsync) -> save -> checkpoint the journal
    -> push it on the undo stack -> tell the listeners what changed

Undo and redo apply the inverse, or the edit again, along the same path (journaled too), and
crash replay (engine/journal.py) applies the journal's edits through the same
:meth:`Edit.apply`, so what replay rebuilds is what the live path did. The edit is applied
before it is journaled so that a journal never holds an edit that did not fit the project;
a crash in between loses only that edit, which nobody saw yet.

Saving goes through a :class:`ProjectStore` (today one JSON file, written whole): the only
place that knows how a project is kept, so that another store can replace it.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from engine.annotations import Project, ProjectError, fallback_project_path
from engine.clicks import Click
from engine.edit_builders import import_batch
from engine.edits import Edit, Touched
from engine.journal import Journal, JournalError, Recovery, set_aside

if TYPE_CHECKING:
    from engine.coco_import import ImportReport


class ProjectStore(Protocol):
    """Where a project is kept: opened locked, saved, released."""

    def open(self, folder: Path, project_path: Path | None) -> Project: ...

    def save(self, project: Project) -> None: ...

    def release(self, project: Project) -> None: ...


class JsonStore:
    """The project as one JSON file beside the images, rewritten atomically at each save."""

    def open(self, folder: Path, project_path: Path | None) -> Project:
        return Project.open_folder(folder, project_path, lock=True)

    def save(self, project: Project) -> None:
        project.save()

    def release(self, project: Project) -> None:
        project.release_lock()


class Step(StrEnum):
    DO = "do"
    UNDO = "undo"
    REDO = "redo"


@dataclass(frozen=True)
class Changed:
    """What a listener is told after each change: the edit as applied (for an undo, the
    inverse of the edit undone), what it touched, and how it came."""

    edit: Edit
    touched: Touched
    step: Step


Report = Callable[[str], None]  # a problem the user must hear of (the work is kept)

# Edits kept for undo: each holds the objects it changed (RLE), so a day's work stays well
# within memory, and a long session does not grow without bound.
HISTORY_LIMIT = 1000


class Workspace:
    """An open project: its changes, their undo history, its journal and its saving."""

    def __init__(self, project: Project, journal: Journal | None, store: ProjectStore,
                 report: Report) -> None:
        self.project = project  # read it; change it only through apply
        self._journal = journal
        self._store = store
        self._report = report
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._listeners: list[Callable[[Changed], None]] = []

    @classmethod
    def open(cls, folder: str | os.PathLike, project_path: str | os.PathLike | None = None,
             report: Report = lambda message: None, store: ProjectStore | None = None
             ) -> tuple[Workspace, Recovery | None]:
        """Open (and lock) the project of ``folder``, replaying what a crash left in its
        journal; a damaged journal is set aside and ``report`` says so. Raises
        :class:`ProjectError` when the project cannot be opened (locked by another...).
        The Recovery is None when the journal is off."""
        store = store or JsonStore()
        project = store.open(Path(folder), None if project_path is None else Path(project_path))
        journal, recovery = _open_journal(project, report)
        return cls(project, journal, store, report), recovery

    # -- changes ----------------------------------------------------------------------------
    def apply(self, edit: Edit, finishes: bool = False) -> None:
        """Make ``edit``; raises :class:`~engine.edits.EditError` (nothing changed) when it
        does not fit the project. ``finishes``: it stores the object in progress (a finish
        or a correction), which the journal then no longer offers back after a crash."""
        self._do(edit, finishes)
        self._undo.append(edit)
        del self._undo[:-HISTORY_LIMIT]
        self._redo.clear()
        self._notify(edit, Step.DO)

    def undo(self) -> Edit | None:
        """Undo the last edit (returned); None when there is none."""
        if not self._undo:
            return None
        edit = self._undo[-1]
        self._do(edit.inverse())
        self._redo.append(self._undo.pop())
        self._notify(edit.inverse(), Step.UNDO)
        return edit

    def redo(self) -> Edit | None:
        if not self._redo:
            return None
        edit = self._redo[-1]
        self._do(edit)
        self._undo.append(self._redo.pop())
        self._notify(edit, Step.REDO)
        return edit

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str | None:
        return self._undo[-1].describe() if self._undo else None

    @property
    def redo_text(self) -> str | None:
        return self._redo[-1].describe() if self._redo else None

    def subscribe(self, listener: Callable[[Changed], None]) -> None:
        self._listeners.append(listener)

    def import_coco(self, path: str | os.PathLike) -> ImportReport:
        """Add a COCO file's instances as one undoable edit; returns the ImportReport and
        raises CocoFormatError (nothing changed) for a file that is no COCO dataset."""
        from engine.coco import import_coco  # the COCO readers load only when used

        project = self.project
        categories = {category.id for category in project.categories}
        objects = {obj.id for _, obj in project.iter_objects()}
        report = import_coco(project, path)
        added_categories = [c.id for c in project.categories if c.id not in categories]
        added = [obj.id for _, obj in project.iter_objects() if obj.id not in objects]
        if added or added_categories:
            # The import was worked out on the project itself: taken back out, it goes in
            # as one edit, journaled and undone as one.
            batch = import_batch(project, added_categories, added, f"Import {Path(path).name}")
            batch.inverse().apply(project)
            self.apply(batch)
        return report

    def _do(self, edit: Edit, finishes: bool = False) -> None:
        edit.apply(self.project)
        serial = self.project.edit_serial + 1
        self.project.edit_serial = serial
        self._write_journal(lambda journal: journal.record_edit(serial, edit, finishes))
        self.save()

    def _notify(self, edit: Edit, step: Step) -> None:
        """Tell the listeners, once the history holds the change (they may ask it)."""
        changed = Changed(edit, edit.touched(), step)
        for listener in list(self._listeners):
            listener(changed)

    # -- the object in progress -------------------------------------------------------------
    def record_progress(self, file_name: str, clicks: list[Click], editing: int | None,
                        hand_mask: tuple[np.ndarray, int] | None) -> None:
        """Journal the object in progress (it is the session's, not a project edit)."""
        self._write_journal(lambda journal: journal.record_progress(file_name, clicks,
                                                                    editing, hand_mask))

    @property
    def journaling(self) -> bool:
        return self._journal is not None

    # -- saving -----------------------------------------------------------------------------
    def save(self) -> bool:
        """Save the project; where its file cannot be written (a read-only folder), save it
        in the user's data folder from now on and say so. False (the user told why) when
        neither could be written: the work stays in memory and in the journal."""
        return self.save_as(self.project.path)

    def save_as(self, path: str | os.PathLike) -> bool:
        """Save the project to ``path`` from now on, its journal beside it, falling back as
        :meth:`save` does; False (still saved where it was) when it cannot be written. The
        undo history stays."""
        failure = self._write(Path(path))
        if failure is None:
            return True
        if isinstance(failure, ProjectError):  # changed by another program, or open in another
            kept = "in memory" + (" and in the crash journal" if self._journal else "")
            self._report(f"{failure}. Your work is kept {kept}; use File > Save Project As "
                         "to save it elsewhere.")
            return False
        reason = failure.strerror or str(failure)
        fallback = fallback_project_path(self.project.root)
        if Path(path) != fallback and self._write(fallback) is None:
            self._report(f"The project cannot be saved to {path} ({reason}). It was saved to "
                         f"{fallback} instead, and is saved there from now on; your work is "
                         "safe. Use File > Save Project As to choose another place.")
            return True
        self._report(f"Could not save the project to {path} ({reason}). Your work is kept "
                     "in memory; use File > Save Project As to save it elsewhere.")
        return False

    def _write(self, path: Path) -> OSError | ProjectError | None:
        """Save the project as ``path`` and checkpoint (or move) its journal; the error, and
        the project's path unchanged, when it cannot be written there."""
        project = self.project
        old, project.path = project.path, path
        try:
            self._store.save(project)
        except (OSError, ProjectError) as exc:
            project.path = old
            return exc
        if path == old:
            self._write_journal(lambda journal: journal.checkpoint())
        else:  # the old journal stayed beside the old file until the new one was written
            self._write_journal(lambda journal: journal.relocate())
        return None

    def close(self) -> None:
        """Stop journaling and let other programs open the project."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._store.release(self.project)

    def _write_journal(self, write: Callable[[Journal], None]) -> None:
        """A journal that fails is switched off with a message (saves go on)."""
        if self._journal is None:
            return
        try:
            write(self._journal)
        except (OSError, JournalError) as exc:
            self._journal.close()
            self._journal = None
            self._report(f"The crash journal stopped: {exc}. Your work is saved with the "
                         "project as usual, but clicks in progress would be lost in a crash.")


def _open_journal(project: Project, report: Report) -> tuple[Journal | None, Recovery | None]:
    """Replay what a crash left in ``project``'s journal, and journal from now on."""
    try:
        return Journal.open(project)
    except JournalError as exc:
        try:
            aside = set_aside(project)
            journal, recovery = Journal.open(project)
        except (OSError, JournalError, ProjectError) as again:
            report(f"{exc}. The crash journal is off: {again}")
            return None, None
        report(f"{exc}. It was kept as {aside}; a new journal was started.")
        if exc.replayed is not None:  # the work before the damage: kept and saved
            recovery = exc.replayed
            recovery.in_progress = None
        return journal, recovery
    except (OSError, ProjectError) as exc:
        report(f"The crash journal of {project.path} cannot be used: {exc}. Work since the "
               "last save would be lost in a crash.")
        return None, None
