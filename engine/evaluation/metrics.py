"""The NoC protocol's numbers: IoU with an ignore label, NoC, NoF, mIoU@k and boundary IoU.

Definitions follow the official evaluation code (RITM, FocalClick), so that results compare
with the published tables:

- IoU leaves out pixels whose ground truth is the ignore label (-1).
- NoC@t of a sample: the 1-based index of the first click whose IoU reaches ``t``, or
  ``max_clicks`` when none does. NoC@t of a dataset: the mean over its samples.
- NoF@t: the number of samples whose NoC@t equals ``max_clicks``. As in the official code
  this includes a sample that reached ``t`` exactly at the last click.
- mIoU@k: the mean IoU after click k; it needs every sample's full IoU curve.
- BIoU@k: the mean Boundary IoU (Cheng et al., CVPR 2021; band width 2% of the image
  diagonal) of the masks after click k.

IoU curves are stored as float32, as the official code stores them, and thresholds are
compared in that precision.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from engine.evaluation.clicker import IGNORE_LABEL

NOC_THRESHOLDS = (0.80, 0.85, 0.90)
BOUNDARY_DILATION_RATIO = 0.02


def iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """IoU of the predicted mask (bool) with the object of ``gt`` (1 object, 0 background,
    -1 ignored), counting only pixels that are not ignored.

    An empty union (no object and an empty prediction) counts as perfect agreement.
    """
    counted = gt != IGNORE_LABEL
    target = gt == 1
    union = np.count_nonzero((pred | target) & counted)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & target & counted) / union)


def boundary_iou(gt: np.ndarray, pred: np.ndarray,
                 dilation_ratio: float = BOUNDARY_DILATION_RATIO) -> float:
    """Boundary IoU of the predicted mask with the object of ``gt``, ignored pixels left out.

    Each mask's boundary band is the part of the mask within ``d`` pixels of its contour
    (the image border counts as contour), ``d`` = ``dilation_ratio`` of the image diagonal
    (at least 1). Two empty bands count as perfect agreement.
    """
    counted = gt != IGNORE_LABEL
    height, width = gt.shape
    distance = max(1, int(round(dilation_ratio * np.hypot(height, width))))
    gt_band = _inner_band(gt == 1, distance) & counted
    pred_band = _inner_band(pred.astype(bool, copy=False), distance) & counted
    union = np.count_nonzero(gt_band | pred_band)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(gt_band & pred_band) / union)


def _inner_band(mask: np.ndarray, distance: int) -> np.ndarray:
    """Pixels of ``mask`` at most ``distance`` 3x3-erosion steps from outside it."""
    padded = np.pad(mask, 1).astype(np.uint8)
    kernel = np.ones((3, 3), dtype=np.uint8)
    eroded = cv2.erode(padded, kernel, iterations=distance)[1:-1, 1:-1]
    return mask & ~eroded.astype(bool)


def number_of_clicks(ious: np.ndarray, threshold: float, max_clicks: int) -> int:
    """NoC of one sample: 1-based index of the first IoU >= ``threshold``, else ``max_clicks``."""
    reached = np.flatnonzero(np.asarray(ious, dtype=np.float32) >= np.float32(threshold))
    return int(reached[0]) + 1 if reached.size else max_clicks


def noc(curves: Sequence[np.ndarray], threshold: float, max_clicks: int) -> float:
    """Mean NoC@``threshold`` over the samples' IoU curves (NaN for no samples)."""
    if not curves:
        return float("nan")
    return float(np.mean([number_of_clicks(c, threshold, max_clicks) for c in curves]))


def nof(curves: Sequence[np.ndarray], threshold: float, max_clicks: int) -> int:
    """Number of samples whose NoC@``threshold`` is ``max_clicks`` (the official ">=20")."""
    return sum(number_of_clicks(c, threshold, max_clicks) == max_clicks for c in curves)


def miou_at(curves: Sequence[np.ndarray], max_clicks: int) -> list[float] | None:
    """mIoU after each click 1..``max_clicks``; None unless every curve has all the clicks
    (a run that stopped at its target IoU has no IoU for the later clicks)."""
    if not curves or any(len(c) < max_clicks for c in curves):
        return None
    stacked = np.stack([np.asarray(c[:max_clicks], dtype=np.float64) for c in curves])
    return [float(v) for v in stacked.mean(axis=0)]
