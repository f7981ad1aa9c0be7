"""The crash journal: replay of journals written before edits were values (their records
still replay) after simulated crashes, torn lines, foreign journals. engine/workspace.py's
tests cover the journal of edits."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from engine import edit_builders as build
from engine.annotations import Project
from engine.edits import ObjectChange
from engine.clicks import Click
from engine.journal import Journal, JournalError, journal_path, replay
from engine.masks import decode_rle
import old_journal as old


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.zeros((20, 30, 3), np.uint8))
    return folder


def _mask(top: int) -> np.ndarray:
    mask = np.zeros((20, 30), bool)
    mask[top:top + 5, 3:9] = True
    return mask


def _finish(project: Project, journal: Journal, file_name: str, top: int, category: str):
    clicks = [Click(top + 2, 5, True)]
    obj = project.add_object(file_name, _mask(top), category, "clicked", clicks)
    old.record_object(journal, file_name, obj, category)
    return obj


def _replace_mask(project: Project, object_id: int, mask: np.ndarray, clicks: list[Click]):
    """Correct the object as the annotator does (an edit); the corrected object."""
    build.replace_mask(project, object_id, mask, clicks, ObjectChange.CORRECT).apply(project)
    return project.find_object(object_id)[1]


def _crash(journal: Journal) -> None:
    """What the OS leaves of a killed process: files as written, no save."""
    journal.close()


def _save(project: Project, journal: Journal) -> None:
    """Save as the workspace does: the project, then the journal's checkpoint."""
    project.save()
    journal.checkpoint()


def test_finished_objects_and_clicks_survive_a_crash_before_the_save(folder):
    project = Project.open_folder(folder)
    journal, recovery = Journal.open(project)
    assert recovery.restored_object_ids == [] and recovery.in_progress is None
    first = _finish(project, journal, "a.png", 2, "cat")
    _save(project, journal)
    second = _finish(project, journal, "b.png", 10, "dog")
    journal.record_progress("a.png", [Click(1, 2, True)])
    journal.record_progress("a.png", [Click(1, 2, True), Click(3, 4, False)])
    journal.record_progress("a.png", [Click(1, 2, True)])  # an undo
    _crash(journal)

    reopened = Project.open_folder(folder)
    assert [o.id for _, o in reopened.iter_objects()] == [first.id]  # the file alone
    _, recovery = Journal.open(reopened)
    assert recovery.restored_object_ids == [second.id]
    entry, obj = reopened.find_object(second.id)
    assert entry.file_name == "b.png" and reopened.category(obj.category_id).name == "dog"
    assert np.array_equal(obj.mask, _mask(10)) and obj.clicks == [Click(12, 5, True)]
    assert recovery.in_progress.file_name == "a.png"
    assert recovery.in_progress.clicks == [Click(1, 2, True)]
    # The restored object was saved: a third opening finds it in the file.
    assert Project.load(reopened.path).find_object(second.id)


