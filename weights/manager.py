"""What the model manager (GUI dialog and ``clickmask weights``) does with registry entries:
say what is on disk, download, verify, and import a local file identified by its content."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from stat import S_ISREG

from engine.regular_file import not_regular_error, open_regular
from weights.download import (ChecksumMismatch, DownloadError, ProgressCallback, download,
                              part_path)
from weights.integrity import (FileHashes, TrustRecord, hash_file, load_records, new_record,
                               records_path, save_record)
from weights.registry import MODELS, ModelEntry, checkpoint_path


class State(Enum):
    NOT_DOWNLOADED = "not downloaded"
    PARTIAL = "partly downloaded"
    DOWNLOADED = "downloaded, not checked"
    VERIFIED = "verified"  # git blob id matches the public copy
    TRUSTED = "unchanged since first use"  # SHA-256 matches the one recorded on first use
    CHANGED = "CHANGED"  # differs from the known or recorded hash
    WRONG_FILE = "wrong file"  # not a checkpoint of this entry's model


@dataclass(frozen=True)
class EntryStatus:
    """What is on disk for one entry; ``detail`` explains the state to a user."""

    entry: ModelEntry
    state: State
    size: int  # bytes on disk (of the part file when PARTIAL)
    detail: str
    sha256: str | None = None


class ImportRefused(Exception):
    """A local file that cannot be registered; the message says why."""


class AmbiguousImport(ImportRefused):
    """The content fits several entries (same network, other training data): name one."""

    def __init__(self, message: str, candidates: list[ModelEntry]) -> None:
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True)
class ImportResult:
    entry: ModelEntry
    title: str  # what the file's content says it is
    status: EntryStatus
    already_present: bool


def downloadable_entries() -> list[ModelEntry]:
    """Entries with a checkpoint file (every one but the embedded default)."""
    return [entry for entry in MODELS.values() if entry.checkpoint]


def entry_status(entry: ModelEntry, rehash: bool = False) -> EntryStatus:
    """The entry's state. A file checked before and unchanged since (same size and
    modification time) keeps its result without rehashing unless ``rehash``."""
    path = checkpoint_path(entry)
    if not path.exists():
        part = part_path(path)
        if part.exists():
            size = part.stat().st_size
            return EntryStatus(entry, State.PARTIAL, size,
                               f"{_mb(size)} kept; the next download resumes it")
        return EntryStatus(entry, State.NOT_DOWNLOADED, 0, _source_line(entry))
    stat = path.stat()
    if not S_ISREG(stat.st_mode):  # hashing a FIFO would wait forever, a device read forever
        return EntryStatus(entry, State.WRONG_FILE, 0,
                           f"{not_regular_error(path, stat.st_mode).strerror}; delete it "
                           "and download or import the checkpoint again")
    record = load_records().get(entry.checkpoint)
    if (not rehash and record is not None and record.size == stat.st_size
            and record.checked_mtime_ns == stat.st_mtime_ns):
        return _judge(entry, None, record, stat.st_size)
    if not rehash:
        return EntryStatus(entry, State.DOWNLOADED, stat.st_size,
                           "present; run Verify to check its hash")
    hashes = hash_file(path)
    status = _judge(entry, hashes, record, stat.st_size)
    if status.state in (State.VERIFIED, State.TRUSTED):
        base = record or new_record(hashes, "found in the weights folder", stat.st_mtime_ns)
        save_record(entry.checkpoint, TrustRecord(base.sha256, base.size, base.source,
                                                  base.recorded, stat.st_mtime_ns))
    return status


def verify_entry(entry: ModelEntry) -> EntryStatus:
    """Rehash the entry's file and compare it with the known or recorded hash. A file with
    neither is recorded now (trust on first use), and the detail says so."""
    path = checkpoint_path(entry)
    if not path.is_file():
        return entry_status(entry)
    record = load_records().get(entry.checkpoint)
    if record is None and not entry.git_blob:
        hashes = hash_file(path)
        try:  # nothing vouches for this file but its content
            _check_content(entry, path, ImportRefused)
        except ImportRefused as exc:
            return EntryStatus(entry, State.WRONG_FILE, hashes.size, str(exc), hashes.sha256)
        save_record(entry.checkpoint, new_record(hashes, "found in the weights folder",
                                                 path.stat().st_mtime_ns))
        return EntryStatus(entry, State.TRUSTED, hashes.size,
                           f"first check: SHA-256 {hashes.sha256} recorded now (no published "
                           "hash exists; later checks prove it is unchanged, not genuine)",
                           hashes.sha256)
    return entry_status(entry, rehash=True)


def _judge(entry: ModelEntry, hashes: FileHashes | None, record: TrustRecord | None,
           size: int) -> EntryStatus:
    """Compare fresh ``hashes`` (None: the cached check of an unchanged file) with the git
    blob id the registry knows, else with the SHA-256 recorded on first use."""
    sha256 = hashes.sha256 if hashes else record.sha256
    if entry.git_blob:
        if hashes is None or hashes.git_blob == entry.git_blob:
            return EntryStatus(entry, State.VERIFIED, size,
                               "identical to the published file (git blob id "
                               f"{entry.git_blob[:12]}…)", sha256)
        return EntryStatus(entry, State.CHANGED, size,
                           f"not the published file: git blob id {hashes.git_blob}, expected "
                           f"{entry.git_blob}; delete it and download again", sha256)
    if record is None:
        return EntryStatus(entry, State.DOWNLOADED, size, "present; no hash recorded yet")
    if sha256 != record.sha256:
        return EntryStatus(entry, State.CHANGED, size,
                           f"changed since first use: SHA-256 {sha256}, recorded "
                           f"{record.sha256} on {record.recorded[:10]}", sha256)
    return EntryStatus(entry, State.TRUSTED, size,
                       f"SHA-256 {record.sha256} recorded on first use "
                       f"({record.recorded[:10]}, {record.source}); no published hash exists",
                       sha256)


def fetch_entry(entry: ModelEntry, progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None, url: str | None = None) -> EntryStatus:
    """Download the entry's file (resuming a kept part) and verify it before it takes its
    name: by git blob id where known; otherwise its content must be this entry's kind of
    checkpoint, and its SHA-256 must match an earlier record or is recorded now.

    ``url`` overrides the registry's download link (tests, local mirrors).
    """
    url = url or entry.download_url
    if url is None:
        raise DownloadError(f"{entry.title} has no direct download link: its authors publish "
                            f"it only in {entry.url}. Download it there in a browser, then "
                            "import it (Import file… or `clickmask weights add FILE`).")
    fresh: dict[str, FileHashes] = {}

    def verify(path: Path) -> None:
        hashes = fresh["hashes"] = hash_file(path)
        if entry.git_blob:
            if hashes.git_blob != entry.git_blob:
                raise ChecksumMismatch(
                    f"wrong checksum: the file from {url} has git blob id {hashes.git_blob}, "
                    f"but the published {entry.checkpoint} has {entry.git_blob}; the download "
                    "was deleted (damaged in transit, or the server sends another file)")
            return
        record = load_records().get(entry.checkpoint)
        if record is not None and record.sha256 != hashes.sha256:
            raise ChecksumMismatch(
                f"wrong checksum: the file from {url} has SHA-256 {hashes.sha256}, but the "
                f"{entry.checkpoint} first downloaded on {record.recorded[:10]} had "
                f"{record.sha256}; the download was deleted")
        _check_content(entry, path, ChecksumMismatch)

    download(url, checkpoint_path(entry), verify=verify, progress=progress, cancel=cancel)
    path = checkpoint_path(entry)
    record = load_records().get(entry.checkpoint)
    hashes = fresh["hashes"]
    mtime_ns = path.stat().st_mtime_ns
    save_record(entry.checkpoint, new_record(hashes, url, mtime_ns) if record is None else
                TrustRecord(record.sha256, record.size, record.source, record.recorded, mtime_ns))
    status = entry_status(entry)
    if record is None and not entry.git_blob:
        return EntryStatus(entry, State.TRUSTED, status.size,
                           f"no published hash exists: SHA-256 {hashes.sha256} recorded now "
                           "(trust on first use); later checks compare against it",
                           hashes.sha256)
    return status


def _check_content(entry: ModelEntry, path: Path, error: type[Exception]) -> None:
    """The file must be a checkpoint of the entry's family, architecture and parameters."""
    from engine.checkpoints import CheckpointError, read_checkpoint  # loads torch

    try:
        infos = read_checkpoint(path)
    except CheckpointError as exc:
        raise error(f"the file is not a usable checkpoint: {exc}") from exc
    if len(infos) != 1 or not entry.matches(infos[0]):
        found = " + ".join(info.title for info in infos)
        raise error(f"the file holds a {found} checkpoint, not {entry.title}")


