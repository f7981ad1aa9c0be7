"""A project and a COCO file that exercise every path of saving, exporting and importing,
and the outputs the engine gives for them, so that a change made for speed can be shown to
change no output (tests/test_scale.py).

    PYTHONPATH=<reference checkout> .venv/bin/python tests/output_fixture.py [--inputs]

writes ``tests/data/output_fixture/expected.json.gz`` with the outputs of the engine found
on ``PYTHONPATH`` (``--inputs`` first rebuilds the inputs, ``project.json`` and ``coco.json``;
they are generated with integer arithmetic only, so they are the same on every machine).
The expected outputs were made with the code before the speed work of issue 18 (main at
b6371b8).

The objects: blobs, rectangles, rings and blobs with a pinhole, lines (straight and
diagonal, one pixel wide), single and diagonal pixels, speckle, bars from the top to the
bottom edge (runs that cross columns), several parts, empty masks, a mask of the wrong
size, valid RLEs that are not canonical (zero-length runs, over-long number encodings),
rejected and corrected objects, hidden objects, clicks. The COCO file adds polygons (also
partly outside the image), compressed RLE (canonical and not), uncompressed RLE, crowd
regions, duplicates (of each other and of project objects), repeated and taken ids, and
broken annotations that are skipped.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

FIXTURE_DIR = Path(__file__).parent / "data" / "output_fixture"
ROOT_PLACEHOLDER = "<root>"
IMAGES = {f"im{number:02d}.png": size for number, size in enumerate(
    [(60, 80), (120, 160), (97, 131), (48, 48), (120, 160), (75, 90), (33, 201), (160, 120)])}
UNKNOWN_SIZE = "im03.png"  # the project lists it without a size and without objects
NEVER_LISTED = "im07.png"  # in the folder, not in the project: gets the next image id
# Integer directions for blob outlines: no trigonometry, so every machine draws the same.
DIRECTIONS = [(4, 0), (4, 2), (3, 3), (2, 4), (0, 4), (-2, 4), (-3, 3), (-4, 2), (-4, 0),
              (-4, -2), (-3, -3), (-2, -4), (0, -4), (2, -4), (3, -3), (4, -2)]


# -- the inputs ------------------------------------------------------------------------------

def blob(rng: np.random.Generator, mask: np.ndarray, centre: tuple[int, int], radius: int
         ) -> None:
    scales = rng.integers(max(1, radius // 2), radius + 1, len(DIRECTIONS))
    points = np.array([(centre[0] + s * dx // 4, centre[1] + s * dy // 4)
                       for s, (dx, dy) in zip(scales, DIRECTIONS)], np.int32)
    cv2.fillPoly(mask, [points], 1)


def shape(rng: np.random.Generator, kind: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    radius = int(rng.integers(3, max(4, min(height, width) // 3)))
    cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
    if kind == 0:
        blob(rng, mask, (cx, cy), radius)
    elif kind == 1:
        x2, y2 = int(rng.integers(cx, width + 1)), int(rng.integers(cy, height + 1))
        mask[cy:y2 + 1, cx:x2 + 1] = 1
    elif kind == 2:  # a ring, or a blob with a pinhole
        blob(rng, mask, (cx, cy), radius + 3)
        hole = radius // 2 if rng.integers(2) else 0
        mask[max(cy - hole, 0):cy + hole + 1, max(cx - hole, 0):cx + hole + 1] = 0
    elif kind == 3:
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(mask, (cx, cy), end, 1, 1)
    elif kind == 4:
        mask[cy, cx] = 1
        if rng.integers(2) and cy + 1 < height and cx + 1 < width:
            mask[cy + 1, cx + 1] = 1
    elif kind == 5:  # speckle: many parts, pinch points, holes
        box = mask[cy:cy + radius, cx:cx + radius]
        box[...] = rng.integers(0, 2, box.shape)
    elif kind == 6:  # from the top edge to the bottom edge: runs cross columns
        mask[:, cx:cx + 1 + int(rng.integers(0, 4))] = 1
        mask[cy:, min(cx + 5, width - 1)] = 1
    else:
        blob(rng, mask, (cx, cy), radius)
        blob(rng, mask, (int(rng.integers(0, width)), int(rng.integers(0, height))),
             max(2, radius // 2))
    return mask.astype(bool)


def counts_of_runs(runs: list[int], height: int, width: int, padded: bool = False) -> str:
    """Compressed counts of ``runs`` as given (zero-length runs kept); ``padded``: the first
    number written with one group more than it needs (still valid, not canonical)."""
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": runs}, height, width)
    text = rle["counts"].decode("ascii")
    if not padded:
        return text
    first = runs[0]
    assert first < 16, "a one-group first run keeps the padding simple"
    return chr(48 + (first | 0x20)) + "0" + text[1:]


def runs_of(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat[0] else runs


def rle_of(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(mask.shape), "counts": encoded["counts"].decode("ascii")}


def build_inputs() -> None:
    rng = np.random.default_rng(18)
    categories = [{"id": 1, "name": "cat", "color": "#e6194b"},
                  {"id": 2, "name": "dog", "color": "#3cb44b"},
                  {"id": 5, "name": "bird", "color": "#4363d8"}]
    images, object_id = [], 0
    for image_id, (name, (height, width)) in enumerate(IMAGES.items(), start=1):
        if name == NEVER_LISTED:
            continue
        entry = {"id": image_id * 3, "file_name": name, "width": width, "height": height,
                 "objects": []}
        images.append(entry)
        if name == UNKNOWN_SIZE:
            entry["width"] = entry["height"] = None
            continue
        for number in range(int(rng.integers(15, 30))):
            object_id += int(rng.integers(1, 3))
            mask = shape(rng, number % 8, height, width)
            rle = rle_of(mask)
            if number == 3:  # valid, not canonical: zero-length runs in the middle
                runs = runs_of(mask)
                rle["counts"] = counts_of_runs(runs[:2] + [0, 0] + runs[2:], height, width)
            if number == 4 and runs_of(mask)[0] < 16:
                rle["counts"] = counts_of_runs(runs_of(mask), height, width, padded=True)
            if number == 5:
                rle = rle_of(np.zeros((height, width), bool))  # empty: skipped by the export
            record = {"id": object_id, "category_id": [1, 2, 5][number % 3],
                      "source": ["clicked", "imported", "corrected"][number % 3],
                      "rle": rle, "clicks": [], "visible": number % 7 != 6}
            if record["source"] == "clicked":
                record["clicks"] = [[int(rng.integers(height)), int(rng.integers(width)) + 0.5,
                                     bool(rng.integers(2))] for _ in range(number % 4)]
            if record["source"] == "imported":
                record["review"] = {"outcome": ["pending", "rejected", "accepted"][number % 3],
                                    "original_rle": None, "original_category_id": None}
            if number == 7:
                record["review"] = {"outcome": "corrected", "original_rle": rle_of(
                    shape(rng, 0, height, width)), "original_category_id": 2}
            entry["objects"].append(record)
        if image_id == 2:  # unknown size with objects: the RLE gives it
            entry["width"] = entry["height"] = None
    first = images[0]
    first["objects"].append({"id": object_id + 1, "category_id": 1, "source": "clicked",
                             "rle": rle_of(np.ones((10, 10), bool)), "clicks": [],
                             "visible": True})  # another size than its image's
    project = {"format": "clickmask-project", "version": 1, "root": ROOT_PLACEHOLDER,
               "categories": categories, "images": images}
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    (FIXTURE_DIR / "project.json").write_text(json.dumps(project, indent=0), encoding="utf-8")
    (FIXTURE_DIR / "coco.json").write_text(json.dumps(build_coco(rng, project), indent=0),
                                           encoding="utf-8")


def build_coco(rng: np.random.Generator, project: dict) -> dict:
    names = list(IMAGES)
    images = [{"id": 100 + index, "file_name": name, "width": width, "height": height}
              for index, (name, (height, width)) in enumerate(IMAGES.items())]
    images.append({"id": 999, "file_name": "elsewhere/missing.png", "width": 5, "height": 5})
    categories = [{"id": 1, "name": "dog"}, {"id": 2, "name": "fish"}, {"id": 3, "name": "cat"}]
    annotations, ann_id = [], 1000
    for number in range(400):
        index = int(rng.integers(len(names)))
        height, width = IMAGES[names[index]]
        ann_id += 1
        record = {"id": ann_id, "image_id": 100 + index,
                  "category_id": int(rng.integers(1, 4)), "iscrowd": 0}
        kind = number % 10
        if kind < 5:  # polygons in 1/100 pixel, some reaching outside the image
            parts = []
            for _ in range(1 + (kind == 4)):
                cx, cy = int(rng.integers(-5, width + 5)), int(rng.integers(-5, height + 5))
                points = []
                for dx, dy in DIRECTIONS[::int(rng.integers(1, 4))]:
                    scale = int(rng.integers(100, 100 * max(2, min(height, width) // 4)))
                    points += [(cx * 100 + scale * dx // 4) / 100,
                               (cy * 100 + scale * dy // 4) / 100]
                parts.append(points)
            record["segmentation"] = parts
            record["bbox"] = [0, 0, 1, 1]
        else:
            mask = shape(rng, number % 8, height, width)
            runs = runs_of(mask)
            if kind == 5:
                record["segmentation"] = rle_of(mask)
            elif kind == 6:
                record["segmentation"] = {"size": [height, width],
                                          "counts": counts_of_runs(runs[:1] + [0, 0] + runs[1:],
                                                                   height, width)}
            elif kind == 7:
                record["segmentation"] = {"size": [height, width], "counts": runs}
                record["iscrowd"] = 1
            elif kind == 8 and runs[0] < 16:
                record["segmentation"] = {"size": [height, width],
                                          "counts": counts_of_runs(runs, height, width, True)}
            else:
                record["segmentation"] = rle_of(mask)
        annotations.append(record)
    # Duplicates of each other, repeated ids, a project object again, broken annotations.
    annotations += [dict(annotations[0], id=ann_id + 1), dict(annotations[5], id=1001),
                    dict(annotations[11]), dict(annotations[12], id=3)]
    existing = next(o for o in project["images"][0]["objects"]
                    if o["category_id"] == 2 and o["rle"]["counts"])
    annotations.append({"id": 5000, "image_id": 100, "category_id": 1,
                        "segmentation": existing["rle"], "iscrowd": 0})
    annotations += [
        {"id": 6001, "image_id": 100, "category_id": 1, "segmentation": [[1, 2, 3]]},
        {"id": 6002, "image_id": 100, "category_id": 7, "segmentation": [[1, 1, 5, 1, 5, 5]]},
        {"id": 6003, "image_id": 999, "category_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]]},
        {"id": 6004, "image_id": 100, "category_id": 1,
         "segmentation": {"size": [60, 80], "counts": "0?"}},
        {"id": 6005, "image_id": 100, "category_id": 1,
         "segmentation": [[1, 1, 4, 1, 4, float("1e9")]]},
        {"id": 6006, "image_id": 100, "category_id": 1, "segmentation": [[-50, -50, -40, -50,
                                                                          -40, -40]]},
        {"id": 6007, "image_id": 100, "category_id": 1, "bbox": [1, 2, -3, 4],
         "segmentation": [[1, 1, 4, 1, 4, 4]]},
        "not an annotation"]
    return {"images": images, "annotations": annotations, "categories": categories}


# -- the outputs -----------------------------------------------------------------------------

def make_folder(folder: Path) -> Path:
    """The fixture's images (plain grey) and its project file, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (height, width) in IMAGES.items():
        cv2.imwrite(str(folder / name), np.full((height, width, 3), 90, np.uint8))
    text = (FIXTURE_DIR / "project.json").read_text(encoding="utf-8")
    (folder / "clickmask-project.json").write_text(
        text.replace(ROOT_PLACEHOLDER, str(folder)), encoding="utf-8")
    return folder


