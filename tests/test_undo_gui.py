"""Every kind of project edit made through the real widgets is undone by Ctrl+Z and redone
by Ctrl+Shift+Z (when no object is in progress), saved each time; Esc is undoable; undoing an
edit of another image goes to that image."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.annotations import PROJECT_FILE_NAME, Project
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from gui_actions import click_image, open_folder, press_key, wait_idle

pytestmark = pytest.mark.gui

CENTER = (60, 80)
CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = CTRL | Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    image = np.full((160, 200, 3), 50, np.uint8)
    cv2.circle(image, (CENTER[1], CENTER[0]), 30, (40, 160, 230), -1)
    cv2.rectangle(image, (140, 110), (180, 140), (200, 60, 60), -1)
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), image)
    return folder


@pytest.fixture
def win(open_window, qtbot, folder) -> MainWindow:
    window = open_window(SessionController(), category="disk")
    open_folder(qtbot, window, folder)
    return window


def _content(win: MainWindow) -> str:
    """The project's categories and objects, as saved (image sizes and the edit count
    aside: neither is undone); before the first save, as in memory."""
    path = win.controller.rows.project.path
    data = (Project.load(path) if path.exists() else win.controller.rows.project).to_json()
    data.pop("edit_serial", None)
    for image in data["images"]:
        image.pop("width")
        image.pop("height")
    return json.dumps(data, sort_keys=True)


def _finish_object(qtbot, win: MainWindow, y: int = CENTER[0], x: int = CENTER[1]) -> int:
    click_image(qtbot, win, y, x)
    press_key(qtbot, win, Qt.Key.Key_Return)
    return win.controller.rows.current_objects()[-1].id


def _check_undo_redo(qtbot, win: MainWindow, before: str, edit_name: str) -> None:
    """The edit just made is undone and redone by the keys, each saved."""
    after = _content(win)
    assert after != before
    assert win.undo_action.isEnabled() and win.undo_action.text() == f"&Undo {edit_name}"
    press_key(qtbot, win, Qt.Key.Key_Z, CTRL)
    assert _content(win) == before
    assert win.redo_action.text() == f"&Redo {edit_name}"
    press_key(qtbot, win, Qt.Key.Key_Z, CTRL_SHIFT)
    assert _content(win) == after
    assert win.errors == []


def test_finish_is_undone_and_redone(qtbot, win):
    before = _content(win)
    object_id = _finish_object(qtbot, win)
    _check_undo_redo(qtbot, win, before, f"Add object {object_id}")  # "disk" is new: a batch


def test_delete_with_the_key_is_undoable_and_says_so(qtbot, win):
    object_id = _finish_object(qtbot, win)
    before = _content(win)
    win.objects_panel.select(object_id)
    press_key(qtbot, win, Qt.Key.Key_Delete)
    assert win.controller.rows.current_objects() == []
    assert win.statusBar().currentMessage() == f"Deleted object {object_id} — Ctrl+Z to undo"
    _check_undo_redo(qtbot, win, before, f"Delete object {object_id}")


def test_relabel_visibility_and_hide_all_are_undoable(qtbot, win, monkeypatch):
    object_id = _finish_object(qtbot, win)
    before = _content(win)
    monkeypatch.setattr("annotator.main_window.choose_category", lambda *args: "moon")
    win.objects_panel.select(object_id)
    win.objects_panel.rename_button.click()
    assert win.controller.rows.category_name(win.controller.rows.current_objects()[0]) == "moon"
    _check_undo_redo(qtbot, win, before, f"Relabel object {object_id}")

    before = _content(win)
    item = win.objects_panel.tree.topLevelItem(0)
    item.setCheckState(0, Qt.CheckState.Unchecked)  # the tick box of the Objects panel
    _check_undo_redo(qtbot, win, before, f"Hide object {object_id}")

    press_key(qtbot, win, Qt.Key.Key_Z, CTRL)  # shown again
    second = _finish_object(qtbot, win, 125, 160)
    before = _content(win)
    win.hide_all_action.trigger()
    assert not any(obj.visible for obj in win.controller.rows.current_objects())
    _check_undo_redo(qtbot, win, before, "Hide 2 objects")
    assert second


def test_correction_is_undone_to_the_old_mask(qtbot, win):
    object_id = _finish_object(qtbot, win)
    before = _content(win)
    win.correct_object(object_id)
    wait_idle(qtbot, win)
    click_image(qtbot, win, 125, 160)
    press_key(qtbot, win, Qt.Key.Key_Return)
    _check_undo_redo(qtbot, win, before, f"Correct object {object_id}")


def test_category_edits_in_the_editor_are_undoable(qtbot, win, monkeypatch):
    _finish_object(qtbot, win)
    editor = win.open_category_editor()
    monkeypatch.setattr(editor, "ask_name", lambda *args: "planet")
    before = _content(win)
    editor.add_button.click()
    _check_undo_redo(qtbot, win, before, "Add category 'planet'")
    planet = max(row.id for row in win.controller.rows.category_rows())
    for button, ask, value, name in (
            (editor.rename_button, "ask_name", "star", "Rename category 'planet' to 'star'"),
            (editor.color_button, "ask_color", (1, 2, 3), f"Recolour category {planet}"),
            (editor.id_button, "ask_id", 9, f"Change category id {planet} to 9")):
        editor.select(planet)
        monkeypatch.setattr(editor, ask, lambda *args, value=value: value)
        before = _content(win)
        button.click()
        _check_undo_redo(qtbot, win, before, name)
        planet = 9 if name.startswith("Change") else planet
    editor.select(9)
    before = _content(win)
    editor.delete_button.click()
    _check_undo_redo(qtbot, win, before, "Remove category 'star'")
    editor.close()


def test_import_and_review_decisions_are_undoable(qtbot, win, tmp_path):
    coco = tmp_path / "predictions.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 160}],
        "categories": [{"id": 1, "name": "blob"}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 0,
                         "bbox": [50, 30, 60, 60],
                         "segmentation": [[50, 30, 110, 30, 110, 90, 50, 90]]}]}))
    before = _content(win)
    win.import_coco(coco)
    _check_undo_redo(qtbot, win, before, "Import predictions.json")
    panel = win.review_panel
    panel.refresh()
    for action, name in ((panel.accept_action, "Accept object 7"),
                         (panel.reject_action, "Reject object 7")):
        panel.show_item(panel.queue().first(skip_done=False))
        before = _content(win)
        action.trigger()
        _check_undo_redo(qtbot, win, before, name)
    panel.show_item(panel.queue().first(skip_done=False))
    before = _content(win)
    panel.revert_action.trigger()
    _check_undo_redo(qtbot, win, before, "Undo the review of object 7")


def test_esc_on_an_object_in_progress_is_undone(qtbot, win):
    click_image(qtbot, win, *CENTER)
    click_image(qtbot, win, 5, 5, positive=False)
    clicks = list(win.controller.session.view.clicks)
    press_key(qtbot, win, Qt.Key.Key_Escape)
    assert win.controller.session.view.clicks == []
    assert win.statusBar().currentMessage() == "Object discarded — Ctrl+Z to undo"
    assert win.undo_action.isEnabled() and win.undo_action.text() == "&Undo Discard object"
    press_key(qtbot, win, Qt.Key.Key_Z, CTRL)
    wait_idle(qtbot, win)
    assert win.controller.session.view.clicks == clicks
    press_key(qtbot, win, Qt.Key.Key_Return)
    assert len(win.controller.rows.current_objects()) == 1


def test_undoing_an_edit_of_another_image_goes_to_it(qtbot, win, folder):
    messages: list[str] = []
    win.controller.message.connect(messages.append)
    object_id = _finish_object(qtbot, win)
    win.go_to(1)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=10000)
    assert win.controller.session.current_file == "b.png"
    press_key(qtbot, win, Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(lambda: win.controller.session.current_file == "a.png", timeout=10000)
    wait_idle(qtbot, win)
    assert win.controller.rows.current_objects() == []
    assert messages[-1] == f"Undid: Add object {object_id}"
    # what the user reads: the image's arrival does not wipe the message
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=10000)
    assert win.statusBar().currentMessage() == f"Undid: Add object {object_id}"
    saved = Project.load(folder / PROJECT_FILE_NAME)
    assert list(saved.iter_objects()) == []
