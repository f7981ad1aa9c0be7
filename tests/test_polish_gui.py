"""The annotator's polish, driven through its real widgets: the category editor and
category colours, showing and hiding all objects, the image list's status, the keyboard
shortcut sheet and editable shortcuts, recent folders, drag-and-drop, themes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QComboBox

from engine.annotations import PROJECT_FILE_NAME, Project
from engine.palette import palette_color
from engine.review import ReviewCounts
from annotator.category_editor import CategoryEditor, choose_category
from annotator.colors import object_color
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from annotator.panels import ImageStatus
from annotator.recent import MAX_RECENT, recent_folders, remember_folder
from annotator.shortcuts import keys_text, window_actions
from annotator.theme import apply_theme
from gui_actions import open_folder, wait_idle

pytestmark = pytest.mark.gui

CENTER = (60, 80)  # y, x of the bright disk in each image
RADIUS = 30


def _image(shape=(160, 200)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disk = (yy - CENTER[0]) ** 2 + (xx - CENTER[1]) ** 2 <= RADIUS ** 2
    image = np.full((*shape, 3), 50, np.uint8)
    image[disk] = (220, 160, 60)
    return image


def _folder(path: Path, names=("a.png", "b.png")) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(path / name), _image()[..., ::-1])
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = _folder(tmp_path / "photos")
    (folder / "broken.png").write_text("not an image")
    return folder


@pytest.fixture
def window(open_window) -> MainWindow:
    return open_window(SessionController(), category="ball")


def _add_object(qtbot, win: MainWindow) -> None:
    canvas = win.canvas
    pos = canvas.mapFromScene(QPointF(CENTER[1] + 0.5, CENTER[0] + 0.5))
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    wait_idle(qtbot, win)
    assert win.finish_object()
    wait_idle(qtbot, win)


def _go(qtbot, win: MainWindow, index: int) -> None:
    win.go_to(index)
    qtbot.waitUntil(lambda: win.controller.session.image is not None
                    and win.controller.current_index == index, timeout=10000)
    wait_idle(qtbot, win)


def _layers(win: MainWindow, monkeypatch) -> list:
    """Every objects layer the window gives the canvas from now on."""
    layers: list = []
    original = win.canvas.set_objects_layer
    monkeypatch.setattr(win.canvas, "set_objects_layer",
                        lambda layer: (layers.append(layer), original(layer)))
    return layers


def _editor(win: MainWindow, monkeypatch, answers: dict) -> CategoryEditor:
    editor = win.open_category_editor()
    editor.errors = []
    monkeypatch.setattr(editor, "show_error", editor.errors.append)
    for question in ("ask_name", "ask_color", "ask_id"):
        monkeypatch.setattr(editor, question, lambda *args, q=question: answers[q])
    return editor


# -- categories ---------------------------------------------------------------------------
def test_category_editor_add_rename_recolour_renumber_delete(qtbot, window, folder,
                                                             monkeypatch) -> None:
    open_folder(qtbot, window, folder)
    _add_object(qtbot, window)
    layers = _layers(window, monkeypatch)
    answers = {"ask_name": "tree", "ask_color": (10, 200, 30), "ask_id": 9}
    editor = _editor(window, monkeypatch, answers)
    assert [editor.table.item(0, c).text() for c in (1, 2, 3)] == ["1", "ball", "1"]

    editor.add_button.click()
    assert [c.name for c in window.controller.rows.project.categories] == ["ball", "tree"]
    assert editor.selected_id() == 2 and editor.table.rowCount() == 2
    answers["ask_name"] = "ball"
    editor.rename_button.click()  # a taken name is refused, with the reason
    assert editor.errors[-1] == "There is already a category called 'ball'."
    answers["ask_name"] = "bush"
    editor.rename_button.click()
    assert editor.table.item(1, 2).text() == "bush"

    editor.select(1)
    editor.color_button.click()
    ball = window.controller.rows.project.category(1)
    assert ball.color == (10, 200, 30)
    # The object is drawn in its category's new colour at once.
    assert tuple(layers[-1][CENTER][:3]) == (10, 200, 30)
    assert window.objects_panel.tree.topLevelItem(0).icon(0).pixmap(14, 14).toImage() \
        .pixelColor(7, 7).getRgb()[:3] == (10, 200, 30)

    answers["ask_id"] = 2
    editor.id_button.click()  # bush has id 2
    assert editor.errors[-1] == "Id 2 is already the id of category 'bush'."
    answers["ask_id"] = 9
    editor.id_button.click()
    assert window.controller.rows.current_objects()[0].category_id == 9
    assert editor.selected_id() == 9

    editor.delete_button.click()  # ball is in use
    assert editor.errors[-1].startswith("Category 'ball' is used by 1 object:")
    editor.select(2)
    editor.delete_button.click()
    assert [c.name for c in window.controller.rows.project.categories] == ["ball"]

    saved = Project.load(folder / PROJECT_FILE_NAME)  # every change is saved at once
    assert [(c.id, c.name, c.color) for c in saved.categories] == [(9, "ball", (10, 200, 30))]
    assert saved.images["a.png"].objects[0].category_id == 9
    assert window.errors == []


def test_objects_coloured_by_category_or_by_object(qtbot, window, folder, monkeypatch) -> None:
    open_folder(qtbot, window, folder)
    _add_object(qtbot, window)
    layers = _layers(window, monkeypatch)
    obj = window.controller.rows.current_objects()[0]
    window.controller.edits.recolor_category(obj.category_id, (1, 2, 3))
    assert tuple(layers[-1][CENTER][:3]) == (1, 2, 3)
    window.color_by_category_action.setChecked(False)
    assert tuple(layers[-1][CENTER][:3]) == object_color(obj.id)
    window.color_by_category_action.setChecked(True)
    assert tuple(layers[-1][CENTER][:3]) == (1, 2, 3)


def test_the_category_chooser_shows_colours_last_used_first(qtbot, window, folder) -> None:
    open_folder(qtbot, window, folder)
    window.controller.edits.add_category("cat", (200, 0, 0))
    window.controller.edits.add_category("dog", (0, 0, 200))
    seen = {}

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        combo = dialog.findChild(QComboBox)
        seen["items"] = [combo.itemText(i) for i in range(combo.count())]
        seen["colour"] = combo.itemIcon(1).pixmap(14, 14).toImage().pixelColor(7, 7).getRgb()
        combo.setEditText("  fox ")
        dialog.accept()

    QTimer.singleShot(0, answer)
    name = choose_category(window, "Finish object", "Category:",
                           window.controller.rows.project.categories, "dog")
    assert name == "fox"
    assert seen["items"] == ["dog", "cat"] and seen["colour"][:3] == (200, 0, 0)

    QTimer.singleShot(0, lambda: QApplication.activeModalWidget().reject())
    assert choose_category(window, "t", "l", window.controller.rows.project.categories, None) is None


def test_new_category_gets_a_palette_colour(qtbot, window, folder) -> None:
    open_folder(qtbot, window, folder)
    _add_object(qtbot, window)
    assert window.controller.rows.project.categories[0].color == palette_color(1)


# -- visibility -------------------------------------------------------------------------------
def test_hide_all_and_show_all_last_across_image_switches(qtbot, window, folder,
                                                          monkeypatch) -> None:
    open_folder(qtbot, window, folder)
    _add_object(qtbot, window)
    _add_object(qtbot, window)
    layers = _layers(window, monkeypatch)
    window.hide_all_action.trigger()
    assert layers[-1] is None
    tree = window.objects_panel.tree
    assert all(tree.topLevelItem(i).checkState(0) == Qt.CheckState.Unchecked
               for i in range(tree.topLevelItemCount()))
    _go(qtbot, window, 1)
    _go(qtbot, window, 0)
    assert layers[-1] is None  # still hidden after coming back
    assert not any(o.visible for o in Project.load(folder / PROJECT_FILE_NAME)
                   .images["a.png"].objects)
    window.show_all_action.trigger()
    assert layers[-1] is not None and tuple(layers[-1][CENTER][:3]) != (0, 0, 0)
    assert all(o.visible for o in window.controller.rows.current_objects())


# -- the image list ---------------------------------------------------------------------------
def test_image_list_shows_counts_and_keeps_names_clear_of_icons(qtbot, window,
                                                                folder) -> None:
    open_folder(qtbot, window, folder)
    _add_object(qtbot, window)
    _add_object(qtbot, window)
    window.go_to(2)
    qtbot.waitUntil(lambda: "broken.png" in window.controller.unreadable, timeout=10000)
    panel = window.image_list
    assert panel.status(0).summary() == "2 objects"
    assert panel.status(1).summary() == ""
    assert panel.status(2).summary() == "unreadable"
    rows = [panel.images.index(row) for row in range(3)]
    assert rows[0].data(Qt.ItemDataRole.DecorationRole) is not None
    assert rows[1].data(Qt.ItemDataRole.DecorationRole) is None
    assert "2 objects" in rows[0].data(Qt.ItemDataRole.ToolTipRole)
    assert ImageStatus(2, ReviewCounts((("pending", 1), ("accepted", 1), ("corrected", 0),
                                        ("relabelled", 0), ("rejected", 0)))
                       ).summary() == "2 objects, 1/2 reviewed"

    panel.resize(260, 200)
    panel.select_row(2)  # rows 0 (a check icon) and 1 (no icon) are not highlighted
    image = panel.viewport().grab().toImage()
    rects = [panel.visualRect(index) for index in rows]
    background = image.pixelColor(rects[0].right() - 60, rects[0].center().y())

    def ink_columns(rect) -> list[int]:
        scale = image.width() / panel.viewport().width()
        return [x for x in range(int(rect.left() * scale), int(rect.right() * scale))
                if any(image.pixelColor(x, int(y * scale)) != background
                       for y in range(rect.top() + 2, rect.bottom() - 1))]

    icon_side = panel.iconSize().height() if panel.iconSize().height() > 0 else 16
    checked, plain = ink_columns(rects[0]), ink_columns(rects[1])
    # The row with a check icon has ink in the icon's slot; names start after the slot
    # in every row (the row without an icon leaves the slot empty).
    slot_end = rects[0].left() + 4 + icon_side
    assert min(checked) < slot_end
    assert min(plain) >= slot_end - 1
    # The count sits at the right end of the row.
    assert max(checked) > rects[0].right() - 12


# -- shortcuts --------------------------------------------------------------------------------
def _sheet(win: MainWindow, monkeypatch):
    sheet = win.show_shortcuts()
    sheet.errors = []
    monkeypatch.setattr(sheet, "show_error", sheet.errors.append)
    return sheet


def test_shortcut_sheet_lists_every_action_with_its_keys(qtbot, window, monkeypatch) -> None:
    sheet = _sheet(window, monkeypatch)
    rows = sheet.rows()
    listed = {(name, keys) for name, keys, _ in rows}
    for action in window.findChildren(QAction):
        if action.shortcuts():
            name = action.text().replace("&", "").replace("…", "").strip()
            assert (name, keys_text(action.shortcuts())) in listed, name
    assert ("Open Folder", "Ctrl+O", "File") in rows
    assert ("Redo", "Ctrl+Shift+Z, Ctrl+Y", "Edit") in rows
    assert any(menu.startswith("Model") for _, _, menu in rows)
    assert not any("Open Recent" in menu for _, _, menu in rows)  # its entries come and go
    assert "Wheel" in sheet.mouse_label.text() and "Right click" in sheet.mouse_label.text()
    # No two actions share a key: a clash makes Qt run neither.
    keys = [s.toString() for _, a in window_actions(window) for s in a.shortcuts()]
    assert len(keys) == len(set(keys)), sorted(keys)


def test_editing_a_shortcut_conflicts_and_persistence(qtbot, open_window, monkeypatch) -> None:
    window = open_window(SessionController())
    sheet = _sheet(window, monkeypatch)
    sheet.select(window.fit_action)
    sheet.editor.setKeySequence(QKeySequence("Ctrl+O"))
    sheet.assign_button.click()
    assert sheet.errors == ["Ctrl+O is already the shortcut of File > Open Folder. Clear it "
                            "there first, or choose other keys."]
    assert window.fit_action.shortcuts() == [QKeySequence("F")]
    sheet.editor.setKeySequence(QKeySequence("Space"))
    sheet.assign_button.click()
    assert "Space finishes the object" in sheet.errors[-1]

    sheet.editor.setKeySequence(QKeySequence("Ctrl+Shift+F"))
    sheet.assign_button.click()
    assert window.fit_action.shortcuts() == [QKeySequence("Ctrl+Shift+F")]
    assert window.fit_action.toolTip() == "Fit to Window (Ctrl+Shift+F)"
    assert ("Fit to Window", "Ctrl+Shift+F", "View") in sheet.rows()
    sheet.select(window.open_action)
    sheet.clear_button.click()
    assert window.open_action.shortcuts() == []
    # F, now free, can go to another action.
    sheet.select(window.prev_action)
    sheet.editor.setKeySequence(QKeySequence("F"))
    sheet.assign_button.click()
    assert window.prev_action.shortcuts() == [QKeySequence("F")]

    again = open_window(SessionController())  # the next start
    assert again.fit_action.shortcuts() == [QKeySequence("Ctrl+Shift+F")]
    assert again.open_action.shortcuts() == []
    assert again.prev_action.shortcuts() == [QKeySequence("F")]
    assert again.undo_action.shortcuts() == [QKeySequence("Ctrl+Z")]

    sheet.reset_all_button.click()
    assert window.fit_action.shortcuts() == [QKeySequence("F")]
    assert window.prev_action.shortcuts() == [QKeySequence("A")]
    third = open_window(SessionController())
    assert third.open_action.shortcuts() == [QKeySequence("Ctrl+O")]
    assert third.fit_action.shortcuts() == [QKeySequence("F")]


def test_a_changed_shortcut_works_from_the_keyboard(qtbot, window, folder, monkeypatch) -> None:
    open_folder(qtbot, window, folder)
    sheet = _sheet(window, monkeypatch)
    sheet.select(window.next_action)
    sheet.editor.setKeySequence(QKeySequence("J"))
    sheet.assign_button.click()
    sheet.close()
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: window.controller.session.current_file == "b.png")
    wait_idle(qtbot, window)


# -- recent folders -----------------------------------------------------------------------------
def test_recent_folders_are_saved_and_missing_ones_said(qtbot, window, tmp_path) -> None:
    first, second = _folder(tmp_path / "first"), _folder(tmp_path / "second")
    open_folder(qtbot, window, first)
    open_folder(qtbot, window, second)
    assert recent_folders() == [second.resolve(), first.resolve()]
    window.recent_menu.rebuild()
    texts = [a.text() for a in window.recent_menu.actions() if not a.isSeparator()]
    assert texts[:2] == ["&1 second", "&2 first"]

    window.reopen_last_folder()  # one click back to the folder before
    qtbot.waitUntil(lambda: window.controller.rows.project.root == first.resolve())
    wait_idle(qtbot, window)

    shutil.rmtree(second)
    window.recent_menu.rebuild()
    missing = [a for a in window.recent_menu.actions() if "second" in a.text()]
    assert missing[0].text() == "second (missing)" and not missing[0].isEnabled()
    window.open_recent(second.resolve())
    assert window.errors[-1] == (f"{second.resolve()} no longer exists; it was removed from "
                                 "the recent folders.")
    assert recent_folders() == [first.resolve()]


def test_recent_folders_keep_the_newest_few(tmp_path) -> None:
    for number in range(MAX_RECENT + 3):
        remember_folder(tmp_path / f"f{number}")
    remember_folder(tmp_path / "f5")  # again: moves to the front, no duplicate
    folders = recent_folders()
    assert len(folders) == MAX_RECENT and folders[0].name == "f5"
    assert len(set(folders)) == MAX_RECENT


# -- drag and drop ------------------------------------------------------------------------------
def _mime(*paths: Path | str) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) if isinstance(p, Path) else QUrl(p)
                  for p in paths])
    return mime


def _coco(path: Path) -> Path:
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 160}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 4, "iscrowd": 0,
                         "segmentation": [[40, 30, 120, 30, 120, 90, 40, 90]],
                         "area": 1, "bbox": [40, 30, 80, 60]}],
        "categories": [{"id": 4, "name": "box"}]}))
    return path


def test_dropping_a_folder_opens_it(qtbot, window, folder) -> None:
    mime = _mime(folder)  # kept: the event does not own it
    event = QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)  # the window took the drag (test below): the drop is its
    assert event.isAccepted()
    qtbot.waitUntil(lambda: window.controller.rows.project is not None
                    and window.controller.session.image is not None, timeout=10000)
    assert window.controller.rows.project.root == folder.resolve()
    wait_idle(qtbot, window)


def test_dropping_a_folder_asks_about_the_object_in_progress(qtbot, window, folder,
                                                             tmp_path, monkeypatch) -> None:
    open_folder(qtbot, window, folder)
    canvas = window.canvas
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton,
                     pos=canvas.mapFromScene(QPointF(CENTER[1], CENTER[0])))
    wait_idle(qtbot, window)
    asked = []
    monkeypatch.setattr(window, "ask_leave_object", lambda: asked.append(1) or "stay")
    window.open_dropped(_mime(_folder(tmp_path / "other")))
    assert asked and window.controller.rows.project.root == folder.resolve()
    assert window.controller.has_object_in_progress


def test_dropping_a_coco_file_imports_it_into_the_open_folder(qtbot, window, folder,
                                                              tmp_path) -> None:
    coco = _coco(tmp_path / "annotations.json")
    window.open_dropped(_mime(coco))
    assert window.errors == ["Open the folder of the images first, then drop "
                             "annotations.json again to import its annotations."]
    open_folder(qtbot, window, folder)
    window.open_dropped(_mime(coco))
    assert [(o.id, o.source) for o in window.controller.rows.current_objects()] == [(5, "imported")]
    assert [c.name for c in window.controller.rows.project.categories] == ["box"]


def test_dropping_anything_else_says_why(qtbot, window, folder, tmp_path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    window.open_dropped(_mime(junk))
    window.open_dropped(_mime(junk, folder))
    window.open_dropped(_mime("https://example.com/x.json"))
    window.open_dropped(_mime(tmp_path / "gone"))
    window.open_dropped(QMimeData())
    assert window.errors[0].startswith("notes.txt is neither a folder nor a COCO .json file")
    assert window.errors[1].startswith("2 items were dropped")
    assert window.errors[2] == "https://example.com/x.json is not a file on this computer."
    assert window.errors[3] == f"{tmp_path / 'gone'} does not exist."
    assert window.errors[4].startswith("Drop a folder of images")
    assert window.controller.rows.project is None


def test_a_drag_over_any_widget_is_the_windows_and_needs_files(qtbot, window,
                                                              folder) -> None:
    mimes = (_mime(folder), QMimeData())  # kept: the events do not own them
    for widget in (window.canvas.viewport(), window.image_list.viewport()):
        for mime, accepted in zip(mimes, (True, False)):
            event = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                                    Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
            event.ignore()
            QApplication.sendEvent(widget, event)  # passed up to the window
            assert event.isAccepted() == accepted, widget


# -- theme --------------------------------------------------------------------------------------
def test_theme_menu_switches_and_saves_the_palette(qtbot, window, open_window) -> None:
    app = QApplication.instance()
    window_color = app.palette().color(QPalette.ColorRole.Window)
    dark = next(a for a in window.findChildren(QAction) if a.objectName() == "theme:dark")
    try:
        dark.trigger()
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        assert app.style().name() == "fusion"
        again = open_window(SessionController())
        assert next(a for a in again.findChildren(QAction)
                    if a.objectName() == "theme:dark").isChecked()
        next(a for a in window.findChildren(QAction)
             if a.objectName() == "theme:light").trigger()
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 180
    finally:
        apply_theme("system")
    assert app.palette().color(QPalette.ColorRole.Window) == window_color


def test_colour_swatches_are_drawn_for_hidpi_screens(qapp) -> None:
    from PySide6.QtCore import QSize
    from annotator.panels import color_icon
    pixmap = color_icon((10, 20, 30)).pixmap(QSize(14, 14), 2.0)
    assert (pixmap.width(), pixmap.height()) == (28, 28)
    image = pixmap.toImage()
    assert image.pixelColor(14, 14).getRgb()[:3] == (10, 20, 30)
    assert image.pixelColor(1, 14).getRgb()[:3] != (10, 20, 30)  # a one-pixel outline only
    assert image.pixelColor(2, 14).getRgb()[:3] == (10, 20, 30)
