"""Downloads against a real HTTP server on 127.0.0.1 serving the golden checkpoints."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from file_server import FileServer, git_blob_id
from weights import MODELS, checkpoint_path, registry
from weights.download import (ChecksumMismatch, DownloadCancelled, DownloadError, download,
                              part_path)
from weights.integrity import load_records
from weights.manager import State, entry_status, fetch_entry, verify_entry
from annotator.cli import main as cli_main

RITM_FILE = "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth"
SEGFORMER_FILE = "golden/focalclick/segformerB0_S2_synthetic.pth"
HRNET_FC_FILE = "golden/focalclick/hrnet18s_S2_synthetic.pth"


@pytest.fixture(scope="module")
def golden(shared_dir: Path) -> dict[str, bytes]:
    return {"/ritm.pth": (shared_dir / RITM_FILE).read_bytes(),
            "/segformer.pth": (shared_dir / SEGFORMER_FILE).read_bytes(),
            "/hrnet_fc.pth": (shared_dir / HRNET_FC_FILE).read_bytes()}


@pytest.fixture
def server(file_server, golden: dict[str, bytes]) -> FileServer:
    return file_server(dict(golden))


@pytest.fixture
def ritm_entry(shared_dir: Path) -> registry.ModelEntry:
    """The HRNet-18s entry with the golden file's git blob id, computed by git itself."""
    return dataclasses.replace(MODELS["ritm-hrnet18s-cocolvis-itm"],
                               git_blob=git_blob_id(shared_dir / RITM_FILE))


def test_full_download_is_verified_by_git_blob_id(server, golden, ritm_entry) -> None:
    seen: list[tuple[int, int]] = []
    status = fetch_entry(ritm_entry, progress=lambda done, total: seen.append((done, total)),
                         url=server.url("/ritm.pth"))
    path = checkpoint_path(ritm_entry)
    assert path.read_bytes() == golden["/ritm.pth"]
    assert not part_path(path).exists()
    assert status.state is State.VERIFIED
    size = len(golden["/ritm.pth"])
    assert seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert server.behaviour.ranges == [None]
    # Listing an unchanged file reuses the check; verifying rehashes it.
    assert entry_status(ritm_entry).state is State.VERIFIED
    assert verify_entry(ritm_entry).state is State.VERIFIED


def test_an_interrupted_download_resumes_with_a_range_request(server, golden,
                                                              ritm_entry) -> None:
    server.behaviour.cut_after = 5_000_000
    with pytest.raises(DownloadError, match="run the download again to resume"):
        fetch_entry(ritm_entry, url=server.url("/ritm.pth"))
    path = checkpoint_path(ritm_entry)
    assert not path.exists()
    assert part_path(path).stat().st_size == 5_000_000
    assert entry_status(ritm_entry).state is State.PARTIAL

    status = fetch_entry(ritm_entry, url=server.url("/ritm.pth"))
    assert server.behaviour.ranges == [None, "bytes=5000000-"]
    assert path.read_bytes() == golden["/ritm.pth"]
    assert status.state is State.VERIFIED and not part_path(path).exists()


def test_a_redirected_download_resumes_at_the_redirect_target(server, golden,
                                                               ritm_entry) -> None:
    server.behaviour.redirects["/releases/download/v1.0/ritm.pth"] = "/ritm.pth"
    server.behaviour.cut_after = 1_000_000
    url = server.url("/releases/download/v1.0/ritm.pth")
    with pytest.raises(DownloadError, match="resume"):
        fetch_entry(ritm_entry, url=url)
    assert fetch_entry(ritm_entry, url=url).state is State.VERIFIED
    assert server.behaviour.ranges == [None, "bytes=1000000-"]
    assert checkpoint_path(ritm_entry).read_bytes() == golden["/ritm.pth"]


