"""The review queue of imported objects: order, stepping, decisions, counts, persistence."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import Click
from engine import edit_builders as build
from engine.edits import ObjectChange
from engine.annotations import Project, ProjectError
from engine.coco import export_coco, import_coco
from engine.journal import Journal
import old_journal
from engine.masks import decode_rle
from engine.review import (ReviewCounts, ReviewQueue, accept, imported_rle, reject, relabel,
                          revert)

SHAPE = (30, 40)


def _square(top=5, left=5, size=8) -> np.ndarray:
    mask = np.zeros(SHAPE, bool)
    mask[top:top + size, left:left + size] = True
    return mask


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """Images b.png, a.png, c.png; a.png and b.png hold imported objects, c.png a clicked one.

    Ids are chosen out of order so that the queue's order is not the order of adding.
    """
    for name in ("b.png", "a.png", "c.png"):
        cv2.imwrite(str(tmp_path / name), np.full((*SHAPE, 3), 90, np.uint8))
    project = Project.open_folder(tmp_path)
    project.add_object("b.png", _square(), "cat", source="imported", object_id=3)
    project.add_object("a.png", _square(left=20), "dog", source="imported", object_id=9)
    project.add_object("a.png", _square(), "cat", source="imported", object_id=4)
    project.add_object("c.png", _square(), "cat", source="clicked", object_id=1)
    return project


def _ids(queue: ReviewQueue) -> list[int]:
    return [item.object_id for item in queue.items]


def test_queue_holds_imported_objects_in_image_then_id_order(project: Project) -> None:
    queue = ReviewQueue.from_project(project)
    assert _ids(queue) == [4, 9, 3]  # a.png (ids 4, 9), then b.png; c.png's object was clicked
    assert [item.file_name for item in queue.items] == ["a.png", "a.png", "b.png"]
    assert all(item.outcome == "pending" for item in queue.items)
    assert queue.item(9).category == "dog"
    assert _ids(ReviewQueue.from_project(project).only("a.png")) == [4, 9]
    assert len(ReviewQueue.from_project(project).only("c.png")) == 0


def test_next_and_previous_with_and_without_skipping_done(project: Project) -> None:
    accept(project, 9)
    queue = ReviewQueue.from_project(project)
    assert queue.first().object_id == 4
    assert queue.next(4).object_id == 3  # 9 is done
    assert queue.next(4, skip_done=False).object_id == 9
    assert queue.next(3, skip_done=False) is None  # the end
    assert queue.next(3).object_id == 4  # pending ones wrap around
    assert queue.previous(3).object_id == 4
    assert queue.previous(3, skip_done=False).object_id == 9
    assert queue.previous(4, skip_done=False) is None
    assert queue.next(None).object_id == 4 and queue.previous(None).object_id == 3
    reject(project, 4)
    accept(project, 3)
    queue = ReviewQueue.from_project(project)
    assert queue.first() is None and queue.next(3) is None and queue.previous(4) is None
    assert queue.first(skip_done=False).object_id == 4


def test_only_pending_item_is_not_its_own_next(project: Project) -> None:
    accept(project, 4)
    accept(project, 9)
    queue = ReviewQueue.from_project(project)
    assert queue.next(3) is None and queue.previous(3) is None
    assert queue.next(4).object_id == 3


def test_decisions_and_counts(project: Project) -> None:
    accept(project, 4)
    reject(project, 3)
    _, obj = project.find_object(9)
    obj.set_mask(_square(left=22))  # what a correction with clicks does (Project.replace_mask)
    queue = ReviewQueue.from_project(project)
    assert [item.outcome for item in queue.items] == ["accepted", "corrected", "rejected"]
    overall = queue.counts()
    assert (overall["accepted"], overall["corrected"], overall["rejected"],
            overall["pending"]) == (1, 1, 1, 0)
    assert overall.total == 3 and overall.reviewed == 3
    by_image = {entry.file_name: ReviewCounts.of_objects(entry.objects)
                for entry in project.images.values()}
    assert by_image["a.png"].summary() == "2/2 reviewed: 1 accepted, 1 corrected"
    assert by_image["b.png"].summary() == "1/1 reviewed: 1 rejected"
    assert queue.counts("b.png").summary() == "1/1 reviewed: 1 rejected"
    # The imported mask is kept through later corrections.
    obj.set_mask(_square(left=24))
    np.testing.assert_array_equal(decode_rle(imported_rle(obj)), _square(left=20))


def test_relabel_keeps_the_imported_category_and_can_be_undone(project: Project) -> None:
    relabel(project, 4, "fox")
    _, obj = project.find_object(4)
    assert project.category(obj.category_id).name == "fox"
    assert obj.review.outcome == "relabelled"
    assert project.category(obj.review.original_category_id).name == "cat"
    relabel(project, 4, "wolf")
    assert project.category(obj.review.original_category_id).name == "cat"
    relabel(project, 4, "cat")  # back to what the import said
    assert obj.review.outcome == "pending" and obj.review.original_category_id is None
    relabel(project, 4, "cat")  # no change is no decision
    assert obj.review.outcome == "pending"
    # A corrected object stays corrected when relabelled; accepting it keeps its outcome.
    obj.set_mask(_square(left=6))
    relabel(project, 4, "fox")
    accept(project, 4)
    assert obj.review.outcome == "corrected"
    # Relabelling a clicked object is just a new category.
    relabel(project, 1, "fox")
    assert project.find_object(1)[1].review is None


def test_revert_restores_the_import(project: Project) -> None:
    _, obj = project.find_object(9)
    obj.set_mask(_square(left=22))
    relabel(project, 9, "fox")
    reject(project, 9)
    revert(project, 9)
    assert obj.review.outcome == "pending"
    assert obj.review.original_rle is None and obj.review.original_category_id is None
    np.testing.assert_array_equal(obj.mask, _square(left=20))
    assert project.category(obj.category_id).name == "dog"
    with pytest.raises(ValueError, match="not imported"):
        revert(project, 1)
    with pytest.raises(ValueError, match="not imported"):
        accept(project, 1)


def test_outcomes_and_originals_survive_save_and_reopen(project: Project) -> None:
    accept(project, 4)
    reject(project, 3)
    build.replace_mask(project, 9, _square(left=22), [Click(10, 25, True)],
                       ObjectChange.CORRECT).apply(project)
    relabel(project, 9, "fox")
    project.save()
    reopened = Project.open_folder(project.root)
    queue = ReviewQueue.from_project(reopened)
    assert [(i.object_id, i.outcome, i.category) for i in queue.items] == [
        (4, "accepted", "cat"), (9, "corrected", "fox"), (3, "rejected", "cat")]
    _, obj = reopened.find_object(9)
    assert obj.source == "corrected"
    np.testing.assert_array_equal(obj.mask, _square(left=22))
    np.testing.assert_array_equal(decode_rle(imported_rle(obj)), _square(left=20))
    assert reopened.category(obj.review.original_category_id).name == "dog"
    assert reopened.find_object(1)[1].review is None  # clicked objects are not reviewed
    saved = json.loads(project.path.read_text())
    clicked = next(o for e in saved["images"] for o in e["objects"] if o["id"] == 1)
    assert "review" not in clicked


def test_project_files_without_review_still_load(project: Project) -> None:
    project.save()
    data = json.loads(project.path.read_text())
    for entry in data["images"]:
        for obj in entry["objects"]:
            obj.pop("review", None)
    project.path.write_text(json.dumps(data))
    reopened = Project.open_folder(project.root)
    queue = ReviewQueue.from_project(reopened)
    assert _ids(queue) == [4, 9, 3] and queue.counts()["pending"] == 3


@pytest.mark.parametrize("review, expected", [
    ("yes", "'review' must be an object"),
    ({"outcome": "maybe"}, "unknown review outcome 'maybe'"),
    ({"outcome": "corrected", "original_rle": {"size": [3], "counts": ""}},
     "original (imported) mask"),
    ({"outcome": "relabelled", "original_category_id": 99}, "original category id 99"),
])
def test_malformed_review_is_a_clear_project_error(project: Project, review, expected) -> None:
    project.save()
    data = json.loads(project.path.read_text())
    data["images"][0]["objects"][0]["review"] = review
    project.path.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match="damaged") as raised:
        Project.open_folder(project.root)
    message = str(raised.value)
    assert expected in message and "object" in message


def test_export_leaves_rejected_objects_out(project: Project, tmp_path: Path) -> None:
    reject(project, 9)
    report = export_coco(project, tmp_path / "out.json")
    exported = json.loads((tmp_path / "out.json").read_text())
    assert sorted(a["id"] for a in exported["annotations"]) == [1, 3, 4]
    assert report.skipped == 0 and report.warnings == []
    revert(project, 9)
    export_coco(project, tmp_path / "out.json")
    exported = json.loads((tmp_path / "out.json").read_text())
    assert sorted(a["id"] for a in exported["annotations"]) == [1, 3, 4, 9]


def test_import_starts_pending_and_reimport_does_not_revive_rejected(project: Project,
                                                                     tmp_path: Path) -> None:
    coco = tmp_path / "pred.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "c.png", "width": 40, "height": 30}],
        "annotations": [{"id": 20, "image_id": 1, "category_id": 1,
                         "segmentation": [[30, 2, 38, 2, 38, 10, 30, 10]]}],
        "categories": [{"id": 1, "name": "bird"}]}))
    import_coco(project, coco)
    assert ReviewQueue.from_project(project).only("c.png").item(20).outcome == "pending"
    reject(project, 20)
    report = import_coco(project, coco)
    assert report.duplicates == 1  # the rejected object is still there: nothing comes back
    assert ReviewQueue.from_project(project).only("c.png").item(20).outcome == "rejected"


def test_old_journal_replay_of_a_correction_keeps_the_imported_mask(project: Project) -> None:
    project.save()
    journal, _ = Journal.open(project)
    _, obj = project.find_object(4)
    corrected = _square(left=7)
    build.replace_mask(project, 4, corrected, [Click(9, 9, True)],
                       ObjectChange.CORRECT).apply(project)
    _, obj = project.find_object(4)
    old_journal.record_object(journal, "a.png", obj, "cat", replaces=True)
    journal.close()  # a crash: the project file still has the imported mask
    reopened = Project.open_folder(project.root)
    Journal.open(reopened)[0].close()
    _, again = reopened.find_object(4)
    assert again.review.outcome == "corrected"
    np.testing.assert_array_equal(again.mask, corrected)
    np.testing.assert_array_equal(decode_rle(again.review.original_rle), _square())
