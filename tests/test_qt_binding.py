"""The Qt binding keeps Python's count of references to None (PySide6 6.12.0 on Python 3.11
does not, and the GUI aborts with ``none_dealloc``)."""
from __future__ import annotations

import ctypes
import gc
import sys

import cv2
import numpy as np
import pytest

from annotator.qt_binding import PROBE_CALLS, none_is_immortal, none_refcount_fault

pytestmark = pytest.mark.skipif(
    none_is_immortal(), reason="None is immortal from Python 3.12 on: its count never "
    "changes, so a binding that drops references to it can neither abort Python nor be seen")

SESSION_OBJECTS = 5
# References to None a sound session may drop (garbage of earlier work collected). Measured
# over these 5 objects: PySide6 6.11.3 +475 (stored objects hold references to None),
# 6.12.0 -2,291.
SESSION_SLACK = 200

_decref = ctypes.pythonapi.Py_DecRef
_decref.argtypes, _decref.restype = [ctypes.py_object], None
_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes, _incref.restype = [ctypes.py_object], None


def test_void_qt_calls_keep_the_references_to_none():
    # 100 calls first, then 10,000: a leaking binding is reported after the short run,
    # long before None's count could reach zero and abort the test process.
    fault = none_refcount_fault()
    assert fault is None, fault


@pytest.fixture
def leaking_call():
    """A void call as PySide6 6.12.0 makes it on Python 3.11: one reference to None lost per
    call (given back at teardown); ``leaking_call.calls`` counts the calls."""
    calls = []

    def call() -> None:
        calls.append(True)
        _decref(None)

    call.calls = calls
    yield call
    for _ in calls:
        _incref(None)


def test_a_leaking_call_is_caught_by_the_short_run_and_named(leaking_call):
    fault = none_refcount_fault(leaking_call)
    assert len(leaking_call.calls) == PROBE_CALLS  # the long run was not started
    assert fault is not None
    assert f"{PROBE_CALLS} lost in {PROBE_CALLS} calls" in fault
    assert "PySide6-Essentials<6.12" in fault and sys.version.split()[0] in fault


def test_the_self_test_fails_naming_a_leaking_binding(leaking_call, monkeypatch, capsys):
    from annotator import qt_binding
    from annotator.selftest import run_self_test

    monkeypatch.setattr(qt_binding, "_void_qt_call", lambda: leaking_call)
    assert run_self_test() == 1
    assert "leaks references to None" in capsys.readouterr().err


@pytest.mark.gui
def test_a_click_finish_next_session_keeps_the_references_to_none(qtbot, open_window,
                                                                  tmp_path):
    from PySide6.QtCore import Qt

    from annotator.controller import SessionController
    from gui_actions import click_image, open_folder, press_key

    image = np.full((48, 64, 3), 40, np.uint8)
    cv2.circle(image, (32, 24), 12, (60, 170, 230), -1)
    for index in range(SESSION_OBJECTS + 2):
        cv2.imwrite(str(tmp_path / f"img{index:02d}.png"), image)
    win = open_window(SessionController())
    open_folder(qtbot, win, tmp_path)

    def annotate_and_go_on() -> None:
        index = win.controller.current_index
        click_image(qtbot, win, 24, 32)
        press_key(qtbot, win, Qt.Key.Key_Return)
        press_key(qtbot, win, Qt.Key.Key_D)  # the next image
        qtbot.waitUntil(lambda: win.controller.current_index == index + 1
                        and win.controller.session.image is not None and not win.controller.session.busy)

    annotate_and_go_on()  # caches, icons and first-use allocations are made here
    gc.collect()
    before = sys.getrefcount(None)
    for _ in range(SESSION_OBJECTS):
        annotate_and_go_on()
    gc.collect()
    # A session only adds references to None (the objects it stores hold some); a leaking
    # binding loses one per void Qt call, hundreds per object.
    assert sys.getrefcount(None) >= before - SESSION_SLACK
    assert win.errors == [] and len(win.controller.rows.project.images["img05.png"].objects) == 1