def import_file(source: str | os.PathLike, name: str | None = None) -> ImportResult:
    """Identify ``source`` by content, copy it into the weights folder (atomically) under
    its entry's file name and record its hash. ``name`` picks the entry when the content
    fits several. Raises :class:`ImportRefused` (or :class:`AmbiguousImport`) saying why."""
    from engine.checkpoints import CheckpointError, read_checkpoint  # loads torch

    source = Path(source)
    if not source.is_file():
        raise ImportRefused(f"{source} is not a file")
    try:
        infos = read_checkpoint(source)
    except CheckpointError as exc:
        raise ImportRefused(str(exc)) from exc
    if len(infos) != 1:
        raise ImportRefused(f"{source.name} is an ensemble of {len(infos)} RITM models; no "
                            "released checkpoint is an ensemble")
    info = infos[0]
    candidates = [entry for entry in downloadable_entries() if entry.matches(info)]
    if not candidates:
        raise ImportRefused(f"{source.name} is a {info.title} checkpoint, but none of the "
                            "released checkpoints Clickmask knows has that architecture")
    hashes = hash_file(source)
    entry = _choose_entry(source, info.title, candidates, hashes, name)
    if entry.git_blob and hashes.git_blob != entry.git_blob:
        raise ImportRefused(f"{source.name} is a {info.title} checkpoint but not the released "
                            f"{entry.checkpoint}: its git blob id is {hashes.git_blob}, the "
                            f"published file's is {entry.git_blob}")
    record = load_records().get(entry.checkpoint)
    if record is not None and record.sha256 != hashes.sha256:
        raise ImportRefused(f"{source.name} differs from the {entry.checkpoint} recorded on "
                            f"{record.recorded[:10]} (SHA-256 {record.sha256}); delete that "
                            f"record from {records_path()} only if you trust the new file")
    dest = checkpoint_path(entry)
    if dest.exists():
        try:
            present = hash_file(dest).sha256
        except OSError as exc:
            raise ImportRefused(f"{dest} cannot be replaced: {exc.strerror or exc}; delete it "
                                "first") from exc
        if present == hashes.sha256:
            return ImportResult(entry, info.title, verify_entry(entry), True)
        raise ImportRefused(f"{dest} already exists with other content; delete it first to "
                            f"replace it with {source.name}")
    _copy_atomic(source, dest, hashes)
    save_record(entry.checkpoint, record or new_record(
        hashes, f"imported from {source}", dest.stat().st_mtime_ns))
    return ImportResult(entry, info.title, verify_entry(entry), False)


