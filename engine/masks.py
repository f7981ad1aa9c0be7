"""Mask helpers on top of pycocotools: compressed RLE in and out, IoU, bounding boxes;
clean-ups of a mask (keep its largest part, fill its holes) on top of OpenCV.

pycocotools' C code trusts its input: malformed RLE counts read past the string, overflow
its 64-bit arithmetic or write past the mask. :func:`decode_rle` is therefore the one way
the project decodes an RLE, and it validates every RLE in Python (vectorised with numpy,
so it stays cheap) before pycocotools sees it; :func:`check_rle` (for many RLEs at once,
:class:`RleChecker`) runs the same checks without decoding, and :func:`run_mask` gives the
mask as runs (:mod:`engine.rle`) without decoding it.
"""
from __future__ import annotations

from typing import Any, Iterable

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from engine.box import Box
from engine.rle import MAX_RUN, InvalidRLE, RunMask, check_compressed, compressed_runs

# A mask's parts are 8-connected (pixels touching at a corner belong together) and its
# background 4-connected: the pair that makes every closed outline, diagonal steps
# included, enclose its inside (with 8/8 a hole would leak out through a diagonal step).
OBJECT_CONNECTIVITY = 8
BACKGROUND_CONNECTIVITY = 4


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of an H x W bool mask, JSON-ready (``counts`` as str)."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: Any, shape: tuple[int, int] | None = None) -> np.ndarray:
    """H x W bool mask of a COCO RLE: compressed (``counts`` a str) or uncompressed (a list).

    ``shape`` is the (height, width) of the image the mask belongs to; when given, the
    RLE's size must equal it. Raises :class:`InvalidRLE` for anything malformed.
    """
    height, width, counts, _ = _parse_rle(rle, shape)
    if isinstance(counts, bytes):
        compressed = {"size": [height, width], "counts": counts}
    else:
        compressed = mask_utils.frPyObjects({"size": [height, width], "counts": counts},
                                            height, width)
    return mask_utils.decode(compressed).astype(bool)


def run_mask(rle: Any, shape: tuple[int, int] | None = None) -> RunMask:
    """The mask of a COCO RLE as canonical runs, checked as :func:`decode_rle` checks it
    but not decoded: ``run_mask(rle).counts()`` is ``encode_rle(decode_rle(rle))["counts"]``."""
    height, width, _, runs = _parse_rle(rle, shape)
    return RunMask.of_runs(runs, height, width)


