"""Model > Refinement (BRS) driven through the real menu, with the golden RITM checkpoint
installed as the released HRNet-18s file."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings

from annotator.controller import SessionController
from annotator.refinement_menu import saved_options
from weights import registry

pytestmark = pytest.mark.gui
MODEL = "ritm-hrnet18s-cocolvis-itm"


@pytest.fixture
def window(qtbot, open_window, tmp_path: Path, shared_dir: Path):
    QSettings().clear()
    shutil.copy(shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth",
                registry.checkpoint_path(registry.MODELS[MODEL]))
    image = cv2.imread(str(shared_dir / "golden/ritm/img_a.png"))
    cv2.imwrite(str(tmp_path / "a.png"), image)
    win = open_window(SessionController(model=MODEL, device="cpu"))
    assert win.open_folder(tmp_path)
    qtbot.waitUntil(lambda: win.controller.image is not None and not win.controller.busy,
                    timeout=60000)
    return win


def test_choosing_a_brs_mode_refines_the_next_clicks_and_is_saved(qtbot, window) -> None:
    menu = window.refinement_menu
    assert menu.isEnabled() and menu.mode_actions["NoBRS"].isChecked()
    assert not menu.limit_action.isEnabled()  # "all clicks" without BRS, as the demo
    menu.mode_actions["f-BRS-B"].trigger()
    assert window.controller.options.brs_mode == "f-BRS-B"
    assert saved_options().brs_mode == "f-BRS-B"  # the next run starts with it
    assert menu.limit_action.text() == "Network &Clicks: 8…"

    answers = iter([3, 7])  # network clicks, then L-BFGS evaluations
    menu.ask_int = lambda *args: next(answers)
    menu.limit_action.trigger()
    menu.evaluations_action.trigger()
    options = window.controller.options
    assert (options.net_clicks_limit, options.lbfgs_max_evals) == (3, 7)
    assert saved_options() == options

    controller = window.controller
    controller.add_click(170, 250, True)
    assert window.timing_label.text() == "refining with f-BRS-B…"  # what the wait is for
    qtbot.waitUntil(lambda: not controller.busy, timeout=120000)
    controller.add_click(150, 335, True)
    qtbot.waitUntil(lambda: not controller.busy, timeout=120000)
    assert len(controller.view.clicks) == 2 and controller.view.mask.any()
    assert window.errors == []


def test_the_menu_is_off_for_models_without_brs(qtbot, window) -> None:
    window.choose_model("grabcut")
    qtbot.waitUntil(lambda: window.controller.model_name == "grabcut", timeout=60000)
    assert not window.refinement_menu.isEnabled()
    assert "RITM and f-BRS" in window.refinement_menu.menuAction().toolTip()
