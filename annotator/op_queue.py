"""The queue of operations on the object in progress, run one at a time on the worker.

Operations run in the order they were asked for; an operation queued right after one it
joins (clicks after clicks) becomes one operation with it. When the user leaves the image
the queue's generation moves on: results of older operations are then settled (a finish is
still stored) but not shown.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Signal

from annotator.session_ops import Finish, Op, WorkerState
from annotator.worker import InferenceWorker

if TYPE_CHECKING:
    from annotator.object_session import ObjectSession


class OpQueue(QObject):
    busy_changed = Signal(bool)

    def __init__(self, host: ObjectSession, state: WorkerState,
                 threshold: Callable[[], float]) -> None:
        super().__init__(host)
        self._host = host
        self.state = state  # the worker's: read on the GUI thread only for diagnostics
        self._threshold = threshold  # read when an operation starts
        self._worker = InferenceWorker(self)
        self._worker.finished.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._pending: list[Op] = []
        self._running: tuple[int, int, Op] | None = None  # job id, generation, operation
        self._generation = 0

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._pending)

    @property
    def ops(self) -> list[Op]:
        """The running operation, then the pending ones, as they will run."""
        return ([self._running[2]] if self._running is not None else []) + self._pending

    @property
    def nothing_queued(self) -> bool:
        """Nothing waits to run (an operation being applied has stopped running)."""
        return not self._pending

    def enqueue(self, op: Op) -> None:
        was_busy = self.busy
        joined = self._pending[-1].joined(op) if self._pending else None
        if joined is not None:
            self._pending[-1] = joined
        else:
            self._pending.append(op)
        if not was_busy:
            self.busy_changed.emit(True)
        self._dispatch()

    def leave_image(self) -> None:
        """Results from now on belong to another image; drop what only the old one needed
        (a finish asked for before leaving still runs, so does a change of predictor)."""
        self._generation += 1
        self._pending = [op for op in self._pending
                         if op.outlives_image or isinstance(op, Finish)]

    def store_requested_finishes(self) -> None:
        """Run the queue up to its last finish, and until that finish is stored."""
        finishes = [index for index, op in enumerate(self._pending) if isinstance(op, Finish)]
        if finishes:
            self._pending = self._pending[:finishes[-1] + 1]
        while self._running is not None and any(isinstance(op, Finish) for op in self.ops):
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents
                                           | QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)

    def shutdown(self) -> None:
        """Store the finishes asked for, drop the rest, stop the worker: nothing is
        reported after this."""
        self.store_requested_finishes()
        self._pending.clear()
        self._worker.shutdown()

    def _dispatch(self) -> None:
        if self._running is not None or not self._pending:
            return
        op = self._pending.pop(0)
        state, threshold = self.state, self._threshold()
        job_id = self._worker.submit(lambda: op.run(state, threshold))
        self._running = (job_id, self._generation, op)

    def _take_running(self, job_id: int) -> tuple[bool, Op]:
        assert self._running is not None and self._running[0] == job_id
        _, generation, op = self._running
        self._running = None
        return generation == self._generation, op

    def _on_done(self, job_id: int, result: object) -> None:
        current, op = self._take_running(job_id)
        op.settle(self._host, result)
        if current:
            op.apply(self._host, result)
        self._next()

    def _on_failed(self, job_id: int, exc: Exception) -> None:
        current, op = self._take_running(job_id)
        op.fail(self._host, exc, current)
        self._next()

    def _next(self) -> None:
        self._dispatch()
        if not self.busy:
            self.busy_changed.emit(False)
