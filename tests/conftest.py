"""Fixtures shared by the whole suite."""
from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

# Qt must run headless in tests; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only reference material (golden data, datasets) beside the checkout."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"reference material not found at {SHARED_DIR} (../shared beside the repo)")
    return SHARED_DIR


@pytest.fixture(scope="module")
def golden_threads() -> int:
    """Torch threads for a module compared with official recordings: 2, as they were
    recorded, or CLICKMASK_TEST_THREADS (the suite must pass with any count)."""
    import torch

    threads = int(os.environ.get("CLICKMASK_TEST_THREADS", "2"))
    torch.set_num_threads(threads)
    return threads


@pytest.fixture(autouse=True)
def clickmask_home(tmp_path_factory, monkeypatch) -> Path:
    """Keep settings, weights and projects of every test out of the user's directories."""
    home = tmp_path_factory.mktemp("clickmask_home")
    monkeypatch.setenv("CLICKMASK_HOME", str(home))
    # QSettings too: a test that clears or writes settings must not reach another's.
    from PySide6.QtCore import QSettings
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(home / "config"))
    return home


@pytest.fixture(autouse=True)
def collect_qt_garbage(request):
    """After a GUI test, collect its cyclic garbage on this (the GUI) thread. Left to chance,
    the collector may run on an inference worker thread and destroy widgets there, which
    aborts the whole test process."""
    yield
    if request.node.get_closest_marker("gui"):
        gc.collect()


@pytest.fixture
def open_window(qtbot, monkeypatch, request):
    """Factory: a shown main window on ``controller`` whose dialogs answer without a user
    (category ``category``, discard the object in progress, errors kept in ``win.errors``).
    Its worker is stopped at teardown even if the test's own setup fails: a controller
    collected while its thread runs aborts the whole test process."""
    from annotator.main_window import MainWindow  # Qt loads for GUI tests only

    def make(controller, category: str = "thing"):
        win = MainWindow(controller)
        request.addfinalizer(controller.shutdown)
        monkeypatch.setattr(win, "ask_category", lambda: category)
        monkeypatch.setattr(win, "ask_leave_object", lambda: "discard")
        win.errors = []
        monkeypatch.setattr(win, "show_error", win.errors.append)
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        win.activateWindow()
        return win
    return make


@pytest.fixture
def file_server(monkeypatch):
    """Factory: a local HTTP(S) server of ``files`` (URL path -> bytes; ``certificate`` as
    FileServer takes it), closed at teardown. Proxies configured on the machine are
    cleared: the server is on 127.0.0.1."""
    from file_server import FileServer

    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    servers = []

    def make(files: dict[str, bytes], certificate: str | None = None) -> FileServer:
        servers.append(FileServer(files, certificate))
        return servers[-1]
    yield make
    for server in servers:
        server.close()
