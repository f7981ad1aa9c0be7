"""The official click simulator of the NoC protocol (RITM's evaluation ``Clicker``).

Each new click goes where the current mask is most wrong: at the pixel farthest from the
boundary of the false-negative or false-positive region, whichever reaches deeper. The
details below are what makes NoC numbers comparable with the published tables:

- error regions leave out the ignore label (-1 in the ground truth);
- both regions are padded by one pixel of zeros, so the image border counts as boundary;
- OpenCV's precise Euclidean distance transform (``DIST_L2``, ``DIST_MASK_PRECISE``);
- pixels clicked before get distance 0 (the "not clicked" map);
- the click is positive only if the farthest false-negative distance is strictly larger
  than the farthest false-positive one (ties give a negative click);
- among pixels at the maximum distance, the first in row-major order wins.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.clicks import Click

IGNORE_LABEL = -1


class Clicker:
    """Simulates a user correcting the mask of one object (``gt``: 1 object, 0 background,
    -1 ignored) and remembers the clicks made so far."""

    def __init__(self, gt: np.ndarray) -> None:
        if gt.ndim != 2:
            raise ValueError(f"the ground truth must be an H x W label map, got shape {gt.shape}")
        self._object = gt == 1
        self._counted = gt != IGNORE_LABEL
        self._not_clicked = np.ones(gt.shape, dtype=bool)
        self.clicks: list[Click] = []

    def add_click(self, click: Click) -> None:
        """Record a click (made by :meth:`make_next_click` or given from outside)."""
        self._not_clicked[int(click.y), int(click.x)] = False
        self.clicks.append(click)

    def make_next_click(self, pred_mask: np.ndarray) -> Click:
        """Choose, record and return the click that corrects ``pred_mask`` (H x W bool)."""
        click = self.next_click(pred_mask)
        self.add_click(click)
        return click

    def next_click(self, pred_mask: np.ndarray) -> Click:
        """The click that corrects ``pred_mask`` most, without recording it."""
        if pred_mask.shape != self._object.shape:
            raise ValueError(f"prediction is {pred_mask.shape}, ground truth {self._object.shape}")
        pred_mask = pred_mask.astype(bool, copy=False)
        missed = self._object & ~pred_mask & self._counted
        extra = ~self._object & pred_mask & self._counted
        missed_distance = self._distance(missed)
        extra_distance = self._distance(extra)
        missed_max = missed_distance.max()
        extra_max = extra_distance.max()
        is_positive = bool(missed_max > extra_max)
        distance, farthest = ((missed_distance, missed_max) if is_positive
                              else (extra_distance, extra_max))
        # argmax on the flattened booleans is the first True in row-major order.
        index = int(np.argmax((distance == farthest).ravel()))
        y, x = divmod(index, distance.shape[1])
        return Click(y, x, is_positive)

    def _distance(self, region: np.ndarray) -> np.ndarray:
        padded = np.pad(region, 1).astype(np.uint8)
        distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return distance[1:-1, 1:-1] * self._not_clicked
