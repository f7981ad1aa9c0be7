"""RITM's Zoom-In and LimitLongestSide transforms, exactly as the official predictor runs them.

The box is stored as (rmin, rmax, cmin, cmax), inclusive, in full-image pixels. Every
quirk of the official code is kept on purpose (see ../shared/specs/ritm.md, section 4.3):
Python's half-to-even rounding, the "pixel-edge" click mapping next to an align_corners
resize, clicks on the box's last row/column counting as outside, zero outside the box.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from engine.clicks import Click
from engine.masks import mask_extent

Box = tuple[int, int, int, int]  # rmin, rmax, cmin, cmax (inclusive)


@dataclass(frozen=True)
class ZoomState:
    prev_probs: np.ndarray | None = None
    object_roi: Box | None = None


class ZoomIn:
    """Crop the network input to the object once the first click has found it.

    ``target_size`` is an int (long side of the resized crop) or an (h, w) tuple (fixed
    crop, as in the demo). ``skip_clicks`` clicks are predicted on the full image first;
    with a negative value the first click already uses the whole image as its box.
    """

    def __init__(self, target_size: int | tuple[int, int] = 400, skip_clicks: int = 1,
                 expansion_ratio: float = 1.4, min_crop_size: int = 200,
                 recompute_thresh_iou: float = 0.5, prob_thresh: float = 0.5) -> None:
        self.target_size = target_size
        self.skip_clicks = skip_clicks
        self.expansion_ratio = expansion_ratio
        self.min_crop_size = min_crop_size
        self.recompute_thresh_iou = recompute_thresh_iou
        self.prob_thresh = prob_thresh
        self.state = ZoomState()
        self.image_changed = False
        self._input_shape: tuple[int, int] | None = None

    def reset(self) -> None:
        self.state = ZoomState()
        self.image_changed = False

    def transform(self, image_nd: torch.Tensor, clicks: Sequence[Click]
                  ) -> tuple[torch.Tensor, list[Click]]:
        """Crop and resize the input (all channels) and map the clicks into the crop."""
        self.image_changed = False
        self._input_shape = tuple(image_nd.shape[2:])
        if len(clicks) <= self.skip_clicks:
            return image_nd, list(clicks)
        height, width = self._input_shape
        candidate = None
        if self.state.prev_probs is not None:
            mask = self.state.prev_probs > self.prob_thresh
            if mask.any():
                candidate = self._object_roi(mask, clicks)
        if candidate is None:
            if self.skip_clicks >= 0:
                return image_nd, list(clicks)
            candidate = (0, height - 1, 0, width - 1)
        roi = self.state.object_roi
        if (roi is None or _positive_click_outside(clicks, roi)
                or box_iou(candidate, roi) < self.recompute_thresh_iou):
            self.state = replace(self.state, object_roi=candidate)
            self.image_changed = True
        return self._crop(image_nd, clicks, self.state.object_roi)

    def inv_transform(self, probs: torch.Tensor) -> torch.Tensor:
        """Paste the crop's probabilities back into a full-size map (zero outside the box)."""
        roi = self.state.object_roi
        if roi is None:
            self.state = replace(self.state, prev_probs=probs.cpu().numpy()[0, 0])
            return probs
        rmin, rmax, cmin, cmax = roi
        crop = F.interpolate(probs, size=(rmax - rmin + 1, cmax - cmin + 1), mode="bilinear",
                             align_corners=True)
        if self.state.prev_probs is not None:
            full = torch.zeros(*probs.shape[:2], *self._input_shape, dtype=probs.dtype,
                               device=probs.device)
            full[:, :, rmin:rmax + 1, cmin:cmax + 1] = crop
        else:
            full = crop
        self.state = replace(self.state, prev_probs=full.cpu().numpy()[0, 0])
        return full

    def check_possible_recalculation(self) -> bool:
        """True when the first prediction should be redone zoomed in (skip_clicks <= 0 only)."""
        if (self.state.prev_probs is None or self.state.object_roi is not None
                or self.skip_clicks > 0):
            return False
        mask = self.state.prev_probs > self.prob_thresh
        if not mask.any():
            return False
        height, width = mask.shape
        return box_iou(self._object_roi(mask, []), (0, height - 1, 0, width - 1)) \
            < self.recompute_thresh_iou

    def _object_roi(self, mask: np.ndarray, clicks: Sequence[Click]) -> Box:
        mask = mask.copy()
        for click in clicks:
            if click.is_positive:
                mask[int(click.y), int(click.x)] = True
        return expand_box(mask_extent(mask), self.expansion_ratio, self.min_crop_size,
                           mask.shape)

    def _target_size(self, box_h: int, box_w: int) -> tuple[int, int]:
        if isinstance(self.target_size, tuple):
            return self.target_size
        scale = self.target_size / max(box_h, box_w)
        return round(box_h * scale), round(box_w * scale)

    def _crop(self, image_nd: torch.Tensor, clicks: Sequence[Click], roi: Box
              ) -> tuple[torch.Tensor, list[Click]]:
        rmin, rmax, cmin, cmax = roi
        box_h, box_w = rmax - rmin + 1, cmax - cmin + 1
        crop_h, crop_w = self._target_size(box_h, box_w)
        crop = F.interpolate(image_nd[:, :, rmin:rmax + 1, cmin:cmax + 1], size=(crop_h, crop_w),
                             mode="bilinear", align_corners=True)
        mapped = [Click(crop_h * (c.y - rmin) / box_h, crop_w * (c.x - cmin) / box_w,
                        c.is_positive) for c in clicks]
        return crop, mapped


