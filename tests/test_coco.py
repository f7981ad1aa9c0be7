"""COCO export and import: geometry exactness, round trips, and malformed files."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from engine.annotations import Project
from engine.coco import (
    CocoFormatError,
    ExportCancelled,
    ExportReport,
    ImportReport,
    InstanceExport,
    export_coco,
    import_coco,
    mask_to_segmentation,
)
from engine.masks import InvalidRLE, check_rle, decode_rle, encode_rle, mask_bbox

H, W = 40, 60


# -- helpers ---------------------------------------------------------------------------------

def blank(height: int = H, width: int = W) -> np.ndarray:
    return np.zeros((height, width), dtype=bool)


def rasterize(segmentation, height: int, width: int) -> np.ndarray:
    """Independent of engine.coco: what pycocotools' COCO.annToMask does."""
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    else:
        rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def uncompressed_counts(mask: np.ndarray) -> list[int]:
    """Column-major run lengths starting with a background run, written out by hand."""
    runs, current, length = [], False, 0
    for value in mask.flatten(order="F"):
        if value == current:
            length += 1
        else:
            runs.append(length)
            current, length = value, 1
    runs.append(length)
    return runs


def assert_valid_polygons(polygons) -> None:
    assert isinstance(polygons, list) and polygons
    for polygon in polygons:
        assert len(polygon) >= 6 and len(polygon) % 2 == 0
        assert all(isinstance(v, float) for v in polygon)


def make_folder(tmp_path: Path, sizes: dict[str, tuple[int, int]] | None = None) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name, (height, width) in (sizes or {"a.png": (H, W), "b.png": (30, 50)}).items():
        cv2.imwrite(str(folder / name), np.full((height, width, 3), 90, dtype=np.uint8))
    return folder


def second_project(folder: Path, tmp_path: Path) -> Project:
    """A fresh, empty project on the same images (its own project file)."""
    return Project.open_folder(folder, tmp_path / "second-project.json")


