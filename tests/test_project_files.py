"""What a project's files may reach: image entries stay inside the folder, and an export
never overwrites the project, its journal, its lock or one of its images."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.cli import main
from engine.annotations import PROJECT_FILE_NAME, Project, ProjectError
from engine.journal import Journal
from engine.project_files import companion_files, entry_name_problem


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("one.png", "two.png"):
        cv2.imwrite(str(folder / name), np.full((20, 30, 3), 90, np.uint8))
    project = Project.open_folder(folder)
    mask = np.zeros((20, 30), bool)
    mask[2:9, 3:12] = True
    project.add_object("one.png", mask, "box")
    project.save()
    return folder


def _project_file(folder: Path, file_name: str, width: int | None = 30) -> Path:
    path = folder / "crafted.json"
    path.write_text(json.dumps({
        "format": "clickmask-project", "version": 1, "root": str(folder), "categories": [],
        "images": [{"id": 1, "file_name": file_name, "width": width,
                    "height": width and 20, "objects": []}]}))
    return path


@pytest.mark.parametrize("file_name", [
    "../../../../dev/zero", "../../etc/passwd", "/etc/shadow", "C:/Windows/win.ini",
    "c:evil.png", "..\\..\\evil.png", "sub\\one.png", "sub/../../evil.png", "./one.png",
    "sub//one.png", "sub/", "", "one\0.png", "..",
])
def test_an_image_entry_outside_the_folder_is_refused(folder: Path, file_name: str) -> None:
    with pytest.raises(ProjectError) as refused:
        Project.load(_project_file(folder, file_name))
    assert repr(file_name) in str(refused.value) and "crafted.json is damaged" in str(refused.value)


@pytest.mark.parametrize("file_name", ["one.png", "sub/one.png", "a name é 中.png", "..png",
                                       "sub/.hidden.png"])
def test_plain_names_inside_the_folder_are_entries(file_name: str) -> None:
    assert entry_name_problem(file_name) is None


@pytest.mark.timeout(60)  # /dev/zero used to be read for ever
@pytest.mark.parametrize("file_name, width", [("../../../../dev/zero", None),
                                              ("../../etc/passwd", 30)])
def test_export_of_a_project_reaching_outside_says_so(folder: Path, tmp_path: Path, capsys,
                                                      file_name: str, width: int | None) -> None:
    out = tmp_path / "out.json"
    assert main(["export", str(_project_file(folder, file_name, width)), "-o", str(out)]) == 1
    assert repr(file_name) in capsys.readouterr().err and not out.exists()


def _own_files(folder: Path) -> dict[str, Path]:
    project = Project.open_folder(folder, lock=True)  # the lock file, and its holder's note
    Journal.open(project)
    files = companion_files(project.path)
    assert all(path.exists() for path in files.values())
    return {**files, "an image": folder / "two.png"}


@pytest.mark.parametrize("what", list(companion_files("p")) + ["an image"])
def test_export_onto_the_project_s_own_files_is_refused(folder: Path, capsys, what: str) -> None:
    target = _own_files(folder)[what]
    before = target.read_bytes()
    assert main(["export", str(folder), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert "choose another file for the export" in err and "Traceback" not in err
    assert target.read_bytes() == before


@pytest.mark.parametrize("link", [os.symlink, os.link])
def test_export_onto_a_link_to_an_image_or_the_project_is_refused(folder: Path, tmp_path: Path,
                                                                  capsys, link) -> None:
    for target in (folder / PROJECT_FILE_NAME, folder / "one.png"):
        alias = tmp_path / f"alias-{link.__name__}{target.suffix}"
        link(target, alias)
        before = target.read_bytes()
        assert main(["export", str(folder), "-o", str(alias)]) == 1
        assert "choose another file" in capsys.readouterr().err
        assert target.read_bytes() == before
        alias.unlink()


def test_export_beside_the_project_is_written(folder: Path, capsys) -> None:
    out = folder / "annotations.json"
    assert main(["export", str(folder), "-o", str(out)]) == 0
    assert len(json.loads(out.read_text())["annotations"]) == 1
