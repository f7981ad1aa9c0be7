"""The annotator driven through its real widgets with pytest-qt (offscreen)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from engine.annotations import PROJECT_FILE_NAME, Project
from engine.masks import mask_iou
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from weights import registry
from gui_actions import click_image, open_folder, press_key, wait_idle

pytestmark = pytest.mark.gui

DISK_CENTER = (60, 80)  # y, x
DISK_RADIUS = 30


def _disk_image(shape=(160, 200)) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disk = (yy - DISK_CENTER[0]) ** 2 + (xx - DISK_CENTER[1]) ** 2 <= DISK_RADIUS ** 2
    rng = np.random.default_rng(0)
    image = rng.normal(60, 8, (*shape, 3))
    image[disk] = rng.normal(200, 8, (int(disk.sum()), 3))
    image[..., 2][disk] -= 80  # an orange-ish object on a dark background
    return np.clip(image, 0, 255).astype(np.uint8), disk


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    image, _ = _disk_image()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), image[..., ::-1])
    (tmp_path / "broken.png").write_text("this is not an image")
    return tmp_path


@pytest.fixture
def window(open_window):
    return open_window(SessionController(), category="ball")


def test_click_undo_redo_finish_next(qtbot, window: MainWindow, folder: Path) -> None:
    open_folder(qtbot, window, folder)
    controller = window.controller
    assert controller.files == ["a.png", "b.png", "broken.png"]
    _, disk = _disk_image()

    click_image(qtbot, window, *DISK_CENTER)
    assert mask_iou(controller.session.view.mask, disk) > 0.9
    assert window.canvas.marker_positions == [(*DISK_CENTER, True)]
    click_image(qtbot, window, 5, 5, positive=False)
    assert [m[2] for m in window.canvas.marker_positions] == [True, False]

    press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(controller.session.view.clicks) == 1
    press_key(qtbot, window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert len(controller.session.view.clicks) == 2
    press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    press_key(qtbot, window, Qt.Key.Key_Z,
         Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(controller.session.view.clicks) == 2

    press_key(qtbot, window, Qt.Key.Key_Return)
    objects = controller.rows.current_objects()
    assert len(objects) == 1 and controller.rows.category_name(objects[0]) == "ball"
    assert mask_iou(objects[0].mask, disk) > 0.9
    assert controller.session.view.clicks == [] and window.canvas.marker_positions == []
    assert window.objects_panel.tree.topLevelItemCount() == 1

    saved = Project.load(folder / PROJECT_FILE_NAME)
    assert len(saved.images["a.png"].objects) == 1

    press_key(qtbot, window, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: controller.session.current_file == "b.png" and controller.session.image is not None)
    assert window.objects_panel.tree.topLevelItemCount() == 0
    press_key(qtbot, window, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: controller.session.current_file == "a.png" and controller.session.image is not None)
    assert window.objects_panel.tree.topLevelItemCount() == 1


def test_space_finishes_and_escape_resets(qtbot, window: MainWindow, folder: Path) -> None:
    open_folder(qtbot, window, folder)
    click_image(qtbot, window, *DISK_CENTER)
    press_key(qtbot, window, Qt.Key.Key_Escape)
    assert window.controller.session.view.clicks == [] and window.controller.session.view.mask is None
    click_image(qtbot, window, *DISK_CENTER)
    press_key(qtbot, window, Qt.Key.Key_Space)
    assert len(window.controller.rows.current_objects()) == 1


def test_unreadable_image_is_marked_not_fatal(qtbot, window: MainWindow, folder: Path) -> None:
    open_folder(qtbot, window, folder)
    click_image(qtbot, window, *DISK_CENTER)
    press_key(qtbot, window, Qt.Key.Key_Return)
    window.go_to(2)
    qtbot.waitUntil(lambda: "broken.png" in window.controller.unreadable)
    assert "Cannot open" in window.image_list.images.index(2).data(Qt.ItemDataRole.ToolTipRole)
    assert window.objects_panel.tree.topLevelItemCount() == 0  # a.png's objects are gone
    assert window.canvas.image_shape is None
    window.go_to(0)
    qtbot.waitUntil(lambda: window.controller.session.image is not None)


def test_reopening_the_folder_restores_objects(qtbot, window: MainWindow, folder: Path) -> None:
    open_folder(qtbot, window, folder)
    click_image(qtbot, window, *DISK_CENTER)
    press_key(qtbot, window, Qt.Key.Key_Return)
    window.controller.edits.rename_object(window.controller.rows.current_objects()[0].id, "orange")
    open_folder(qtbot, window, folder)
    objects = window.controller.rows.current_objects()
    assert len(objects) == 1 and window.controller.rows.category_name(objects[0]) == "orange"


def _write_coco(path: Path, disk: np.ndarray) -> None:
    contours, _ = cv2.findContours(disk.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygon = contours[0].reshape(-1).astype(float).tolist()
    # Another model's output: the disk plus a wrong blob the user will remove with a click.
    blob = [150, 120, 190, 120, 190, 150, 150, 150]
    path.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "a.png", "width": 200, "height": 160}],
        "annotations": [{"id": 501, "image_id": 7, "category_id": 3, "iscrowd": 0,
                         "segmentation": [polygon, blob], "area": 1, "bbox": [0, 0, 1, 1]}],
        "categories": [{"id": 3, "name": "fruit"}],
    }))


def test_import_correct_and_export(qtbot, window: MainWindow, folder: Path) -> None:
    _, disk = _disk_image()
    coco_path = folder.parent / f"{folder.name}-predictions.json"
    _write_coco(coco_path, disk)
    open_folder(qtbot, window, folder)
    controller = window.controller
    window.import_coco(coco_path)
    objects = controller.rows.current_objects()
    assert [(o.id, o.source) for o in objects] == [(501, "imported")]
    assert objects[0].mask[135, 170]  # the wrong blob came in with the instance

    window.objects_panel.select(501)
    press_key(qtbot, window, Qt.Key.Key_E)
    assert controller.session.editing_object_id == 501
    assert controller.session.view.mask is not None and controller.session.view.mask[135, 170]
    click_image(qtbot, window, 135, 170, positive=False)
    assert not controller.session.view.mask[135, 170]
    press_key(qtbot, window, Qt.Key.Key_Return)

    objects = controller.rows.current_objects()
    assert [(o.id, o.source, controller.rows.category_name(o)) for o in objects] == [
        (501, "corrected", "fruit")]
    assert mask_iou(objects[0].mask, disk) > 0.9
    assert controller.session.editing_object_id is None

    out = folder.parent / "export.json"
    window.export_coco(out)
    qtbot.waitUntil(lambda: not window.export_in_progress, timeout=10000)
    exported = json.loads(out.read_text())
    [annotation] = exported["annotations"]
    assert annotation["id"] == 501 and annotation["iscrowd"] == 0
    assert exported["categories"][annotation["category_id"] - 1]["name"] == "fruit"
    image = next(i for i in exported["images"] if i["id"] == annotation["image_id"])
    assert image["file_name"] == "a.png"
    assert window.errors == []


def test_malformed_coco_shows_an_error(qtbot, window: MainWindow, folder: Path) -> None:
    open_folder(qtbot, window, folder)
    bad = folder.parent / "bad.json"
    bad.write_text("{\"images\": [1, 2")
    window.import_coco(bad)
    assert len(window.errors) == 1 and "bad.json" in window.errors[0]


class _SlowPredictor:
    """Sleeps in predict so clicks pile up; records the click lists it was given."""

    name = "slow"

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.release = threading.Event()

    def set_image(self, image):
        self.shape = image.shape[:2]

    def predict(self, clicks, prev_mask):
        self.release.wait(5)
        self.calls.append(len(clicks))
        prob = np.zeros(self.shape, np.float32)
        for click in clicks:
            prob[int(click.y), int(click.x)] = 1.0
        return prob

    def get_state(self):
        return None

    def set_state(self, state):
        pass


@pytest.fixture
def slow_controller(qtbot, monkeypatch, folder: Path):
    """A controller whose model blocks until the test releases it, on the opened folder."""
    predictor = _SlowPredictor()
    monkeypatch.setitem(registry.MODELS, "slow", registry.ModelEntry(
        "slow", "Slow", "test", lambda device, options: predictor))
    controller = SessionController(model="slow")
    controller.open_folder(folder)
    qtbot.waitUntil(lambda: controller.session.image is not None)
    yield controller, predictor
    predictor.release.set()
    controller.shutdown()


def test_clicks_during_a_prediction_are_coalesced_and_the_gui_stays_free(
        qtbot, slow_controller) -> None:
    controller, predictor = slow_controller
    for x in (10, 11, 12):
        controller.add_click(5, x, True)
    # add_click returned while the model is still held: the GUI thread never waited.
    assert predictor.calls == [] and controller.session.busy
    assert len(controller.session.displayed_clicks) == 3
    predictor.release.set()
    qtbot.waitUntil(lambda: not controller.session.busy)
    assert predictor.calls == [1, 3]  # the first click, then the two queued ones together
    assert len(controller.session.view.clicks) == 3


def test_results_for_a_left_image_are_dropped(qtbot, slow_controller) -> None:
    controller, predictor = slow_controller
    controller.add_click(5, 5, True)
    controller.go_to(controller.current_index + 1)
    predictor.release.set()
    qtbot.waitUntil(lambda: not controller.session.busy and controller.session.image is not None)
    assert controller.session.current_file == "b.png"
    assert controller.session.view.clicks == [] and controller.session.view.mask is None


def _wheel(canvas, pos, notches: int) -> None:
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    global_pos = canvas.viewport().mapToGlobal(pos)
    event = QWheelEvent(QPointF(pos), QPointF(global_pos), QPoint(), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)


def test_zoom_about_cursor_pan_and_fit(qtbot, window: MainWindow, folder: Path) -> None:
    open_folder(qtbot, window, folder)
    canvas = window.canvas
    fitted = canvas.zoom_factor()
    cursor = canvas.mapFromScene(QPointF(*DISK_CENTER[::-1]))
    _wheel(canvas, cursor, 3)
    assert canvas.zoom_factor() > 1.9 * fitted
    # The image point under the cursor stays under the cursor.
    under = canvas.mapToScene(cursor)
    assert abs(under.x() - DISK_CENTER[1]) < 2 and abs(under.y() - DISK_CENTER[0]) < 2

    scroll = canvas.horizontalScrollBar().value()
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.MiddleButton, pos=cursor)
    qtbot.mouseMove(canvas.viewport(), cursor + type(cursor)(40, 0))
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.MiddleButton,
                       pos=cursor + type(cursor)(40, 0))
    assert canvas.horizontalScrollBar().value() == scroll - 40
    assert window.controller.session.view.clicks == []  # panning is not clicking

    press_key(qtbot, window, Qt.Key.Key_F)
    assert abs(canvas.zoom_factor() - fitted) < 1e-6


def test_keyboard_stays_with_the_canvas_after_using_the_panels(
        qtbot, window: MainWindow, folder: Path) -> None:
    open_folder(qtbot, window, folder)
    click_image(qtbot, window, *DISK_CENTER)
    press_key(qtbot, window, Qt.Key.Key_Return)
    tree = window.objects_panel.tree
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=tree.visualItemRect(tree.topLevelItem(0)).center())
    assert window.objects_panel.selected_id() is not None
    assert not tree.hasFocus()
    click_image(qtbot, window, 5, 5)
    press_key(qtbot, window, Qt.Key.Key_Space)
    assert len(window.controller.rows.current_objects()) == 2
    assert window.controller.rows.current_objects()[0].visible  # Space did not untick object 1


def test_model_panel_switches_to_a_registered_ritm_model(qtbot, monkeypatch, window: MainWindow,
                                                        folder: Path, shared_dir: Path,
                                                        open_window) -> None:
    import shutil

    from weights import MODELS, checkpoint_path

    entry = MODELS["ritm-hrnet18s-cocolvis-itm"]
    assert not window.model_panel.model_item(entry.name).isEnabled()  # not downloaded yet
    shutil.copy(shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth",
                checkpoint_path(entry))
    other = open_window(SessionController())  # the model list is built from what is on disk
    assert other.model_panel.model_item(entry.name).isEnabled()
    open_folder(qtbot, other, folder)
    other.model_panel.choose_model(entry.name)
    wait_idle(qtbot, other)
    assert other.controller.model_name == entry.name
    assert "RITM" in other.engine_label.text()
    click_image(qtbot, other, *DISK_CENTER)
    assert other.controller.session.view.mask is not None
    assert window.errors == [] and other.errors == []
