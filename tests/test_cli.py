"""The clickmask command line: export with its report, clear errors, version and help."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from engine.annotations import PROJECT_FILE_NAME, Project
from annotator.cli import main


@pytest.fixture
def annotated_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("one.png", "two.png"):
        cv2.imwrite(str(folder / name), np.zeros((40, 60, 3), np.uint8))
    project = Project.open_folder(folder)
    ring = np.zeros((40, 60), bool)
    ring[5:25, 5:25] = True
    ring[10:20, 10:20] = False
    square = np.zeros((40, 60), bool)
    square[30:38, 40:58] = True
    project.add_object("one.png", ring, "washer")
    project.add_object("two.png", square, "box")
    project.save()
    return folder


@pytest.mark.parametrize("use_project_file", [False, True])
def test_export_writes_coco_and_reports_min_iou(annotated_folder: Path, tmp_path: Path,
                                                capsys, use_project_file: bool) -> None:
    out = tmp_path / "out.json"
    source = annotated_folder / PROJECT_FILE_NAME if use_project_file else annotated_folder
    assert main(["export", str(source), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "minimum IoU 1.000" in printed
    coco = COCO(str(out))
    assert len(coco.getAnnIds()) == 2 and len(coco.getImgIds()) == 2
    ring, square = sorted(coco.loadAnns(coco.getAnnIds()), key=lambda a: a["id"])
    assert isinstance(ring["segmentation"], dict)  # a hole: exact RLE by default
    assert isinstance(square["segmentation"], list) and square["bbox"] == [40, 30, 18, 8]
    assert square["area"] == 8 * 18 and square["iscrowd"] == 0


def test_export_fill_holes_writes_polygons(annotated_folder: Path, tmp_path: Path,
                                          capsys) -> None:
    out = tmp_path / "out.json"
    assert main(["export", str(annotated_folder), "-o", str(out), "--holes", "fill"]) == 0
    annotations = json.loads(out.read_text())["annotations"]
    # The ring's hole is 25 % of its area: filling it would lose too much, so it stays RLE.
    assert {type(a["segmentation"]).__name__ for a in annotations} == {"dict", "list"}


def test_export_errors_are_messages_not_tracebacks(tmp_path: Path, capsys) -> None:
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "o.json")]) == 1
    assert "no project found" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["export", str(bad), "-o", str(tmp_path / "o.json")]) == 1
    err = capsys.readouterr().err
    assert "not a Clickmask project" in err and "Traceback" not in err


def test_version_and_help_through_python_m() -> None:
    result = subprocess.run([sys.executable, "-m", "annotator", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "export" in result.stdout and "gui" in result.stdout
    result = subprocess.run([sys.executable, "-m", "annotator", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("clickmask ")
