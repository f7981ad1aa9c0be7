"""The model manager dialog and the first-run path to it, driven with pytest-qt."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from annotator.controller import SessionController
from annotator.main_window import MainWindow
from annotator.model_manager import COLUMNS, ModelManagerDialog
from file_server import FileServer, git_blob_id
from weights import MODELS, checkpoint_path
from weights.download import part_path
from weights.registry import engine_unavailable_reason

pytestmark = pytest.mark.gui

RITM = "ritm-hrnet18s-cocolvis-itm"
RITM_FILE = "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth"
SEGFORMER_FILE = "golden/focalclick/segformerB0_S2_synthetic.pth"


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(ModelManagerDialog, "show_error", lambda self, text: shown.append(text))
    return shown


@pytest.fixture
def window(monkeypatch, open_window, errors):
    win = open_window(SessionController(), category="ball")
    monkeypatch.setattr(win, "show_error", errors.append)  # one list with the dialog's
    yield win
    if win.model_manager is not None:
        win.model_manager.stop()


@pytest.fixture
def server(file_server, shared_dir: Path) -> FileServer:
    return file_server({"/ritm.pth": (shared_dir / RITM_FILE).read_bytes()})


@pytest.fixture
def served_ritm(monkeypatch, server, shared_dir: Path):
    """The HRNet-18s entry downloading the golden file (its git blob id by git itself)."""
    entry = dataclasses.replace(MODELS[RITM], git_blob=git_blob_id(shared_dir / RITM_FILE),
                                download_url=server.url("/ritm.pth"))
    monkeypatch.setitem(MODELS, RITM, entry)
    return entry


def _row(dialog: ModelManagerDialog, name: str) -> dict[str, str]:
    row = [entry.name for entry in dialog._entries].index(name)
    return {title: dialog.table.item(row, column).text()
            for column, title in enumerate(COLUMNS)}


def _wait_idle(qtbot, dialog: ModelManagerDialog) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=20000)


def test_first_run_names_the_embedded_engine_and_opens_the_manager_in_one_click(
        qtbot, window: MainWindow) -> None:
    assert window.engine_label.text() == "Engine: GrabCut (embedded)"
    button = window.get_models_button
    assert button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = window.model_manager
    assert dialog is not None and dialog.isVisible()
    assert "Active engine: GrabCut (embedded)" in dialog.intro.text()
    assert "trust on first use" in dialog.intro.text()
    assert dialog.table.rowCount() == 20
    assert _row(dialog, RITM)["Status"] == "not downloaded"
    assert window.model_manager_action.isEnabled()
    assert "Model &Manager" in window.model_manager_action.text()


def test_entries_whose_engine_is_missing_are_greyed_with_the_reason(window: MainWindow) -> None:
    dialog = window.open_model_manager()
    dialog.select("fbrs-resnet34-sbd")
    assert not dialog.use_button.isEnabled()  # not downloaded
    for row, entry in enumerate(dialog._entries):
        reason = engine_unavailable_reason(entry)
        details = dialog.table.item(row, COLUMNS.index("Details")).text()
        grey = dialog.table.item(row, 0).foreground().color().name() == "#8a8a8a"
        assert grey == (reason is not None)
        assert details.startswith(f"Cannot run yet: {reason}") == (reason is not None)
    manual = "focalclick-hrnet18s-s1-cclvs"
    assert _row(dialog, manual)["Details"].startswith("No direct link")
    row = [entry.name for entry in dialog._entries].index(manual)
    assert "drive.google.com" in dialog.table.item(row, 0).toolTip()
    dialog.select("focalclick-hrnet18s-s1-cclvs")
    assert not dialog.download_button.isEnabled()  # published only in a shared folder
    assert "browser" in dialog.download_button.toolTip()


def test_download_with_progress_then_the_model_is_in_the_model_panel(
        qtbot, window: MainWindow, served_ritm, errors) -> None:
    dialog = window.open_model_manager()
    assert not window.model_panel.model_item(RITM).isEnabled()
    dialog.select(RITM)
    assert dialog.download_button.isEnabled() and not dialog.verify_button.isEnabled()
    progress: list[tuple[int, int]] = []
    with qtbot.waitSignal(dialog.weights_changed, timeout=20000):
        job = dialog.download_selected()
        job.progressed.connect(lambda done, total: progress.append((done, total)))
    _wait_idle(qtbot, dialog)
    assert errors == []
    assert progress and progress[-1][0] == progress[-1][1] > 0
    assert _row(dialog, RITM)["Status"] == "verified"
    assert "verified" in dialog.message.text()
    assert window.model_panel.model_item(RITM).isEnabled()
    assert not window.get_models_button.isVisible()
    dialog.select(RITM)
    assert dialog.verify_button.isEnabled() and not dialog.download_button.isEnabled()
    dialog.verify_selected()
    _wait_idle(qtbot, dialog)
    assert _row(dialog, RITM)["Status"] == "verified" and errors == []
    with qtbot.waitSignal(window.controller.model_changed, timeout=20000):
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert window.controller.model_name == RITM
    assert "RITM" in dialog.intro.text() and "RITM" in window.engine_label.text()


def test_cancel_keeps_the_part_and_the_next_download_resumes(
        qtbot, window: MainWindow, served_ritm, server, errors) -> None:
    server.behaviour.trickle = 0.01
    dialog = window.open_model_manager()
    dialog.select(RITM)
    job = dialog.download_selected()
    got_bytes = []
    job.progressed.connect(lambda done, total: got_bytes.append(done))
    qtbot.waitUntil(lambda: any(got_bytes), timeout=10000)
    assert dialog.cancel_button.isVisible() and not dialog.import_button.isEnabled()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, dialog)
    assert errors == []
    assert "cancelled" in dialog.message.text()
    part = part_path(checkpoint_path(served_ritm))
    assert part.exists() and _row(dialog, RITM)["Status"] == "partly downloaded"
    kept = part.stat().st_size
    server.behaviour.trickle = 0.0
    dialog.select(RITM)
    dialog.download_selected()
    _wait_idle(qtbot, dialog)
    assert server.behaviour.ranges[-1] == f"bytes={kept}-"
    assert _row(dialog, RITM)["Status"] == "verified"


def test_a_failed_download_is_shown(qtbot, window: MainWindow, served_ritm, server,
                                    errors) -> None:
    server.files.clear()
    dialog = window.open_model_manager()
    dialog.select(RITM)
    dialog.download_selected()
    _wait_idle(qtbot, dialog)
    assert len(errors) == 1 and "HTTP error 404" in errors[0]
    assert _row(dialog, RITM)["Status"] == "not downloaded"


def test_import_a_local_file_identified_by_content(qtbot, window: MainWindow, shared_dir: Path,
                                                   monkeypatch, errors) -> None:
    dialog = window.open_model_manager()
    source = shared_dir / SEGFORMER_FILE
    monkeypatch.setattr(dialog, "ask_import_path", lambda: str(source))
    with qtbot.waitSignal(dialog.weights_changed, timeout=20000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, dialog)
    assert errors == []
    name = "focalclick-segformerb0-s2-cclvs"
    assert "is a FocalClick SegFormer-B0 S2 checkpoint" in dialog.message.text()
    assert "SHA-256" in dialog.message.text()
    assert _row(dialog, name)["Status"] == "unchanged since first use"
    assert dialog.selected_entry().name == name

    monkeypatch.setattr(dialog, "ask_import_path", lambda: str(shared_dir / RITM_FILE))
    dialog.choose_import()
    _wait_idle(qtbot, dialog)
    assert len(errors) == 1 and "not the released coco_lvis_h18s_itermask.pth" in errors[0]


def test_an_ambiguous_import_asks_which_model(qtbot, window: MainWindow, shared_dir: Path,
                                              monkeypatch, errors) -> None:
    b0 = MODELS["focalclick-segformerb0-s2-cclvs"]
    twin = dataclasses.replace(b0, name="twin", checkpoint="twin.pth", title="Twin")
    monkeypatch.setitem(MODELS, twin.name, twin)
    dialog = window.open_model_manager()
    asked: list[list[str]] = []

    def choose(text, candidates):
        asked.append([entry.name for entry in candidates])
        return twin

    monkeypatch.setattr(dialog, "ask_entry", choose)
    dialog.import_path(shared_dir / SEGFORMER_FILE)
    qtbot.waitUntil(lambda: checkpoint_path(twin).exists(), timeout=20000)
    _wait_idle(qtbot, dialog)
    assert asked == [[b0.name, twin.name]] and errors == []
    assert b0.needs_download and _row(dialog, "twin")["Status"] == "unchanged since first use"
