"""Every file of the bad-input corpus (tests/data/bad_inputs, written by
scripts/make_bad_inputs.py) gives a clear message, in the engine, the CLI and the GUI, and
loses nothing: no traceback, existing objects untouched, the project saved somewhere."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from annotator.cli import main
from annotator.controller import SessionController
from engine.annotations import PROJECT_FILE_NAME, Project
from engine.coco import CocoFormatError, export_coco, import_coco
from engine.imageio import ImageLoadError, list_images, load_image
from engine.journal import journal_path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "bad_inputs"
SCRIPT = ROOT / "scripts" / "make_bad_inputs.py"
RED, BLUE, GRAY = (255, 0, 0), (0, 0, 255), (128, 128, 128)
TRUNCATED = "the file is truncated"

# Image name -> the reason load_image must give, or (shape, {(y, x): RGB}) of what it shows.
IMAGES: dict[str, str | tuple[tuple[int, int], dict[tuple[int, int], tuple[int, int, int]]]] = {
    "good.png": ((48, 64), {(0, 0): RED, (47, 63): BLUE, (30, 30): GRAY}),
    "truncated.jpg": TRUNCATED,
    "truncated.png": TRUNCATED,
    "empty.png": "the file is empty (0 bytes)",
    "text.png": "its content is not an image in a supported format",
    "one_pixel.png": ((1, 1), {(0, 0): (10, 200, 30)}),
    "sixteen_bit.png": ((48, 64), {(10, 0): (0, 0, 0), (10, 63): (255, 0, 0)}),
    "grayscale.jpg": ((48, 64), {(0, 0): (76, 76, 76), (30, 30): GRAY}),
    "cmyk.jpg": ((48, 64), {(0, 0): RED, (30, 30): GRAY}),
    "palette.png": ((48, 64), {(0, 0): RED, (47, 63): BLUE, (30, 30): GRAY}),
    "rgba.png": ((48, 64), {(0, 0): RED, (40, 30): (255, 255, 255)}),
    # Turned 90 degrees clockwise: the stored top-left corner is shown at the top right.
    "exif_orientation_6.jpg": ((64, 48), {(0, 47): RED, (63, 0): BLUE, (0, 0): GRAY}),
    "exif_orientation_3.jpg": ((48, 64), {(47, 63): RED, (0, 0): BLUE, (30, 30): GRAY}),
    "a name with spaces é ü 中.png": ((48, 64), {(0, 0): RED, (47, 63): BLUE}),
}
UNREADABLE = sorted(name for name, expected in IMAGES.items() if isinstance(expected, str))

# COCO file -> the CocoFormatError it raises, or (instances added, warnings it gives).
COCO: dict[str, str | tuple[int, list[str]]] = {
    "good.json": (1, []),
    "wrong_image_ids.json": (1, ["annotation id 2 skipped: it refers to image id 99, which "
                                 "the file does not list"]),
    "missing_fields.json": (1, ["annotation id 2 skipped: it has no 'segmentation'",
                                "annotation id 3 skipped: it has no integer 'category_id'",
                                "annotation id 4 skipped: it has no integer 'image_id'",
                                "1 annotation(s) of image 'id 2' skipped: the image has no "
                                "'file_name'"]),
    "missing_categories.json": "is not a COCO dataset: it has no 'categories' list",
    "short_polygon.json": (1, ["annotation id 2 skipped: polygon 1 of 1 has 4 numbers; a "
                               "polygon needs an even count of at least 6 (three x, y "
                               "points)"]),
    "rle_wrong_size.json": (1, ["annotation id 2 skipped: RLE size is 10x10 but the image is "
                                "64x48"]),
    "negative_bbox.json": (1, ["annotation id 2 skipped: its bbox [8, 8, -32, 22] has a "
                               "negative width or height"]),
    "duplicate_annotation_ids.json": (2, ["annotation ids 1 appear more than once; those "
                                          "instances were imported under new ids"]),
    "duplicate_image_ids.json": "image id 1 is used by more than one image",
    "not_json.json": "is not valid JSON: Expecting value at line 1, column 1",
    "json_list.json": "holds a list, not a COCO dataset object",
    "json_string.json": "holds a string, not a COCO dataset object",
    "truncated.json": "ends in the middle of its JSON (line 18): the file is truncated",
}
COCO_ERRORS = sorted(name for name, expected in COCO.items() if isinstance(expected, str))


def _copy_images(tmp_path: Path) -> Path:
    """A writable copy of the corpus's images (the project file is written beside them)."""
    return Path(shutil.copytree(CORPUS / "images", tmp_path / "images"))