def test_a_server_ignoring_range_restarts_from_the_first_byte(server, golden,
                                                              ritm_entry) -> None:
    path = checkpoint_path(ritm_entry)
    part_path(path).write_bytes(b"stale bytes of an older attempt")
    server.behaviour.ignore_range = True
    fetch_entry(ritm_entry, url=server.url("/ritm.pth"))
    assert server.behaviour.ranges == ["bytes=31-"]
    assert path.read_bytes() == golden["/ritm.pth"]


def test_a_complete_part_left_unverified_is_verified_without_downloading(
        server, golden, ritm_entry) -> None:
    path = checkpoint_path(ritm_entry)
    part_path(path).write_bytes(golden["/ritm.pth"])
    status = fetch_entry(ritm_entry, url=server.url("/ritm.pth"))
    assert status.state is State.VERIFIED and path.exists()
    assert server.behaviour.ranges == [f"bytes={len(golden['/ritm.pth'])}-"]  # answered 416


def test_a_wrong_checksum_deletes_the_download(server, ritm_entry) -> None:
    entry = dataclasses.replace(ritm_entry, git_blob="0" * 40)
    with pytest.raises(ChecksumMismatch, match="wrong checksum.*git blob id"):
        fetch_entry(entry, url=server.url("/ritm.pth"))
    path = checkpoint_path(entry)
    assert not path.exists() and not part_path(path).exists()


def test_files_without_a_known_hash_are_trusted_on_first_use(server, golden) -> None:
    entry = MODELS["focalclick-segformerb0-s2-cclvs"]
    status = fetch_entry(entry, url=server.url("/segformer.pth"))
    assert status.state is State.TRUSTED
    assert "recorded now (trust on first use)" in status.detail
    record = load_records()[entry.checkpoint]
    assert record.source == server.url("/segformer.pth")
    assert status.sha256 == record.sha256 and len(record.sha256) == 64
    assert entry_status(entry).state is State.TRUSTED

    # Later the server sends other bytes under the same name: refused, record unchanged.
    checkpoint_path(entry).unlink()
    changed = bytearray(golden["/segformer.pth"])
    changed[-100] ^= 0xFF
    server.files["/segformer.pth"] = bytes(changed)
    with pytest.raises(ChecksumMismatch, match="first downloaded on"):
        fetch_entry(entry, url=server.url("/segformer.pth"))
    assert not checkpoint_path(entry).exists()
    assert load_records()[entry.checkpoint] == record


def test_a_file_with_the_wrong_architecture_is_refused(server) -> None:
    entry = MODELS["focalclick-segformerb0-s2-cclvs"]
    with pytest.raises(ChecksumMismatch, match="holds a FocalClick HRNet-18s S2 checkpoint"):
        fetch_entry(entry, url=server.url("/hrnet_fc.pth"))
    assert not checkpoint_path(entry).exists()
    assert entry.checkpoint not in load_records()


def test_a_changed_file_on_disk_is_reported(server, ritm_entry) -> None:
    fetch_entry(ritm_entry, url=server.url("/ritm.pth"))
    path = checkpoint_path(ritm_entry)
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))
    status = verify_entry(ritm_entry)
    assert status.state is State.CHANGED and "not the published file" in status.detail


def test_http_404_says_the_file_is_not_there(server, ritm_entry) -> None:
    with pytest.raises(DownloadError, match="HTTP error 404 .*not at this address"):
        fetch_entry(ritm_entry, url=server.url("/missing.pth"))
    assert not part_path(checkpoint_path(ritm_entry)).exists()


def test_a_refused_connection_is_explained(file_server, tmp_path: Path) -> None:
    srv = file_server({})
    url = srv.url("/x.pth")
    srv.close()  # nothing listens on that port any more
    with pytest.raises(DownloadError, match="refused the connection"):
        download(url, tmp_path / "x.pth")


