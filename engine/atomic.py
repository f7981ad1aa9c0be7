"""Crash-safe file replacement: a reader sees the old file or the new one, never half of one.

Only regular files are replaced. A symbolic link is written through: its final target is
replaced, the link stays. A device, FIFO, socket or folder at the path is refused with
:class:`~engine.regular_file.NotRegularFile` (an ``OSError``), never replaced by a file:
``-o /dev/full`` run as root must not turn the device node into a file.

The new file keeps the mode (and, where allowed, the owner) of the file it replaces; a new
file gets the mode any program would give it, ``0666`` less the umask.
"""
from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from engine.regular_file import not_regular_error

# Temporary names are the prefix, 8 random characters of these, and the suffix (as
# tempfile.mkstemp makes them), so that leftovers of a killed process are recognisable.
_TEMPORARY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TEMPORARY_SUFFIX = ".tmp"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``'s target, fsync it, then rename
    it over the target (see the module docstring)."""
    target = Path(os.path.realpath(path))
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise not_regular_error(path, existing.st_mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _create_temporary(target, private=existing is not None)
    try:
        with os.fdopen(fd, "wb") as tmp:
            if existing is not None:
                _copy_ownership(tmp.fileno(), existing)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def temporary_files(directory: str | os.PathLike, names: list[str]) -> list[Path]:
    """The temporary files that writes of the files ``names`` of ``directory`` left there
    when they were killed before their rename.

    Only names :func:`atomic_write_bytes` gives (the prefix, 8 random letters, digits or
    underscores, the suffix) are listed. Another process writing one of the files right now
    has one too: remove them only while nobody else can be writing them.
    """
    directory = Path(directory)
    prefixes = "|".join(re.escape(_temporary_prefix(directory / name)) for name in names)
    pattern = re.compile(f"(?:{prefixes})[a-z0-9_]{{8}}{re.escape(_TEMPORARY_SUFFIX)}")
    try:
        entries = list(os.scandir(directory))  # one pass: the folder may hold 100k images
    except OSError:
        return []
    return [Path(entry.path) for entry in entries
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)]


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."  # hidden, and named after the file it replaces


def _create_temporary(target: Path, private: bool) -> tuple[int, str]:
    # A new file is created 0666 and the kernel applies the umask (or the folder's default
    # ACL), as for any file a program creates. A replacement starts private and gets the
    # old file's mode once opened, so a private file is never readable in between.
    mode = 0o600 if private else 0o666
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    while True:
        token = "".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(8))
        name = str(target.parent / f"{_temporary_prefix(target)}{token}{_TEMPORARY_SUFFIX}")
        try:
            return os.open(name, flags, mode), name
        except FileExistsError:
            continue


def _copy_ownership(fd: int, existing: os.stat_result) -> None:
    """Give the temporary file the replaced file's owner, group and mode, as far as allowed.

    The owner first: changing it may clear set-id bits that the mode then restores."""
    info = os.fstat(fd)
    if hasattr(os, "fchown") and (existing.st_uid, existing.st_gid) != (info.st_uid,
                                                                          info.st_gid):
        try:
            os.fchown(fd, existing.st_uid, existing.st_gid)  # only root may give a file away
        except PermissionError:
            try:
                os.fchown(fd, -1, existing.st_gid)  # a member may give it to the group
            except PermissionError:
                pass
    if os.chmod in os.supports_fd:
        os.chmod(fd, stat.S_IMODE(existing.st_mode))


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
