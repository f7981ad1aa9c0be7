"""Resumable HTTP(S) download of one file, verified before it takes its final name.

Bytes go to ``<dest>.part``; an interrupted download keeps that file and the next call asks
the server for the rest (an HTTP Range request). Only when every byte is there and the
caller's ``verify`` accepts the file is it renamed to ``dest``, so ``dest`` is always either
absent or complete and checked. Proxies come from the environment (``HTTPS_PROXY``,
``NO_PROXY``...), as urllib reads them. Every failure raises :class:`DownloadError` with a
message for a user.
"""
from __future__ import annotations

import errno
import http.client
import os
import re
import shutil
import socket
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from engine.version import __version__

ProgressCallback = Callable[[int, int], None]  # bytes done, total bytes (0: unknown)
USER_AGENT = f"clickmask/{__version__}"
_CHUNK = 1 << 16


class DownloadError(Exception):
    """A download that did not produce a verified file; the message says why and what to do."""


class DownloadCancelled(DownloadError):
    """The user stopped the download; the partial file is kept for a later resume."""


class ChecksumMismatch(DownloadError):
    """The downloaded bytes are not the expected file; the partial file was deleted."""


def part_path(dest: Path) -> Path:
    """Where the bytes of an unfinished download of ``dest`` are kept."""
    return dest.with_name(dest.name + ".part")


def download(url: str, dest: str | os.PathLike, *,
             verify: Callable[[Path], None] | None = None,
             progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None,
             timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``dest``, resuming a kept ``.part`` file, and return ``dest``.

    ``verify(path)`` is called on the complete temporary file and raises
    :class:`ChecksumMismatch` (or any :class:`DownloadError`) to reject it. Setting
    ``cancel`` stops the download within a fraction of a second, even while the server sends
    nothing; a server silent for ``timeout`` seconds fails the download (resumable).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    host = urlsplit(url).netloc or url
    for attempt in range(2):  # a second time only when the kept part must be discarded
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset and attempt == 0:
                exc.close()
                total = _total_from_content_range(exc.headers.get("Content-Range"))
                if total == offset:  # the previous run got every byte but stopped before
                    break            # verifying: verify now
                part.unlink()  # the kept bytes do not fit the file on the server any more
                continue
            raise DownloadError(_http_message(exc, host)) from exc
        except urllib.error.URLError as exc:
            raise DownloadError(_connection_message(exc.reason, host, timeout)) from exc
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise DownloadError(_connection_message(exc, host, timeout)) from exc
        with response:
            if offset and response.status == 206:
                start = _start_from_content_range(response.headers.get("Content-Range"))
                if start != offset:
                    raise DownloadError(f"{host} answered the resume request with the wrong "
                                        f"part of the file (from byte {start}, not {offset}); "
                                        f"delete {part} and try again")
                total = offset + _content_length(response)
                mode = "ab"
            else:  # a fresh download, or a server that ignores Range: start over
                offset, mode = 0, "wb"
                total = _content_length(response)
            _receive(response, part, mode, offset, total, host, progress, cancel, timeout)
        break
    _check_complete(part, total, host)
    if verify is not None:
        try:
            verify(part)
        except ChecksumMismatch:
            part.unlink(missing_ok=True)  # resuming would keep the wrong bytes
            raise
    os.replace(part, dest)
    return dest


def _receive(response: http.client.HTTPResponse, part: Path, mode: str, offset: int,
             total: int, host: str, progress: ProgressCallback | None,
             cancel: threading.Event | None, timeout: float) -> None:
    done = offset
    if total:
        _check_free_space(part, total - offset)
    if progress is not None:
        progress(done, total)
    watch = _CancelWatch(response, cancel) if cancel is not None else None
    try:
        with part.open(mode) as file:
            while True:
                if _cancelled(cancel):
                    raise _cancel_error(done, part)
                try:
                    # read1 returns what has arrived: a slow server cannot delay a cancel
                    chunk = response.read1(_CHUNK)
                except (TimeoutError, OSError, http.client.HTTPException) as exc:
                    if _cancelled(cancel) and not isinstance(exc, TimeoutError):
                        raise _cancel_error(done, part) from exc  # the watch's shutdown
                    raise DownloadError(
                        f"the download from {host} broke off after {_mb(done)} "
                        f"({_connection_message(exc, host, timeout)}); run it again to "
                        "resume") from exc
                if not chunk:
                    if _cancelled(cancel):
                        raise _cancel_error(done, part)
                    return
                file.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except OSError as exc:  # writing or closing the part file (a full disk shows up here)
        raise DownloadError(_write_message(exc, part, total - done)) from exc
    finally:
        if watch is not None:
            watch.stop()


def _cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _cancel_error(done: int, part: Path) -> DownloadCancelled:
    return DownloadCancelled(f"download cancelled after {_mb(done)}; the part is kept in "
                             f"{part} and the next download resumes it")


class _CancelWatch:
    """Shuts the connection down as soon as ``cancel`` is set, so that a read blocked on a
    server that sends nothing returns at once instead of at the timeout."""

    def __init__(self, response: http.client.HTTPResponse, cancel: threading.Event) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(response.fileno(), cancel),
                                        name="download-cancel-watch", daemon=True)
        self._thread.start()

    def _watch(self, fd: int, cancel: threading.Event) -> None:
        while not self._done.is_set():
            if cancel.wait(0.1):
                if not self._done.is_set():  # stop() waits for us: fd is still the socket
                    with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
                        sock.shutdown(socket.SHUT_RDWR)  # the duplicate shares the connection
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _check_complete(part: Path, total: int, host: str) -> None:
    size = part.stat().st_size
    if total and size < total:
        raise DownloadError(f"the connection to {host} closed after {_mb(size)} of "
                            f"{_mb(total)}; run the download again to resume")
    if total and size > total:
        part.unlink()
        raise DownloadError(f"{host} sent more bytes ({size}) than the file has ({total}); "
                            "the partial file was deleted, try again")