def test_cancel_on_a_slow_server_keeps_the_part_for_a_resume(server, golden,
                                                             ritm_entry) -> None:
    server.behaviour.trickle = 0.01  # 4 KiB per 10 ms: the whole file would take minutes
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 40_000:
            cancel.set()

    with pytest.raises(DownloadCancelled, match="next download resumes it"):
        fetch_entry(ritm_entry, progress=progress, cancel=cancel, url=server.url("/ritm.pth"))
    kept = part_path(checkpoint_path(ritm_entry)).stat().st_size
    assert 40_000 <= kept < len(golden["/ritm.pth"])

    server.behaviour.trickle = 0.0
    fetch_entry(ritm_entry, url=server.url("/ritm.pth"))
    assert server.behaviour.ranges[-1] == f"bytes={kept}-"
    assert checkpoint_path(ritm_entry).read_bytes() == golden["/ritm.pth"]


def test_cancel_while_the_server_sends_nothing(server, tmp_path: Path) -> None:
    server.behaviour.trickle = 60  # 4 KiB, then a minute of silence
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done:  # the first bytes arrived; the server now stays silent
            threading.Timer(0.2, cancel.set).start()

    # Unless the cancel shuts the connection down, the read blocks until the 40 s timeout
    # and the download fails as timed out, not as cancelled.
    with pytest.raises(DownloadCancelled):
        download(server.url("/ritm.pth"), tmp_path / "ritm.pth", progress=progress,
                 cancel=cancel, timeout=40)
    assert part_path(tmp_path / "ritm.pth").stat().st_size == 4096


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for a certificate")
def test_an_untrusted_certificate_is_a_tls_error(file_server, golden, tmp_path: Path) -> None:
    pem = tmp_path / "self-signed.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(pem), "-out", str(pem)],
                   check=True, capture_output=True)
    srv = file_server(dict(golden), certificate=str(pem))
    with pytest.raises(DownloadError, match="TLS error: the certificate of 127.0.0.1.*"
                                            "could not be verified"):
        download(srv.url("/ritm.pth"), tmp_path / "ritm.pth")
    assert not (tmp_path / "ritm.pth").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_reported(server, tmp_path: Path) -> None:
    dest = tmp_path / "ritm.pth"
    part_path(dest).symlink_to("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(DownloadError, match="is full.*free some space"):
        download(server.url("/ritm.pth"), dest)
    assert not dest.exists()


def test_not_enough_free_space_is_reported_before_downloading(server, tmp_path: Path,
                                                              monkeypatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(
        total=10**9, used=10**9 - 1000, free=1000))
    with pytest.raises(DownloadError, match="not enough disk space"):
        download(server.url("/ritm.pth"), tmp_path / "ritm.pth")


def test_cli_fetch_downloads_and_lists(server, golden, ritm_entry, monkeypatch,
                                       capsys) -> None:
    entry = dataclasses.replace(ritm_entry, download_url=server.url("/ritm.pth"))
    monkeypatch.setitem(MODELS, entry.name, entry)
    assert cli_main(["weights", "fetch", entry.name]) == 0
    out = capsys.readouterr().out
    assert f"{entry.name}: verified" in out
    assert checkpoint_path(entry).read_bytes() == golden["/ritm.pth"]
    assert cli_main(["weights", "verify"]) == 0
    assert f"{entry.name}: verified" in capsys.readouterr().out
    assert cli_main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert entry.name in listing and "fbrs-resnet101-sbd" in listing


def test_cli_fetch_reports_errors_and_manual_only_entries(server, ritm_entry, monkeypatch,
                                                          capsys) -> None:
    entry = dataclasses.replace(ritm_entry, download_url=server.url("/missing.pth"))
    monkeypatch.setitem(MODELS, entry.name, entry)
    assert cli_main(["weights", "fetch", entry.name]) == 1
    assert "HTTP error 404" in capsys.readouterr().err
    assert cli_main(["weights", "fetch", "focalclick-hrnet18s-s2-cclvs"]) == 1
    assert "drive.google.com" in capsys.readouterr().err
    assert cli_main(["weights", "fetch", "no-such-model"]) == 2
