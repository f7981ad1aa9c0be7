"""Crash safety: an append-only journal of the work done since the project was last saved.

The journal is a JSON-lines file beside the project file (``<project>.journal``). Its first
line names the project it belongs to; every later line is one record, written and fsync'd
before the GUI shows its result:

- ``{"t": "edit", "n": serial, "edit": {...}}``: a change to the project, an
  :class:`~engine.edits.Edit` in its JSON form, numbered from the project file's
  ``edit_serial`` on (an undo is the inverse edit, journaled like any other);
  ``"finishes": true`` when it stored the object in progress, which is then done.
- ``{"t": "progress", ...}``: the clicks of the object in progress after a click, undo,
  redo, reset or hand edit (the whole list, so the last record alone says where the user
  was). When a step without clicks (a brush stroke, a clean-up, a chosen proposal) shaped
  the mask, clicks alone cannot give it back: the record then also holds that mask
  (``mask``, RLE) and how many of the clicks came before it (``mask_clicks``).

Journals written before edits were values hold ``object``, ``delete``, ``category`` and
``visible`` records instead; replay turns each into the edit the live path makes now
(:func:`_old_edit`), and skips one whose object is gone or, for a finished object, saved.

Once the project is saved, its workspace (engine/workspace.py) calls
:meth:`Journal.checkpoint`, which replaces the journal atomically by its header and the
object in progress: everything else is then in the project file. After a crash,
:meth:`Journal.open` replays the journal into the project through :meth:`Edit.apply`, the
code the live path runs, skipping the edits whose serial the project file already holds (a
crash between the save and the checkpoint), and returns the clicks of the object in
progress, for the GUI to offer back. Each record is checked before it is applied
(:mod:`engine.journal_records`, :func:`engine.edits.edit_from_json`, :meth:`Edit.apply`): a
journal holding anything else is damaged, for the GUI to :func:`set_aside`.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from engine.atomic import atomic_write_bytes
from engine.clicks import Click
from engine import edit_builders as build
from engine.annotations import ObjectSource
from engine.edit_json import edit_from_json
from engine.edits import AddObject, Batch, Edit, ObjectChange
from engine.journal_records import (BadRecord, EditRecord, InProgress, ObjectRecord, Record,
                                    RecordKind, read_record, shown)
from engine.masks import decode_rle, encode_rle, json_int
from engine.project_files import journal_path
from engine.regular_file import open_regular, read_regular_file

if TYPE_CHECKING:
    import numpy as np

    from engine.annotations import Project

FORMAT_NAME = "clickmask-journal"
FORMAT_VERSION = 1


class JournalError(Exception):
    """A journal that cannot be replayed into this project; the message says why.

    ``replayed``: what the records before the damage put into the project (they stay there,
    and :meth:`Journal.open` saves them); None when nothing was applied.
    """

    def __init__(self, message: str, replayed: Recovery | None = None) -> None:
        super().__init__(message)
        self.replayed = replayed


@dataclass
class Recovery:
    """What :meth:`Journal.open` found: objects put back, and the object in progress."""

    restored_object_ids: list[int] = field(default_factory=list)  # added or corrected
    edited_object_ids: list[int] = field(default_factory=list)  # deleted, renamed, hidden...
    edits: int = 0  # edits replayed (a category change counts, though it has no object)
    in_progress: InProgress | None = None
    torn_lines: int = 0  # a last line cut short by a crash, ignored


class Journal:
    """The journal of one project; safe to write from the GUI and the worker thread."""

    def __init__(self, project: Project, in_progress: InProgress | None = None) -> None:
        self.project = project
        self.path = journal_path(project.path)
        self._lock = threading.Lock()
        self._in_progress = in_progress
        self._file: BinaryIO | None = None
        self.checkpoint()

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, project: Project) -> tuple[Journal, Recovery]:
        """Replay the journal a crash left into ``project``, then journal its changes.

        Restored objects are saved into the project file before the journal is rewritten;
        the object in progress stays in the journal until the next record replaces it.
        Raises :class:`JournalError` for a journal of another project or a damaged one (what
        the records before the damage restored is saved all the same: the project holds it),
        and ``OSError`` or ``ProjectError`` when the project cannot be saved; the journal is
        left untouched then.
        """
        try:
            recovery = replay(project)
        except JournalError as exc:
            if exc.replayed is not None:
                _save_replayed(project, exc.replayed)
            raise
        _save_replayed(project, recovery)
        journal = cls(project, recovery.in_progress)
        return journal, recovery

    # -- records ------------------------------------------------------------------------
    def record_edit(self, serial: int, edit: Edit, finishes: bool = False) -> None:
        """Edit number ``serial`` of the project (see the module's docstring); ``finishes``:
        it stores the object in progress (a finish, a correction), which is then done."""
        record = {"t": "edit", "n": serial, "edit": edit.to_json()}
        if finishes:
            self._in_progress = None
            record["finishes"] = True
        self._append(record)

    def record_progress(self, file_name: str, clicks: list[Click],
                        editing_object_id: int | None = None,
                        hand_mask: tuple[np.ndarray, int] | None = None) -> None:
        """The clicks of the object in progress after a click, undo, redo, reset or hand
        edit; ``hand_mask``: the mask a step without clicks made and the number of clicks
        before it (see the module's docstring)."""
        state = InProgress(file_name, list(clicks), editing_object_id,
                           *((encode_rle(hand_mask[0]), hand_mask[1]) if hand_mask else ()))
        # Nothing in progress any more: the next checkpoint drops the record.
        self._in_progress = state if _in_progress(state) else None
        self._append(_progress_record(state))

    def checkpoint(self) -> None:
        """The project was saved: keep only the header and the object in progress."""
        with self._lock:
            lines = [_header(self.project)]
            if self._in_progress is not None:
                lines.append(_progress_record(self._in_progress))
            self._close_file()
            atomic_write_bytes(self.path, b"".join(_line(record) for record in lines))
            self._file = open_regular(self.path, "ab")

    def relocate(self) -> None:
        """The project was saved under a new path: journal beside it, the old journal gone."""
        old = self.path
        self.path = journal_path(self.project.path)
        self.checkpoint()
        if old != self.path:
            old.unlink(missing_ok=True)

    def close(self, remove: bool = False) -> None:
        """Stop journaling; ``remove`` deletes the file (after a clean save)."""
        with self._lock:
            self._close_file()
            if remove:
                self.path.unlink(missing_ok=True)

    def _append(self, record: dict) -> None:
        with self._lock:
            if self._file is None:
                raise JournalError(f"the journal {self.path} is closed")
            self._file.write(_line(record))
            self._file.flush()
            os.fsync(self._file.fileno())

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def set_aside(project: Project) -> Path:
    """Rename the journal of ``project`` that cannot be replayed, keeping it for the user."""
    path = journal_path(project.path)
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    path.replace(aside)
    return aside


def replay(project: Project) -> Recovery:
    """Apply the journal of ``project`` (if any) to it; see :meth:`Journal.open`."""
    path = journal_path(project.path)
    recovery = Recovery()
    try:
        raw = read_regular_file(path)
    except FileNotFoundError:
        return recovery
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc}") from exc
    lines = raw.split(b"\n")
    # Every record ends with a newline: a last piece without one was cut short by a crash.
    if lines[-1]:
        recovery.torn_lines = 1
    records = []
    for number, line in enumerate(lines[:-1], start=1):
        try:
            records.append(json.loads(line))
        except Exception as exc:  # whatever the line holds, the journal is damaged
            raise JournalError(f"the journal {path} is damaged at line {number}: {exc}") from exc
    if not records:
        return recovery
    header = records[0]
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise JournalError(f"{path} is not a Clickmask journal")
    if header.get("project") != _project_key(project):
        raise JournalError(f"the journal {path} belongs to the project "
                           f"{header.get('project')!r}, not to {_project_key(project)!r}")
    for number, raw in enumerate(records[1:], start=2):
        try:
            _apply(project, _read(raw, project), recovery)
        except Exception as exc:  # whatever the record holds, the journal is damaged
            raise JournalError(f"the journal {path} is damaged at line {number}: "
                               f"{exc}", replayed=recovery) from exc
    return recovery


@dataclass(frozen=True)
class _Numbered:
    serial: int
    edit: Edit
    finishes: bool


def _read(raw: object, project: Project) -> Record | _Numbered:
    if isinstance(raw, dict) and raw.get("t") == "edit":
        serial = json_int(raw.get("n"))
        if serial is None or not 1 <= serial < 2 ** 63:
            raise BadRecord(f"'n' {shown(raw.get('n'))} is not an edit's number")
        finishes = raw.get("finishes", False)
        if not isinstance(finishes, bool):
            raise BadRecord(f"'finishes' {shown(finishes)} is not true or false")
        return _Numbered(serial, edit_from_json(raw.get("edit")), finishes)
    return read_record(raw, project)


def _apply(project: Project, record: Record | _Numbered, recovery: Recovery) -> None:
    if isinstance(record, InProgress):
        recovery.in_progress = record if _in_progress(record) else None
        return
    if isinstance(record, _Numbered):
        if record.finishes:
            recovery.in_progress = None
        if record.serial <= project.edit_serial:
            return  # saved already: the crash came between the save and the checkpoint
        edit: Edit | None = record.edit
        project.edit_serial = record.serial
    else:
        if isinstance(record, ObjectRecord):
            recovery.in_progress = None
        edit = _old_edit(project, record)
    if edit is not None:
        edit.apply(project)
        _note(recovery, edit)


def _note(recovery: Recovery, edit: Edit) -> None:
    recovery.edits += 1
    for part in edit.edits if isinstance(edit, Batch) else (edit,):
        touched = part.touched().objects
        if isinstance(part, AddObject) or getattr(part, "change", None) is ObjectChange.CORRECT:
            recovery.restored_object_ids.extend(touched)
        else:
            recovery.edited_object_ids.extend(touched)


def _old_edit(project: Project, record: ObjectRecord | EditRecord) -> Edit | None:
    """The edit that an old journal's record stands for, as the live path makes it now;
    None for an edit of an object that is gone (deleted, and saved, after the record) or a
    finished object already saved."""
    object_id = record.object_id
    exists = project.has_object(object_id)
    if isinstance(record, EditRecord):
        if not exists:
            return None
        if record.kind is RecordKind.DELETE:
            return build.delete_object(project, object_id)
        if record.kind is RecordKind.CATEGORY:
            assert isinstance(record.value, str)
            return build.relabel(project, object_id, record.value)
        return build.set_visibility(project, [object_id], bool(record.value))
    if record.replaces:
        return build.replace_mask(project, object_id, decode_rle(record.rle), record.clicks,
                                  ObjectChange.CORRECT) if exists else None
    if exists:
        return None  # saved already: the crash came between the save and the checkpoint
    return build.add_object(project, record.file_name, decode_rle(record.rle), record.category,
                            record.clicks, ObjectSource(record.source), object_id)


def _save_replayed(project: Project, recovery: Recovery) -> None:
    """Save what replay changed in ``project`` (an object restored, deleted, edited)."""
    if recovery.edits:
        project.save()


def _project_key(project: Project) -> str:
    return str(Path(project.path).resolve())


def _header(project: Project) -> dict:
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "project": _project_key(project)}


def _in_progress(state: InProgress) -> bool:
    """Whether ``state`` holds any work (an empty record means nothing is in progress)."""
    return bool(state.clicks) or state.editing_object_id is not None or state.mask_rle is not None


def _progress_record(state: InProgress) -> dict:
    record: dict[str, Any] = {"t": "progress", "file": state.file_name,
                              "clicks": [click.to_json() for click in state.clicks],
                              "editing": state.editing_object_id}
    if state.mask_rle is not None:
        record.update(mask=state.mask_rle, mask_clicks=state.mask_clicks)
    return record


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"
