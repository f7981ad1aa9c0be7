"""File hashes and the record of hashes trusted on first use.

No published checksum exists for any released click-model checkpoint. Where a copy of a
file is committed in a public git repository its git blob id is known, and a file whose
blob id matches is byte-identical to that copy. For every other file the SHA-256 seen on
first download (or import) is recorded here and every later check compares against it:
that proves the file has not changed since, not that the first copy was genuine.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.paths import data_dir
from engine.regular_file import open_regular, read_regular_file

_CHUNK = 1 << 20
RECORD_FILE = "weights-hashes.json"


@dataclass(frozen=True)
class FileHashes:
    """Digests of one file, computed in a single pass."""

    size: int
    sha256: str
    git_blob: str  # what ``git hash-object FILE`` prints


def hash_file(path: str | os.PathLike) -> FileHashes:
    """SHA-256 and git blob SHA-1 of ``path``."""
    with open_regular(path) as file:
        size = os.fstat(file.fileno()).st_size
        sha256 = hashlib.sha256()
        blob = hashlib.sha1(b"blob %d\0" % size)  # git's object header, then the content
        while chunk := file.read(_CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return FileHashes(size, sha256.hexdigest(), blob.hexdigest())


@dataclass(frozen=True)
class TrustRecord:
    """A file's SHA-256 as first seen, where it came from, and when the file was last
    checked (size and modification time then, so unchanged files need no rehash to list)."""

    sha256: str
    size: int
    source: str
    recorded: str  # ISO date-time (UTC) of the first download or import
    checked_mtime_ns: int = 0


def records_path() -> Path:
    return data_dir() / RECORD_FILE


def load_records() -> dict[str, TrustRecord]:
    """File name -> its record; an unreadable record file counts as empty (nothing trusted)."""
    try:
        raw = json.loads(read_regular_file(records_path()).decode("utf-8"))
        return {name: TrustRecord(**fields) for name, fields in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def save_record(file_name: str, record: TrustRecord) -> None:
    records = load_records()
    records[file_name] = record
    atomic_write_text(records_path(), json.dumps(
        {name: asdict(rec) for name, rec in sorted(records.items())}, indent=2) + "\n")


def new_record(hashes: FileHashes, source: str, mtime_ns: int) -> TrustRecord:
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return TrustRecord(hashes.sha256, hashes.size, source, now, mtime_ns)
