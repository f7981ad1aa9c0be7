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
        self._runner.done.connect(self._report_done)
        self._runner.failed.connect(self._report_failed)
        self._thread.start()
        self._next_id = 0
        self._stopped = False

    def submit(self, job: Callable[[], Any]) -> int:
        """Queue ``job`` for the worker thread; returns its id (echoed by the signals)."""
        self._next_id += 1
        self._submit.emit(self._next_id, job)
        return self._next_id

    def shutdown(self) -> None:
        """Let the running job finish, then stop the thread. Nothing is reported after this:
        the caller has stopped (its journal closed), and a result it applied now would
        reach a closed file."""
        self._stopped = True
        self._thread.quit()
        self._thread.wait()

    # Queued into the thread of this object: they run after the job, possibly after shutdown.
    @Slot(int, object)
    def _report_done(self, job_id: int, result: object) -> None:
        if not self._stopped:
            self.finished.emit(job_id, result)

    @Slot(int, object)
    def _report_failed(self, job_id: int, exc: Exception) -> None:
        if not self._stopped:
            self.failed.emit(job_id, exc)