def write_coco(path: Path, annotations: list, images: list | None = None,
               categories: list | None = None) -> Path:
    document = {
        "images": images if images is not None else [
            {"id": 1, "file_name": "a.png", "width": W, "height": H}],
        "annotations": annotations,
        "categories": categories if categories is not None else [
            {"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def annotation(ann_id: int, segmentation, image_id: int = 1, category_id: int = 1,
               **extra) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id,
            "segmentation": segmentation, "iscrowd": 0, **extra}


def square(x: int, y: int, size: int) -> list[float]:
    return [x, y, x + size, y, x + size, y + size, x, y + size]


# -- geometry --------------------------------------------------------------------------------

def ring() -> np.ndarray:
    mask = blank()
    mask[5:30, 5:40] = True
    mask[12:20, 15:25] = False
    return mask


def small_hole() -> np.ndarray:
    mask = blank()
    mask[5:35, 5:55] = True
    mask[18:20, 28:30] = False
    return mask


def several_parts() -> np.ndarray:
    mask = blank()
    mask[2:10, 2:10] = True
    mask[20:30, 30:50] = True
    mask[35, 5] = True
    return mask


def touching_border() -> np.ndarray:
    mask = blank()
    mask[0:15, 0:20] = True
    mask[25:, 45:] = True
    return mask


def one_pixel() -> np.ndarray:
    mask = blank()
    mask[7, 9] = True
    return mask


def two_pixels() -> np.ndarray:
    mask = blank()
    mask[7, 9:11] = True
    return mask


def two_diagonal_pixels() -> np.ndarray:
    mask = blank()
    mask[7, 9] = mask[8, 10] = True
    return mask


def horizontal_line() -> np.ndarray:
    mask = blank()
    mask[20, 3:50] = True
    return mask


def diagonal_line() -> np.ndarray:
    mask = blank()
    for i in range(30):
        mask[5 + i, 10 + i] = True
    return mask


def bent_line() -> np.ndarray:
    mask = blank()
    mask[5, 5:40] = True
    mask[5:35, 39] = True
    return mask


def big_blob() -> np.ndarray:
    yy, xx = np.mgrid[:300, :400]
    blob = ((yy - 150) / 120.0) ** 2 + ((xx - 200) / 170.0) ** 2 <= 1
    blob |= (yy - 60) ** 2 + (xx - 320) ** 2 <= 40 ** 2
    return blob


HOLE_FREE_SHAPES = {
    "several parts": several_parts,
    "touching the border": touching_border,
    "one pixel": one_pixel,
    "two pixels": two_pixels,
    "two diagonal pixels": two_diagonal_pixels,
    "horizontal line": horizontal_line,
    "diagonal line": diagonal_line,
    "bent line": bent_line,
}


@pytest.mark.parametrize("name", HOLE_FREE_SHAPES)
def test_hole_free_masks_become_valid_polygons(name):
    mask = HOLE_FREE_SHAPES[name]()
    geometry = mask_to_segmentation(mask)
    assert geometry.kind == "polygon"
    assert_valid_polygons(geometry.segmentation)
    back = rasterize(geometry.segmentation, *mask.shape)
    assert geometry.iou == pytest.approx(iou(back, mask))
    # Pixel-corner outlines reproduce these masks exactly.
    assert geometry.iou == 1.0


def test_every_part_is_its_own_polygon():
    geometry = mask_to_segmentation(several_parts())
    assert len(geometry.segmentation) == 3


def test_big_blob_polygon_keeps_the_mask():
    mask = big_blob()
    geometry = mask_to_segmentation(mask)
    assert geometry.kind == "polygon"
    assert len(geometry.segmentation) == 1
    assert iou(rasterize(geometry.segmentation, *mask.shape), mask) > 0.98


def test_mask_with_hole_is_rle_by_default():
    mask = ring()
    geometry = mask_to_segmentation(mask)
    assert geometry.kind == "rle"
    assert geometry.iou == 1.0
    assert geometry.segmentation["size"] == [H, W]
    assert isinstance(geometry.segmentation["counts"], str)
    assert np.array_equal(rasterize(geometry.segmentation, H, W), mask)


def test_fill_writes_polygons_that_fill_small_holes():
    mask = small_hole()
    geometry = mask_to_segmentation(mask, holes="fill")
    assert geometry.kind == "polygon"
    assert_valid_polygons(geometry.segmentation)
    back = rasterize(geometry.segmentation, H, W)
    assert back[18:20, 28:30].all()  # the hole is filled
    assert geometry.iou == pytest.approx(iou(back, mask))
    assert 0.95 <= geometry.iou < 1.0


def test_fill_falls_back_to_rle_when_the_hole_is_large():
    geometry = mask_to_segmentation(ring(), holes="fill")
    assert geometry.kind == "rle"
    assert geometry.iou == 1.0


def test_polygons_below_the_threshold_fall_back_to_rle():
    mask = small_hole()
    geometry = mask_to_segmentation(mask, holes="fill", min_iou=0.9999)
    assert geometry.kind == "rle"
    assert np.array_equal(rasterize(geometry.segmentation, H, W), mask)


def test_empty_mask_and_bad_options_are_refused():
    with pytest.raises(ValueError, match="empty"):
        mask_to_segmentation(blank())
    with pytest.raises(ValueError, match="holes"):
        mask_to_segmentation(one_pixel(), holes="keep")


# -- export ----------------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path, {"a.png": (H, W), "b.png": (30, 50), "empty.png": (20, 25)})


@pytest.fixture
def project(folder) -> Project:
    project = Project.open_folder(folder)
    for make in (ring, several_parts, touching_border, one_pixel, two_pixels, horizontal_line,
                 diagonal_line):
        project.add_object("a.png", make(), "thing")
    line = np.zeros((30, 50), dtype=bool)
    line[3:28, 7] = True
    project.add_object("b.png", line, "stick")
    return project


def test_export_writes_coco_that_pycocotools_reads(project, tmp_path):
    out = tmp_path / "out" / "coco.json"
    report = export_coco(project, out)
    coco = COCO(str(out))
    assert sorted(img["file_name"] for img in coco.dataset["images"]) == [
        "a.png", "b.png", "empty.png"]
    sizes = {img["file_name"]: (img["id"], img["height"], img["width"])
             for img in coco.dataset["images"]}
    # "empty.png" was never annotated: its size comes from the file.
    assert sizes == {"a.png": (project.images["a.png"].id, H, W),
                     "b.png": (project.images["b.png"].id, 30, 50),
                     "empty.png": (project.images["empty.png"].id, 20, 25)}
    assert {c["name"] for c in coco.dataset["categories"]} == {"thing", "stick"}
    assert report.annotations == 8 and report.images == 3 and report.skipped == 0
    for entry, obj in project.iter_objects():
        ann = coco.anns[obj.id]
        assert ann["image_id"] == entry.id
        assert ann["iscrowd"] == 0
        assert ann["area"] == int(obj.mask.sum())
        assert ann["bbox"] == mask_bbox(obj.mask)
        back = coco.annToMask(ann).astype(bool)
        assert report.instances[obj.id].iou == pytest.approx(iou(back, obj.mask))
        if isinstance(ann["segmentation"], list):
            assert report.instances[obj.id].kind == "polygon"
            assert_valid_polygons(ann["segmentation"])
        else:
            assert report.instances[obj.id].kind == "rle"
    ring_id = project.images["a.png"].objects[0].id
    assert report.instances[ring_id].kind == "rle"
    assert report.rles == 1 and report.polygons == 7
    assert report.min_iou == 1.0


def test_export_fill_writes_polygons_for_small_holes(folder, tmp_path):
    project = Project.open_folder(folder)
    obj = project.add_object("a.png", small_hole(), "thing")
    report = export_coco(project, tmp_path / "coco.json", holes="fill")
    assert report.instances[obj.id].kind == "polygon"
    assert 0.95 <= report.min_iou < 1.0


def test_export_skips_empty_masks_with_a_warning(folder, tmp_path):
    project = Project.open_folder(folder)
    project.add_object("a.png", blank(), "thing")
    good = project.add_object("a.png", one_pixel(), "thing")
    report = export_coco(project, tmp_path / "coco.json")
    assert list(report.instances) == [good.id]
    assert report.skipped == 1
    assert any("empty" in w for w in report.warnings)


def test_ids_are_stable_across_exports(project, folder, tmp_path):
    first = json.loads(_export_text(project, tmp_path / "1.json"))
    project.save()
    cv2.imwrite(str(folder / "0-new.png"), np.zeros((10, 10, 3), dtype=np.uint8))
    reopened = Project.open_folder(folder)  # loads the saved ids; the new image sorts first
    second = json.loads(_export_text(reopened, tmp_path / "2.json"))
    first_images = {img["file_name"]: img["id"] for img in first["images"]}
    second_images = {img["file_name"]: img["id"] for img in second["images"]}
    new_id = second_images.pop("0-new.png")
    assert second_images == first_images and new_id not in first_images.values()
    assert ({ann["id"]: ann["image_id"] for ann in first["annotations"]}
            == {ann["id"]: ann["image_id"] for ann in second["annotations"]})


def _export_text(project: Project, path: Path) -> str:
    export_coco(project, path)
    return path.read_text(encoding="utf-8")


def test_progress_reaches_the_total(project, tmp_path):
    calls = []
    export_coco(project, tmp_path / "coco.json", progress=lambda d, t: calls.append((d, t)))
    total = 3 + 8  # images + objects
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == list(range(1, total + 1))


def test_cancel_stops_without_writing(project, tmp_path):
    out = tmp_path / "coco.json"
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExportCancelled):
        export_coco(project, out, cancel=cancel)
    assert not out.exists()

    out.write_text("previous export", encoding="utf-8")
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 4:
            cancel.set()

    with pytest.raises(ExportCancelled):
        export_coco(project, out, progress=progress, cancel=cancel)
    assert out.read_text(encoding="utf-8") == "previous export"


