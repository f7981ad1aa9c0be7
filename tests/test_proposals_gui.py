"""The proposals strip, and the proposals and TAIZ switches of the Model panel, driven
through the real window (offscreen)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from engine.inference.taiz import TAIZPredictor
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from gui_actions import click_image, press_key, wait_idle

pytestmark = pytest.mark.gui

CENTER = (240, 320)  # y, x


def _nested_image() -> np.ndarray:
    """A red part in a green object in a blue group, on grey (see test_proposals)."""
    yy, xx = np.mgrid[:480, :640]
    radius = np.hypot(yy - CENTER[0], xx - CENTER[1])
    rng = np.random.default_rng(0)
    image = rng.normal(128, 8, (480, 640, 3))
    for limit, color in ((110, (40, 60, 200)), (40, (40, 180, 60)), (15, (210, 40, 40))):
        region = radius <= limit
        image[region] = rng.normal(0, 8, (int(region.sum()), 3)) + color
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def window(qtbot, open_window, tmp_path: Path):
    cv2.imwrite(str(tmp_path / "nested.png"), _nested_image()[..., ::-1])
    win = open_window(SessionController())
    assert win.open_folder(tmp_path)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=10000)
    wait_idle(qtbot, win)
    return win


def _tick(qtbot, box) -> None:
    """Click a check box on its indicator (a click beside its text does nothing)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(box.height() // 2,
                                                                box.height() // 2))


def test_proposals_are_off_until_switched_on(qtbot, window: MainWindow) -> None:
    assert not window.model_panel.proposals_box.isChecked()
    click_image(qtbot, window, *CENTER)
    assert window.controller.session.view.proposals == () and window.proposals_strip.buttons == []
    assert window.proposals_strip.hint.text().startswith("Proposals:")


def test_strip_shows_proposals_after_the_first_click_and_keys_pick(qtbot,
                                                                    window: MainWindow) -> None:
    _tick(qtbot, window.model_panel.proposals_box)
    assert window.controller.proposals_enabled
    click_image(qtbot, window, *CENTER)
    view = window.controller.session.view
    strip = window.proposals_strip
    assert len(view.proposals) == 3 and len(strip.buttons) == 3
    assert [p.kind for p in view.proposals] == ["part", "whole", "group"]
    assert strip.buttons[view.current_proposal].isChecked()
    assert "0." in strip.buttons[0].text()  # the score is shown
    assert not strip.buttons[0].icon().isNull()

    press_key(qtbot, window, Qt.Key.Key_1)
    view = window.controller.session.view
    assert view.current_proposal == 0 and np.array_equal(view.mask, view.proposals[0].mask)
    assert strip.buttons[0].isChecked() and not strip.buttons[2].isChecked()

    qtbot.mouseClick(strip.buttons[1], Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.controller.session.view.current_proposal == 1

    press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the choice
    assert window.controller.session.view.current_proposal == 0
    press_key(qtbot, window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # redo it
    assert window.controller.session.view.current_proposal == 1
    assert window.controller.session.view.clicks == [window.controller.session.view.clicks[0]]

    click_image(qtbot, window, 420, 60, positive=False)  # a second click ends the choice
    assert window.controller.session.view.proposals == () and strip.buttons == []
    assert len(window.controller.session.view.clicks) == 2
    press_key(qtbot, window, Qt.Key.Key_3)  # nothing to pick any more: nothing happens
    assert len(window.controller.session.view.clicks) == 2 and window.errors == []


def test_taiz_switch_and_schedule(qtbot, window: MainWindow) -> None:
    controller, panel = window.controller, window.model_panel
    assert not panel.taiz_start_spin.isEnabled()  # no schedule to set while TAIZ is off
    _tick(qtbot, panel.taiz_box)
    wait_idle(qtbot, window)
    assert controller.options.taiz and controller.options.taiz_config.blend_start == 10
    assert isinstance(controller.session.predictor, TAIZPredictor)
    panel.taiz_full_spin.setValue(4)
    panel.taiz_start_spin.setValue(1)
    wait_idle(qtbot, window)
    config = controller.options.taiz_config
    assert (config.blend_start, config.max_clicks) == (1, 4)
    assert controller.session.predictor.config == config
    click_image(qtbot, window, *CENTER)
    click_image(qtbot, window, CENTER[0] + 30, CENTER[1] + 10)
    assert controller.session.view.mask is not None and controller.session.view.mask[CENTER]
    # Drops the object in progress (the window's question is answered: discard).
    _tick(qtbot, panel.taiz_box)
    wait_idle(qtbot, window)
    assert not controller.options.taiz and not isinstance(controller.session.predictor,
                                                          TAIZPredictor)
    assert controller.session.view.clicks == [] and window.errors == []
