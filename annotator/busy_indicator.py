"""A small "the model is working" badge over a corner of the image view."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QAbstractScrollArea, QFrame, QHBoxLayout, QLabel, QProgressBar)

SHOW_DELAY_MS = 250  # quicker jobs finish before the badge shows: no flicker per click
MARGIN = 8  # px from the view's corner


class BusyIndicator(QFrame):
    """Floats over the top-left corner of ``view``'s viewport while ``set_busy`` says so.

    A child of the view, not of its viewport: the viewport scrolls its children when the
    image is panned. Mouse events pass through to the image underneath.
    """

    def __init__(self, view: QAbstractScrollArea) -> None:
        super().__init__(view)
        self.setObjectName("busyIndicator")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("#busyIndicator { background: rgba(20, 20, 20, 190); "
                           "border-radius: 4px; } QLabel { color: white; }")
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # indeterminate: moves while shown
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(48, 8)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.bar)
        row.addWidget(self.label)
        self._view = view
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SHOW_DELAY_MS)
        self._timer.timeout.connect(self._appear)
        self.hide()

    def set_busy(self, busy: bool, text: str = "Working…") -> None:
        """Show ``text`` after a short delay while ``busy``; hide at once when not."""
        self.label.setText(text)
        self.adjustSize()
        if busy:
            if not self.isVisible() and not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()
            self.hide()

    def _appear(self) -> None:
        corner = self._view.viewport().geometry().topLeft()
        self.move(corner.x() + MARGIN, corner.y() + MARGIN)
        self.show()
        self.raise_()
