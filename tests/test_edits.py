"""Edits as values: every kind applies, gives back the identical project when inverted,
survives its JSON form, and refuses a project it does not fit with nothing changed."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from engine import edit_builders as build
from engine.annotations import ImageEntry, Project
from engine.clicks import Click
from engine.edit_json import edit_from_json
from engine.edits import Batch, EditError, ObjectChange
from engine.journal_records import BadRecord
from engine.masks import encode_rle


def _mask(top: int, left: int = 3) -> np.ndarray:
    mask = np.zeros((20, 30), bool)
    mask[top:top + 5, left:left + 6] = True
    return mask


@pytest.fixture
def project(tmp_path) -> Project:
    project = Project(tmp_path, tmp_path / "p.json")
    project.images["a.png"] = ImageEntry(1, "a.png", 30, 20)
    project.images["b.png"] = ImageEntry(2, "b.png", 30, 20)
    project.add_object("a.png", _mask(2), "cat", "clicked", [Click(3.0, 4.0, True)])
    project.add_object("a.png", _mask(9), "dog")
    imported = project.add_object("b.png", _mask(4), "cat", "imported")
    assert imported.review is not None
    return project


def _dump(project: Project) -> str:
    return json.dumps(project.to_json(), sort_keys=True)


def _every_kind(project: Project) -> list:
    return [
        build.add_object(project, "b.png", _mask(12), "cat", [Click(13, 5, True)]),
        build.add_object(project, "b.png", _mask(12), "bird"),  # a new category: a batch
        build.delete_object(project, 1),
        build.replace_mask(project, 2, _mask(8, 10), [Click(9, 12, True)],
                           ObjectChange.CORRECT),
        build.replace_mask(project, 3, _mask(5), None, ObjectChange.EDIT_MASK),
        build.relabel(project, 1, "dog"),
        build.relabel(project, 3, "fish"),
        build.review_decision(project, 3, ObjectChange.ACCEPT),
        build.review_decision(project, 3, ObjectChange.REJECT),
        build.set_visibility(project, [1, 2, 3], False),
        build.add_category(project, "horse", (1, 2, 3)),
        build.rename_category(project, 1, "kitten"),
        build.recolor_category(project, 2, (9, 8, 7)),
        build.change_category_id(project, 1, 40),
    ]


def test_every_kind_applied_then_inverted_gives_back_the_identical_project(project):
    original = _dump(project)
    for edit in _every_kind(project):
        edit.apply(project)
        assert _dump(project) != original, edit.describe()
        edit.inverse().apply(project)
        assert _dump(project) == original, edit.describe()


def test_every_kind_survives_its_json_form(project):
    for edit in _every_kind(project):
        again = edit_from_json(json.loads(json.dumps(edit.to_json())))
        assert again == edit
        edit_copy = copy.deepcopy(project)
        edit.apply(project)
        again.apply(edit_copy)
        assert _dump(project) == _dump(edit_copy)
        edit.inverse().apply(project)


def test_an_edit_that_does_not_fit_changes_nothing(project):
    delete = build.delete_object(project, 1)
    relabel = build.relabel(project, 1, "dog")
    delete.apply(project)
    before = _dump(project)
    for edit in (delete, relabel, delete.inverse().inverse()):
        with pytest.raises(EditError):
            edit.apply(project)
        assert _dump(project) == before
    # A batch that fails half way takes back what it did.
    hide = build.set_visibility(project, [2], False)
    with pytest.raises(EditError):
        Batch((hide, relabel), "both").apply(project)
    assert _dump(project) == before


def test_a_used_category_cannot_be_removed_and_an_unused_one_can(project):
    with pytest.raises(EditError, match="used by 2 objects"):
        build.remove_category(project, 1).apply(project)
    build.add_category(project, "empty").apply(project)
    edit = build.remove_category(project, project.categories[-1].id)
    edit.apply(project)
    assert [c.name for c in project.categories] == ["cat", "dog"]


def test_a_relabelled_import_keeps_its_imported_category_through_a_change_of_id(project):
    build.relabel(project, 3, "dog").apply(project)
    build.change_category_id(project, 1, 7).apply(project)
    _, obj = project.find_object(3)
    assert obj.review.outcome == "relabelled" and obj.review.original_category_id == 7
    project.save()
    assert Project.load(project.path).find_object(3)[1].review.original_category_id == 7


def test_builders_refuse_bad_input_with_a_message(project):
    for call, message in [
            (lambda: build.add_category(project, " "), "needs a name"),
            (lambda: build.add_category(project, "cat"), "already a category"),
            (lambda: build.change_category_id(project, 1, 2), "already the id"),
            (lambda: build.change_category_id(project, 1, 0), "positive whole number"),
            (lambda: build.recolor_category(project, 1, (300, 0, 0)), "not an RGB"),
            (lambda: build.delete_object(project, 99), "no object 99"),
            (lambda: build.review_decision(project, 1, ObjectChange.ACCEPT), "not imported")]:
        with pytest.raises(EditError, match=message):
            call()
    assert build.rename_category(project, 1, " cat ") is None
    assert build.set_visibility(project, [1], True) is None


def test_descriptions_name_the_object(project):
    assert build.delete_object(project, 12 - 11).describe() == "Delete object 1"
    assert build.set_visibility(project, [1, 2], False).describe() == "Hide 2 objects"


@pytest.mark.parametrize("raw", [
    None, [], {"kind": "explode"}, {"kind": ["add_object"]}, {"kind": "delete_object"},
    {"kind": "change_object", "change": {}, "before": None, "after": None},
    {"kind": "delete_object", "object": {"file": "a.png"}},
    {"kind": "rename_category", "id": -1, "before": "a", "after": "b"},
    {"kind": "rename_category", "id": 1.5, "before": "a", "after": "b"},
    {"kind": "rename_category", "id": 2 ** 70, "before": "a", "after": "b"},
    {"kind": "recolor_category", "id": 1, "before": "#ff0000", "after": "red"},
    {"kind": "set_visibility", "changes": []},
    {"kind": "set_visibility", "changes": [["a.png", 1, "yes", False]]},
    {"kind": "batch", "label": "x", "edits": [{"kind": "batch"}]},
])
def test_a_bad_record_raises_bad_record_only(raw):
    with pytest.raises(BadRecord):
        edit_from_json(raw)


def test_a_damaged_object_record_is_refused(project):
    record = build.delete_object(project, 1).to_json()
    for key, value in [("rle", {"size": [20, 30], "counts": "zz!"}), ("id", 0),
                       ("source", "stolen"), ("clicks", [[1, "x", True]]),
                       ("position", -1), ("visible", 1),
                       ("review", {"outcome": "maybe"})]:
        damaged = copy.deepcopy(record)
        damaged["object"][key] = value
        with pytest.raises(BadRecord):
            edit_from_json(damaged)
    # A mask of the wrong size passes reading and is refused by apply.
    record["object"]["rle"] = encode_rle(np.ones((5, 5), bool))
    edit = edit_from_json(record).inverse()
    with pytest.raises(EditError, match="the mask is 5x5"):
        edit.apply(project)
