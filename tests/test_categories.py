"""Categories of a project: colours saved and read back, old files, and the editing
operations (add, rename, recolour, change id, remove) with their refusals."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import edit_builders as build
from engine.annotations import PROJECT_FILE_NAME, Project, ProjectError
from engine.coco import export_coco, import_coco
from engine.edits import EditError
from engine.palette import PALETTE, color_to_hex, hex_to_color, palette_color


def _project(folder: Path) -> Project:
    cv2.imwrite(str(folder / "a.png"), np.full((20, 30, 3), 90, np.uint8))
    return Project.open_folder(folder)


def _add(project: Project, name: str, color=None) -> int:
    """Add category ``name`` as the annotator does (an edit); its id."""
    edit = build.add_category(project, name, color)
    edit.apply(project)
    return edit.state.id


def _mask(left: int = 2) -> np.ndarray:
    mask = np.zeros((20, 30), bool)
    mask[3:9, left:left + 6] = True
    return mask


def test_colours_survive_save_and_reopen(tmp_path: Path) -> None:
    project = _project(tmp_path)
    project.add_object("a.png", _mask(), "cat")
    dog = _add(project, "dog", (1, 2, 250))
    build.recolor_category(project, project.category_id("cat"), (10, 20, 30)).apply(project)
    project.save()
    saved = json.loads((tmp_path / PROJECT_FILE_NAME).read_text())["categories"]
    assert saved == [{"id": 1, "name": "cat", "color": "#0a141e"},
                     {"id": dog, "name": "dog", "color": "#0102fa"}]
    reopened = Project.open_folder(tmp_path)
    assert [(c.name, c.color) for c in reopened.categories] == [("cat", (10, 20, 30)),
                                                                ("dog", (1, 2, 250))]


def test_old_files_without_colours_load_with_stable_palette_colours(tmp_path: Path) -> None:
    project = _project(tmp_path)
    project.add_object("a.png", _mask(), "cat")
    project.add_category("dog")
    data = project.to_json()
    for record in data["categories"]:
        del record["color"]
    (tmp_path / PROJECT_FILE_NAME).write_text(json.dumps(data))
    first = Project.open_folder(tmp_path)
    second = Project.open_folder(tmp_path)
    assert [c.color for c in first.categories] == [palette_color(1), palette_color(2)]
    assert [c.color for c in second.categories] == [c.color for c in first.categories]


@pytest.mark.parametrize("color", ["red", "#12345", "#gg0000", 12, "#1234567"])
def test_a_malformed_colour_is_a_clear_project_error(tmp_path: Path, color) -> None:
    project = _project(tmp_path)
    project.add_category("cat")
    data = project.to_json()
    data["categories"][0]["color"] = color
    (tmp_path / PROJECT_FILE_NAME).write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=r"category 'cat'.*#rrggbb"):
        Project.open_folder(tmp_path)


def test_new_categories_take_a_colour_no_category_has(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = _add(project, "a")
    build.recolor_category(project, first, PALETTE[1]).apply(project)  # id 2's colour
    second = project.category(_add(project, "b"))
    assert second.id == 2 and second.color not in (PALETTE[1],)
    assert len({c.color for c in project.categories}) == 2


def test_rename_refuses_empty_and_taken_names(tmp_path: Path) -> None:
    project = _project(tmp_path)
    cat = _add(project, "cat")
    _add(project, "dog")
    build.rename_category(project, cat, "  kitten ").apply(project)
    assert project.category(cat).name == "kitten"
    with pytest.raises(EditError, match="already a category called 'dog'"):
        build.rename_category(project, cat, "dog")
    with pytest.raises(EditError, match="needs a name"):
        build.rename_category(project, cat, "  ")
    assert build.rename_category(project, cat, "kitten") is None  # its own name: no change


def test_recolour_refuses_what_is_not_rgb(tmp_path: Path) -> None:
    project = _project(tmp_path)
    cat = _add(project, "cat")
    with pytest.raises(EditError, match="not an RGB colour"):
        build.recolor_category(project, cat, (0, 0, 256))


def test_changing_an_id_moves_its_objects_and_refuses_clashes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    obj = project.add_object("a.png", _mask(), "cat")
    dog = _add(project, "dog")
    build.change_category_id(project, 1, 7).apply(project)
    assert project.images["a.png"].objects[0].category_id == 7
    assert project.category(7).name == "cat" and obj.id == 1
    with pytest.raises(EditError, match="already the id of category 'dog'"):
        build.change_category_id(project, 7, dog)
    for bad in (0, -3, 1.5, True):
        with pytest.raises(EditError, match="positive whole number"):
            build.change_category_id(project, 7, bad)
    assert _add(project, "eel") == 8  # new ids go past the largest


def test_remove_refuses_a_category_in_use_and_says_how_many(tmp_path: Path) -> None:
    project = _project(tmp_path)
    project.add_object("a.png", _mask(), "cat")
    project.add_object("a.png", _mask(12), "cat")
    dog = _add(project, "dog")
    with pytest.raises(EditError, match="used by 2 objects"):
        build.remove_category(project, 1).apply(project)
    build.remove_category(project, dog).apply(project)
    assert [c.name for c in project.categories] == ["cat"]


def test_coco_keeps_ids_and_names_and_no_colour(tmp_path: Path) -> None:
    project = _project(tmp_path)
    project.add_object("a.png", _mask(), "cat")
    build.change_category_id(project, 1, 5).apply(project)
    out = tmp_path / "coco.json"
    export_coco(project, out)
    categories = json.loads(out.read_text())["categories"]
    assert categories == [{"id": 5, "name": "cat", "supercategory": ""}]
    fresh = Project(tmp_path, tmp_path / "other.json")
    fresh.sync_with_folder()
    import_coco(fresh, out)
    assert [c.name for c in fresh.categories] == ["cat"]


def test_hex_round_trip() -> None:
    for color in PALETTE:
        assert hex_to_color(color_to_hex(color)) == color
    with pytest.raises(ValueError):
        hex_to_color("#fff")