class LimitLongestSide(ZoomIn):
    """Shrink inputs whose long side exceeds ``max_size`` (the official demo's option)."""

    def __init__(self, max_size: int = 800) -> None:
        super().__init__(target_size=max_size, skip_clicks=0)

    def transform(self, image_nd: torch.Tensor, clicks: Sequence[Click]
                  ) -> tuple[torch.Tensor, list[Click]]:
        self._input_shape = tuple(image_nd.shape[2:])
        height, width = self._input_shape
        if max(height, width) <= self.target_size:
            # Nothing to shrink (a Zoom-In crop, say): the box of an earlier, larger input
            # must not be pasted back into this one.
            self.state = replace(self.state, object_roi=None)
            self.image_changed = False
            return image_nd, list(clicks)
        self.state = replace(self.state, object_roi=(0, height - 1, 0, width - 1))
        self.image_changed = True
        return self._crop(image_nd, clicks, self.state.object_roi)

    def check_possible_recalculation(self) -> bool:
        return False


def expand_box(box: Box, ratio: float, min_size: int, shape: tuple[int, int]) -> Box:
    rmin, rmax, cmin, cmax = box
    rcenter, ccenter = (rmin + rmax) / 2, (cmin + cmax) / 2
    height = max(ratio * (rmax - rmin + 1), min_size)
    width = max(ratio * (cmax - cmin + 1), min_size)
    # Python's round (half to even) as the official code; the box is clamped, not re-centred.
    rmin, rmax = round(rcenter - height / 2), round(rcenter + height / 2)
    cmin, cmax = round(ccenter - width / 2), round(ccenter + width / 2)
    return (max(0, rmin), min(shape[0] - 1, rmax), max(0, cmin), min(shape[1] - 1, cmax))


def _positive_click_outside(clicks: Sequence[Click], roi: Box) -> bool:
    rmin, rmax, cmin, cmax = roi
    return any(c.is_positive and (c.y < rmin or c.y >= rmax or c.x < cmin or c.x >= cmax)
               for c in clicks)


def box_iou(a: Box, b: Box) -> float:
    """The official box IoU: product of the per-axis IoUs of inclusive integer segments."""
    def axis(lo1: int, hi1: int, lo2: int, hi2: int) -> float:
        inter = max(0, min(hi1, hi2) - max(lo1, lo2) + 1)
        return inter / (max(hi1, hi2) - min(lo1, lo2) + 1)
    return axis(a[0], a[1], b[0], b[1]) * axis(a[2], a[3], b[2], b[3])