# -- round trip ------------------------------------------------------------------------------

def test_round_trip_keeps_masks_ids_and_categories(project, folder, tmp_path):
    out = tmp_path / "coco.json"
    exported = export_coco(project, out)
    target = second_project(folder, tmp_path)
    report = import_coco(target, out)
    assert report.added == {"a.png": 7, "b.png": 1}
    assert report.skipped == 0 and report.duplicates == 0 and not report.missing_images
    for entry, obj in project.iter_objects():
        twin_entry, twin = target.find_object(obj.id)  # the annotation id is kept
        assert twin_entry.file_name == entry.file_name
        assert twin.source == "imported"
        assert target.category(twin.category_id).name == project.category(obj.category_id).name
        assert iou(twin.mask, obj.mask) == pytest.approx(exported.instances[obj.id].iou)
        assert np.array_equal(twin.mask, obj.mask)  # all of these are exact


def test_importing_twice_adds_nothing_the_second_time(project, folder, tmp_path):
    out = tmp_path / "coco.json"
    export_coco(project, out)
    target = second_project(folder, tmp_path)
    import_coco(target, out)
    count = sum(1 for _ in target.iter_objects())
    again = import_coco(target, out)
    assert again.added_total == 0
    assert again.duplicates == 8
    assert sum(1 for _ in target.iter_objects()) == count


