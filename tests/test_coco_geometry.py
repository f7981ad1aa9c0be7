"""The export's tracing (engine.coco_geometry) gives what the whole-mask tracing it replaced
gave: each mask traced within its box, the outlines of many masks buffered together,
simplify(0) skipped where it changes nothing, one findContours for holes and outlines.

The reference below is that tracing as it was (main at b6371b8, engine/coco.py), run on
seeded random masks of every kind (integer data only)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon
from shapely.validation import make_valid

from engine.coco_geometry import (
    InvalidAnnotation,
    mask_to_segmentation,
    segmentation_to_rle,
    segmentations,
)
from engine.masks import encode_rle, mask_iou, run_mask
from engine.rle import RunMaskBatch

DIRECTIONS = [(4, 0), (3, 3), (0, 4), (-3, 3), (-4, 0), (-3, -3), (0, -4), (3, -3)]


def reference_segmentation(mask: np.ndarray, holes: str, min_iou: float = 0.95):
    """engine.coco.mask_to_segmentation before the speed work: (segmentation, kind, iou)."""
    if holes == "rle" and reference_has_holes(mask):
        return encode_rle(mask), "rle", 1.0
    polygons = reference_polygons(mask)
    rles = mask_utils.frPyObjects(polygons, *mask.shape)
    iou = mask_iou(mask_utils.decode(mask_utils.merge(rles)).astype(bool), mask)
    if iou < min_iou:
        return encode_rle(mask), "rle", 1.0
    return polygons, "polygon", iou


def reference_has_holes(mask: np.ndarray) -> bool:
    _, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP,
                                    cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())


def reference_polygons(mask: np.ndarray) -> list[list[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        points = contour.reshape(-1, 2).astype(np.float64)
        if len(points) == 1:
            centre_line = Point(points[0])
        elif len(points) == 2:
            centre_line = LineString(points)
        else:
            centre_line = make_valid(Polygon(points))
        outline = centre_line.buffer(0.5, cap_style="square", join_style="mitre")
        outline = affinity.translate(outline, 0.5, 0.5).simplify(0)
        for part in getattr(outline, "geoms", [outline]):
            if isinstance(part, Polygon) and not part.is_empty:
                xy = np.round(np.asarray(part.exterior.coords)[:-1], 2)
                polygons.append([float(v) for v in xy.ravel()])
    return polygons


def random_mask(rng: np.random.Generator) -> np.ndarray:
    height, width = (int(v) for v in rng.integers(8, 70, 2))
    mask = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.integers(6)
        cx, cy = int(rng.integers(-3, width + 3)), int(rng.integers(-3, height + 3))
        size = int(rng.integers(1, max(2, min(height, width) // 2)))
        if kind == 0:  # a blob
            points = [(cx + int(rng.integers(1, size + 1)) * dx // 4,
                       cy + int(rng.integers(1, size + 1)) * dy // 4) for dx, dy in DIRECTIONS]
            cv2.fillPoly(mask, [np.array(points, np.int32)], 1)
        elif kind == 1:  # a line, often diagonal
            cv2.line(mask, (cx, cy), (int(rng.integers(width)), int(rng.integers(height))), 1)
        elif kind == 2:  # speckle: pinches, spurs, holes
            box = mask[max(cy, 0):cy + size, max(cx, 0):cx + size]
            box[...] = rng.integers(0, 2, box.shape)
        elif kind == 3:  # a ring
            cv2.rectangle(mask, (cx - size, cy - size), (cx + size, cy + size), 1, -1)
            cv2.rectangle(mask, (cx - size // 2, cy - size // 2), (cx + size // 2, cy + size // 2),
                          0, -1)
        elif kind == 4:  # top to bottom: runs from one column into the next
            mask[:, max(0, min(cx, width - 1))] = 1
        else:
            mask[max(cy, 0):cy + 1, max(cx, 0):cx + 1] = 1
    return mask.astype(bool)


@pytest.mark.parametrize("holes", ["rle", "fill"])
@pytest.mark.parametrize("seed", range(2))
def test_tracing_many_masks_together_gives_the_reference(seed, holes):
    rng = np.random.default_rng(seed)
    masks = [mask for mask in (random_mask(rng) for _ in range(250)) if mask.any()]
    traced = segmentations(RunMaskBatch([run_mask(encode_rle(m)) for m in masks]), holes)
    kinds = set()
    for mask, geometry in zip(masks, traced):
        segmentation, kind, iou = reference_segmentation(mask, holes)
        assert (geometry.segmentation, geometry.kind, geometry.iou) == (segmentation, kind, iou)
        kinds.add(kind)
    assert kinds == {"polygon", "rle"}


def test_one_mask_gives_the_reference():
    rng = np.random.default_rng(7)
    for _ in range(40):
        mask = random_mask(rng)
        if mask.any():
            assert tuple(mask_to_segmentation(mask, "fill")) == reference_segmentation(mask,
                                                                                       "fill")


@pytest.mark.parametrize("polygon, problem", [
    ([1, 2, 3, 4, 5, 6], None),
    ([1, 2, 3, 4, 5, float("nan")], "not finite numbers"),
    ([1, 2, 3, 4, 5, float("inf")], "not finite numbers"),
    ([1, 2, 3, 4, 5, 10 ** 400], "far outside"),
    ([-10 ** 400, 2, 3, 4, 5, 6], "far outside"),
    ([float("nan"), 2, 3, 4, 5, 10 ** 400], "not finite numbers"),
    ([1, 2, 3, 4, 5, True], "not finite numbers"),
    ([1, 2, 3, 4, 5, "6"], "not finite numbers"),
    ([1, 2, 3, 4, 5, 1e9], "far outside"),
    ([-10.0, 2, 3, 4, 5, 6], None),  # one image size of slack
    ([np.float64(1), 2, 3, 4, 5, 6], None),
    ([np.int64(1), 2, 3, 4, 5, 6], "not finite numbers"),
])
def test_polygon_numbers_are_checked_as_before(polygon, problem):
    """Checked in bulk now; the verdicts and their order are those of the check by value."""
    if problem is None:
        segmentation_to_rle([polygon], 10, 10)
    else:
        with pytest.raises(InvalidAnnotation, match=problem):
            segmentation_to_rle([polygon], 10, 10)
