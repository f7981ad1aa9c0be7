"""Mask helpers on top of pycocotools: compressed RLE in and out, IoU, bounding boxes."""
from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of an H x W bool mask, JSON-ready (``counts`` as str)."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """H x W bool mask of a compressed RLE as written by :func:`encode_rle`."""
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return mask_utils.decode({"size": list(rle["size"]), "counts": counts}).astype(bool)


def mask_area(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def mask_bbox(mask: np.ndarray) -> list[int]:
    """COCO ``[x, y, w, h]`` of the mask's pixels; all zeros for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return [0, 0, 0, 0]
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks; two empty masks agree perfectly (1.0)."""
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b) / union)