def test_a_save_keeps_only_the_object_in_progress(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    _finish(project, journal, "a.png", 2, "cat")
    journal.record_progress("b.png", [Click(5, 6, True)])
    _save(project, journal)
    lines = journal_path(project.path).read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["t"] == "progress"
    journal.record_progress("b.png", [])  # a reset
    _save(project, journal)
    assert len(journal_path(project.path).read_text().splitlines()) == 1
    _crash(journal)
    _, recovery = Journal.open(Project.open_folder(folder))
    assert recovery.restored_object_ids == [] and recovery.in_progress is None


def test_a_hand_made_mask_is_kept_with_the_clicks_across_a_checkpoint(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    painted = _mask(7)
    journal.record_progress("b.png", [Click(5, 6, True), Click(9, 9, False)], None,
                            (painted, 1))
    _save(project, journal)  # the checkpoint keeps the object in progress, mask included
    _crash(journal)
    _, recovery = Journal.open(Project.open_folder(folder))
    state = recovery.in_progress
    assert state.clicks == [Click(5, 6, True), Click(9, 9, False)] and state.mask_clicks == 1
    assert np.array_equal(decode_rle(state.mask_rle), painted)


def test_a_mask_painted_without_clicks_is_work_in_progress(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    journal.record_progress("a.png", [], None, (_mask(4), 0))
    _crash(journal)
    _, recovery = Journal.open(Project.open_folder(folder))
    assert recovery.in_progress.clicks == [] and recovery.in_progress.mask_rle is not None


def test_a_crash_between_the_save_and_the_checkpoint_adds_nothing_twice(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    obj = _finish(project, journal, "a.png", 2, "cat")
    project.save()  # the save's file written, the process killed before the checkpoint
    journal.close()  # the journal still holds the object record
    reopened = Project.open_folder(folder)
    _, recovery = Journal.open(reopened)
    assert recovery.restored_object_ids == []
    assert [o.id for _, o in reopened.iter_objects()] == [obj.id]


def test_a_correction_is_replayed(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    obj = _finish(project, journal, "a.png", 2, "cat")
    _save(project, journal)
    journal.record_progress("a.png", [Click(12, 5, True)], editing_object_id=obj.id)
    corrected = _replace_mask(project, obj.id, _mask(12), [Click(12, 5, True)])
    old.record_object(journal, "a.png", corrected, "cat", replaces=True)
    _crash(journal)
    reopened = Project.open_folder(folder)
    _, recovery = Journal.open(reopened)
    assert recovery.restored_object_ids == [obj.id] and recovery.in_progress is None
    restored = reopened.find_object(obj.id)[1]
    assert np.array_equal(restored.mask, _mask(12)) and restored.source == "corrected"


def test_a_torn_last_line_is_ignored(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    obj = _finish(project, journal, "a.png", 2, "cat")
    journal.record_progress("a.png", [Click(1, 1, True)])
    _crash(journal)
    path = journal_path(project.path)
    full = path.read_bytes()
    record = json.dumps({"t": "progress", "file": "a.png", "clicks": [[1, 1, True], [2, 2, True]],
                         "editing": None}).encode()
    for cut in (1, len(record) // 2, len(record)):  # without its newline every piece is torn
        path.write_bytes(full + record[:cut])
        reopened = Project.open_folder(folder)
        recovery = replay(reopened)
        assert recovery.torn_lines == 1 and recovery.restored_object_ids == [obj.id]
        assert recovery.in_progress.clicks == [Click(1, 1, True)]


def test_a_damaged_line_in_the_middle_is_refused_and_the_file_kept(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    _finish(project, journal, "a.png", 2, "cat")
    journal.record_progress("a.png", [Click(1, 1, True)])
    _crash(journal)
    path = journal_path(project.path)
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:20]
    path.write_bytes(b"\n".join(lines))
    damaged = path.read_bytes()
    with pytest.raises(JournalError, match="line 2"):
        Journal.open(Project.open_folder(folder))
    assert path.read_bytes() == damaged


def test_a_journal_of_another_project_is_refused(folder, tmp_path):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    _finish(project, journal, "a.png", 2, "cat")
    _crash(journal)
    other = tmp_path / "other"
    other.mkdir()
    cv2.imwrite(str(other / "a.png"), np.zeros((20, 30, 3), np.uint8))
    foreign = journal_path(Project.open_folder(other).path)
    foreign.write_bytes(journal_path(project.path).read_bytes())
    stranger = Project.open_folder(other)
    with pytest.raises(JournalError, match="belongs to the project"):
        Journal.open(stranger)
    assert list(stranger.iter_objects()) == []


def test_a_file_that_is_not_a_journal_is_refused(folder):
    project = Project.open_folder(folder)
    journal_path(project.path).write_text('{"format": "something else"}\n')
    with pytest.raises(JournalError, match="not a Clickmask journal"):
        Journal.open(project)


def test_deletes_renames_and_hiding_survive_a_crash_before_the_save(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    kept = _finish(project, journal, "a.png", 2, "cat")
    deleted = _finish(project, journal, "a.png", 10, "cat")
    _save(project, journal)
    project.remove_object(deleted.id)
    old.record_delete(journal, deleted.id)
    build.relabel(project, kept.id, "lion").apply(project)
    old.record_category(journal, kept.id, "lion")
    kept.visible = False
    old.record_visible(journal, kept.id, False)
    _crash(journal)

    reopened = Project.open_folder(folder)
    assert len(list(reopened.iter_objects())) == 2  # the file alone still has both
    _, recovery = Journal.open(reopened)
    assert recovery.edited_object_ids == [deleted.id, kept.id, kept.id]
    [(_, obj)] = list(reopened.iter_objects())
    assert obj.id == kept.id and reopened.category(obj.category_id).name == "lion"
    assert obj.visible is False
    # Replayed edits are saved at once: the project file alone has them now.
    [(_, saved)] = list(Project.open_folder(folder).iter_objects())
    assert (saved.id, saved.visible) == (kept.id, False)


def test_an_object_finished_and_deleted_before_the_save_stays_deleted(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    obj = _finish(project, journal, "a.png", 2, "cat")
    corrected = _replace_mask(project, obj.id, _mask(12), [])
    old.record_object(journal, "a.png", corrected, "cat", replaces=True)
    project.remove_object(obj.id)
    old.record_delete(journal, obj.id)
    _crash(journal)
    reopened = Project.open_folder(folder)
    _, recovery = Journal.open(reopened)
    assert list(reopened.iter_objects()) == []
    assert recovery.restored_object_ids == [obj.id, obj.id]  # added, then corrected
    assert recovery.edited_object_ids == [obj.id]


def test_edits_of_an_object_deleted_since_the_save_are_skipped(folder):
    """Killed between the save of a delete and the checkpoint: the journal still holds the
    correction, the rename and the delete of an object the project file no longer has."""
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    obj = _finish(project, journal, "a.png", 2, "cat")
    _save(project, journal)
    old.record_object(journal, "a.png", _replace_mask(project, obj.id, _mask(12), []), "cat",
                          replaces=True)
    old.record_category(journal, obj.id, "dog")
    project.remove_object(obj.id)
    old.record_delete(journal, obj.id)
    project.save()  # the save's file written, the process killed before the checkpoint
    journal.close()
    reopened = Project.open_folder(folder)
    _, recovery = Journal.open(reopened)
    assert list(reopened.iter_objects()) == []
    assert recovery.restored_object_ids == [] and recovery.edited_object_ids == []


def test_a_malformed_edit_is_refused(folder):
    project = Project.open_folder(folder)
    journal, _ = Journal.open(project)
    obj = _finish(project, journal, "a.png", 2, "cat")
    old.append(journal, {"t": "visible", "id": obj.id, "visible": "no"})
    _crash(journal)
    with pytest.raises(JournalError, match="damaged at line 3"):
        replay(Project.open_folder(folder))
