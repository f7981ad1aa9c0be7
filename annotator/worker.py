"""One background thread that runs inference jobs in order, off the GUI thread."""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot


class _Runner(QObject):
    done = Signal(int, object)
    failed = Signal(int, object)

    @Slot(int, object)
    def run(self, job_id: int, job: Callable[[], Any]) -> None:
        try:
            result = job()
        except Exception as exc:  # reported to the GUI; the thread keeps serving
            self.failed.emit(job_id, exc)
        else:
            self.done.emit(job_id, result)


class InferenceWorker(QObject):
    """Runs callables on a dedicated thread, one at a time, in submission order.

    Everything that touches the session or the predictor goes through here, so the
    session is only ever used from one thread and the GUI thread never waits for a model.
    """

    finished = Signal(int, object)  # job id, result
    failed = Signal(int, object)  # job id, exception
    _submit = Signal(int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("clickmask-inference")
        self._runner = _Runner()
        self._runner.moveToThread(self._thread)
        self._submit.connect(self._runner.run)
        self._runner.done.connect(self.finished)
        self._runner.failed.connect(self.failed)
        self._thread.start()
        self._next_id = 0

    def submit(self, job: Callable[[], Any]) -> int:
        """Queue ``job`` for the worker thread; returns its id (echoed by the signals)."""
        self._next_id += 1
        self._submit.emit(self._next_id, job)
        return self._next_id

    def shutdown(self) -> None:
        """Let the running job finish, then stop the thread."""
        self._thread.quit()
        self._thread.wait()
