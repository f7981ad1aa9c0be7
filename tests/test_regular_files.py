"""Only regular files are read (issue 18, item 5a).

A FIFO, a symbolic link to one or to /dev/zero, or a FIFO swapped in after the folder was
listed, behind an image, a checkpoint, a project, a journal, a COCO file or a file of the
weights folder: each is refused at once with a message saying what it is. Nothing blocks on
the FIFO or reads /dev/zero forever. A blocked reader is released (and the test fails)
after TIMEOUT seconds, and /dev/zero is read in a child process with a memory limit, so a
regression fails instead of hanging the suite or filling the memory.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

from engine.annotations import Project, ProjectError
from engine.checkpoints import CheckpointError, read_checkpoint
from engine.coco import CocoFormatError, import_coco
from engine.imageio import ImageLoadError, list_images, load_image
from engine.journal import Journal, JournalError, journal_path
from engine.regular_file import FileTooLarge, NotRegularFile, read_regular_file
from weights import MODELS, build_predictor, checkpoint_path
from weights.integrity import hash_file
from weights.manager import State, verify_entry

TIMEOUT = 20.0
NOT_REGULAR = "not a regular file"
# A reader set up in ``folder``: where the special file goes, the call that reads it, and
# the error that call must raise.
Reader = Callable[[Path], tuple[Path, Callable[[], object], type[BaseException]]]


def _folder_with_images(folder: Path, names: tuple[str, ...] = ("a.png", "b.png")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for value, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((12, 16, 3), 40 * (value + 1), np.uint8))
    return folder


def _image(folder: Path):
    return folder / "photo.png", lambda: load_image(folder / "photo.png"), ImageLoadError


def _checkpoint(folder: Path):
    return folder / "model.pth", lambda: read_checkpoint(folder / "model.pth"), CheckpointError


def _project(folder: Path):
    path = folder / "clickmask-project.json"
    return path, lambda: Project.load(path), ProjectError


def _coco(folder: Path):
    project = Project.open_folder(_folder_with_images(folder / "images"))
    return folder / "other.json", lambda: import_coco(project, folder / "other.json"), \
        CocoFormatError


def _journal(folder: Path):
    project = Project.open_folder(_folder_with_images(folder / "images"))
    project.save()
    return journal_path(project.path), lambda: Journal.open(project), JournalError


def _weights_hash(folder: Path):
    return folder / "weights.pth", lambda: hash_file(folder / "weights.pth"), NotRegularFile


READERS: dict[str, Reader] = {"image": _image, "checkpoint": _checkpoint, "project": _project,
                              "coco": _coco, "journal": _journal, "weights-hash": _weights_hash}


def _raised_in_time(call: Callable[[], object], fifo: Path | None) -> BaseException | None:
    """What ``call`` raised (None: nothing); fails the test if it is still blocked after
    TIMEOUT seconds, after releasing it by opening the FIFO's writing end."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    if thread.is_alive():
        if fifo is not None:
            _release(fifo)
        thread.join(TIMEOUT)
        pytest.fail(f"still blocked after {TIMEOUT} s")
    return outcome[0]