# -- import of other tools' files ------------------------------------------------------------

def test_import_polygons_compressed_and_uncompressed_rle(folder, tmp_path):
    project = Project.open_folder(folder)
    first = blank()
    first[2:8, 3:10] = True
    second = blank()
    second[20:30, 30:45] = True
    second[24:26, 36:38] = False  # a hole: RLE can carry it
    third = blank()
    third[0:5, 50:60] = True
    third[39, 0] = True
    coco = write_coco(tmp_path / "other.json", [
        annotation(10, [[3, 2, 10, 2, 10, 8, 3, 8]]),  # pixel-corner outline of `first`
        annotation(11, encode_rle(second), category_id=2),
        annotation(12, {"size": [H, W], "counts": uncompressed_counts(third)}, iscrowd=1),
    ])
    report = import_coco(project, coco)
    assert report.added == {"a.png": 3}
    assert report.skipped == 0
    assert any("iscrowd" in w for w in report.warnings)
    masks = {obj.id: obj.mask for obj in project.images["a.png"].objects}
    assert np.array_equal(masks[10], first)
    assert np.array_equal(masks[11], second)
    assert np.array_equal(masks[12], third)
    assert project.category(project.find_object(11)[1].category_id).name == "dog"
    entry = project.images["a.png"]
    assert (entry.height, entry.width) == (H, W)


def test_import_matches_images_by_basename_and_reports_missing_ones(folder, tmp_path):
    project = Project.open_folder(folder)
    coco = write_coco(tmp_path / "other.json", [
        annotation(1, [square(5, 5, 10)], image_id=7),
        annotation(2, [square(5, 5, 10)], image_id=8),
        annotation(3, [square(1, 1, 3)], image_id=8),
    ], images=[
        {"id": 7, "file_name": "C:\\data\\set\\b.png", "width": 50, "height": 30},
        {"id": 8, "file_name": "gone.jpg", "width": 50, "height": 30},
    ])
    report = import_coco(project, coco)
    assert report.added == {"b.png": 1}
    assert report.missing_images == ["gone.jpg"]
    assert report.skipped == 2
    assert any("gone.jpg" in w and "not in the folder" in w for w in report.warnings)


def test_import_skips_images_whose_size_disagrees(folder, tmp_path):
    project = Project.open_folder(folder)
    coco = write_coco(tmp_path / "other.json", [annotation(1, [square(5, 5, 10)])],
                      images=[{"id": 1, "file_name": "a.png", "width": W + 1, "height": H}])
    report = import_coco(project, coco)
    assert report.added_total == 0 and report.skipped == 1
    assert any(f"{W + 1}x{H}" in w and f"{W}x{H}" in w for w in report.warnings)
    assert not project.images["a.png"].objects


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not valid JSON"),
    ("[]", "holds a list"),
    ('"text"', "not a COCO dataset"),
    ('{"annotations": [], "categories": []}', "no 'images'"),
    ('{"images": [], "categories": []}', "no 'annotations'"),
    ('{"images": [], "annotations": []}', "no 'categories'"),
    ('{"images": {}, "annotations": [], "categories": []}', "'images' must be a list"),
    ('{"images": [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}],'
     ' "annotations": [], "categories": []}', "image id 1 is used by more than one"),
    ('{"images": [], "annotations": [],'
     ' "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}', "category id 1"),
])
def test_files_that_are_not_coco_are_refused(folder, tmp_path, content, expected):
    project = Project.open_folder(folder)
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CocoFormatError, match=expected) as raised:
        import_coco(project, path)
    assert "bad.json" in str(raised.value)
    assert not any(True for _ in project.iter_objects())