def _existing_object(project: Project) -> dict:
    """Add an object to good.png (not one any COCO file holds); returns its JSON."""
    mask = np.zeros((48, 64), bool)
    mask[20:40, 44:54] = True
    obj = project.add_object("good.png", mask, "before")
    return {"id": obj.id, "rle": dict(obj.rle), "category": "before"}


def _still_there(project: Project, before: dict) -> bool:
    _, obj = project.find_object(before["id"])
    return obj.rle == before["rle"] and project.category(obj.category_id).name == "before"


# -- the corpus itself -----------------------------------------------------------------------

def test_corpus_is_what_the_script_writes_and_small(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_bad_inputs", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    written = script.write_corpus(tmp_path)
    committed = sorted(p.relative_to(CORPUS) for p in CORPUS.rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path) for p in written) == committed
    for relative in committed:
        assert (tmp_path / relative).read_bytes() == (CORPUS / relative).read_bytes(), relative
    assert sum((CORPUS / p).stat().st_size for p in committed) < 2 * 1024 * 1024
    assert {p.name for p in (CORPUS / "images").iterdir()} == set(IMAGES)
    assert {p.name for p in (CORPUS / "coco").iterdir()} == set(COCO)


def test_cmyk_jpeg_really_has_four_components() -> None:
    data = (CORPUS / "images" / "cmyk.jpg").read_bytes()
    frame = data.index(b"\xff\xc0")
    assert data[frame + 9] == 4  # SOF0: length, precision, height, width, components
    assert b"Adobe" in data[:frame]


# -- engine ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(IMAGES))
def test_load_image(name: str) -> None:
    expected = IMAGES[name]
    path = CORPUS / "images" / name
    if isinstance(expected, str):
        with pytest.raises(ImageLoadError) as info:
            load_image(path)
        assert str(info.value) == f"Cannot open image '{name}': " + info.value.reason
        assert info.value.reason.startswith(expected)
        return
    shape, pixels = expected
    image = load_image(path)
    assert image.shape == (*shape, 3) and image.dtype == np.uint8
    for (y, x), rgb in pixels.items():
        # JPEG: a few levels of compression error; PNG: exact.
        tolerance = 6 if name.endswith(".jpg") else 0
        assert np.abs(image[y, x].astype(int) - rgb).max() <= tolerance, (y, x, image[y, x])


@pytest.mark.parametrize("name", sorted(COCO))
def test_import_coco(name: str, tmp_path: Path) -> None:
    project = Project.open_folder(_copy_images(tmp_path))
    before = _existing_object(project)
    snapshot = json.dumps(project.to_json())
    expected = COCO[name]
    path = CORPUS / "coco" / name
    if isinstance(expected, str):
        with pytest.raises(CocoFormatError) as info:
            import_coco(project, path)
        assert str(path) in str(info.value) and expected in str(info.value)
        assert json.dumps(project.to_json()) == snapshot  # nothing changed
        return
    added, warnings = expected
    report = import_coco(project, path)
    assert report.added_total == added
    assert report.warnings == warnings
    assert _still_there(project, before)


