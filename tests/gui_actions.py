"""What GUI tests do to a main window: open a folder, click the image, press a key, and wait
until the inference worker is idle before looking at the result."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from PySide6.QtCore import QPointF, Qt

# Generous for a loaded machine (a neural model's first click included); a passing test
# never waits it out.
WAIT_MS = 120_000


def wait_idle(qtbot, win) -> None:
    qtbot.waitUntil(lambda: not win.controller.session.busy, timeout=WAIT_MS)


def open_folder(qtbot, win, folder: Path) -> None:
    """Open ``folder`` in ``win`` and wait until its first image is shown."""
    assert win.open_folder(folder)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=WAIT_MS)
    wait_idle(qtbot, win)


def click_image(qtbot, win, y: float, x: float, positive: bool = True) -> None:
    """Click image pixel (y, x) on the canvas (left: positive, right: negative) and wait."""
    pos = win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
    button = Qt.MouseButton.LeftButton if positive else Qt.MouseButton.RightButton
    qtbot.mouseClick(win.canvas.viewport(), button, pos=pos)
    wait_idle(qtbot, win)


def press_key(qtbot, win, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Press ``key`` on the canvas (where annotation keys go) and wait."""
    qtbot.keyClick(win.canvas, key, modifier)
    wait_idle(qtbot, win)


DISK_CENTER = (60, 80)  # y, x of the bright disk of write_disk_images


def write_disk_images(folder: Path, names: tuple[str, ...] = ("a.png", "b.png")) -> Path:
    """Write 200x160 images of one bright disk at :data:`DISK_CENTER` into ``folder``."""
    image = np.full((160, 200, 3), 50, np.uint8)
    cv2.circle(image, (DISK_CENTER[1], DISK_CENTER[0]), 30, (40, 160, 230), -1)
    for name in names:
        cv2.imwrite(str(folder / name), image)
    return folder
