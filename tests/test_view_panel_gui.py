"""The View dock driven through its real sliders and check boxes: threshold, opacity, click
size, outlines only, probability map, and their settings surviving a new window."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QColor

from annotator.colors import CURRENT_OBJECT, POSITIVE_CLICK
from annotator.controller import SessionController
from weights import registry
from gui_actions import click_image, wait_idle

pytestmark = pytest.mark.gui

SHAPE = (120, 160)
CENTER = (60, 80)  # y, x
RAMP = 60.0  # px: the fake probability falls from 1 at the click to 0 at this distance


class _RampPredictor:
    """Probability falling linearly with the distance to the first click; counts its runs."""

    name = "ramp"

    def __init__(self) -> None:
        self.calls = 0

    def set_image(self, image):
        self.shape = image.shape[:2]

    def predict(self, clicks, prev_mask):
        self.calls += 1
        yy, xx = np.mgrid[: self.shape[0], : self.shape[1]]
        distance = np.hypot(yy - clicks[0].y, xx - clicks[0].x)
        return np.clip(1 - distance / RAMP, 0, 1).astype(np.float32)

    def get_state(self):
        return None

    def set_state(self, state):
        pass


@pytest.fixture
def predictor(monkeypatch) -> _RampPredictor:
    predictor = _RampPredictor()
    monkeypatch.setitem(registry.MODELS, "ramp", registry.ModelEntry(
        "ramp", "Ramp", "test", lambda device, options: predictor))
    return predictor


@pytest.fixture
def window(qtbot, request, open_window, tmp_path: Path, predictor):
    QSettings().clear()
    request.addfinalizer(QSettings().clear)  # other tests start from the defaults
    cv2.imwrite(str(tmp_path / "a.png"), np.full((*SHAPE, 3), 90, np.uint8))
    win = open_window(SessionController(model="ramp"))
    assert win.open_folder(tmp_path)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=10000)
    wait_idle(qtbot, win)
    return win


def _ramp(threshold: float) -> np.ndarray:
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    probability = np.clip(1 - np.hypot(yy - CENTER[0], xx - CENTER[1]) / RAMP, 0, 1)
    return probability.astype(np.float32) > threshold


def _toggle(qtbot, box) -> None:
    assert box.isVisible()
    # On the indicator: a check box spans its row, but only the box and text are its button.
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(6, box.height() // 2))


def test_threshold_slider_recuts_the_mask_without_predicting(qtbot, window, predictor) -> None:
    panel, controller = window.view_panel, window.controller
    assert panel.threshold_slider.value() == 49 and controller.session.prob_thresh == 0.49
    click_image(qtbot, window, *CENTER)
    assert predictor.calls == 1
    assert np.array_equal(controller.session.view.mask, _ramp(0.49))

    panel.threshold_slider.setValue(80)
    assert panel.threshold_label.text() == "0.80"
    assert predictor.calls == 1 and not controller.session.busy  # no job was queued
    assert np.array_equal(controller.session.view.mask, _ramp(0.8))
    layer = window.canvas.current_layer()
    assert np.array_equal(layer[..., 3] > 0, _ramp(0.8))  # the canvas shows the new cut

    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)  # finish: the stored mask is cut the same
    wait_idle(qtbot, window)
    [obj] = controller.rows.current_objects()
    assert np.array_equal(obj.mask, _ramp(0.8)) and predictor.calls == 1

    click_image(qtbot, window, *CENTER)  # the next object is cut at the slider's value too
    assert np.array_equal(controller.session.view.mask, _ramp(0.8))
    assert window.errors == []


def test_opacity_and_click_size_change_the_drawing(qtbot, window) -> None:
    panel, canvas = window.view_panel, window.canvas
    click_image(qtbot, window, *CENTER)
    panel.opacity_slider.setValue(100)
    assert canvas.current_layer()[CENTER][3] == 255
    panel.opacity_slider.setValue(20)
    inside = canvas.current_layer()[CENTER]
    assert inside[3] == 51  # the pixmap is premultiplied: colours come back within 2
    assert np.abs(inside[:3].astype(int) - CURRENT_OBJECT).max() <= 2

    def marker_pixels() -> int:
        image = canvas.viewport().grab().toImage()
        centre = canvas.mapFromScene(QPointF(CENTER[1] + 0.5, CENTER[0] + 0.5))
        green = QColor(*POSITIVE_CLICK)
        return sum(image.pixelColor(centre.x() + dx, centre.y() + dy) == green
                   for dx in range(-25, 26) for dy in range(-25, 26))

    panel.radius_slider.setValue(4)
    small = marker_pixels()
    panel.radius_slider.setValue(16)
    large = marker_pixels()
    assert panel.radius_label.text() == "16 px"
    assert small > 0 and large > 8 * small  # area grows with the radius squared


def test_outline_mode_and_probability_map(qtbot, window) -> None:
    panel, canvas = window.view_panel, window.canvas
    click_image(qtbot, window, *CENTER)
    mask = window.controller.session.view.mask
    _toggle(qtbot, panel.boundary_box)
    assert panel.boundary_box.isChecked()
    drawn = canvas.current_layer()[..., 3] > 0
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert drawn[CENTER[0], CENTER[1] - 30] and not drawn[CENTER]  # the contour, not the fill
    assert drawn.sum() <= edge.sum() and not (drawn & ~mask).any()

    _toggle(qtbot, panel.probability_box)
    heat = canvas.current_layer()
    # Outside the mask where the probability is 0.3: coloured by the heat map.
    assert heat[CENTER[0], CENTER[1] + 42][3] > 0
    assert heat[0, 0][3] == 0  # probability 0: the image stays uncovered
    # High probability (red end) and low probability (blue end) differ in colour.
    red, blue = heat[CENTER][:3].astype(int), heat[CENTER[0], CENTER[1] + 55][:3].astype(int)
    assert red[0] > red[2] and blue[2] > blue[0]
    _toggle(qtbot, panel.probability_box)
    assert np.array_equal(canvas.current_layer()[..., 3] > 0, drawn)  # back to the outline


def test_outline_mode_applies_to_finished_objects(qtbot, window) -> None:
    click_image(qtbot, window, *CENTER)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    wait_idle(qtbot, window)
    objects_item = window.canvas._objects_item
    filled = objects_item.pixmap().toImage().pixelColor(CENTER[1], CENTER[0]).alpha()
    _toggle(qtbot, window.view_panel.boundary_box)
    outlined = objects_item.pixmap().toImage().pixelColor(CENTER[1], CENTER[0]).alpha()
    assert filled > 0 and outlined == 0


def test_view_settings_survive_a_new_window(qtbot, open_window, window) -> None:
    panel = window.view_panel
    panel.threshold_slider.setValue(70)
    panel.opacity_slider.setValue(80)
    panel.radius_slider.setValue(9)
    _toggle(qtbot, panel.boundary_box)
    _toggle(qtbot, panel.probability_box)

    other = open_window(SessionController(model="ramp"))
    restored = other.view_panel
    assert (restored.threshold_slider.value(), restored.opacity_slider.value(),
            restored.radius_slider.value()) == (70, 80, 9)
    assert restored.boundary_box.isChecked() and restored.probability_box.isChecked()
    assert other.controller.session.prob_thresh == 0.7
    canvas = other.canvas
    assert (canvas.overlay_opacity, canvas.marker_radius, canvas.boundary_only,
            canvas.show_probability) == (0.8, 9, True, True)


def test_unreadable_saved_settings_fall_back_to_defaults(qtbot, request, open_window,
                                                         predictor) -> None:
    QSettings().clear()
    request.addfinalizer(QSettings().clear)
    QSettings().setValue("view/threshold", "lots")
    QSettings().setValue("view/marker_radius", 500)
    win = open_window(SessionController(model="ramp"))
    assert win.view_panel.threshold_slider.value() == 49
    assert win.view_panel.radius_slider.value() == 20
