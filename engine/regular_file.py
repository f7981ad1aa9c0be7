"""Opening only regular files, for every path that comes from a folder, a project, a
journal or the weights folder.

A plain ``open()`` of a FIFO blocks until a writer appears (for good, if none ever does),
and reading ``/dev/zero`` never ends; either can sit behind an innocent name or a symbolic
link, or be swapped in after a folder was listed. So the file is opened without blocking,
and what was opened is checked on the descriptor itself (not on the path, which may change
in between): anything but a regular file is refused before a single byte is read.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO, Literal

# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; it is cleared
# again once the file is known to be regular. O_NOCTTY: a terminal device never becomes our
# controlling terminal.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = (getattr(os, "O_CLOEXEC", 0) | _NONBLOCK | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_BINARY", 0))
_MODE_FLAGS = {"rb": os.O_RDONLY, "ab": os.O_WRONLY | os.O_APPEND | os.O_CREAT}


class NotRegularFile(OSError):
    """A path that leads to a FIFO, a device, a socket or a folder instead of a file."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class FileTooLarge(OSError):
    """A regular file larger than its reader accepts."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, for a message: "a named pipe (FIFO)", "a folder"..."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def not_regular_error(path: str | os.PathLike, mode: int) -> NotRegularFile:
    """The error for ``path`` being (or leading through a link to) a ``mode`` that is no file."""
    path = Path(path)
    kind = file_kind(mode)
    where = f"it leads to {os.path.realpath(path)}, which is {kind}" if path.is_symlink() \
        else f"it is {kind}"
    code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
    return NotRegularFile(code, f"{where}, not a regular file", str(path))


def open_regular(path: str | os.PathLike, mode: Literal["rb", "ab"] = "rb") -> BinaryIO:
    """Open ``path`` (following symbolic links) if it is a regular file, else raise
    :class:`NotRegularFile`; never blocks on a FIFO. ``"ab"`` creates a missing file.

    Other failures raise the usual ``OSError`` subclasses (``FileNotFoundError``...).
    """
    try:
        fd = os.open(path, _MODE_FLAGS[mode] | _OPEN_FLAGS, 0o666)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO opened for writing with no reader
            raise not_regular_error(path, stat.S_IFIFO) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_regular_error(path, info.st_mode)
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def read_regular_file(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
    """The content of the regular file ``path`` (see :func:`open_regular`).

    ``max_bytes``: a larger file raises :class:`FileTooLarge` before it is read (and one
    that grows while being read, once it passes the limit).
    """
    with open_regular(path) as file:
        if max_bytes is None:
            return file.read()
        size = os.fstat(file.fileno()).st_size
        data = b""
        if size <= max_bytes:
            data = file.read(size + 1)  # sized by the file, not by the limit
            if len(data) > size:  # it grew since: read on, but only up to the limit
                data += file.read(max_bytes + 1 - len(data))
        if size > max_bytes or len(data) > max_bytes:
            raise FileTooLarge(errno.EFBIG, f"it is {_size(max(size, len(data)))}, more than "
                               f"the {_size(max_bytes)} accepted", str(path))
        return data


def _size(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 1e5 else f"{size:,} bytes"
