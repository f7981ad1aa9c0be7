"""The Review dock driven through its keys: accept, relabel, correct with clicks, reject,
undo, next / previous across images, the imported outline, counts, saving and export."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
from PySide6.QtCore import QPointF, Qt

from engine.annotations import Project
from engine.masks import decode_rle, mask_bbox
from annotator import main_window
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from resources import SAMPLES_DIR

pytestmark = pytest.mark.gui

FRUIT, WORKSHOP = "01_fruit_table.jpg", "02_workshop.jpg"
BLOB = [300, 400, 340, 400, 340, 440, 300, 440]  # a wrong piece of plate beside the lemon


def _circle(x: int, y: int, radius: int) -> list[float]:
    return cv2.ellipse2Poly((x, y), (radius, radius), 0, 0, 360, 10).reshape(-1).astype(
        float).tolist()


def _predictions(path: Path) -> Path:
    """Another model's output on two samples: right, mislabelled, sloppy and wrong masks."""
    annotations = [
        (101, 1, 1, [_circle(250, 298, 84)]),  # the orange: right
        (102, 1, 1, [_circle(560, 328, 92)]),  # the apple, called an orange
        (103, 1, 2, [_circle(400, 390, 44), BLOB]),  # the lemon with a piece of plate
        (104, 1, 2, [[20, 20, 120, 20, 120, 90, 20, 90]]),  # the table: a false detection
        (201, 2, 3, [[82, 420, 330, 380, 350, 470, 100, 518]]),  # the blue bar: right
    ]
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": FRUIT, "width": 800, "height": 600},
                   {"id": 2, "file_name": WORKSHOP, "width": 800, "height": 600}],
        "annotations": [{"id": i, "image_id": image, "category_id": category,
                         "segmentation": segmentation, "iscrowd": 0}
                        for i, image, category, segmentation in annotations],
        "categories": [{"id": 1, "name": "orange"}, {"id": 2, "name": "lemon"},
                       {"id": 3, "name": "bar"}]}))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in (FRUIT, WORKSHOP):
        shutil.copy(SAMPLES_DIR / name, folder / name)
    return folder


@pytest.fixture
def window(qtbot, open_window, folder: Path) -> MainWindow:
    win = open_window(SessionController(), category="thing")
    assert win.open_folder(folder)
    _idle(qtbot, win)
    win.import_coco(_predictions(folder.parent / "predictions.json"))
    win.review_panel.scope_box.setCurrentIndex(1)  # the whole folder
    return win


def _idle(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: win.controller.session.image is not None and not win.controller.session.busy,
                    timeout=20000)


def _key(qtbot, win: MainWindow, key) -> None:
    qtbot.keyClick(win.canvas, key)
    _idle(qtbot, win)


def _click(qtbot, win: MainWindow, y: float, x: float, positive: bool = True) -> None:
    pos = win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
    button = Qt.MouseButton.LeftButton if positive else Qt.MouseButton.RightButton
    qtbot.mouseClick(win.canvas.viewport(), button, pos=pos)
    _idle(qtbot, win)


def _outcomes(win: MainWindow) -> dict[int, str]:
    return {item.object_id: item.outcome for item in win.controller.rows.review_queue().items}


def _visible_rect(win: MainWindow):
    canvas = win.canvas
    return canvas.mapToScene(canvas.viewport().rect()).boundingRect()


def _shows_box(win: MainWindow, box: list[int]) -> bool:
    x, y, w, h = box
    visible = _visible_rect(win)
    return (visible.left() <= x and visible.top() <= y and visible.right() >= x + w
            and visible.bottom() >= y + h)


def _count(win: MainWindow, outcome: str, scope: str) -> int:
    return int(win.review_panel._count_labels[(outcome, scope)].text())


