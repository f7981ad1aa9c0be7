"""Mask helpers on top of pycocotools: compressed RLE in and out, IoU, bounding boxes;
clean-ups of a mask (keep its largest part, fill its holes) on top of OpenCV.

pycocotools' C code trusts its input: malformed RLE counts read past the string, overflow
its 64-bit arithmetic or write past the mask. :func:`decode_rle` is therefore the one way
the project decodes an RLE, and it validates every RLE in Python (vectorised with numpy,
so it stays cheap) before pycocotools sees it; :func:`check_rle` runs the same checks
without decoding.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

# pycocotools stores run lengths (and, on Windows, sizes) as 32-bit unsigned integers;
# larger values would be truncated silently.
_MAX_RUN = 2 ** 32 - 1

# A mask's parts are 8-connected (pixels touching at a corner belong together) and its
# background 4-connected: the pair that makes every closed outline, diagonal steps
# included, enclose its inside (with 8/8 a hole would leak out through a diagonal step).
OBJECT_CONNECTIVITY = 8
BACKGROUND_CONNECTIVITY = 4


class InvalidRLE(ValueError):
    """An RLE that cannot be decoded; the message says what is wrong with it."""


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
    height, width, counts = _parse_rle(rle, shape)
    if isinstance(counts, bytes):
        compressed = {"size": [height, width], "counts": counts}
    else:
        compressed = mask_utils.frPyObjects({"size": [height, width], "counts": counts},
                                            height, width)
    return mask_utils.decode(compressed).astype(bool)


def check_rle(rle: Any, shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """(height, width) of an RLE that :func:`decode_rle` accepts, without decoding the mask.

    Raises :class:`InvalidRLE` exactly where :func:`decode_rle` would.
    """
    height, width, _ = _parse_rle(rle, shape)
    return height, width


def _parse_rle(rle: Any, shape: tuple[int, int] | None) -> tuple[int, int, bytes | list[int]]:
    """(height, width, counts) of a valid RLE; counts as pycocotools takes them."""
    if not isinstance(rle, dict):
        raise InvalidRLE("an RLE must be an object with 'size' and 'counts'")
    size, counts = rle.get("size"), rle.get("counts")
    if (not isinstance(size, list) or len(size) != 2
            or not all(json_int(v) is not None and 0 <= json_int(v) <= _MAX_RUN
                       for v in size)):
        raise InvalidRLE("RLE 'size' must be [height, width]")
    height, width = json_int(size[0]), json_int(size[1])
    if shape is not None and (height, width) != tuple(shape):
        raise InvalidRLE(f"RLE size is {width}x{height} but the image is "
                         f"{shape[1]}x{shape[0]}")
    if isinstance(counts, str):
        runs = _compressed_runs(counts)
        counts = counts.encode("ascii")  # _compressed_runs has checked it is ASCII
    elif isinstance(counts, list):
        values = [json_int(v) for v in counts]
        if any(v is None or v < 0 for v in values):
            raise InvalidRLE("uncompressed RLE counts must be non-negative integers")
        if any(v > _MAX_RUN for v in values):
            raise InvalidRLE("uncompressed RLE counts hold a run longer than pycocotools "
                             f"can store ({_MAX_RUN} pixels)")
        runs = np.array(values, dtype=np.int64)
        counts = values
    else:
        raise InvalidRLE("RLE 'counts' must be a string (compressed) or a list of integers "
                         "(uncompressed)")
    # Every run is at most _MAX_RUN, so the int64 sum cannot overflow.
    total = int(runs.sum())
    if total != height * width:
        raise InvalidRLE(f"RLE counts cover {total} pixels but its {width}x{height} size "
                         f"has {height * width}")
    return height, width, counts


def _compressed_runs(text: str) -> np.ndarray:
    """Run lengths of a compressed COCO RLE string, checked so pycocotools can trust it.

    The format packs each number in 5-bit groups, one character (offset 48) per group, with
    bit 0x20 meaning "more groups follow" and bit 0x10 of the last group the sign; from the
    fourth number on, a number is the difference to the run length two places before.
    """
    try:
        groups = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError as exc:
        raise InvalidRLE(f"compressed RLE counts contain {text[exc.start]!r}, which is not "
                         "an RLE character") from None
    bad = (groups < 0) | (groups >= 64)
    if bad.any():
        raise InvalidRLE(f"compressed RLE counts contain {text[int(bad.argmax())]!r}, which "
                         "is not an RLE character")
    if groups.size == 0:
        return groups
    last = (groups & 0x20) == 0  # the last group of its number
    if not last[-1]:
        raise InvalidRLE("compressed RLE counts end in the middle of a number")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    # pycocotools reads a number with 64-bit shifts that overflow past 12 groups (60 bits);
    # refusing longer numbers first also keeps the int64 arithmetic below exact.
    if lengths.max() > 12:
        raise InvalidRLE("compressed RLE counts hold a number of more than 12 characters")
    position = np.arange(groups.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((groups & 0x1F) << (5 * position), starts)
    values -= np.where(groups[ends] & 0x10, 1 << (5 * lengths), 0)
    # Every valid number is a run length or the difference of two, so no larger than a run.
    if np.abs(values).max() > _MAX_RUN:
        raise InvalidRLE("compressed RLE counts hold a number too large for any run length")
    # From index 3 on, a number is the difference to the run two places before: undo that
    # along the odd and the even indices (the even chain starts at run 2; run 0 stands
    # alone). Each value is at most _MAX_RUN in size, so the int64 sums cannot overflow.
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    if (runs < 0).any():
        raise InvalidRLE("compressed RLE counts decode to a negative run length")
    if runs.max() > _MAX_RUN:
        raise InvalidRLE("compressed RLE counts decode to a run longer than pycocotools can "
                         f"store ({_MAX_RUN} pixels)")
    return runs


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
    """``(rmin, rmax, cmin, cmax)`` of the mask's pixels, inclusive; None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def mask_bbox(mask: np.ndarray) -> list[int]:
    """COCO ``[x, y, w, h]`` of the mask's pixels; all zeros for an empty mask."""
    extent = mask_extent(mask)
    if extent is None:
        return [0, 0, 0, 0]
    rmin, rmax, cmin, cmax = extent
    return [cmin, rmin, cmax - cmin + 1, rmax - rmin + 1]


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
    box = _extent_slices(mask)
    if box is None:
        return result
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask[box].astype(np.uint8), connectivity=OBJECT_CONNECTIVITY)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # label 0 is the background
    result[box] = labels == largest
    return result


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled: the 4-connected background regions that do not
    reach the image border. A gap open to the border is not a hole."""
    result = mask.astype(bool)  # a copy
    box = _extent_slices(mask)
    if box is None:
        return result
    # Outside the mask's bounding box all is background joined to the image border, so a
    # region reaches the border exactly when it reaches the box's edge.
    count, labels = cv2.connectedComponents((~result[box]).astype(np.uint8),
                                            connectivity=BACKGROUND_CONNECTIVITY)
    outside = np.zeros(count, dtype=bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[edge] = True
    outside[0] = False  # label 0 is the object itself
    result[box] = ~outside[labels]
    return result


def _extent_slices(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The mask's bounding box as slices, None for an empty mask: the clean-ups work on
    it alone, which is much faster for an object smaller than its image."""
    extent = mask_extent(mask)
    if extent is None:
        return None
    rmin, rmax, cmin, cmax = extent
    return slice(rmin, rmax + 1), slice(cmin, cmax + 1)
