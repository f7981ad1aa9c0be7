"""Run by test_hidpi.py in a process of its own with QT_SCALE_FACTOR=2 (Qt reads it once,
at start): reports as JSON what the canvas does at a device pixel ratio of 2."""
from __future__ import annotations

import json
import math

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QEvent, QPointF, QSize, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine import Click
from annotator.canvas import ImageCanvas
from annotator.colors import POSITIVE_CLICK


def _click(canvas: ImageCanvas, pos: QPointF) -> None:
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
        buttons = (Qt.MouseButton.LeftButton if kind == QEvent.Type.MouseButtonPress
                   else Qt.MouseButton.NoButton)
        event = QMouseEvent(kind, pos, canvas.viewport().mapToGlobal(pos),
                            Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas.viewport(), event)


def main() -> None:
    app = QApplication([])
    canvas = ImageCanvas()
    canvas.resize(400, 300)
    canvas.show()
    canvas.set_image(np.zeros((30, 40, 3), np.uint8))
    canvas.zoom(4)  # a few logical pixels per image pixel: boundaries matter
    received: list[tuple[float, float]] = []
    canvas.clicked.connect(lambda y, x, positive: received.append((y, x)))
    expected = []
    to_view = canvas.viewportTransform()
    # Half-logical-pixel positions (whole device pixels) just inside pixel boundaries.
    for y, x in ((10, 12), (15, 20), (3, 7)):
        for dy, dx in ((0.02, 0.02), (0.98, 0.98)):
            pos = to_view.map(QPointF(x + dx, y + dy))
            pos = QPointF(math.floor(pos.x() * 2) / 2, math.floor(pos.y() * 2) / 2)
            scene = to_view.inverted()[0].map(pos)
            expected.append((math.floor(scene.y()), math.floor(scene.x())))
            _click(canvas, pos)
    canvas.set_clicks([Click(15, 20, True)])
    grab = canvas.viewport().grab().toImage()
    green = [x for x in range(grab.width()) for y in range(grab.height())
             if grab.pixelColor(x, y).getRgb()[:3] == POSITIVE_CLICK]
    icon = qta.icon("fa5s.check").pixmap(QSize(16, 16), 2.0)
    print(json.dumps({
        "dpr": canvas.devicePixelRatioF(),
        "received": received, "expected": expected,
        "grab_size": [grab.width(), grab.height()],
        "marker_device_width": max(green) - min(green) + 1 if green else 0,
        "marker_radius": canvas.marker_radius,
        "icon_size": [icon.width(), icon.height()],
    }))
    app.quit()


if __name__ == "__main__":
    main()
