"""The real annotator, offscreen, clicking through a plan in a process that gets killed.

``python journal_gui_crash_child.py FOLDER SEED`` opens FOLDER in the main window (GrabCut,
the default model) and works through :func:`gui_plan` (SEED's steps) with the window's
own widgets and actions, driven by a QTimer: clicks on the canvas, Undo, Reset Object and
Finish Object. It prints ``ready`` once the image is shown and ``step N`` once step N's
result is shown (the controller idle), which is after its journal record is on disk.
The test (test_journal_gui_crash.py) kills it with SIGKILL and reopens its work.
"""
from __future__ import annotations

import sys
from pathlib import Path

from journal_crash_child import plan, state_after


def gui_plan(seed: int) -> list[tuple]:
    """:func:`plan` for the GUI: no "save" step (the GUI saves after every finish), and
    every finish has a positive click in progress, since the GUI does not finish an empty
    mask (GrabCut's mask always holds a positive click's pixel)."""
    steps: list[tuple] = []
    for step in plan(seed):
        if step[0] == "save":
            continue
        in_progress, _ = state_after(steps, len(steps))
        if step[0] == "finish" and not any(click[2] for click in in_progress):
            steps.append(("click", 45, 60, True))
        steps.append(step)
    return steps


def main(folder: Path, seed: int) -> int:
    from PySide6.QtCore import QPointF, Qt, QTimer
    from PySide6.QtTest import QTest

    from annotator.app import create_application
    from annotator.controller import SessionController
    from annotator.main_window import MainWindow

    app = create_application()
    window = MainWindow(SessionController())
    category = {"name": ""}
    # The dialogs a user would answer: the plan's category; never restore a killed
    # round's clicks (the test restores and checks them itself before the next round).
    window.ask_category = lambda: category["name"]
    window.ask_restore = lambda state: False
    window.show()
    controller = window.controller
    steps = iter(enumerate(gui_plan(seed), start=1))
    done = {"number": None}

    def act(step: tuple) -> None:
        if step[0] == "click":
            _, y, x, positive = step
            button = Qt.MouseButton.LeftButton if positive else Qt.MouseButton.RightButton
            viewport = window.canvas.viewport()
            QTest.mouseClick(viewport, button, pos=window.canvas.mapFromScene(
                QPointF(x + 0.5, y + 0.5)))
        elif step[0] == "undo":
            window.undo_action.trigger()
        elif step[0] == "reset":
            window.reset_action.trigger()
        else:
            category["name"] = step[1]
            window.finish_action.trigger()

    def tick() -> None:
        if controller.session.busy or controller.session.image is None:
            QTimer.singleShot(2, tick)
            return
        if done["number"] is None:
            print("ready", flush=True)
        else:
            print(f"step {done['number']}", flush=True)
        number, step = next(steps)
        act(step)
        done["number"] = number
        QTimer.singleShot(0, tick)

    window.open_folder(folder)
    QTimer.singleShot(0, tick)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2])))
