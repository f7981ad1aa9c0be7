"""The real annotator, offscreen, quit with an object in progress.

``python quit_child.py FOLDER`` starts Clickmask as ``clickmask gui FOLDER`` does, clicks the
first image once and quits (File > Quit) while the click may still be predicted, answering
"Discard it" to the question about the unfinished object. It prints ``quit`` just before
quitting; test_quit_gui.py measures how long the process lives after that line.
"""
from __future__ import annotations

import sys
from pathlib import Path


def main(folder: Path) -> int:
    from PySide6.QtCore import QPointF, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from annotator.app import run_gui
    from annotator.main_window import MainWindow

    MainWindow.ask_leave_object = lambda self: "discard"  # the one dialog a user answers here

    def click_then_quit() -> None:
        window = next((w for w in QApplication.topLevelWidgets()
                       if isinstance(w, MainWindow)), None)
        if window is None or window.controller.session.image is None:
            QTimer.singleShot(50, click_then_quit)
            return
        QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton,
                         pos=window.canvas.mapFromScene(QPointF(80.5, 60.5)))
        print("quit", flush=True)
        window.quit_action.trigger()

    QTimer.singleShot(0, click_then_quit)
    return run_gui(folder)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
