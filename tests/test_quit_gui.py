"""Quitting with an object in progress: "Discard it" discards it (nothing offered at the next
start, no error), "Finish it" stores it, and the process ends at once."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QPointF, Qt

from engine.annotations import PROJECT_FILE_NAME, Project
from engine.journal import replay
from annotator.controller import SessionController
from gui_actions import DISK_CENTER, click_image, open_folder, write_disk_images

pytestmark = pytest.mark.gui

CENTER = DISK_CENTER
CHILD = Path(__file__).with_name("quit_child.py")
# The process must end within a second of the quit; this bound only separates that from a
# hang (it was 40-60 s, or for good offscreen) on a slow, shared machine.
EXIT_BOUND_S = 15


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_disk_images(tmp_path)


def _click_without_waiting(qtbot, win) -> None:
    pos = win.canvas.mapFromScene(QPointF(CENTER[1] + 0.5, CENTER[0] + 0.5))
    qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def _offered_after_reopening(folder: Path):
    """The object in progress the next start would offer back (None: nothing)."""
    return replay(Project.open_folder(folder)).in_progress


@pytest.mark.parametrize("predicting", [False, True], ids=["idle", "while-predicting"])
def test_quit_discarding_the_object_in_progress(qtbot, open_window, folder, predicting):
    win = open_window(SessionController())
    open_folder(qtbot, win, folder)
    if predicting:  # quit before the click's prediction came back
        _click_without_waiting(qtbot, win)
        assert win.controller.session.busy
    else:
        click_image(qtbot, win, *CENTER)
    assert win.close()  # answers "Discard it"
    QCoreApplication.processEvents()  # whatever the worker still reports
    assert win.errors == []
    assert _offered_after_reopening(folder) is None


def test_quit_finishing_the_object_in_progress_stores_it(qtbot, open_window, folder,
                                                         monkeypatch):
    win = open_window(SessionController(), category="disk")
    monkeypatch.setattr(win, "ask_leave_object", lambda: "finish")
    open_folder(qtbot, win, folder)
    _click_without_waiting(qtbot, win)  # still predicting when the finish is asked
    assert win.close()
    QCoreApplication.processEvents()
    assert win.errors == []
    [obj] = Project.load(folder / PROJECT_FILE_NAME).images["a.png"].objects
    assert obj.mask[CENTER]
    assert _offered_after_reopening(folder) is None


def test_the_process_ends_soon_after_quit_with_an_object_discarded(folder, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).parents[1])}
    child = subprocess.Popen([sys.executable, str(CHILD), str(folder)], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "quit", child.stderr.read()
        quit_at = time.monotonic()
        child.wait(EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        pytest.fail(f"the process still ran {EXIT_BOUND_S} s after the quit: "
                    f"{child.stderr.read()[-2000:]}")
    stderr = child.stderr.read()
    assert child.returncode == 0, stderr
    assert time.monotonic() - quit_at < EXIT_BOUND_S
    assert "Traceback" not in stderr
    assert _offered_after_reopening(folder) is None
