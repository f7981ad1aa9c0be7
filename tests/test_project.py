"""The project store: ids, persistence, atomic saving, where the file goes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import Click
from engine import edit_builders as build
from engine.edits import ObjectChange
from engine.annotations import PROJECT_FILE_NAME, Project, ProjectError, default_project_path
from resources import SAMPLES_DIR


def _write_images(folder: Path, names: list[str], shape=(30, 40)) -> None:
    for name in names:
        cv2.imwrite(str(folder / name), np.full((*shape, 3), 90, np.uint8))


def _square(shape=(30, 40), top=5, left=5, size=10) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:top + size, left:left + size] = True
    return mask


def test_objects_survive_save_and_reopen(tmp_path: Path) -> None:
    _write_images(tmp_path, ["b.png", "a.png"])
    project = Project.open_folder(tmp_path)
    assert [e.file_name for e in project.present_images()] == ["a.png", "b.png"]
    assert [e.id for e in project.present_images()] == [1, 2]
    obj = project.add_object("a.png", _square(), "cat", clicks=[Click(7, 8, True)])
    project.add_object("a.png", _square(left=20), "dog")
    project.save()
    assert project.path == tmp_path / PROJECT_FILE_NAME

    reopened = Project.open_folder(tmp_path)
    entry = reopened.images["a.png"]
    assert [o.id for o in entry.objects] == [obj.id, obj.id + 1]
    np.testing.assert_array_equal(entry.objects[0].mask, _square())
    assert entry.objects[0].clicks == [Click(7, 8, True)]
    assert [c.name for c in reopened.categories] == ["cat", "dog"]
    assert [c.id for c in reopened.categories] == [1, 2]
    assert (entry.width, entry.height) == (40, 30)


def test_new_images_get_new_ids_and_old_ones_keep_theirs(tmp_path: Path) -> None:
    _write_images(tmp_path, ["b.png"])
    project = Project.open_folder(tmp_path)
    project.save()
    _write_images(tmp_path, ["a.png"])
    reopened = Project.open_folder(tmp_path)
    assert reopened.images["b.png"].id == 1 and reopened.images["a.png"].id == 2


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    _write_images(tmp_path, ["a.png"])
    project = Project.open_folder(tmp_path)
    for _ in range(3):
        project.add_object("a.png", _square(), "cat")
        project.save()
    # The lock file stays (deleting it on release would let two processes lock two files).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", PROJECT_FILE_NAME,
                                                          f"{PROJECT_FILE_NAME}.lock"]


def test_replace_rename_remove(tmp_path: Path) -> None:
    _write_images(tmp_path, ["a.png"])
    project = Project.open_folder(tmp_path)
    obj = project.add_object("a.png", _square(), "cat", source="imported", object_id=42)
    assert obj.id == 42
    clash = project.add_object("a.png", _square(), "cat", object_id=42)
    assert clash.id == 43
    build.replace_mask(project, 42, _square(size=4), [Click(6, 6, False)],
                       ObjectChange.CORRECT).apply(project)
    _, obj = project.find_object(42)
    assert obj.source == "corrected" and obj.mask.sum() == 16
    build.relabel(project, 42, "lion").apply(project)
    assert project.category(project.find_object(42)[1].category_id).name == "lion"
    project.remove_object(42)
    assert [o.id for o in project.images["a.png"].objects] == [43]
    with pytest.raises(KeyError):
        project.find_object(42)
    with pytest.raises(ValueError):
        project.category_id("  ")


def test_damaged_or_foreign_project_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(ProjectError, match="cannot read"):
        Project.load(path)
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(ProjectError, match="not a Clickmask project"):
        Project.load(path)
    path.write_text(json.dumps({"format": "clickmask-project", "version": 1, "root": ".",
                                "categories": [], "images": [{"id": 1}]}))
    with pytest.raises(ProjectError, match="damaged"):
        Project.load(path)


def test_read_only_folder_keeps_its_project_in_the_data_dir(tmp_path: Path, monkeypatch,
                                                            clickmask_home: Path) -> None:
    _write_images(tmp_path, ["a.png"])
    # Root may write anywhere, so the test (which CI runs as root) asks os.access to say no.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    path = default_project_path(tmp_path)
    assert clickmask_home in path.parents and path.parent.name == "projects"
    project = Project.open_folder(tmp_path)
    project.add_object("a.png", _square(), "cat")
    project.save()
    assert path.exists() and not (tmp_path / PROJECT_FILE_NAME).exists()


def test_bundled_samples_keep_their_project_in_the_data_dir(clickmask_home: Path) -> None:
    path = default_project_path(SAMPLES_DIR)
    assert clickmask_home in path.parents


def test_chosen_project_path(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _write_images(images, ["a.png"])
    chosen = tmp_path / "elsewhere" / "mine.json"
    project = Project.open_folder(images, chosen)
    project.add_object("a.png", _square(), "cat")
    project.save()
    assert chosen.exists() and not (images / PROJECT_FILE_NAME).exists()
    assert len(Project.open_folder(images, chosen).images["a.png"].objects) == 1


# -- damaged project files -------------------------------------------------------------------

def _saved_project(tmp_path: Path) -> dict:
    """The JSON of a saved one-object project on ``a.png``."""
    _write_images(tmp_path, ["a.png"])
    project = Project.open_folder(tmp_path)
    project.add_object("a.png", _square(), "cat", clicks=[Click(7, 8, True)])
    project.save()
    return json.loads(project.path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("key, value, expected", [
    ("rle", {"size": [30, 40], "counts": "\x7f\x7f"}, "not an RLE character"),
    ("rle", {"size": [30, 40], "counts": "P"}, "middle of a number"),
    ("rle", {"size": [30, 40], "counts": [5, 10]}, "cover 15 pixels"),
    ("rle", {"size": [30], "counts": ""}, "'size'"),
    ("rle", None, "RLE"),
    ("source", "drawn", "unknown source 'drawn'"),
    ("category_id", 9, "category id 9"),
    ("id", 0, "no positive integer 'id'"),
    ("clicks", [[1, 2]], "clicks"),
    ("clicks", [[1, "x", True]], "clicks"),
    ("visible", "yes", "visible"),
])
def test_damaged_object_is_refused_with_its_place(tmp_path: Path, key, value, expected) -> None:
    data = _saved_project(tmp_path)
    data["images"][0]["objects"][0][key] = value
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProjectError, match="damaged") as raised:
        Project.load(path)
    message = str(raised.value)
    assert expected in message
    assert "damaged.json" in message and "image 'a.png'" in message


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["images"][0].update(width="40"), "width '40'"),
    (lambda d: d["images"].append(dict(d["images"][0], file_name="b.png")),
     "object id 1 is used by another object"),
    (lambda d: d["images"].append(dict(d["images"][0], objects=[])), "listed twice"),
    (lambda d: d["categories"].append({"id": 1, "name": "dog"}), "category id 1 is used twice"),
    (lambda d: d.update(version="1"), "'version'"),
    (lambda d: d.update(images={}), "'images' must be a list"),
])
def test_damaged_project_structure_is_refused(tmp_path: Path, change, expected) -> None:
    data = _saved_project(tmp_path)
    change(data)
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProjectError, match="damaged") as raised:
        Project.load(path)
    assert expected in str(raised.value)


def test_unusable_json_is_a_project_error(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"format": "clickmask-project", "version": ' + "1" * 5000 + "}")
    with pytest.raises(ProjectError, match="cannot read"):
        Project.load(path)


# -- adding objects --------------------------------------------------------------------------

def test_mask_of_another_size_is_refused(tmp_path: Path) -> None:
    _write_images(tmp_path, ["a.png"])
    project = Project.open_folder(tmp_path)
    project.add_object("a.png", _square(), "cat")
    with pytest.raises(ValueError, match="50x30 but a.png is 40x30"):
        project.add_object("a.png", _square(shape=(30, 50)), "dog")
    entry = project.images["a.png"]
    assert (entry.height, entry.width) == (30, 40) and len(entry.objects) == 1
    assert [c.name for c in project.categories] == ["cat"]


@pytest.mark.parametrize("object_id", [0, -3])
def test_ids_below_one_get_a_new_id(tmp_path: Path, object_id: int) -> None:
    _write_images(tmp_path, ["a.png"])
    project = Project.open_folder(tmp_path)
    first = project.add_object("a.png", _square(), "cat")
    obj = project.add_object("a.png", _square(), "cat", object_id=object_id)
    assert obj.id == first.id + 1


def test_a_removed_id_is_free_again(tmp_path: Path) -> None:
    _write_images(tmp_path, ["a.png"])
    project = Project.open_folder(tmp_path)
    project.add_object("a.png", _square(), "cat", object_id=7)
    project.remove_object(7)
    assert project.add_object("a.png", _square(), "cat", object_id=7).id == 7
    project.save()
    reopened = Project.open_folder(tmp_path)
    assert reopened.add_object("a.png", _square(), "cat", object_id=7).id == 8


# -- the folder's images ---------------------------------------------------------------------

def test_present_images_follow_the_natural_order_as_files_appear(tmp_path: Path) -> None:
    _write_images(tmp_path, ["img10.png", "img2.png"])
    project = Project.open_folder(tmp_path)
    project.save()
    _write_images(tmp_path, ["img1.png", "img3.png"])
    project.sync_with_folder()
    assert [e.file_name for e in project.present_images()] == [
        "img1.png", "img2.png", "img3.png", "img10.png"]
    reopened = Project.open_folder(tmp_path)
    assert [e.file_name for e in reopened.present_images()] == [
        "img1.png", "img2.png", "img3.png", "img10.png"]
    assert [e.id for e in reopened.present_images()] == [3, 1, 4, 2]
    (tmp_path / "img2.png").unlink()
    reopened.sync_with_folder()
    assert [e.file_name for e in reopened.present_images()] == [
        "img1.png", "img3.png", "img10.png"]
    assert "img2.png" in reopened.images  # its objects are kept
