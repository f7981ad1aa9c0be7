"""One editor per project: a lock held while a project is open for editing.

Two processes editing one project (two windows, or a window and ``clickmask import``)
would both number their objects 1, 2, ... and the last save would drop the other's work.
The lock is the operating system's (``flock`` on Unix, ``LockFileEx`` on Windows, through
the ``filelock`` package, which has a fallback for file systems without them) on
``<project>.lock``. The system ends the lock with its
process however that ends, so the lock of a process that was killed or crashed is simply
taken by the next one. Beside it, ``<project>.lock.info`` says who holds it (host, process,
since when) for the message of whoever is refused.
"""
from __future__ import annotations

import json
import os
import socket
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from engine.atomic import atomic_write_text
from engine.project_files import ProjectError, holder_path, lock_path, project_location
from engine.regular_file import read_regular_file

# A holder note is a line of JSON; anything larger is not one of ours.
_HOLDER_MAX_BYTES = 4096


@dataclass(frozen=True)
class LockHolder:
    """The process that holds a project's lock."""

    host: str
    pid: int
    since: str  # local time, "YYYY-MM-DD HH:MM:SS"

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}, since {self.since}"

    @classmethod
    def this_process(cls) -> LockHolder:
        return cls(socket.gethostname(), os.getpid(), time.strftime("%Y-%m-%d %H:%M:%S"))

    @classmethod
    def read(cls, path: Path) -> LockHolder | None:
        """The holder a lock holder file names; None when it is missing or unreadable."""
        try:
            record = json.loads(read_regular_file(path, _HOLDER_MAX_BYTES).decode("utf-8"))
        except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return None
        if (not isinstance(record, dict) or not isinstance(record.get("host"), str)
                or type(record.get("pid")) is not int or not isinstance(record.get("since"), str)):
            return None
        return cls(record["host"], record["pid"], record["since"])


class ProjectLocked(ProjectError):
    """The project is open for editing in another process (or by another open project)."""

    def __init__(self, project_path: Path, holder: LockHolder | None) -> None:
        self.project_path = project_path
        self.holder = holder
        who = str(holder) if holder else "which one is unknown"
        super().__init__(f"The project {project_path} is open in another Clickmask ({who}). "
                         "Close it there first: two programs editing one project would "
                         "overwrite each other's objects.")


class ProjectLock:
    """The lock of the project saved at ``project_path``, held until :meth:`release`."""

    def __init__(self, project_path: Path, file_lock: FileLock) -> None:
        self.project_path = project_path
        self._file_lock: FileLock | None = file_lock

    @classmethod
    def acquire(cls, project_path: str | os.PathLike) -> ProjectLock:
        """Take the lock without waiting; raises :class:`ProjectLocked` naming the holder
        when another process (or another open project here) has it, ``OSError`` when the
        lock file cannot be made."""
        project_path = Path(project_path)
        project_path.parent.mkdir(parents=True, exist_ok=True)
        # Not per thread: the GUI takes the lock on one thread and may save on another.
        file_lock = FileLock(lock_path(project_path), thread_local=False)
        try:
            file_lock.acquire(timeout=0)
        except Timeout:
            raise ProjectLocked(project_path, LockHolder.read(holder_path(project_path))) from None
        # Only the message of a refused process depends on this note: a lock without it
        # still locks.
        with suppress(OSError):
            atomic_write_text(holder_path(project_path),
                              json.dumps(asdict(LockHolder.this_process())))
        return cls(project_path, file_lock)

    def release(self) -> None:
        """Let others open the project (nothing happens when it was released already)."""
        if self._file_lock is None:
            return
        with suppress(OSError):
            holder_path(self.project_path).unlink()
        self._file_lock.release()
        self._file_lock = None

    def __deepcopy__(self, memo: dict) -> None:
        # A copy of the project (an export's snapshot) is not the project: it holds no lock.
        return None


def lock_project_location(folder: Path, project_path: str | os.PathLike | None
                          ) -> tuple[Path | None, Path, ProjectLock | None]:
    """:func:`~engine.project_files.project_location` with the lock of the file to save
    held; None when it cannot be made there (a folder that cannot be written: the project
    is saved, and locked, elsewhere). A process saving between the look and the lock can
    change which file is the newest: look again under the lock."""
    for _ in range(3):
        read_from, path = project_location(folder, project_path)
        try:
            held = ProjectLock.acquire(path)
        except OSError:
            return read_from, path, None
        if project_location(folder, project_path) == (read_from, path):
            return read_from, path, held
        held.release()
    raise ProjectError(f"the project of {folder} keeps changing place while it is opened; "
                       "try again")
