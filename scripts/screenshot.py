"""Take a real screenshot of Clickmask at work, for the README and for looking at the GUI.

Run it on a (virtual) X screen, e.g.:
    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python scripts/screenshot.py docs/screenshot.png
It opens the bundled samples, segments two objects with clicks (one finished, one in
progress) and grabs the whole X screen, window decorations and all.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QGuiApplication

from annotator.app import create_application
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from resources import SAMPLES_DIR

# (y, x, positive) clicks on the first sample: the orange (GrabCut takes the plate with it
# until a right click on the plate), then the lemon, in progress.
FINISHED = [(300, 250, True), (300, 360, False)]
IN_PROGRESS = [(390, 400, True), (420, 470, False)]


def wait_idle(controller: SessionController, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while ((controller.session.busy or controller.session.image is None)
           and time.monotonic() < deadline):
        QCoreApplication.processEvents()
        time.sleep(0.02)


def main(out: str) -> int:
    app = create_application()
    window = MainWindow(SessionController())
    window.resize(1400, 860)
    window.move(20, 20)
    window.show()
    window.open_folder(SAMPLES_DIR)
    controller = window.controller
    wait_idle(controller)
    for y, x, positive in FINISHED:
        controller.add_click(y, x, positive)
        wait_idle(controller)
    controller.finish_object("orange")
    wait_idle(controller)
    for y, x, positive in IN_PROGRESS:
        controller.add_click(y, x, positive)
        wait_idle(controller)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.02)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    QGuiApplication.primaryScreen().grabWindow(0).save(out)
    controller.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png"))