def check_rle(rle: Any, shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """(height, width) of an RLE that :func:`decode_rle` accepts, without decoding the mask.

    Raises :class:`InvalidRLE` exactly where :func:`decode_rle` would.
    """
    height, width, _, _ = _parse_rle(rle, shape)
    return height, width


class RleChecker:
    """:func:`check_rle` for the many RLEs of a project file, in one vectorised pass.

    The compressed RLEs among ``rles`` are checked together when the checker is made
    (:func:`engine.rle.check_compressed`), and :meth:`check` answers for those at once; any
    other RLE, or one found invalid, goes through :func:`check_rle`, which raises its
    message. The RLEs must not change in between.
    """

    def __init__(self, rles: Iterable[Any]) -> None:
        candidates, sizes = [], []
        for rle in rles:
            try:
                size = _rle_size(rle)
            except InvalidRLE:
                continue
            if isinstance(rle["counts"], str):
                candidates.append(rle)
                sizes.append(size)
        valid = check_compressed([rle["counts"] for rle in candidates],
                                 [height * width for height, width in sizes])
        self._candidates = candidates  # kept alive, so that no other object takes their ids
        self._sizes = {id(rle): size for rle, size, ok in zip(candidates, sizes, valid) if ok}

    def check(self, rle: Any) -> tuple[int, int]:
        """What ``check_rle(rle)`` returns (or raises)."""
        size = self._sizes.get(id(rle))
        return size if size is not None else check_rle(rle)


def _rle_size(rle: Any) -> tuple[int, int]:
    if not isinstance(rle, dict):
        raise InvalidRLE("an RLE must be an object with 'size' and 'counts'")
    size = rle.get("size")
    if isinstance(size, list) and len(size) == 2:
        height, width = json_int(size[0]), json_int(size[1])
        if (height is not None and width is not None
                and 0 <= height <= MAX_RUN and 0 <= width <= MAX_RUN):
            return height, width
    raise InvalidRLE("RLE 'size' must be [height, width]")


def _parse_rle(rle: Any, shape: tuple[int, int] | None
               ) -> tuple[int, int, bytes | list[int], np.ndarray]:
    """(height, width, counts, runs) of a valid RLE; counts as pycocotools takes them."""
    height, width = _rle_size(rle)
    if shape is not None and (height, width) != tuple(shape):
        raise InvalidRLE(f"RLE size is {width}x{height} but the image is "
                         f"{shape[1]}x{shape[0]}")
    counts = rle.get("counts")
    if isinstance(counts, str):
        runs = compressed_runs(counts)
        counts = counts.encode("ascii")  # compressed_runs has checked it is ASCII
    elif isinstance(counts, list):
        values = [json_int(v) for v in counts]
        if any(v is None or v < 0 for v in values):
            raise InvalidRLE("uncompressed RLE counts must be non-negative integers")
        if any(v > MAX_RUN for v in values):
            raise InvalidRLE("uncompressed RLE counts hold a run longer than pycocotools "
                             f"can store ({MAX_RUN} pixels)")
        runs = np.array(values, dtype=np.int64)
        counts = values
    else:
        raise InvalidRLE("RLE 'counts' must be a string (compressed) or a list of integers "
                         "(uncompressed)")
    # Every run is at most MAX_RUN, so the int64 sum cannot overflow.
    total = int(runs.sum())
    if total != height * width:
        raise InvalidRLE(f"RLE counts cover {total} pixels but its {width}x{height} size "
                         f"has {height * width}")
    return height, width, counts, runs


def json_int(value: Any) -> int | None:
    """An integer JSON value (also 3.0, as some writers produce); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def mask_area(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def mask_extent(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(rmin, rmax, cmin, cmax)`` of the mask's pixels, inclusive (the official form the
    RLE code is checked against); None for an empty mask."""
    box = Box.of_mask(mask)
    return None if box is None else box.inclusive


def mask_bbox(mask: np.ndarray) -> list[int]:
    """COCO ``[x, y, w, h]`` of the mask's pixels; all zeros for an empty mask."""
    box = Box.of_mask(mask)
    return [0, 0, 0, 0] if box is None else box.xywh


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks; two empty masks agree perfectly (1.0)."""
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b) / union)


def keep_largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected part of ``mask`` (ties: the first in row-major order);
    an empty mask stays empty."""
    result = np.zeros(mask.shape, dtype=bool)
    # The clean-ups work on the mask's box alone: much faster for an object smaller than
    # its image.
    box = Box.of_mask(mask)
    if box is None:
        return result
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask[box.slices].astype(np.uint8), connectivity=OBJECT_CONNECTIVITY)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # label 0 is the background
    result[box.slices] = labels == largest
    return result


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled: the 4-connected background regions that do not
    reach the image border. A gap open to the border is not a hole."""
    result = mask.astype(bool)  # a copy
    box = Box.of_mask(mask)
    if box is None:
        return result
    # Outside the mask's bounding box all is background joined to the image border, so a
    # region reaches the border exactly when it reaches the box's edge.
    count, labels = cv2.connectedComponents((~result[box.slices]).astype(np.uint8),
                                            connectivity=BACKGROUND_CONNECTIVITY)
    outside = np.zeros(count, dtype=bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[edge] = True
    outside[0] = False  # label 0 is the object itself
    result[box.slices] = ~outside[labels]
    return result