def _check_free_space(part: Path, needed: int) -> None:
    free = shutil.disk_usage(part.parent).free
    if free < needed:
        raise DownloadError(f"not enough disk space in {part.parent}: the download needs "
                            f"{_mb(needed)} more, {_mb(free)} is free")


def _content_length(response: http.client.HTTPResponse) -> int:
    try:
        return max(int(response.headers.get("Content-Length", "")), 0)
    except ValueError:
        return 0  # unknown (chunked transfer): completeness rests on verification


def _start_from_content_range(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(\d+)-", value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _http_message(exc: urllib.error.HTTPError, host: str) -> str:
    hints = {401: "the server wants a login", 403: "the server refused access",
             404: "the file is not at this address (moved or removed)",
             410: "the file was removed", 429: "too many requests: wait and try again"}
    hint = hints.get(exc.code, "a server problem: try again later" if exc.code >= 500
                     else "the request was refused")
    return f"HTTP error {exc.code} {exc.reason} from {host} for {exc.url}: {hint}"


def _connection_message(reason: object, host: str, timeout: float) -> str:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (f"TLS error: the certificate of {host} could not be verified "
                f"({reason.verify_message}). A proxy or antivirus that inspects HTTPS needs "
                "its certificate in SSL_CERT_FILE; never turn verification off")
    if isinstance(reason, ssl.SSLError):
        return f"TLS error talking to {host}: {reason.reason or reason}"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"{host} sent nothing for {timeout:g} s"
    if isinstance(reason, socket.gaierror):
        return (f"cannot resolve {host}: no network, or a proxy is needed (set HTTPS_PROXY)")
    if isinstance(reason, ConnectionRefusedError):
        return f"{host} refused the connection"
    return f"cannot reach {host}: {reason}"


def _write_message(exc: OSError, part: Path, remaining: int) -> str:
    if exc.errno == errno.ENOSPC:
        need = f" ({_mb(remaining)} still to come)" if remaining > 0 else ""
        return (f"the disk holding {part.parent} is full{need}; free some space and run the "
                f"download again: it resumes from the {_mb(part.stat().st_size)} already kept")
    return f"cannot write {part}: {exc.strerror or exc}"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
