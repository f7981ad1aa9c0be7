"""The Model dock driven through its real widgets, with the golden RITM checkpoint installed
as the released HRNet-18s file where a neural model is needed."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt

from engine.device import cuda_unavailable_reason
from engine.inference.brs import FeatureBRSPredictor
from engine.inference.factory import PREDICTOR_FACTORIES
from engine.inference.options import DEMO_MAX_SIZE, InferenceOptions
from engine.inference.taiz import TAIZPredictor
from annotator.app import restored_controller
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from annotator.model_settings import ModelSettings
from weights import registry
from gui_actions import open_folder, wait_idle

pytestmark = pytest.mark.gui
RITM = "ritm-hrnet18s-cocolvis-itm"
OBJECT = (170, 250)  # y, x of a click on the golden image


@pytest.fixture
def folder(tmp_path: Path, shared_dir: Path) -> Path:
    image = cv2.imread(str(shared_dir / "golden/ritm/img_a.png"))
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), image)
    return tmp_path


@pytest.fixture
def ritm_installed(shared_dir: Path) -> None:
    shutil.copy(shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth",
                registry.checkpoint_path(registry.MODELS[RITM]))


def _open(qtbot, win: MainWindow, folder: Path) -> MainWindow:
    open_folder(qtbot, win, folder)
    return win


def _pick(combo, data, role=Qt.ItemDataRole.UserRole) -> None:
    """Choose the item holding ``data`` as a user does in the popup."""
    row = combo.findData(data, role)
    assert row >= 0 and combo.model().item(row).isEnabled()
    combo.setCurrentIndex(row)
    combo.activated.emit(row)


def _choose_model(qtbot, win: MainWindow, name: str) -> None:
    _pick(win.model_panel.model_combo, name)
    qtbot.waitUntil(lambda: win.controller.model_name == name, timeout=60000)
    wait_idle(qtbot, win)


def _tick(qtbot, box) -> None:
    """Click a check box on its indicator (a click beside its text does nothing)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(box.height() // 2,
                                                                box.height() // 2))


def test_gui_defaults_are_the_official_demos_and_evaluation_keeps_its_own(
        open_window) -> None:
    window = open_window(SessionController())
    panel = window.model_panel
    assert window.controller.options == InferenceOptions.demo()
    assert InferenceOptions().max_size is None  # the evaluation protocol's
    assert window.controller.options.zoom_in and window.controller.options.max_size == 800
    assert panel.zoom_box.isChecked() and panel.limit_box.isChecked()
    assert panel.limit_spin.value() == DEMO_MAX_SIZE


def test_models_are_grouped_by_family_and_greyed_entries_say_why(
        qtbot, monkeypatch, open_window) -> None:
    focal = registry.MODELS["focalclick-hrnet18s-s2-cclvs"]
    registry.checkpoint_path(focal).write_bytes(b"on disk, but no engine to run it")
    monkeypatch.delitem(PREDICTOR_FACTORIES, "focalclick")
    window = open_window(SessionController())
    panel = window.model_panel
    combo = panel.model_combo
    texts = [combo.itemText(row) for row in range(combo.count())]
    headers = [text for row, text in enumerate(texts)
               if combo.itemData(row, Qt.ItemDataRole.UserRole) is None]
    assert headers == ["GrabCut", "RITM", "f-BRS", "FocalClick"]
    for header in headers:  # headings cannot be chosen
        assert not combo.model().item(texts.index(header)).isSelectable()
    assert texts.index("RITM") < texts.index(f"{registry.MODELS[RITM].title} — not downloaded")

    grabcut = panel.model_item("grabcut")
    assert grabcut.isEnabled() and combo.currentText() == grabcut.text()
    ritm = panel.model_item(RITM)
    assert not ritm.isEnabled() and ritm.text().endswith("— not downloaded")
    assert "not downloaded" in ritm.toolTip() and "Model Manager" in ritm.toolTip()
    focal_item = panel.model_item(focal.name)
    assert not focal_item.isEnabled()
    assert "no FocalClick HRNet engine in this version" in focal_item.text()
    assert panel.models_label.text() == f"1 of {len(registry.MODELS)} ready"
    # The popup is wide enough for whole titles, the closed box no wider than the dock.
    assert combo.view().minimumWidth() >= combo.view().sizeHintForColumn(0)
    assert combo.width() <= panel.width()

    # GrabCut runs on the CPU: no device to choose (and torch is not asked about CUDA).
    assert not panel.device_combo.isEnabled()

    qtbot.mouseClick(panel.manager_button, Qt.MouseButton.LeftButton)
    assert window.model_manager is not None and window.model_manager.isVisible()
    window.model_manager.close()


def test_switching_between_a_neural_model_and_grabcut(qtbot, open_window, folder,
                                                      ritm_installed) -> None:
    window = _open(qtbot, open_window(SessionController()), folder)
    panel, controller = window.model_panel, window.controller
    assert not panel.brs_combo.isEnabled() and "RITM and f-BRS" in panel.brs_combo.toolTip()
    assert not panel.zoom_box.isEnabled() and "GrabCut" in panel.zoom_box.toolTip()
    assert not panel.device_combo.isEnabled() and "CPU" in panel.device_combo.toolTip()

    _choose_model(qtbot, window, RITM)
    assert "RITM" in window.engine_label.text()
    assert all(w.isEnabled() for w in (panel.brs_combo, panel.zoom_box, panel.zoom_size_spin,
                                       panel.limit_box, panel.limit_spin, panel.device_combo))
    assert not panel.net_clicks_spin.isEnabled()  # NoBRS: every click reaches the network
    assert panel.net_clicks_spin.text() == "all"
    controller.add_click(*OBJECT, True)
    wait_idle(qtbot, window)
    assert controller.session.view.mask is not None and controller.session.view.mask.any()
    assert ModelSettings.saved()[0].model == RITM

    _choose_model(qtbot, window, "grabcut")  # drops the object (answer: discard)
    assert controller.session.view.clicks == [] and not panel.brs_combo.isEnabled()
    controller.add_click(*OBJECT, True)
    wait_idle(qtbot, window)
    assert controller.session.view.mask is not None and window.errors == []


def test_device_choice(qtbot, open_window, folder, ritm_installed) -> None:
    window = _open(qtbot, open_window(SessionController(model=RITM)), folder)
    panel, controller = window.model_panel, window.controller
    assert panel.device_combo.currentData() == "auto" and panel.device_combo.isEnabled()
    cuda = panel.device_combo.model().item(panel.device_combo.findData("cuda"))
    reason = cuda_unavailable_reason()
    assert cuda.isEnabled() == (reason is None)
    if reason is not None:
        assert reason in cuda.toolTip()
    _pick(panel.device_combo, "cpu")
    wait_idle(qtbot, window)
    assert controller.device == "cpu" and ModelSettings.saved()[0].device == "cpu"
    controller.add_click(*OBJECT, True)
    wait_idle(qtbot, window)
    assert controller.session.view.mask is not None and window.errors == []
    if cuda_unavailable_reason() is not None:  # asked for anyway (the command line can)
        controller.set_device("cuda")
        wait_idle(qtbot, window)
        assert controller.device == "cpu" and panel.device_combo.currentData() == "cpu"
        assert len(window.errors) == 1 and "Still on cpu" in window.errors[0]


def test_options_are_saved_and_restored_in_a_new_window(qtbot, open_window, folder,
                                                         ritm_installed) -> None:
    QSettings().clear()
    window = _open(qtbot, open_window(SessionController()), folder)
    panel = window.model_panel
    _choose_model(qtbot, window, RITM)
    _pick(panel.device_combo, "cpu")
    panel.zoom_size_spin.setValue(600)
    _tick(qtbot, panel.limit_box)  # off
    _pick(panel.brs_combo, "f-BRS-B")
    panel.net_clicks_spin.setValue(3)
    panel.lbfgs_spin.setValue(7)
    _tick(qtbot, panel.taiz_box)
    panel.taiz_full_spin.setValue(4)
    panel.taiz_start_spin.setValue(2)
    _tick(qtbot, panel.proposals_box)
    wait_idle(qtbot, window)
    options = window.controller.options
    assert (options.zoom_target_size, options.max_size, options.brs_mode,
            options.net_clicks_limit, options.lbfgs_max_evals, options.taiz,
            options.taiz_config.blend_start, options.taiz_config.max_clicks) == (
        600, None, "f-BRS-B", 3, 7, True, 2, 4)
    window.close()

    controller, note = restored_controller()  # as the next start does
    assert note is None
    other = _open(qtbot, open_window(controller), folder)
    assert (controller.model_name, controller.device) == (RITM, "cpu")
    assert controller.options == options and controller.proposals_enabled
    panel = other.model_panel
    assert panel.model_combo.currentData() == RITM and panel.device_combo.currentData() == "cpu"
    assert panel.zoom_size_spin.value() == 600 and not panel.limit_box.isChecked()
    assert panel.brs_combo.currentText() == "f-BRS-B" and panel.net_clicks_spin.value() == 3
    assert panel.lbfgs_spin.value() == 7 and panel.taiz_box.isChecked()
    assert (panel.taiz_start_spin.value(), panel.taiz_full_spin.value()) == (2, 4)
    assert panel.proposals_box.isChecked()
    assert isinstance(controller.session.predictor, TAIZPredictor)
    assert isinstance(controller.session.predictor.predictor, FeatureBRSPredictor)
    assert other.errors == []


def test_a_saved_model_that_is_gone_falls_back_to_grabcut_with_a_message(
        qapp, ritm_installed) -> None:
    ModelSettings(model=RITM, device="cuda").save()
    registry.checkpoint_path(registry.MODELS[RITM]).unlink()
    settings, note = ModelSettings.saved()
    assert settings.model == "grabcut"
    assert registry.MODELS[RITM].title in note and "not downloaded" in note
    if cuda_unavailable_reason() is not None:
        assert settings.device == "auto" and "CUDA" in note
    QSettings().setValue("model/name", "a-model-from-an-older-version")
    QSettings().setValue("inference/zoom_target_size", "huge")
    QSettings().setValue("inference/taiz_blend_start", 50)  # after T: not a schedule
    settings, note = ModelSettings.saved()
    assert settings.model == "grabcut" and "not in this version" in note
    assert settings.options.zoom_target_size == InferenceOptions.demo().zoom_target_size
    assert settings.options.taiz_config == InferenceOptions.demo().taiz_config
    controller, note = restored_controller(model="no-such-model", device="cpu")  # the CLI's
    try:
        assert controller.model_name == "grabcut" and controller.device == "cpu"
        assert "no model named 'no-such-model'" in note
    finally:
        controller.shutdown()


def test_options_apply_from_the_next_object(qtbot, monkeypatch, open_window, folder,
                                            ritm_installed) -> None:
    window = _open(qtbot, open_window(SessionController(model=RITM, device="cpu")), folder)
    panel, controller = window.model_panel, window.controller
    controller.add_click(*OBJECT, True)
    wait_idle(qtbot, window)

    monkeypatch.setattr(window, "ask_leave_object", lambda: "stay")
    _pick(panel.brs_combo, "f-BRS-B")
    wait_idle(qtbot, window)
    assert controller.options.brs_mode == "NoBRS" and panel.brs_combo.currentText() == "NoBRS"
    assert len(controller.session.view.clicks) == 1  # the object in progress is kept

    monkeypatch.setattr(window, "ask_leave_object", lambda: "finish")
    _pick(panel.brs_combo, "f-BRS-B")
    wait_idle(qtbot, window)
    assert len(controller.rows.current_objects()) == 1  # finished with the old options
    assert controller.options.brs_mode == "f-BRS-B" and controller.session.view.clicks == []
    assert isinstance(controller.session.predictor, FeatureBRSPredictor)
    assert panel.net_clicks_spin.isEnabled() and panel.net_clicks_spin.value() == 8
    assert "refining" not in window.timing_label.text()  # no click ran yet

    controller.add_click(*OBJECT, True)
    assert window.timing_label.text() == "refining with f-BRS-B…"  # what the wait is for
    wait_idle(qtbot, window)
    monkeypatch.setattr(window, "ask_leave_object", lambda: "discard")
    panel.lbfgs_spin.setValue(5)
    wait_idle(qtbot, window)
    assert controller.options.lbfgs_max_evals == 5 and controller.session.view.clicks == []
    assert len(controller.rows.current_objects()) == 1 and window.errors == []

    # Without an object in progress nothing is asked.
    monkeypatch.setattr(window, "ask_leave_object", lambda: pytest.fail("asked"))
    panel.net_clicks_spin.setValue(3)
    wait_idle(qtbot, window)
    assert controller.options.net_clicks_limit == 3


def test_brs_refines_the_next_clicks(qtbot, open_window, folder, ritm_installed) -> None:
    window = _open(qtbot, open_window(SessionController(model=RITM, device="cpu")), folder)
    panel, controller = window.model_panel, window.controller
    _pick(panel.brs_combo, "f-BRS-B")
    panel.net_clicks_spin.setValue(1)  # the second click acts through the refinement only
    panel.lbfgs_spin.setValue(3)
    wait_idle(qtbot, window)
    assert ModelSettings.saved()[0].options == controller.options
    controller.add_click(*OBJECT, True)
    wait_idle(qtbot, window)
    controller.add_click(150, 335, True)
    wait_idle(qtbot, window)
    assert len(controller.session.view.clicks) == 2 and controller.session.view.mask.any()
    assert window.errors == []


def test_taiz_is_switched_on_by_the_options_alone(qtbot, open_window, folder,
                                                  ritm_installed) -> None:
    window = _open(qtbot, open_window(SessionController(model=RITM, device="cpu")), folder)
    panel, controller = window.model_panel, window.controller
    _tick(qtbot, panel.taiz_box)
    wait_idle(qtbot, window)
    assert controller.options.taiz
    assert controller.session.predictor.name == "ritm+taiz"  # wrapped once
    _pick(panel.brs_combo, "f-BRS-C", Qt.ItemDataRole.UserRole)  # rebuilt: still once
    wait_idle(qtbot, window)
    assert isinstance(controller.session.predictor, TAIZPredictor)
    assert isinstance(controller.session.predictor.predictor, FeatureBRSPredictor)
    _choose_model(qtbot, window, "grabcut")  # TAIZ wraps every engine
    assert controller.session.predictor.name == "grabcut+taiz"
    _tick(qtbot, panel.taiz_box)
    wait_idle(qtbot, window)
    assert not isinstance(controller.session.predictor, TAIZPredictor) and window.errors == []


def test_proposals_switch_is_saved_and_drops_nothing(qtbot, open_window, folder) -> None:
    window = _open(qtbot, open_window(SessionController()), folder)
    panel, controller = window.model_panel, window.controller
    controller.add_click(*OBJECT, True)
    wait_idle(qtbot, window)
    _tick(qtbot, panel.proposals_box)
    assert controller.proposals_enabled and ModelSettings.saved()[0].proposals
    assert len(controller.session.view.clicks) == 1  # applies from the next first click
    _tick(qtbot, panel.proposals_box)
    assert not controller.proposals_enabled and not ModelSettings.saved()[0].proposals


def test_the_model_menu_shows_and_hides_the_dock(qtbot, open_window) -> None:
    window = open_window(SessionController())
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    assert [a.text() for a in menu.actions()] == ["Model &Panel", "Model &Manager…"]
    window.model_panel_action.trigger()
    assert not window.model_dock.isVisible()
    window.model_panel_action.trigger()
    assert window.model_dock.isVisible()


def test_fields_that_do_not_apply_to_focalclick_say_why(qtbot, open_window, folder,
                                                        shared_dir: Path) -> None:
    name = "focalclick-hrnet18s-s2-cclvs"
    shutil.copy(shared_dir / "golden/focalclick/hrnet18s_S2_synthetic.pth",
                registry.checkpoint_path(registry.MODELS[name]))
    window = _open(qtbot, open_window(SessionController(device="cpu")), folder)
    panel = window.model_panel
    _choose_model(qtbot, window, name)
    assert panel.zoom_box.isEnabled() and "target crop" in panel.zoom_box.toolTip()
    assert not panel.zoom_size_spin.isEnabled()
    assert "fixed sizes" in panel.zoom_size_spin.toolTip()
    assert not panel.limit_box.isEnabled() and "LimitLongestSide" in panel.limit_box.toolTip()
    assert not panel.brs_combo.isEnabled() and "no BRS" in panel.brs_combo.toolTip()
    assert panel.taiz_box.isEnabled() and panel.device_combo.isEnabled()
    window.controller.add_click(*OBJECT, True)
    wait_idle(qtbot, window)
    assert window.controller.session.view.mask is not None and window.errors == []
