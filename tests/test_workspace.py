"""The workspace: one path for every change (apply, journal, save, undo), crash replay through
the same code, and a property test: random edit sequences, killed at a random point and
replayed from the journal, give the project the live path made."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import edit_builders as build
from engine.annotations import Project, ProjectError
from engine.clicks import Click
from engine.edits import EditError, ObjectChange
from engine.journal import journal_path
from engine.workspace import Changed, JsonStore, Step, Workspace

import old_journal


def _images(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.zeros((20, 30, 3), np.uint8))
    return folder


def _mask(top: int, left: int = 3, height: int = 5) -> np.ndarray:
    mask = np.zeros((20, 30), bool)
    mask[top:top + height, left:left + 6] = True
    return mask


def _dump(project: Project) -> str:
    return json.dumps(project.to_json(), sort_keys=True)


class Killable(JsonStore):
    """A store whose process "dies" from save number ``kill_at`` on: the file is no longer
    written (``saved_first``: it is written, and the process dies before the journal's
    checkpoint). The workspace hears of it as a failed save and goes on, as the live
    process would have until the kill."""

    def __init__(self, kill_at: int | None = None, saved_first: bool = False) -> None:
        self.kill_at, self.saved_first, self.saves = kill_at, saved_first, 0

    def save(self, project: Project) -> None:
        self.saves += 1
        if self.kill_at is None or self.saves < self.kill_at:
            project.save()
            return
        if self.saved_first:
            project.save()
        raise ProjectError("killed")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _images(tmp_path / "images")


def test_apply_saves_and_undo_redo_go_the_same_path(folder):
    events: list[Changed] = []
    workspace, recovery = Workspace.open(folder)
    workspace.subscribe(events.append)
    project = workspace.project
    assert recovery is not None and recovery.edits == 0
    workspace.apply(build.add_object(project, "a.png", _mask(2), "cat", [Click(3, 4, True)]))
    [(_, obj)] = list(project.iter_objects())
    assert [o.id for _, o in Project.load(project.path).iter_objects()] == [obj.id]
    workspace.apply(build.delete_object(project, obj.id))
    assert workspace.undo_text == f"Delete object {obj.id}" and not workspace.can_redo
    assert workspace.undo() is not None
    assert [o.id for _, o in Project.load(project.path).iter_objects()] == [obj.id]
    assert workspace.redo_text == f"Delete object {obj.id}"
    workspace.redo()
    assert list(Project.load(project.path).iter_objects()) == []
    assert [e.step for e in events] == [Step.DO, Step.DO, Step.UNDO, Step.REDO]
    assert events[2].touched.images == frozenset(["a.png"])
    # A new edit drops what could be redone.
    workspace.undo()
    workspace.apply(build.set_visibility(project, [obj.id], False))
    assert not workspace.can_redo
    workspace.close()


def test_an_edit_that_does_not_fit_is_refused_and_journals_nothing(folder):
    workspace, _ = Workspace.open(folder)
    project = workspace.project
    workspace.apply(build.add_object(project, "a.png", _mask(2), "cat"))
    delete = build.delete_object(project, 1)
    workspace.apply(delete)
    journal = journal_path(project.path).read_bytes()
    with pytest.raises(EditError):
        workspace.apply(delete)
    assert journal_path(project.path).read_bytes() == journal
    assert workspace.undo_text == "Delete object 1"
    workspace.close()


def test_an_import_is_one_undoable_edit(folder, tmp_path):
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": c, "iscrowd": 0,
                         "bbox": [2, 2, 5, 5],
                         "segmentation": [[2, 2 + c, 8, 2 + c, 8, 8 + c, 2, 8 + c]]}
                        for c in (1, 2)]}))
    workspace, _ = Workspace.open(folder)
    project = workspace.project
    report = workspace.import_coco(coco)
    assert report.added_total == 2 and workspace.undo_text == "Import coco.json"
    assert [c.name for c in project.categories] == ["car", "bus"]
    assert all(obj.review is not None for _, obj in project.iter_objects())
    workspace.undo()
    assert project.categories == [] and list(project.iter_objects()) == []  # the image
    # keeps the size it was found to have: a fact of the file, not an edit
    workspace.redo()
    assert len(list(Project.load(project.path).iter_objects())) == 2
    workspace.close()


def test_a_crash_before_the_save_is_replayed_and_saved(folder):
    workspace, _ = Workspace.open(folder, store=Killable(kill_at=2))
    project = workspace.project
    workspace.apply(build.add_object(project, "a.png", _mask(2), "cat"))  # saved
    workspace.apply(build.relabel(project, 1, "dog"))  # journaled only
    workspace.record_progress("b.png", [Click(1, 2, True)], None, None)
    live = _dump(project)
    workspace.close()
    reopened, recovery = Workspace.open(folder)
    # Checking the progress record read b.png's size: a fact of the file, not an edit.
    assert reopened.project.images["b.png"].height == 20
    reopened.project.images["b.png"].height = reopened.project.images["b.png"].width = None
    assert _dump(reopened.project) == live
    assert recovery.edits == 1  # the relabel into a new category: one batch
    assert recovery.in_progress.clicks == [Click(1, 2, True)]
    saved = Project.load(reopened.project.path)  # saved right after replay
    assert [(o.id, o.category_id) for _, o in saved.iter_objects()] == [(1, 2)]
    reopened.close()


def test_a_crash_between_the_save_and_the_checkpoint_applies_nothing_twice(folder):
    workspace, _ = Workspace.open(folder, store=Killable(kill_at=1, saved_first=True))
    project = workspace.project
    workspace.apply(build.add_object(project, "a.png", _mask(2), "cat"))
    workspace.apply(build.delete_object(project, 1))
    live = _dump(project)
    workspace.close()
    reopened, recovery = Workspace.open(folder)
    assert _dump(reopened.project) == live and recovery.edits == 0
    reopened.close()


def test_an_old_journal_relabel_keeps_the_review_as_the_live_path_does(folder):
    """Old journals replayed a relabel without the review: now it is the live edit."""
    project = Project.open_folder(folder)
    project.add_object("a.png", _mask(2), "cat", "imported")
    project.save()
    from engine.journal import Journal
    journal, _ = Journal.open(project)
    old_journal.record_category(journal, 1, "dog")
    journal.close()
    workspace, recovery = Workspace.open(folder)
    _, obj = workspace.project.find_object(1)
    assert obj.review.outcome == "relabelled" and recovery.edited_object_ids == [1]
    workspace.close()


def test_a_damaged_journal_is_set_aside_with_a_message(folder):
    workspace, _ = Workspace.open(folder, store=Killable(kill_at=2))
    workspace.apply(build.add_object(workspace.project, "a.png", _mask(2), "cat"))
    workspace.apply(build.add_object(workspace.project, "a.png", _mask(9), "cat"))
    workspace.close()
    path = journal_path(workspace.project.path)
    with path.open("a") as file:
        file.write(json.dumps({"t": "edit", "n": 9, "edit": {"kind": "add_object"}}) + "\n")
    problems: list[str] = []
    reopened, recovery = Workspace.open(folder, report=problems.append)
    assert len(problems) == 1 and "damaged at line 3" in problems[0]
    assert [o.id for _, o in reopened.project.iter_objects()] == [1, 2]  # before the damage
    assert recovery.restored_object_ids == [2]
    assert list(path.parent.glob(path.name + ".unreadable-*"))
    reopened.close()


# -- the property: replay gives what the live path made ----------------------------------

_ACTIONS = ("add", "add_new_category", "delete", "correct", "relabel", "review", "hide",
            "hide_all", "add_category", "rename_category", "recolor", "change_id",
            "remove_category", "undo", "redo")


def _act(workspace: Workspace, action: str, pick: int) -> None:
    """Do ``action`` to the live workspace; ``pick`` chooses the object, category, place."""
    project = workspace.project
    objects = [obj.id for _, obj in project.iter_objects()]
    categories = [c.id for c in project.categories]
    image = ("a.png", "b.png")[pick % 2]
    obj = objects[pick % len(objects)] if objects else None
    category = categories[pick % len(categories)] if categories else None
    edit = None
    if action == "undo":
        workspace.undo()
    elif action == "redo":
        workspace.redo()
    elif action in ("add", "add_new_category"):
        name = f"c{pick % 7}" if action == "add_new_category" else "cat"
        source = ("clicked", "imported")[pick % 2]
        edit = build.add_object(project, image, _mask(pick % 14, pick % 20), name,
                                [Click(1.5, 2.0, True)], source)
    elif obj is not None and action == "delete":
        edit = build.delete_object(project, obj)
    elif obj is not None and action == "correct":
        edit = build.replace_mask(project, obj, _mask(pick % 15, 2, 4),
                                  [Click(3.0, 4.0, False)], ObjectChange.CORRECT)
    elif obj is not None and action == "relabel":
        edit = build.relabel(project, obj, ("cat", "dog", "bird")[pick % 3])
    elif obj is not None and action == "review":
        if project.find_object(obj)[1].review is not None:
            edit = build.review_decision(project, obj, list(ObjectChange)[3 + pick % 3])
    elif objects and action in ("hide", "hide_all"):
        edit = build.set_visibility(project, objects if action == "hide_all" else [obj],
                                    pick % 3 == 0)
    elif action == "add_category":
        edit = build.add_category(project, f"k{pick}") if f"k{pick}" not in [
            c.name for c in project.categories] else None
    elif category is not None and action == "rename_category":
        name = f"r{pick}"
        edit = None if name in [c.name for c in project.categories] else \
            build.rename_category(project, category, name)
    elif category is not None and action == "recolor":
        edit = build.recolor_category(project, category, (pick % 256, 10, 20))
    elif category is not None and action == "change_id":
        new_id = 50 + pick
        if new_id not in categories:
            edit = build.change_category_id(project, category, new_id)
    elif category is not None and action == "remove_category":
        edit = build.remove_category(project, category)
    if edit is not None:
        try:
            workspace.apply(edit)
        except EditError:
            pass  # a used category: refused, nothing changed (checked by the replay too)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(_ACTIONS), st.integers(0, 1000)),
                      min_size=1, max_size=25),
       kill=st.integers(1, 12), saved_first=st.booleans())
def test_random_edits_killed_at_a_random_point_replay_to_the_live_project(
        tmp_path_factory, steps, kill, saved_first):
    folder = _images(tmp_path_factory.mktemp("work") / "images")
    workspace, _ = Workspace.open(folder, store=Killable(kill, saved_first))
    for action, pick in steps:
        _act(workspace, action, pick)
    live = _dump(workspace.project)
    workspace.close()  # killed: what the journal and the file hold is all there is
    reopened, _ = Workspace.open(folder)
    assert _dump(reopened.project) == live
    reopened.close()
    again, recovery = Workspace.open(folder)  # replayed work was saved: nothing to replay
    assert _dump(again.project) == live and recovery.edits == 0
    again.close()
