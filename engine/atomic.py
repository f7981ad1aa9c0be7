"""Crash-safe file replacement: a reader sees the old file or the new one, never half of one."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_TEMPORARY_SUFFIX = ".tmp"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=_TEMPORARY_SUFFIX,
                                    dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def temporary_files(directory: str | os.PathLike, names: list[str]) -> list[Path]:
    """The temporary files that writes of the files ``names`` of ``directory`` left there
    when they were killed before their rename.

    Only names :func:`atomic_write_bytes` gives (``mkstemp``: the prefix, 8 random letters,
    digits or underscores, the suffix) are listed. Another process writing one of the files
    right now has one too: remove them only while nobody else can be writing them.
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