def _release(fifo: Path) -> None:
    """A reader blocked opening ``fifo`` gets a writer, then end of file."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader waits


@pytest.mark.parametrize("through_link", [False, True], ids=["fifo", "link-to-fifo"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_fifo_is_refused_without_blocking(reader: str, through_link: bool,
                                            tmp_path: Path) -> None:
    target, call, error = READERS[reader](tmp_path)
    fifo = tmp_path / "pipe" if through_link else target
    os.mkfifo(fifo)
    if through_link:
        target.symlink_to(fifo)
    raised = _raised_in_time(call, fifo)
    assert isinstance(raised, error), raised
    assert NOT_REGULAR in str(raised) and "named pipe (FIFO)" in str(raised)
    if through_link:
        assert os.path.realpath(fifo) in str(raised)  # says where the link leads


def test_a_fifo_swapped_in_after_listing_fails_that_image_only(tmp_path: Path) -> None:
    folder = _folder_with_images(tmp_path / "images")
    first, second = list_images(folder)
    first.unlink()
    os.mkfifo(first)
    raised = _raised_in_time(lambda: load_image(first), first)
    assert isinstance(raised, ImageLoadError) and NOT_REGULAR in raised.reason
    assert load_image(second).shape == (12, 16, 3)


def test_the_weights_folder_refuses_a_fifo(tmp_path: Path) -> None:
    entry = MODELS["ritm-hrnet18s-cocolvis-itm"]
    path = checkpoint_path(entry)
    os.mkfifo(path)
    assert _raised_in_time(lambda: verify_entry(entry), path) is None
    status = verify_entry(entry)
    assert status.state is State.WRONG_FILE and NOT_REGULAR in status.detail
    raised = _raised_in_time(lambda: build_predictor(entry.name, "cpu"), path)
    assert isinstance(raised, CheckpointError) and NOT_REGULAR in str(raised)


def dev_zero_outcomes(folder: Path) -> dict[str, str]:
    """Run in a child process: every reader on a link to /dev/zero -> what it raised."""
    outcomes = {}
    for name, reader in sorted(READERS.items()):
        target, call, error = reader(folder / name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to("/dev/zero")
        try:
            call()
            outcomes[name] = "no error"
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            kind = "expected" if isinstance(exc, error) else type(exc).__name__
            outcomes[name] = f"{kind}: {exc}"
    return outcomes


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_link_to_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    def limit_memory() -> None:  # a regression reads until MemoryError, not the machine's end
        limit = 3 * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    script = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
              "from test_regular_files import dev_zero_outcomes; "
              "print(json.dumps(dev_zero_outcomes(Path(sys.argv[2]))))")
    child = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent),
                            str(tmp_path)], capture_output=True, text=True, timeout=180,
                           preexec_fn=limit_memory, cwd=Path(__file__).parents[1],
                           env={**os.environ, "CLICKMASK_HOME": str(tmp_path / "home")})
    assert child.returncode == 0, child.stderr
    outcomes = json.loads(child.stdout.splitlines()[-1])
    assert sorted(outcomes) == sorted(READERS)
    for name, outcome in outcomes.items():
        assert outcome.startswith("expected: ") and "/dev/zero" in outcome \
            and "character device" in outcome, (name, outcome)


@pytest.mark.gui
def test_gui_a_fifo_swapped_in_after_listing_leaves_the_worker_free(qtbot, open_window,
                                                                   tmp_path: Path) -> None:
    from annotator.controller import SessionController
    from gui_actions import open_folder, wait_idle

    folder = _folder_with_images(tmp_path / "images", ("a.png", "b.png", "c.png"))
    win = open_window(SessionController())
    open_folder(qtbot, win, folder)
    controller = win.controller
    fifo = folder / "b.png"
    fifo.unlink()
    os.mkfifo(fifo)
    try:
        win.go_to(1)
        qtbot.waitUntil(lambda: "b.png" in controller.unreadable, timeout=TIMEOUT * 1000)
        assert NOT_REGULAR in controller.unreadable["b.png"]
        win.go_to(2)
        qtbot.waitUntil(lambda: controller.session.current_file == "c.png"
                        and controller.session.image is not None, timeout=TIMEOUT * 1000)
        wait_idle(qtbot, win)
    finally:
        _release(fifo)  # a regressed worker would otherwise keep shutdown waiting forever
    assert win.errors == []


def test_a_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "ten.bin"
    path.write_bytes(b"0123456789")
    assert read_regular_file(path, max_bytes=10) == b"0123456789"
    with pytest.raises(FileTooLarge, match="ten.bin: it is 10 bytes, more than the 9 bytes "
                                           "accepted"):
        read_regular_file(path, max_bytes=9)