def _choose_entry(source: Path, title: str, candidates: list[ModelEntry], hashes: FileHashes,
                  name: str | None) -> ModelEntry:
    if name is not None:
        chosen = [entry for entry in candidates if entry.name == name]
        if not chosen:
            fits = ", ".join(entry.name for entry in candidates)
            raise ImportRefused(f"{source.name} is a {title} checkpoint, which cannot be "
                                f"{name}; it fits: {fits}")
        return chosen[0]
    if len(candidates) == 1:
        return candidates[0]
    # The content cannot tell training sets apart; a known hash or the file name can.
    for narrowed in ([e for e in candidates if e.git_blob == hashes.git_blob],
                     [e for e in candidates if load_records().get(e.checkpoint)
                      and load_records()[e.checkpoint].sha256 == hashes.sha256],
                     [e for e in candidates if e.checkpoint == source.name]):
        if len(narrowed) == 1:
            return narrowed[0]
    names = ", ".join(f"{entry.name} ({entry.title})" for entry in candidates)
    raise AmbiguousImport(f"{source.name} is a {title} checkpoint; its content fits several "
                          f"released files that differ only in training data: {names}. "
                          "Say which one it is.", candidates)


def _copy_atomic(source: Path, dest: Path, expected: FileHashes) -> None:
    """Copy into a temporary file beside ``dest``, check the copy's hash, then rename."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with open_regular(source) as src, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        if hash_file(tmp).sha256 != expected.sha256:
            raise ImportRefused(f"{source} changed while it was being copied; try again")
        os.replace(tmp, dest)
    except OSError as exc:
        raise ImportRefused(f"cannot copy {source.name} into {dest.parent}: "
                            f"{exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _source_line(entry: ModelEntry) -> str:
    if entry.download_url is None:
        return f"no direct link: get it from the authors' folder ({entry.url}), then import it"
    if entry.from_mirror:
        return (f"downloads from a third-party mirror ({entry.download_url}); the authors "
                f"publish it in {entry.url}")
    return f"downloads from the authors' release ({entry.download_url})"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
