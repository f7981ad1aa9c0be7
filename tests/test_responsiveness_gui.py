"""The GUI stays responsive while a slow model works: a fake predictor that runs until the
test lets it finish is installed through the registry, and clicks arrive meanwhile."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtWidgets import QToolBar

from engine import Click, Predictor
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from weights import registry

pytestmark = pytest.mark.gui
SHAPE = (120, 160)
FIRST = (30, 40)
LATER = [(60, 100), (90, 50), (20, 130)]
RADIUS = 8


def _disks(clicks: Sequence[Click]) -> np.ndarray:
    """What the fake model answers: a disk around every positive click."""
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    mask = np.zeros(SHAPE, bool)
    for click in clicks:
        if click.is_positive:
            mask |= (yy - click.y) ** 2 + (xx - click.x) ** 2 <= RADIUS ** 2
    return mask


class GatedPredictor:
    """A slow model: every prediction runs until the test releases it (10 s at most)."""

    name = "gated"

    def __init__(self) -> None:
        self.calls: list[list[Click]] = []
        self._release = threading.Semaphore(0)

    def set_image(self, image: np.ndarray) -> None:
        assert image.shape[:2] == SHAPE

    def predict(self, clicks: Sequence[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        self.calls.append(list(clicks))
        if not self._release.acquire(timeout=10):
            raise TimeoutError("the test never let the prediction finish")
        return _disks(clicks).astype(np.float32)

    def get_state(self) -> None:
        return None

    def set_state(self, state: None) -> None:
        pass

    def release(self) -> None:
        self._release.release()


@pytest.fixture
def predictor(monkeypatch) -> GatedPredictor:
    gated = GatedPredictor()
    assert isinstance(gated, Predictor)
    monkeypatch.setitem(registry.MODELS, "gated", registry.ModelEntry(
        "gated", "Gated test model", "Predicts when the test says so",
        build=lambda device, options: gated))
    return gated


@pytest.fixture
def window(qtbot, open_window, predictor, tmp_path: Path) -> MainWindow:
    image = np.full((*SHAPE, 3), 90, np.uint8)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), image)
    win = open_window(SessionController(model="gated"))
    assert win.open_folder(tmp_path)
    qtbot.waitUntil(lambda: win.controller.session.image is not None and not win.controller.session.busy,
                    timeout=10000)
    return win


def _click(qtbot, win: MainWindow, y: float, x: float) -> None:
    pos = win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
    qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_clicks_during_a_slow_prediction_are_coalesced_and_none_is_lost(
        qtbot, window: MainWindow, predictor: GatedPredictor) -> None:
    controller, canvas = window.controller, window.canvas
    shown: list[tuple[list[Click], np.ndarray | None]] = []
    controller.session_changed.connect(
        lambda: shown.append((list(controller.session.view.clicks), controller.session.view.mask)))
    _click(qtbot, window, *FIRST)
    qtbot.waitUntil(lambda: len(predictor.calls) == 1, timeout=10000)

    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    for point in LATER:  # while the model works on the first click
        _click(qtbot, window, *point)
    fitted = canvas.zoom_factor()
    canvas.zoom(3)
    toolbar = window.findChild(QToolBar, "toolbar-main")
    qtbot.mouseClick(toolbar.widgetForAction(window.fit_action), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=10000)  # the event loop runs
    qtbot.waitUntil(window.busy_indicator.isVisible, timeout=10000)
    assert window.busy_indicator.label.text() == "Predicting…"
    timer.stop()
    assert len(predictor.calls) == 1  # still inside the first prediction
    assert canvas.zoom_factor() == pytest.approx(fitted)  # the button answered meanwhile
    assert len(canvas.marker_positions) == 4  # every click is drawn before the model answers
    assert controller.session.view.mask is None and canvas.current_layer() is None

    predictor.release()
    qtbot.waitUntil(lambda: len(predictor.calls) == 2, timeout=10000)
    everything = [Click(*point, True) for point in [FIRST, *LATER]]
    assert predictor.calls[1] == everything  # the three later clicks: ONE prediction
    assert controller.session.view.clicks == everything[:1]  # the first answer, for the first click
    assert len(canvas.marker_positions) == 4

    predictor.release()
    qtbot.waitUntil(lambda: not controller.session.busy, timeout=10000)
    assert len(predictor.calls) == 2
    assert controller.session.view.clicks == everything
    assert np.array_equal(controller.session.view.mask, _disks(everything))
    assert canvas.current_layer() is not None and not window.busy_indicator.isVisible()
    assert re.fullmatch(r"last click \d+\.\d\d s", window.timing_label.text())
    # Every mask shown belonged to the clicks shown with it: never an older answer.
    masks = [(clicks, mask) for clicks, mask in shown if mask is not None]
    assert [len(clicks) for clicks, _ in masks] == [1, 4]
    assert all(np.array_equal(mask, _disks(clicks)) for clicks, mask in masks)
    assert window.errors == []


def test_a_prediction_for_an_image_left_meanwhile_is_never_shown(
        qtbot, window: MainWindow, predictor: GatedPredictor) -> None:
    controller = window.controller
    _click(qtbot, window, *FIRST)
    qtbot.waitUntil(lambda: len(predictor.calls) == 1, timeout=10000)
    window.next_image()  # the object in progress is discarded (the fixture's answer)
    assert controller.session.current_file == "b.png"
    shown: list[np.ndarray | None] = []
    controller.session_changed.connect(lambda: shown.append(controller.session.view.mask))
    predictor.release()
    qtbot.waitUntil(lambda: controller.session.image is not None and not controller.session.busy,
                    timeout=10000)
    assert controller.session.current_file == "b.png" and controller.session.view.clicks == []
    assert all(mask is None for mask in shown) and window.canvas.current_layer() is None
    assert window.canvas.marker_positions == [] and window.errors == []