# -- CLI -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(COCO))
def test_cli_import(name: str, tmp_path: Path, capsys) -> None:
    folder = _copy_images(tmp_path)
    project = Project.open_folder(folder)
    before = _existing_object(project)
    project.save()
    code = main(["import", str(folder), str(CORPUS / "coco" / name)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    expected = COCO[name]
    saved = Project.open_folder(folder)
    assert _still_there(saved, before)
    if isinstance(expected, str):
        assert code == 1
        assert err.startswith("clickmask: nothing imported: ") and expected in err and name in err
        assert len(saved.images["good.png"].objects) == 1
        return
    added, warnings = expected
    assert code == (2 if "skipped" in " ".join(warnings) else 0)
    assert f"project saved to {folder / PROJECT_FILE_NAME}" in out
    assert err.splitlines() == [f"warning: {warning}" for warning in warnings]
    assert len(saved.images["good.png"].objects) == 1 + added


def test_cli_in_a_process_prints_the_message_not_a_traceback(tmp_path: Path) -> None:
    folder = _copy_images(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "annotator", "import", str(folder),
                             str(CORPUS / "coco" / "truncated.json")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert "the file is truncated" in result.stderr and "Traceback" not in result.stderr


def test_cli_export_names_each_unreadable_image(tmp_path: Path, capsys) -> None:
    folder = _copy_images(tmp_path)
    project = Project.open_folder(folder)
    _existing_object(project)
    project.save()
    out_path = tmp_path / "sortie ü.json"
    assert main(["export", str(folder), "-o", str(out_path)]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and f"Wrote {out_path}" in out
    for name in UNREADABLE:
        assert (f"warning: image {name} left out: its size is unknown and the file cannot be "
                f"read (Cannot open image '{name}': {IMAGES[name]}") in err
    written = json.loads(out_path.read_text(encoding="utf-8"))
    assert {image["file_name"] for image in written["images"]} == set(IMAGES) - set(UNREADABLE)
    assert len(written["annotations"]) == 1


@pytest.mark.parametrize("name", ["not_json.json", "truncated.json", "good.json"])
def test_cli_export_of_a_file_that_is_no_project(name: str, tmp_path: Path, capsys) -> None:
    assert main(["export", str(CORPUS / "coco" / name), "-o", str(tmp_path / "o.json")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and name in err
    assert "cannot read project file" in err or "is not a Clickmask project file" in err
    assert not (tmp_path / "o.json").exists()


# -- GUI -------------------------------------------------------------------------------------

def _wait_idle(qtbot, win) -> None:
    qtbot.waitUntil(lambda: not win.controller.session.busy, timeout=20000)


def _click_and_finish(qtbot, win, y: float, x: float) -> None:
    pos = win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
    qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    _wait_idle(qtbot, win)
    assert win.controller.session.view.mask is not None and win.controller.session.view.mask.any()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    _wait_idle(qtbot, win)


@pytest.mark.gui
def test_gui_marks_each_unreadable_image_with_its_reason(qtbot, open_window,
                                                        tmp_path: Path) -> None:
    folder = _copy_images(tmp_path)
    win = open_window(SessionController())
    assert win.open_folder(folder)
    controller = win.controller
    for row, name in enumerate(controller.files):
        win.go_to(row)
        qtbot.waitUntil(lambda: controller.session.image is not None or name in controller.unreadable,
                        timeout=20000)
        _wait_idle(qtbot, win)
        expected = IMAGES[name]
        tip = win.image_list.images.index(row).data(Qt.ItemDataRole.ToolTipRole)
        if isinstance(expected, str):
            assert controller.unreadable[name].startswith(f"Cannot open image '{name}': "
                                                           + expected)
            assert tip == f"{name}\nCannot open this image:\n{controller.unreadable[name]}"
            assert win.canvas.image_shape is None
        else:
            assert win.canvas.image_shape == expected[0], name
            assert "Cannot open" not in tip
    assert win.errors == []
    assert set(controller.unreadable) == set(UNREADABLE)  # still marked after leaving them


@pytest.mark.gui
def test_gui_coco_import_tells_and_keeps_existing_objects(qtbot, open_window, monkeypatch,
                                                         tmp_path: Path) -> None:
    import annotator.main_window as main_window

    informed: list[str] = []
    monkeypatch.setattr(main_window.QMessageBox, "information",
                        lambda parent, title, text: informed.append(text))
    folder = _copy_images(tmp_path)
    win = open_window(SessionController())
    assert win.open_folder(folder)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=20000)
    project = win.controller.rows.project
    before = _existing_object(project)
    for name in sorted(COCO):
        expected = COCO[name]
        errors, infos = len(win.errors), len(informed)
        objects = len(project.images["good.png"].objects)
        win.import_coco(CORPUS / "coco" / name)
        assert _still_there(project, before), name
        if isinstance(expected, str):
            assert win.errors[errors:] == [win.errors[-1]] and expected in win.errors[-1]
            assert str(CORPUS / "coco" / name) in win.errors[-1]
            assert len(project.images["good.png"].objects) == objects
            assert len(informed) == infos
        else:
            assert len(win.errors) == errors, win.errors[errors:]
            added, warnings = expected
            if warnings:
                assert len(informed) == infos + 1
                assert all(warning in informed[-1] for warning in warnings)
    # Everything imported is saved: the file on disk has what the window shows.
    saved = Project.load(project.path)
    assert _still_there(saved, before)
    assert (len(saved.images["good.png"].objects)
            == len(project.images["good.png"].objects))


# -- a read-only folder ------------------------------------------------------------------------

def _data_dir_projects(home: Path) -> list[Path]:
    return sorted((home / "data" / "projects").glob("*.json"))


def _annotate_in(qtbot, open_window, folder: Path):
    win = open_window(SessionController())
    assert win.open_folder(folder)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=20000)
    _wait_idle(qtbot, win)
    _click_and_finish(qtbot, win, 30, 30)  # the gray middle of good.png
    return win


def _folder_with_good_image(tmp_path: Path) -> Path:
    folder = tmp_path / "read only"
    folder.mkdir()
    shutil.copy(CORPUS / "images" / "good.png", folder / "good.png")
    return folder


@pytest.mark.gui
@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions, which root ignores")
def test_read_only_folder_really_chmodded(qtbot, open_window, clickmask_home: Path,
                                          tmp_path: Path) -> None:
    folder = _folder_with_good_image(tmp_path)
    folder.chmod(0o555)
    try:
        win = _annotate_in(qtbot, open_window, folder)
        assert win.errors == []
        [saved] = _data_dir_projects(clickmask_home)
        assert win.controller.rows.project.path == saved
        assert len(Project.load(saved).images["good.png"].objects) == 1
        assert sorted(p.name for p in folder.iterdir()) == ["good.png"]
    finally:
        folder.chmod(0o755)


@pytest.mark.gui
def test_read_only_folder_saves_in_the_data_dir_and_says_so(qtbot, open_window, monkeypatch,
                                                            clickmask_home: Path,
                                                            tmp_path: Path) -> None:
    folder = _folder_with_good_image(tmp_path)
    real_access = os.access
    # What the operating system answers for a read-only folder (root is never refused).
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False
                        if Path(path) == folder and mode & os.W_OK else real_access(path, mode))
    messages: list[str] = []
    controller = SessionController()
    controller.message.connect(messages.append)
    win = open_window(controller)
    assert win.open_folder(folder)
    project_path = controller.rows.project.path
    assert project_path.parent == clickmask_home / "data" / "projects"
    assert messages[0] == f"{folder} is read-only: the project is saved to {project_path} instead."
    qtbot.waitUntil(lambda: controller.session.image is not None, timeout=20000)
    _click_and_finish(qtbot, win, 30, 30)
    assert win.errors == []
    assert len(Project.load(project_path).images["good.png"].objects) == 1
    assert not (folder / PROJECT_FILE_NAME).exists()


@pytest.mark.gui
def test_failing_save_beside_the_images_moves_the_project(qtbot, open_window, monkeypatch,
                                                          clickmask_home: Path,
                                                          tmp_path: Path) -> None:
    import engine.annotations

    folder = _folder_with_good_image(tmp_path)
    win = _annotate_in(qtbot, open_window, folder)  # saved beside the images
    beside = folder / PROJECT_FILE_NAME
    assert win.errors == [] and beside.exists()
    real_write = engine.annotations.atomic_write_text

    def refuse_the_folder(path, text):
        if Path(path).parent == folder:  # the folder became read-only
            raise PermissionError(13, "Permission denied", str(path))
        real_write(path, text)

    monkeypatch.setattr(engine.annotations, "atomic_write_text", refuse_the_folder)
    _click_and_finish(qtbot, win, 30, 8)  # the red square
    [moved] = _data_dir_projects(clickmask_home)
    assert win.errors == [
        f"The project cannot be saved to {beside} (Permission denied). It was saved to "
        f"{moved} instead, and is saved there from now on; your work is safe. Use File > "
        "Save Project As to choose another place."]
    assert win.controller.rows.project.path == moved
    assert len(win.controller.rows.current_objects()) == 2
    assert len(Project.load(moved).images["good.png"].objects) == 2
    assert journal_path(moved).exists()  # crash safety followed the project
    # Opening the folder again finds the moved project, not the stale one beside the images.
    reopened = Project.open_folder(folder)
    assert reopened.path == moved and len(reopened.images["good.png"].objects) == 2
    exported = tmp_path / "export.json"  # and so does the CLI
    assert main(["export", str(folder), "-o", str(exported)]) == 0
    assert len(json.loads(exported.read_text())["annotations"]) == 2


def test_project_in_a_read_only_folder_is_shown_and_saved_elsewhere(monkeypatch,
                                                                   clickmask_home: Path,
                                                                   tmp_path: Path) -> None:
    folder = _folder_with_good_image(tmp_path)
    project = Project.open_folder(folder)
    _existing_object(project)
    project.save()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False
                        if Path(path) == folder.resolve() and mode & os.W_OK
                        else real_access(path, mode))
    reopened = Project.open_folder(folder)
    assert reopened.path.parent == clickmask_home / "data" / "projects"
    assert len(reopened.images["good.png"].objects) == 1  # the work on the media is shown


# -- non-ASCII and spaces ----------------------------------------------------------------------

@pytest.mark.gui
def test_non_ascii_folder_open_save_journal_export(qtbot, open_window, tmp_path: Path,
                                                   capsys) -> None:
    folder = Path(shutil.copytree(CORPUS / "dossier été", tmp_path / "mes données" / "dossier été"))
    assert [p.name for p in list_images(folder)] == ["photo ü 1.png"]
    win = open_window(SessionController())
    assert win.open_folder(folder)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=20000)
    _click_and_finish(qtbot, win, 30, 30)
    assert win.errors == []
    project_path = folder / PROJECT_FILE_NAME
    assert journal_path(project_path).exists()
    saved = Project.load(project_path)
    assert saved.root == folder.resolve()
    assert len(saved.images["photo ü 1.png"].objects) == 1
    # A click in progress is journaled under the non-ASCII name.
    pos = win.canvas.mapFromScene(QPointF(8.5, 8.5))
    qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    _wait_idle(qtbot, win)
    last = journal_path(project_path).read_text(encoding="utf-8").splitlines()[-1]
    assert json.loads(last)["file"] == "photo ü 1.png"
    out = tmp_path / "export été" / "coco ü.json"
    out.parent.mkdir()
    report = export_coco(saved, out)
    assert report.annotations == 1
    assert json.loads(out.read_text(encoding="utf-8"))["images"][0]["file_name"] == "photo ü 1.png"
    assert main(["export", str(folder), "-o", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