def test_unreadable_file_is_a_coco_format_error(folder, tmp_path):
    project = Project.open_folder(folder)
    with pytest.raises(CocoFormatError, match="cannot read"):
        import_coco(project, tmp_path / "absent.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(CocoFormatError, match="binary.json"):
        import_coco(project, binary)


def test_bad_annotations_are_skipped_and_good_ones_kept(folder, tmp_path):
    project = Project.open_folder(folder)
    good = [square(2, 2, 5)]
    bad = {
        101: annotation(101, [[1, 1, 5, 1]]),  # 4 numbers: pycocotools would take a bbox
        102: annotation(102, [[1, 1, 5, 1, 5, 5, 1]]),  # odd length
        103: annotation(103, [[1, "a", 5, 1, 5, 5]]),
        104: annotation(104, {"size": [H + 1, W], "counts": "abc"}),
        105: annotation(105, {"size": [H, W], "counts": [5, 10]}),  # sums to 15, not H*W
        106: annotation(106, {"size": [H, W], "counts": "\x7f\x7f"}),
        107: annotation(107, good, image_id=99),
        108: annotation(108, good, category_id=42),
        109: annotation(109, good, bbox=[2, 2, -5, 5]),
        110: annotation(110, [[-1e12, -1e12, 1e12, 0, 0, 1e12]]),  # crashes pycocotools
        111: annotation(111, "polygon"),
        112: annotation(112, [[1, 1, 5, 1, 5, 5, 1, 5]], bbox="box"),
        113: annotation(113, []),
        114: annotation(114, [[1, 1, float("nan"), 1, 5, 5]]),
        115: annotation(115, {"size": [H, W], "counts": [H * W - 5, -1, 6]}),
        116: annotation(116, {"size": [H, W], "counts": "P"}),  # continues past the end
    }
    annotations = [annotation(1, good), *bad.values(), "not an annotation",
                   {"id": "seven", "image_id": 1, "category_id": 1, "segmentation": good},
                   annotation(2, [square(20, 20, 5)])]
    report = import_coco(project, write_coco(tmp_path / "mixed.json", annotations))
    assert report.added == {"a.png": 2}
    assert {obj.id for obj in project.images["a.png"].objects} == {1, 2}
    assert report.skipped == len(bad) + 2
    text = "\n".join(report.warnings)
    for ann_id in bad:
        assert f"annotation id {ann_id} skipped" in text
    assert "4 numbers" in text and "7 numbers" in text
    assert "RLE size" in text and "cover 15 pixels" in text
    assert "not an RLE character" in text and "middle of a number" in text
    assert "image id 99" in text and "category id 42" in text
    assert "negative width" in text and "far outside" in text
    assert "annotation #" in text and "'seven'" in text


def test_duplicate_annotation_ids_import_both_under_new_ids(folder, tmp_path):
    project = Project.open_folder(folder)
    coco = write_coco(tmp_path / "dup.json", [annotation(5, [square(2, 2, 5)]),
                                              annotation(5, [square(20, 20, 5)])])
    report = import_coco(project, coco)
    assert report.added_total == 2
    assert any("appear more than once" in w for w in report.warnings)
    assert 5 not in {obj.id for obj in project.images["a.png"].objects}


def test_imported_ids_that_are_taken_get_new_ones(folder, tmp_path):
    project = Project.open_folder(folder)
    mine = project.add_object("a.png", one_pixel(), "cat")
    coco = write_coco(tmp_path / "other.json", [annotation(mine.id, [square(20, 20, 5)])])
    import_coco(project, coco)
    ids = [obj.id for obj in project.images["a.png"].objects]
    assert len(ids) == 2 and len(set(ids)) == 2


# -- RLE validation (engine.masks) -----------------------------------------------------------

def test_decode_rle_reads_compressed_and_uncompressed_counts():
    mask = several_parts()
    assert np.array_equal(decode_rle(encode_rle(mask)), mask)
    uncompressed = {"size": [H, W], "counts": uncompressed_counts(mask)}
    assert np.array_equal(decode_rle(uncompressed, (H, W)), mask)
    assert check_rle(encode_rle(mask), (H, W)) == (H, W)


@pytest.mark.parametrize("rle, expected", [
    ({"size": [H, W], "counts": "ab\x7f"}, "'\\x7f', which is not an RLE character"),
    ({"size": [H, W], "counts": "aé"}, "'é', which is not an RLE character"),
    ({"size": [H, W], "counts": "0P"}, "middle of a number"),
    ({"size": [H, W], "counts": "0" + "P" * 12 + "0"}, "more than 12 characters"),
    ({"size": [H, W], "counts": "0" + "P" * 7 + "1"}, "too large for any run length"),
    # 2**31 + 1 twice along the odd chain: each difference is fine, the sum is not.
    ({"size": [H, W], "counts": "0QPPPPP20QPPPPP2"}, "longer than pycocotools can store"),
    ({"size": [H, W], "counts": "0@"}, "negative run length"),  # '@' is -16
    ({"size": [H, W], "counts": "12"}, "cover 3 pixels"),
    ({"size": [H, W], "counts": [H * W, -1, 1]}, "non-negative integers"),
    ({"size": [H, W], "counts": [2 ** 40, 0]}, "longer than pycocotools can store"),
    ({"size": [H, W], "counts": 5}, "'counts' must be"),
    ({"size": [H, -W], "counts": ""}, "'size' must be [height, width]"),
    ({"size": "40x60", "counts": ""}, "'size' must be [height, width]"),
    ([H, W], "must be an object"),
])
def test_decode_rle_refuses_malformed_rle(rle, expected):
    with pytest.raises(InvalidRLE) as raised:
        decode_rle(rle)
    assert expected in str(raised.value)
    with pytest.raises(InvalidRLE):
        check_rle(rle)


def test_decode_rle_checks_the_expected_shape():
    rle = encode_rle(one_pixel())
    with pytest.raises(InvalidRLE, match=f"RLE size is {W}x{H} but the image is {W}x{H + 1}"):
        decode_rle(rle, (H + 1, W))
    with pytest.raises(ValueError):  # InvalidRLE is a ValueError
        decode_rle(rle, (H, W - 1))


# -- one-line summaries ----------------------------------------------------------------------

def test_export_summary(project, folder, tmp_path):
    report = export_coco(project, tmp_path / "coco.json")
    assert report.summary() == "3 images, 8 instances (7 polygons, 1 RLE), minimum IoU 1.000"
    lossy = ExportReport(tmp_path / "x.json", images=1, skipped=2, instances={
        1: InstanceExport(1, "polygon", 0.99989), 2: InstanceExport(1, "rle", 1.0)})
    # Rounded down: a lossy export never reads as 1.000.
    assert lossy.summary() == ("1 image, 2 instances (1 polygon, 1 RLE), minimum IoU 0.999; "
                               "2 objects skipped")
    assert ExportReport(tmp_path / "x.json", images=2).summary() == "2 images, 0 instances"


def test_import_summary(project, folder, tmp_path):
    report = ImportReport(tmp_path / "x.json", added={"a.png": 5, "b.png": 7}, skipped=2,
                          duplicates=1, missing_images=["c.png", "d.png", "e.png", "f.png"])
    assert report.summary() == ("Imported 12 instances into 2 images; 2 skipped, "
                                "1 duplicate, 4 images not in the folder")
    out = tmp_path / "coco.json"
    export_coco(project, out)
    target = second_project(folder, tmp_path)
    assert import_coco(target, out).summary() == "Imported 8 instances into 2 images"
    assert import_coco(target, out).summary() == "Imported no instances; 8 duplicates"
