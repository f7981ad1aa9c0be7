"""Long jobs (export, ...) on a background thread with progress and cancel."""
from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal

ProgressCallback = Callable[[int, int], None]


class BackgroundJob(QThread):
    """Runs ``work(progress, cancel_event)`` off the GUI thread and reports back by signals."""

    progressed = Signal(int, int)  # done, total
    succeeded = Signal(object)
    failed = Signal(object)  # the exception (cancellation included)

    def __init__(self, work: Callable[[ProgressCallback, threading.Event], Any], parent=None
                 ) -> None:
        super().__init__(parent)
        self._work = work
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        try:
            result = self._work(self.progressed.emit, self.cancel_event)
        except Exception as exc:  # shown to the user by whoever started the job
            self.failed.emit(exc)
        else:
            self.succeeded.emit(result)