def test_review_the_imported_objects_with_the_keys(qtbot, window: MainWindow, folder: Path,
                                                  monkeypatch) -> None:
    c, panel = window.controller, window.review_panel
    assert c.session.current_file == FRUIT and panel.current == 101
    assert "Object #101" in panel.title_label.text()
    assert list(_outcomes(window).values()) == ["pending"] * 5
    assert "0/4 reviewed" in window.image_list.status(0).summary()
    # The object under review is outlined as imported.
    outline = window.canvas.original_outline_path().boundingRect()
    assert abs(outline.center().x() - 250) < 3 and abs(outline.width() - 168) < 4

    _key(qtbot, window, Qt.Key.Key_G)  # accept the orange, on to the apple
    assert _outcomes(window)[101] == "accepted" and panel.current == 102
    apple = c.rows.imported_mask(102)
    assert _shows_box(window, mask_bbox(apple))
    assert window.canvas.zoom_factor() > 1.2  # zoomed in on it, beyond fitting the image
    assert window.objects_panel.selected_id() == 102

    monkeypatch.setattr(main_window, "choose_category", lambda *args, **kwargs: "apple")
    _key(qtbot, window, Qt.Key.Key_L)  # relabel, on to the lemon
    assert _outcomes(window)[102] == "relabelled" and panel.current == 103
    assert c.rows.category_name(c.rows.project.find_object(102)[1]) == "apple"

    _key(qtbot, window, Qt.Key.Key_C)  # correct the lemon with a click
    assert c.session.editing_object_id == 103 and c.session.view.mask[420, 320]
    _click(qtbot, window, 420, 320, positive=False)  # the piece of plate is not lemon
    assert not c.session.view.mask[420, 320] and c.session.view.mask[390, 400]
    # While correcting, the imported outline (with the piece of plate) is still drawn.
    assert window.canvas.original_outline_path().boundingRect().bottom() > 438
    _key(qtbot, window, Qt.Key.Key_G)  # accepting the correction finishes it
    assert _outcomes(window)[103] == "corrected" and panel.current == 104
    lemon = c.rows.project.find_object(103)[1]
    assert not lemon.mask[420, 320] and decode_rle(lemon.review.original_rle)[420, 320]

    _key(qtbot, window, Qt.Key.Key_X)  # reject the false detection; on to the next image
    _idle(qtbot, window)
    assert _outcomes(window)[104] == "rejected"
    assert c.session.current_file == WORKSHOP and panel.current == 201
    qtbot.waitUntil(lambda: _shows_box(window, mask_bbox(c.rows.imported_mask(201))))
    assert window.image_list.currentIndex().row() == 1
    assert "0/1 reviewed" in window.image_list.status(1).summary()
    assert "4/4 reviewed" in window.image_list.status(0).summary()

    _key(qtbot, window, Qt.Key.Key_G)
    assert _outcomes(window) == {101: "accepted", 102: "relabelled", 103: "corrected",
                                 104: "rejected", 201: "accepted"}
    assert [_count(window, outcome, "folder") for outcome in
            ("pending", "accepted", "corrected", "relabelled", "rejected")] == [0, 2, 1, 1, 1]
    assert _count(window, "accepted", "image") == 1 and _count(window, "rejected", "image") == 0
    assert "All reviewed" in window.statusBar().currentMessage()

    # Back over reviewed objects: undo the rejection, then reject again.
    panel.skip_box.setChecked(False)
    _key(qtbot, window, Qt.Key.Key_P)
    assert c.session.current_file == FRUIT and panel.current == 104
    _key(qtbot, window, Qt.Key.Key_U)
    assert _outcomes(window)[104] == "pending"
    assert _count(window, "pending", "folder") == 1
    _key(qtbot, window, Qt.Key.Key_X)
    assert _outcomes(window)[104] == "rejected"

    # Saved at every step, and the rejected object is kept but never exported.
    saved = Project.load(c.rows.project.path)
    assert {o.id: o.review.outcome for _, o in saved.iter_objects()} == _outcomes(window)
    out = folder.parent / "export.json"
    window.export_coco(out)
    qtbot.waitUntil(lambda: not window.export_in_progress, timeout=10000)
    exported = json.loads(out.read_text())
    assert sorted(a["id"] for a in exported["annotations"]) == [101, 102, 103, 201]
    names = {c["id"]: c["name"] for c in exported["categories"]}
    assert {a["id"]: names[a["category_id"]] for a in exported["annotations"]}[102] == "apple"
    assert window.errors == []


def test_rejected_objects_are_not_drawn_and_counts_leave_them_out(qtbot,
                                                                  window: MainWindow) -> None:
    c = window.controller
    layer_before = window.canvas._objects_item.pixmap().toImage()
    assert layer_before.pixelColor(50, 50).alpha() > 0  # the false detection is drawn
    c.edits.set_review_outcome(104, "rejected")
    assert window.canvas._objects_item.pixmap().toImage().pixelColor(50, 50).alpha() == 0
    assert window.image_list.status(0).summary() == "3 objects, 1/4 reviewed"
    assert "1 rejected" in window.image_list.images.index(0).data(Qt.ItemDataRole.ToolTipRole)
    sources = [window.objects_panel.tree.topLevelItem(i).text(2)
               for i in range(window.objects_panel.tree.topLevelItemCount())]
    assert sources == ["imported · pending"] * 3 + ["imported · rejected"]


def test_leaving_an_unfinished_object_asks_first(qtbot, window: MainWindow,
                                                 monkeypatch) -> None:
    c, panel = window.controller, window.review_panel
    asked = []
    monkeypatch.setattr(window, "ask_leave_object", lambda: asked.append(1) or "stay")
    for _ in range(3):
        _key(qtbot, window, Qt.Key.Key_G)
    assert panel.current == 104
    _click(qtbot, window, 500, 60)  # a new object in progress: the purple plum
    _key(qtbot, window, Qt.Key.Key_X)  # reject 104: the next one is on the other image
    assert asked == [1] and c.session.current_file == FRUIT and c.has_object_in_progress
    assert panel.current == 104  # the user stayed: still on it
    monkeypatch.setattr(window, "ask_leave_object", lambda: "discard")
    _key(qtbot, window, Qt.Key.Key_N)
    assert c.session.current_file == WORKSHOP and panel.current == 201


def test_this_image_scope_stays_on_the_image(qtbot, window: MainWindow) -> None:
    c, panel = window.controller, window.review_panel
    panel.scope_box.setCurrentIndex(0)
    for _ in range(4):
        _key(qtbot, window, Qt.Key.Key_G)
    assert c.session.current_file == FRUIT
    assert "All reviewed: 4/4 reviewed: 4 accepted" in window.statusBar().currentMessage()
    _key(qtbot, window, Qt.Key.Key_D)  # the next image: the dock follows
    assert panel.current == 201 and "1 of 1 in the image" in panel.status_label.text()


def test_moving_on_from_a_correction_in_progress_asks_first(qtbot, window: MainWindow,
                                                            monkeypatch) -> None:
    c, panel = window.controller, window.review_panel
    answers = ["stay", "discard"]
    monkeypatch.setattr(window, "ask_leave_object", lambda: answers.pop(0))
    _key(qtbot, window, Qt.Key.Key_C)
    _key(qtbot, window, Qt.Key.Key_C)  # again: the correction goes on, nothing is asked
    assert c.session.editing_object_id == 101 and answers == ["stay", "discard"]
    _key(qtbot, window, Qt.Key.Key_N)
    assert panel.current == 101 and c.session.editing_object_id == 101  # stayed
    _key(qtbot, window, Qt.Key.Key_N)
    assert panel.current == 102 and c.session.editing_object_id is None  # the correction dropped
    assert _outcomes(window)[101] == "pending" and answers == []
