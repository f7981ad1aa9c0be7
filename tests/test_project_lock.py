"""Two programs on one project: the lock (refused, naming the holder; a dead holder's lock
taken over), the check that a save replaces only what it read, and the temporary files
that interrupted saves leave."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.cli import main
from engine.annotations import PROJECT_FILE_NAME, Project
from engine import edit_builders as build
from engine.edit_json import edit_from_json
from engine.journal import journal_path
from engine.workspace import Workspace
from engine.project_files import ProjectChanged, holder_path, lock_path, same_file_path
from engine.project_lock import LockHolder, ProjectLock, ProjectLocked

ROOT = Path(__file__).resolve().parents[1]

# Opens the folder given as argv[1] for editing, says so, and keeps it open until stdin closes.
HOLDER = """
import sys
from engine.annotations import Project
project = Project.open_folder(sys.argv[1], lock=True)
print("open", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.full((20, 30, 3), 90, np.uint8))
    return folder


@pytest.fixture
def holder(folder: Path):
    """Another process that has ``folder``'s project open; killed (-9) at teardown."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "open\n"
    yield process
    process.kill()
    process.wait()


def _square(top: int = 2) -> np.ndarray:
    mask = np.zeros((20, 30), bool)
    mask[top:top + 5, 3:9] = True
    return mask


def _coco_file(tmp_path: Path) -> Path:
    mask_polygon = [3, 2, 9, 2, 9, 7, 3, 7]
    path = tmp_path / "import.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                         "segmentation": [mask_polygon], "bbox": [3, 2, 6, 5], "area": 30}],
        "categories": [{"id": 1, "name": "box"}]}))
    return path


def test_a_second_opening_for_editing_is_refused_naming_the_holder(folder: Path) -> None:
    first = Project.open_folder(folder, lock=True)
    with pytest.raises(ProjectLocked) as refused:
        Project.open_folder(folder, lock=True)
    assert refused.value.holder.pid == os.getpid()
    assert f"process {os.getpid()} on {socket.gethostname()}" in str(refused.value)
    Project.open_folder(folder).present_images()  # reading (an export) is allowed
    first.release_lock()
    assert not holder_path(first.path).exists()
    Project.open_folder(folder, lock=True).release_lock()


def test_another_process_holding_the_project_is_named(folder: Path, holder) -> None:
    with pytest.raises(ProjectLocked, match=f"process {holder.pid} on "):
        Project.open_folder(folder, lock=True)


def test_the_lock_of_a_killed_process_is_taken_over(folder: Path, holder) -> None:
    holder.kill()  # no clean-up: its note of who holds the lock stays behind
    holder.wait()
    assert LockHolder.read(holder_path(folder / PROJECT_FILE_NAME)).pid == holder.pid
    project = Project.open_folder(folder, lock=True)
    assert LockHolder.read(holder_path(project.path)).pid == os.getpid()


def test_a_leftover_note_of_a_dead_process_does_not_lock(folder: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    project_path = folder / PROJECT_FILE_NAME
    lock_path(project_path).touch()
    holder_path(project_path).write_text(json.dumps(
        {"host": socket.gethostname(), "pid": int(dead.stdout), "since": "2020-01-01 00:00:00"}))
    Project.open_folder(folder, lock=True).release_lock()


@pytest.mark.timeout(30)
def test_a_fifo_as_the_holder_note_is_not_read(folder: Path) -> None:
    first = Project.open_folder(folder, lock=True)
    note = holder_path(first.path)
    note.unlink()
    os.mkfifo(note)  # a plain read would wait for a writer for good
    with pytest.raises(ProjectLocked, match="which one is unknown"):
        Project.open_folder(folder, lock=True)
    note.unlink()
    first.release_lock()


@pytest.mark.gui
def test_import_is_refused_while_the_gui_has_the_project_open(qtbot, folder: Path,
                                                              tmp_path: Path, capsys) -> None:
    from annotator.controller import SessionController

    controller = SessionController()
    try:
        controller.open_folder(folder)
        controller.edits.add_category("kept")  # saved
        saved = controller.rows.project.path.read_bytes()
        assert main(["import", str(folder), str(_coco_file(tmp_path))]) == 1
        err = capsys.readouterr().err
        assert f"process {os.getpid()}" in err and "nothing imported" in err
        assert "Traceback" not in err
        assert controller.rows.project.path.read_bytes() == saved
    finally:
        controller.shutdown()
    assert main(["import", str(folder), str(_coco_file(tmp_path))]) == 0
    assert len(Project.load(folder / PROJECT_FILE_NAME).images["a.png"].objects) == 1


@pytest.mark.gui
def test_the_window_refuses_a_folder_open_elsewhere(folder: Path, holder, open_window) -> None:
    from annotator.controller import SessionController

    win = open_window(SessionController())
    assert not win.open_folder(folder)
    assert len(win.errors) == 1 and f"process {holder.pid} on " in win.errors[0]
    assert win.controller.rows.project is None


@pytest.mark.gui
def test_the_window_reopens_its_own_folder(qtbot, folder: Path) -> None:
    from annotator.controller import SessionController

    controller = SessionController()
    try:
        controller.open_folder(folder)
        controller.open_folder(folder)  # its own lock is no obstacle
        with pytest.raises(ProjectLocked):
            Project.open_folder(folder, lock=True)
    finally:
        controller.shutdown()
    Project.open_folder(folder, lock=True)


def test_two_projects_of_one_folder_cannot_save_over_each_other(folder: Path) -> None:
    # Without the lock (a program that does not take it), the last save used to win.
    first, second = Project.open_folder(folder), Project.open_folder(folder)
    kept = first.add_object("a.png", _square(), "cat")
    first.save()
    second.add_object("a.png", _square(10), "dog")
    with pytest.raises(ProjectChanged, match="changed by another program"):
        second.save()
    assert [o.id for _, o in Project.load(first.path).iter_objects()] == [kept.id]


def test_a_save_never_overwrites_a_file_changed_underneath(folder: Path) -> None:
    problems: list[str] = []
    workspace, _ = Workspace.open(folder, report=problems.append)
    project = workspace.project
    workspace.apply(build.add_object(project, "a.png", _square(), "cat"))
    assert problems == []
    # Another program (an editor, a sync tool) rewrites the file in place.
    data = json.loads(project.path.read_text())
    data["categories"][0]["name"] = "renamed elsewhere"
    project.path.write_text(json.dumps(data))
    changed = project.path.read_bytes()
    workspace.apply(build.add_object(project, "a.png", _square(10), "dog"))
    assert len(problems) == 1 and "changed by another program" in problems[0]
    assert project.path.read_bytes() == changed
    [(_, obj)] = [(e, o) for e, o in project.iter_objects() if o.id != 1]  # kept in memory,
    last = json.loads(journal_path(project.path).read_text().splitlines()[-1])  # journaled:
    assert obj.id in edit_from_json(last["edit"]).touched().objects
    workspace.close()


def test_a_project_appearing_after_the_opening_is_not_overwritten(folder: Path) -> None:
    late = Project.open_folder(folder)  # no project file yet
    early = Project.open_folder(folder)
    early.add_object("a.png", _square(), "cat")
    early.save()
    with pytest.raises(ProjectChanged):
        late.save()


@pytest.mark.gui
def test_the_window_keeps_the_work_when_the_file_changed_underneath(qtbot, folder: Path) -> None:
    from annotator.controller import SessionController

    controller = SessionController()
    errors: list[str] = []
    controller.error.connect(errors.append)
    try:
        controller.open_folder(folder)
        controller.edits.add_category("first")
        controller.rows.project.path.write_text(controller.rows.project.path.read_text() + "\n")
        controller.edits.add_category("second")
        assert len(errors) == 1 and "changed by another program" in errors[0]
        assert "kept in memory and in the crash journal" in errors[0]
        assert [c.name for c in controller.rows.project.categories] == ["first", "second"]
        assert [c.name for c in Project.load(controller.rows.project.path).categories] == ["first"]
    finally:
        controller.shutdown()


def test_save_as_takes_the_lock_along(folder: Path, tmp_path: Path) -> None:
    project = Project.open_folder(folder, lock=True)
    old = project.path
    elsewhere = tmp_path / "elsewhere.json"
    taken = Project.open_folder(folder, elsewhere, lock=True)  # someone has that one open
    project.path = elsewhere
    with pytest.raises(ProjectLocked):
        project.save()
    assert not elsewhere.exists()
    taken.release_lock()
    project.save()
    with pytest.raises(ProjectLocked):
        Project.open_folder(folder, elsewhere, lock=True)
    Project.open_folder(folder, old, lock=True)  # the old place is free again


def test_an_opening_removes_what_interrupted_saves_left(folder: Path) -> None:
    project_path = folder / PROJECT_FILE_NAME
    # What a save killed before its rename leaves: atomic_write_bytes' temporary files.
    stale = [Path(tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)[1])
             for path in (project_path, journal_path(project_path))]
    others = [folder / f".{PROJECT_FILE_NAME}.notours.tmp", folder / ".a.png.abcd1234.tmp",
              folder / f"{PROJECT_FILE_NAME}.abcd1234.tmp"]
    for path in others:
        path.write_text("not ours")
    Project.open_folder(folder)  # only the lock's holder may remove them
    assert all(path.exists() for path in stale + others)
    Project.open_folder(folder, lock=True)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in others)


def test_temporary_files_are_kept_while_another_process_holds_the_project(folder: Path,
                                                                           holder) -> None:
    _, name = tempfile.mkstemp(prefix=f".{PROJECT_FILE_NAME}.", suffix=".tmp", dir=folder)
    with pytest.raises(ProjectLocked):
        Project.open_folder(folder, lock=True)
    assert Path(name).exists()  # it may be the holder's save in flight


def test_a_project_in_a_place_that_cannot_be_locked_takes_the_lock_where_it_is_saved(
        folder: Path, tmp_path: Path, monkeypatch) -> None:
    read_only = tmp_path / "media"
    read_only.mkdir()
    Project.open_folder(folder, read_only / "p.json").save()
    acquire = ProjectLock.acquire.__func__

    def refuse_on_media(cls, project_path):
        if Path(project_path).parent == read_only:
            raise PermissionError(13, "Permission denied", str(lock_path(project_path)))
        return acquire(cls, project_path)

    monkeypatch.setattr(ProjectLock, "acquire", classmethod(refuse_on_media))
    project = Project.open_folder(folder, read_only / "p.json", lock=True)  # opens: read it
    assert project.lock is None
    project.path = tmp_path / "elsewhere.json"  # where the GUI saves what it cannot save there
    project.save()
    assert same_file_path(project.lock.project_path, project.path)
    with pytest.raises(ProjectLocked):
        Project.open_folder(folder, project.path, lock=True)


@pytest.mark.gui
def test_save_as_onto_a_project_open_elsewhere_is_refused(qtbot, folder: Path,
                                                         tmp_path: Path) -> None:
    from annotator.controller import SessionController

    elsewhere = tmp_path / "elsewhere.json"
    taken = Project.open_folder(folder, elsewhere, lock=True)
    controller = SessionController()
    errors: list[str] = []
    controller.error.connect(errors.append)
    try:
        controller.open_folder(folder)
        old = controller.rows.project.path
        assert not controller.save_project_as(elsewhere)
        assert len(errors) == 1 and f"process {os.getpid()}" in errors[0]
        assert controller.rows.project.path == old and not elsewhere.exists()
        controller.edits.add_category("still saved")
        assert [c.name for c in Project.load(old).categories] == ["still saved"]
    finally:
        controller.shutdown()
        taken.release_lock()
