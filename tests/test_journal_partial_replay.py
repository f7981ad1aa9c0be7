"""A journal damaged after some valid records: what those records restored is saved into the
project file at once, not only after the next change."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.annotations import PROJECT_FILE_NAME, Project
from engine.clicks import Click
from engine.journal import Journal, JournalError, journal_path
import old_journal
from annotator.controller import SessionController
from gui_actions import open_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((20, 30, 3), np.uint8))
    return tmp_path


def _journal_damaged_after_two_objects(folder: Path) -> list[int]:
    """Leave the journal a crash would, with two finished objects and then a line that
    cannot be applied; the ids of the two objects (not in the project file)."""
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    ids = []
    for name, top in (("a.png", 2), ("b.png", 8)):
        mask = np.zeros((20, 30), bool)
        mask[top:top + 5, 3:9] = True
        obj = project.add_object(name, mask, "cat", "clicked", [Click(top + 2, 5, True)])
        old_journal.record_object(journal, name, obj, "cat")
        ids.append(obj.id)
    journal.close()  # killed: no save
    with journal_path(project.path).open("a") as file:
        file.write(json.dumps({"t": "no such record"}) + "\n")
    assert not (folder / PROJECT_FILE_NAME).exists()
    return ids


def _saved_ids(folder: Path) -> list[int]:
    return [obj.id for _, obj in Project.load(folder / PROJECT_FILE_NAME).iter_objects()]


def test_objects_replayed_before_a_damaged_line_are_saved(folder):
    ids = _journal_damaged_after_two_objects(folder)
    project = Project.open_folder(folder)
    with pytest.raises(JournalError, match="damaged at line 4") as raised:
        Journal.open(project)
    assert _saved_ids(folder) == ids
    assert raised.value.replayed.restored_object_ids == ids


@pytest.mark.gui
def test_the_gui_saves_the_objects_replayed_before_a_damaged_line(qtbot, open_window, folder):
    ids = _journal_damaged_after_two_objects(folder)
    win = open_window(SessionController())
    messages: list[str] = []
    win.controller.message.connect(messages.append)
    open_folder(qtbot, win, folder)
    assert [obj.id for obj in win.controller.rows.current_objects()] == ids[:1]
    assert len(win.errors) == 1 and "damaged at line 4" in win.errors[0]
    assert _saved_ids(folder) == ids  # on disk right after opening, no other change needed
    assert any("Restored 2 object" in message for message in messages)
    assert list(folder.glob(journal_path(folder / PROJECT_FILE_NAME).name + ".unreadable-*"))
