"""Speed at scale without timing anything: the outputs the speed work must not change, the
work an import does per annotation, and no garbage collection while a project is read.

Times are measured by benchmarks/scale.py; these tests hold what makes them good."""
from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from engine.annotations import Project
from engine.coco import export_coco, import_coco
from output_fixture import expected, outputs


@pytest.fixture(scope="module")
def fixture_outputs(tmp_path_factory) -> dict:
    return outputs(tmp_path_factory.mktemp("output_fixture"))


@pytest.mark.parametrize("name", ["saved", "export-rle", "export-fill", "import-fresh",
                                  "import-existing"])
def test_outputs_are_those_of_the_code_before_the_speed_work(fixture_outputs, name):
    """Saving, exporting (both hole modes) and importing (into a fresh project and into one
    with objects) the fixture of tests/output_fixture.py give exactly what they gave."""
    assert json.loads(json.dumps(fixture_outputs[name])) == expected()[name]


def python_calls(action: Callable[[], object]) -> int:
    """How many Python and builtin functions ``action`` calls (generators count each
    resumption): the work done in Python, whatever the machine's speed."""
    count = 0

    def profile(frame, event, arg) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return count


def coco_file(path: Path, annotations: int) -> Path:
    """``annotations`` distinct squares on one 64 x 64 image, half of them RLE."""
    records = []
    for number in range(annotations):
        x, y, size = number % 50, (number // 50) % 50, 2 + number // 2500
        square = [x, y, x + size, y, x + size, y + size, x, y + size]
        if number % 2:
            mask = np.zeros((64, 64), np.uint8)
            mask[y:y + size, x:x + size] = 1
            rle = mask_utils.encode(np.asfortranarray(mask))
            segmentation = {"size": [64, 64], "counts": rle["counts"].decode("ascii")}
        else:
            segmentation = [square]
        records.append({"id": number + 1, "image_id": 1, "category_id": 1 + number % 3,
                        "segmentation": segmentation, "iscrowd": 0})
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 64}],
        "annotations": records,
        "categories": [{"id": n, "name": f"c{n}"} for n in (1, 2, 3)]}), encoding="utf-8")
    return path


def test_importing_twice_as_many_annotations_into_one_image_is_twice_the_work(tmp_path):
    """The import used to compare each annotation with every object of its image (to find
    duplicates), so its work grew with the square of the annotations per image: 12,000 on
    3 images took 6 s, 48,000 took 49 s. Twice the annotations must be about twice the
    calls; the old import made 3.2 times as many."""
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((64, 64, 3), np.uint8))
    calls = {}
    for count in (300, 600):
        coco = coco_file(tmp_path / f"{count}.json", count)
        project = Project.open_folder(folder, tmp_path / f"{count}-project.json")
        calls[count] = python_calls(lambda: import_coco(project, coco))
        assert sum(len(entry.objects) for entry in project.images.values()) == count
    assert calls[600] / calls[300] < 2.5, calls


def collections_during(action: Callable[[], object]) -> int:
    """How many times the cyclic garbage collector ran during ``action``."""
    runs = []

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.collect()
    gc.callbacks.append(note)
    try:
        action()
    finally:
        gc.callbacks.remove(note)
    return len(runs)


def test_reading_importing_saving_and_exporting_do_not_wait_for_the_collector(tmp_path):
    """CPython collects each time enough new objects pile up, and each full collection
    visits all of them: reading a project of 100,000 objects spent 60 % of its time so.
    None of that data has reference cycles, so the collector waits until the work is
    done (and may then run once, for what piled up)."""
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((64, 64, 3), np.uint8))
    project = Project.open_folder(folder)
    coco = coco_file(tmp_path / "coco.json", 2000)
    assert collections_during(lambda: import_coco(project, coco)) <= 1
    assert collections_during(project.save) <= 1
    assert collections_during(lambda: Project.load(project.path)) <= 1
    assert collections_during(lambda: export_coco(project, tmp_path / "out.json")) <= 1
    assert gc.isenabled()