def outputs(scratch: Path) -> dict:
    """What the engine on the path makes of the fixture: the saved project, the exports in
    both hole modes, and the imports into a fresh project and into the fixture project."""
    from engine.annotations import Project
    from engine.coco import export_coco, import_coco

    folder = make_folder(scratch / "images")
    result = {}
    project = Project.open_folder(folder)
    project.save()
    result["saved"] = _rooted(json.loads((folder / "clickmask-project.json").read_text("utf-8")),
                              folder)
    for holes in ("rle", "fill"):
        out = scratch / f"export-{holes}.json"
        report = export_coco(project, out, holes=holes)
        document = json.loads(out.read_text(encoding="utf-8"))
        del document["info"]  # its date
        result[f"export-{holes}"] = {
            "document": document, "summary": report.summary(), "warnings": report.warnings,
            "instances": [[key, *value] for key, value in report.instances.items()]}
    fresh = Project.open_folder(folder, scratch / "fresh-project.json")
    for name, target in (("import-fresh", fresh), ("import-existing", project)):
        report = import_coco(target, FIXTURE_DIR / "coco.json")
        result[name] = {"project": _rooted(target.to_json(), folder),
                        "summary": report.summary(), "warnings": report.warnings,
                        "added": report.added, "skipped": report.skipped,
                        "duplicates": report.duplicates, "missing": report.missing_images}
    return result


def _rooted(document: dict, folder: Path) -> dict:
    assert document["root"] == str(folder)
    return {**document, "root": ROOT_PLACEHOLDER}


def expected() -> dict:
    with gzip.open(FIXTURE_DIR / "expected.json.gz", "rt", encoding="utf-8") as file:
        return json.load(file)


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", action="store_true", help="rebuild the inputs first")
    if parser.parse_args().inputs:
        build_inputs()
    with tempfile.TemporaryDirectory() as scratch:
        result = outputs(Path(scratch))
    text = json.dumps(result, separators=(",", ":"))
    (FIXTURE_DIR / "expected.json.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    print(f"wrote {FIXTURE_DIR / 'expected.json.gz'} with the engine of "
          f"{sys.modules['engine'].__file__}")


if __name__ == "__main__":
    main()
