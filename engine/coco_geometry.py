"""COCO geometry of masks: polygons traced from a mask's pixels where they keep it, RLE
where they would lose it; and the RLE of a COCO segmentation.

Each polygon is traced from the mask's pixels, rasterised back with pycocotools and compared
with the mask; where that would lose more than :data:`MIN_POLYGON_IOU` of the mask, or
where the mask has holes (COCO polygons are merged by union, so they cannot cut a hole),
the instance is written as compressed RLE instead, which is exact.

An export traces every object of a project, so the masks are never decoded whole: each is
traced inside its bounding box (:class:`engine.rle.RunMask`), the polygons are compared
with it as RLE, and the shapely steps run on the outlines of many masks at once
(:func:`segmentations`).

pycocotools' C code trusts its input (a bad RLE or a huge coordinate can crash the
process), so every segmentation read is validated in Python before pycocotools sees it
(polygons here, RLE by :func:`engine.masks.run_mask`).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import cv2
import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import LineString, Point

from engine.masks import InvalidRLE, decode_rle, encode_rle, run_mask
from engine.rle import RunMask, RunMaskBatch

# The traced polygons reproduce a hole-free mask exactly in almost every case (pixel-corner
# outlines rasterise back pixel for pixel), so this threshold only bites where a polygon
# really loses pixels: holes closed by ``holes="fill"`` or pinch points where two diagonal
# pixels close a pocket of background. 0.95 lets "fill" close pinholes and speckle while a
# hole that is part of the object's shape (more than ~5 % of it, e.g. a ring) stays RLE.
MIN_POLYGON_IOU = 0.95

HOLE_MODES = ("rle", "fill")

# Polygon coordinates may stray a little outside the image (pycocotools clips them), but
# coordinates far outside overflow pycocotools' integer arithmetic and crash it; allow one
# image size of slack on every side.
_COORDINATE_SLACK = 1.0

_POLYGON_DECIMALS = 2  # 1/100 pixel: exact enough, and keeps the JSON small

# Outlines whose vertices are all at least this far (in pixels) from each other and from
# the line through their two neighbours have nothing that simplify(0) removes (see
# _unchanged_by_simplify); outlines traced from pixels are far from that limit.
_SIMPLIFY_MARGIN = 0.05
_SIMPLIFY_MAX_COORDINATE = 1e5  # the margin's proof holds for coordinates up to this


class InvalidAnnotation(ValueError):
    """One segmentation or annotation that cannot be used; import skips it with a warning."""


class CocoGeometry(NamedTuple):
    """A COCO ``segmentation`` value, its kind and how well it reproduces the mask."""

    segmentation: list[list[float]] | dict
    kind: str  # "polygon" or "rle"
    iou: float  # IoU of the segmentation rasterised by pycocotools with the mask


# -- mask -> COCO geometry -------------------------------------------------------------------

def mask_to_segmentation(mask: np.ndarray, holes: str = "rle",
                         min_iou: float = MIN_POLYGON_IOU) -> CocoGeometry:
    """COCO segmentation of a non-empty ``H x W`` mask: polygons where they keep the mask.

    Every 8-connected part of the mask becomes its own polygon (flat ``[x1, y1, ...]``
    lists of at least 6 numbers, pixel-corner coordinates). ``holes`` says what to do with
    a mask that has holes, which polygons cannot represent:

    - ``"rle"`` (default): write compressed RLE, which is exact;
    - ``"fill"``: write the outer boundaries only, which *fills the holes*.

    The polygons are rasterised back with pycocotools; below ``min_iou`` IoU with the mask
    (a large filled hole, for instance) the result is compressed RLE with IoU 1.0 instead,
    so the geometry never loses more than that. Raises ``ValueError`` for an empty mask,
    which has no geometry.
    """
    _check_holes(holes)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask is H x W, got shape {mask.shape}")
    if not mask.any():
        raise ValueError("an empty mask has no COCO geometry")
    return segmentations(RunMaskBatch([run_mask(encode_rle(mask))]), holes, min_iou)[0]


def segmentations(batch: RunMaskBatch, holes: str = "rle",
                  min_iou: float = MIN_POLYGON_IOU) -> list[CocoGeometry]:
    """:func:`mask_to_segmentation` of many masks, traced together."""
    _check_holes(holes)
    exact: dict[int, CocoGeometry] = {}  # masks with holes, when holes stay RLE
    contours: list[np.ndarray] = []
    owners: list[int] = []
    # With RETR_CCOMP, contours that have a parent are the boundaries of holes (background
    # regions that do not reach the image border), in OpenCV's 8-/4-connectivity; with no
    # hole, its contours are RETR_EXTERNAL's (the same outer borders in the same scan).
    # A box has a frame of background, as OpenCV gives a whole image, so it finds the
    # same contours as the whole mask would.
    mode = cv2.RETR_CCOMP if holes == "rle" else cv2.RETR_EXTERNAL
    for index, ((rmin, _, cmin, _), box) in enumerate(zip(batch.extents,
                                                           batch.framed_boxes())):
        found, hierarchy = cv2.findContours(box, mode, cv2.CHAIN_APPROX_SIMPLE,
                                            offset=(cmin - 1, rmin - 1))
        if holes == "rle" and (hierarchy[0][:, 3] >= 0).any():
            exact[index] = _exact(batch.masks[index])
            continue
        contours += [contour.reshape(-1, 2).astype(np.float64) for contour in found]
        owners += [index] * len(found)
    polygons: list[list[list[float]]] = [[] for _ in batch.masks]
    for owner, outline in zip(owners, _outlines(contours)):
        polygons[owner] += outline
    return [exact[index] if index in exact else _checked(polygons[index], mask, min_iou)
            for index, mask in enumerate(batch.masks)]


def _checked(polygons: list[list[float]], mask: RunMask, min_iou: float) -> CocoGeometry:
    """The polygons, if they keep at least ``min_iou`` of the mask; else its RLE."""
    iou = _polygon_iou(polygons, mask)
    return CocoGeometry(polygons, "polygon", iou) if iou >= min_iou else _exact(mask)


def _check_holes(holes: str) -> None:
    if holes not in HOLE_MODES:
        raise ValueError(f"holes must be one of {HOLE_MODES}, not {holes!r}")


def _exact(mask: RunMask) -> CocoGeometry:
    return CocoGeometry({"size": [mask.height, mask.width], "counts": mask.counts}, "rle", 1.0)


def _outlines(contours: list[np.ndarray]) -> list[list[list[float]]]:
    """The COCO polygons of each contour's outline: its parts' outer boundaries.

    ``cv2.findContours`` gives outlines through pixel centres, which would cut every
    boundary pixel in half and collapse 1-pixel objects and 1-pixel-wide lines to points
    and segments. Buffering them by half a pixel with square caps and mitre joins moves the
    outline to the pixels' outer corners and gives such thin parts a real area. Holes are
    filled: interiors can only come from pinch points closing a pocket of background, and
    the IoU check catches any real loss.
    """
    if not contours:
        return []
    lines = np.empty(len(contours), dtype=object)
    rings = [index for index, points in enumerate(contours) if len(points) > 2]
    for index, points in enumerate(contours):
        if len(points) == 1:
            lines[index] = Point(points[0])
        elif len(points) == 2:
            lines[index] = LineString(points)
    if rings:
        polygons = shapely.polygons(shapely.linearrings(
            np.concatenate([contours[index] for index in rings]),
            indices=np.repeat(np.arange(len(rings)), [len(contours[i]) for i in rings])))
        # A contour that runs back along itself (a thin spur) is an invalid polygon;
        # make_valid keeps such collapsed parts as lines, which the buffer widens.
        invalid = ~shapely.is_valid(polygons)
        polygons[invalid] = shapely.make_valid(polygons[invalid])
        lines[rings] = polygons
    outlines = shapely.buffer(lines, 0.5, cap_style="square", join_style="mitre")
    # Pixel (x, y) covers [x, x+1] x [y, y+1] in COCO coordinates; its centre is x + 0.5.
    outlines = shapely.transform(outlines, lambda xy: xy + 0.5)
    owners, vertices, starts, sizes = _exterior_rings(outlines)
    result = _by_owner(len(outlines), owners, vertices, starts, sizes)
    redo = np.unique(owners[~_unchanged_by_simplify(vertices, starts, sizes)])
    if redo.size:
        again = _by_owner(redo.size, *_exterior_rings(shapely.simplify(outlines[redo], 0)))
        for owner, polygons in zip(redo.tolist(), again):
            result[owner] = polygons
    return result


def _exterior_rings(outlines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                    np.ndarray]:
    """The outer rings of the geometries' polygons: (the geometry of each ring, the rings'
    vertices one after another without their closing points, where each ring starts, its
    number of vertices)."""
    parts, owners = shapely.get_parts(outlines, return_index=True)
    keep = ((shapely.get_type_id(parts) == shapely.GeometryType.POLYGON)
            & ~shapely.is_empty(parts))
    coordinates, rings = shapely.get_coordinates(shapely.get_exterior_ring(parts[keep]),
                                                 return_index=True)
    closing = np.flatnonzero(np.diff(rings, append=-1))  # each ring's last point: its first
    sizes = np.diff(closing, prepend=-1) - 1
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return owners[keep], np.delete(coordinates, closing, axis=0), starts, sizes


def _by_owner(count: int, owners: np.ndarray, vertices: np.ndarray, starts: np.ndarray,
              sizes: np.ndarray) -> list[list[list[float]]]:
    """The rings of :func:`_exterior_rings` as COCO polygons, for each of ``count``
    geometries."""
    flat = np.round(vertices, _POLYGON_DECIMALS).ravel().tolist()
    result: list[list[list[float]]] = [[] for _ in range(count)]
    for owner, start, size in zip(owners.tolist(), starts.tolist(), sizes.tolist()):
        result[owner].append(flat[2 * start:2 * (start + size)])
    return result


def _unchanged_by_simplify(vertices: np.ndarray, starts: np.ndarray, sizes: np.ndarray
                           ) -> np.ndarray:
    """For each ring of :func:`_exterior_rings`, whether ``simplify(0)`` (GEOS's
    topology-preserving Douglas-Peucker) keeps all its vertices, shown by the ring alone.

    With tolerance 0 it drops only points at distance 0 from the chord of the section they
    lie in, so a point dropped and the next one lie on that chord with its start: three
    successive vertices on one line. A vertex at least the margin from the line through
    its neighbours, with those neighbours and its next vertex at least the margin away,
    rules that out (up to rounding errors far below the margin for coordinates up to
    _SIMPLIFY_MAX_COORDINATE). A ring that fails the test is simplified as before.
    """
    if not sizes.size:
        return np.zeros(0, bool)
    ends = starts + sizes - 1
    x, y = vertices[:, 0], vertices[:, 1]
    # Each vertex's neighbours in its own ring (closed: the first follows the last).
    before_x, before_y = np.roll(x, 1), np.roll(y, 1)
    before_x[starts], before_y[starts] = x[ends], y[ends]
    after_x, after_y = np.roll(x, -1), np.roll(y, -1)
    after_x[ends], after_y[ends] = x[starts], y[starts]
    chord_x, chord_y = after_x - before_x, after_y - before_y
    chord = np.hypot(chord_x, chord_y)
    cross = np.abs(chord_x * (y - before_y) - chord_y * (x - before_x))
    good = ((chord >= _SIMPLIFY_MARGIN) & (cross >= _SIMPLIFY_MARGIN * chord)
            & (np.hypot(after_x - x, after_y - y) >= _SIMPLIFY_MARGIN)
            & (np.maximum(np.abs(x), np.abs(y)) <= _SIMPLIFY_MAX_COORDINATE))
    return np.logical_and.reduceat(good, starts)


def _polygon_iou(polygons: list[list[float]], mask: RunMask) -> float:
    """IoU with ``mask`` of the polygons as pycocotools rasterises them (as
    ``COCO.annToMask`` does, so the check sees what readers will), counted on RLE."""
    drawn = _rasterized(polygons, mask.height, mask.width)
    both = int(mask_utils.area(mask_utils.merge([drawn, mask.for_pycocotools()],
                                                intersect=True)))
    return both / (int(mask_utils.area(drawn)) + mask.area - both)


def _rasterized(polygons: list[list[float]], height: int, width: int) -> dict:
    """The polygons as pycocotools rasterises them (as ``COCO.annToMask`` does), as RLE."""
    rles = mask_utils.frPyObjects(polygons, height, width)
    return rles[0] if len(rles) == 1 else mask_utils.merge(rles)  # merge copies a single one


# -- COCO geometry -> mask -------------------------------------------------------------------

def segmentation_to_rle(segmentation: Any, height: int, width: int) -> tuple[dict, int]:
    """The compressed RLE (as :func:`engine.masks.encode_rle` writes it) and the area of a
    COCO segmentation: polygons, compressed or uncompressed RLE; the mask is not decoded.

    The value is validated before pycocotools reads it; anything malformed raises
    :class:`InvalidAnnotation` with a message saying what is wrong.
    """
    if isinstance(segmentation, list):
        _check_polygons(segmentation, height, width)
        # Run lengths from polygons come out of pycocotools canonical: no decoding needed.
        drawn = _rasterized(segmentation, height, width)
        return ({"size": [height, width], "counts": drawn["counts"].decode("ascii")},
                int(mask_utils.area(drawn)))
    if isinstance(segmentation, dict):
        try:
            mask = run_mask(segmentation, (height, width))
        except InvalidRLE as exc:
            raise InvalidAnnotation(str(exc)) from exc
        return {"size": [height, width], "counts": mask.counts}, mask.area
    raise InvalidAnnotation("segmentation must be a list of polygons or an RLE object, "
                            f"not {json_type_name(segmentation)}")


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """``H x W`` bool mask of a COCO segmentation (see :func:`segmentation_to_rle`)."""
    return decode_rle(segmentation_to_rle(segmentation, height, width)[0])


def _check_polygons(polygons: list, height: int, width: int) -> None:
    if not polygons:
        raise InvalidAnnotation("segmentation is an empty list of polygons")
    for index, polygon in enumerate(polygons):
        where = f"polygon {index + 1} of {len(polygons)}"
        if not isinstance(polygon, list):
            raise InvalidAnnotation(f"{where} must be a list of numbers [x1, y1, x2, y2, ...], "
                                    f"not {json_type_name(polygon)}")
        if len(polygon) < 6 or len(polygon) % 2:
            raise InvalidAnnotation(f"{where} has {len(polygon)} numbers; a polygon needs an "
                                    "even count of at least 6 (three x, y points)")
        bounds = _polygon_bounds(polygon)
        if bounds is None:
            raise InvalidAnnotation(f"{where} holds values that are not finite numbers")
        xmin, ymin, xmax, ymax = bounds
        if (xmin < -_COORDINATE_SLACK * width or xmax > (1 + _COORDINATE_SLACK) * width
                or ymin < -_COORDINATE_SLACK * height
                or ymax > (1 + _COORDINATE_SLACK) * height):
            raise InvalidAnnotation(f"{where} lies far outside the {width}x{height} image")


def _polygon_bounds(polygon: list) -> tuple[float, float, float, float] | None:
    """(xmin, ymin, xmax, ymax) of a polygon's points; None when a number is not finite."""
    plain = set(map(type, polygon)) <= {int, float}  # what JSON gives: checked in bulk below
    if not plain and not all(map(is_json_number, polygon)):
        return None
    try:
        points = np.array(polygon, dtype=np.float64).reshape(-1, 2)
    except OverflowError:  # an integer too large for a float: far outside any image
        return ((-math.inf, -math.inf, math.inf, math.inf)
                if all(map(is_json_number, polygon)) else None)
    low, high = points.min(axis=0).tolist(), points.max(axis=0).tolist()
    # NaN and infinities show in the minimum or the maximum, wherever they are.
    return (*low, *high) if all(map(math.isfinite, low + high)) else None


def is_json_number(value: Any) -> bool:
    """A finite JSON number. (JSON ints can be too big for a float; range checks catch those.)"""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def json_type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
