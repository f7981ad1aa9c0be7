"""Saving and exporting (engine/atomic.py): the mode and owner of the replaced file are kept
(issue 18, item 6a); only regular files are replaced, symbolic links are written through,
and devices, FIFOs, sockets and folders are refused with a message (item 6c)."""
from __future__ import annotations

import os
import socket
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from annotator.cli import main as cli_main
from engine.annotations import Project
from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.coco import export_coco
from engine.regular_file import NotRegularFile

as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                             reason="only root may create device nodes or give files away")


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _annotated_folder(folder: Path) -> Project:
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((12, 16, 3), np.uint8))
    project = Project.open_folder(folder)
    mask = np.zeros((12, 16), bool)
    mask[2:8, 3:9] = True
    project.add_object("a.png", mask, "thing")
    project.save()
    return project


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- 6a: modes and owners ------------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o664, 0o644, 0o600, 0o640, 0o666])
def test_a_replaced_file_keeps_its_mode(mode: int, tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old")
    path.chmod(mode)
    with umask(0o022):
        atomic_write_text(path, "new")
    assert path.read_text() == "new" and _mode(path) == mode


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_honours_the_umask(mask: int, expected: int, tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    with umask(mask):
        atomic_write_text(path, "new")
    assert _mode(path) == expected


def test_project_save_and_export_keep_the_files_modes(tmp_path: Path) -> None:
    with umask(0o022):
        project = _annotated_folder(tmp_path / "images")
        assert _mode(project.path) == 0o644  # a new file: 0666 less the umask
        project.path.chmod(0o664)
        project.save()
        assert _mode(project.path) == 0o664
        out = tmp_path / "export.json"
        out.write_text("{}")
        out.chmod(0o660)
        export_coco(project, out)
        assert _mode(out) == 0o660 and out.stat().st_size > 2


@as_root
def test_a_replaced_file_keeps_its_owner_and_group(tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    path.write_text("old")
    os.chown(path, 4321, 4322)
    path.chmod(0o640)
    atomic_write_text(path, "new")
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4321, 4322, 0o640)


# -- 6c: what is at the path ---------------------------------------------------------------
def test_a_symbolic_link_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "annotations.json"
    target.write_text("old")
    target.chmod(0o664)
    link = tmp_path / "link.json"
    link.symlink_to(Path("real") / "annotations.json")  # relative, as users make them
    chain = tmp_path / "chain.json"
    chain.symlink_to(link)
    atomic_write_text(chain, "new")
    assert chain.is_symlink() and link.is_symlink()
    assert target.read_text() == "new" and _mode(target) == 0o664
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "real") == []


def test_a_dangling_link_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "later.json")
    atomic_write_text(link, "new")
    assert link.is_symlink() and (tmp_path / "later.json").read_text() == "new"


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


SPECIALS = {"fifo": (_fifo, "a named pipe (FIFO)", stat.S_ISFIFO),
            "socket": (_socket, "a socket", stat.S_ISSOCK),
            "folder": (_folder, "a folder", stat.S_ISDIR)}


@pytest.mark.parametrize("through_link", [False, True], ids=["direct", "through-link"])
@pytest.mark.parametrize("kind", sorted(SPECIALS))
def test_special_files_are_refused_and_left_alone(kind: str, through_link: bool,
                                                 tmp_path: Path) -> None:
    make, name, is_kind = SPECIALS[kind]
    special = make(tmp_path / "special")
    path = tmp_path / "out.json"
    if through_link:
        path.symlink_to(special)
    else:
        path = special
    with pytest.raises(NotRegularFile) as info:
        atomic_write_bytes(path, b"data")
    assert f"{name}, not a regular file" in str(info.value) and str(path) in str(info.value)
    assert is_kind(os.lstat(special).st_mode) and path.is_symlink() == through_link
    assert _leftovers(tmp_path) == []


@as_root
def test_a_device_node_is_not_replaced(tmp_path: Path) -> None:
    full = tmp_path / "full"  # what /dev/full is: character device 1, 7
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    with pytest.raises(NotRegularFile, match="it is a character device, not a regular file"):
        atomic_write_bytes(full, b"data")
    assert stat.S_ISCHR(os.lstat(full).st_mode) and _leftovers(tmp_path) == []


def test_cli_export_to_a_fifo_says_so_and_leaves_it(tmp_path: Path, capsys) -> None:
    _annotated_folder(tmp_path / "images")
    fifo = _fifo(tmp_path / "out.json")
    assert cli_main(["export", str(tmp_path / "images"), "-o", str(fifo)]) == 1
    assert (f"clickmask: export failed: {fifo}: it is a named pipe (FIFO), not a regular file"
            in capsys.readouterr().err)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and _leftovers(tmp_path) == []
