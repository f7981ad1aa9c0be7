"""RITM's Zoom-In and LimitLongestSide transforms, exactly as the official predictor runs them.

The box is an :class:`engine.box.Box` in full-image pixels; ``ZoomState.object_roi``
gives it in the official inclusive form the golden dumps use. Every
quirk of the official code is kept on purpose (see ../shared/specs/ritm.md, section 4.3):
Python's half-to-even rounding, the "pixel-edge" click mapping next to an align_corners
resize, clicks on the box's last row/column counting as outside, zero outside the box.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from engine.box import Box
from engine.clicks import Click
from engine.inference.encoding import clicks_in_crop, crop_resized, resize


@dataclass(frozen=True)
class ZoomState:
    prev_probs: np.ndarray | None = None
    object_box: Box | None = None

    @property
    def object_roi(self) -> tuple[int, int, int, int] | None:
        """The box as the official code stores it: (rmin, rmax, cmin, cmax) inclusive."""
        return None if self.object_box is None else self.object_box.inclusive


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
            candidate = Box(0, 0, height, width)
        roi = self.state.object_box
        if (roi is None or _positive_click_outside(clicks, roi)
                or candidate.iou(roi) < self.recompute_thresh_iou):
            self.state = replace(self.state, object_box=candidate)
            self.image_changed = True
        return self._crop(image_nd, clicks, self.state.object_box)

    def inv_transform(self, probs: torch.Tensor) -> torch.Tensor:
        """Paste the crop's probabilities back into a full-size map (zero outside the box)."""
        roi = self.state.object_box
        if roi is None:
            self.state = replace(self.state, prev_probs=probs.cpu().numpy()[0, 0])
            return probs
        crop = resize(probs, roi.shape)
        if self.state.prev_probs is not None:
            full = torch.zeros(*probs.shape[:2], *self._input_shape, dtype=probs.dtype,
                               device=probs.device)
            full[(..., *roi.slices)] = crop
        else:
            full = crop
        self.state = replace(self.state, prev_probs=full.cpu().numpy()[0, 0])
        return full

    def check_possible_recalculation(self) -> bool:
        """True when the first prediction should be redone zoomed in (skip_clicks <= 0 only)."""
        if (self.state.prev_probs is None or self.state.object_box is not None
                or self.skip_clicks > 0):
            return False
        mask = self.state.prev_probs > self.prob_thresh
        if not mask.any():
            return False
        return self._object_roi(mask, []).iou(Box.full(mask.shape)) < self.recompute_thresh_iou

    def _object_roi(self, mask: np.ndarray, clicks: Sequence[Click]) -> Box:
        mask = mask.copy()
        for click in clicks:
            if click.is_positive:
                mask[int(click.y), int(click.x)] = True
        return Box.of_mask(mask).expanded(self.expansion_ratio, self.min_crop_size, mask.shape)

    def _target_size(self, box_h: int, box_w: int) -> tuple[int, int]:
        if isinstance(self.target_size, tuple):
            return self.target_size
        scale = self.target_size / max(box_h, box_w)
        return round(box_h * scale), round(box_w * scale)

    def _crop(self, image_nd: torch.Tensor, clicks: Sequence[Click], roi: Box
              ) -> tuple[torch.Tensor, list[Click]]:
        size = self._target_size(*roi.shape)
        return crop_resized(image_nd, roi, size), clicks_in_crop(clicks, roi, size)


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
            self.state = replace(self.state, object_box=None)
            self.image_changed = False
            return image_nd, list(clicks)
        self.state = replace(self.state, object_box=Box(0, 0, height, width))
        self.image_changed = True
        return self._crop(image_nd, clicks, self.state.object_box)

    def check_possible_recalculation(self) -> bool:
        return False


def _positive_click_outside(clicks: Sequence[Click], roi: Box) -> bool:
    # The official test counts a click on the box's last row or column as outside.
    return any(c.is_positive and not Box(roi.top, roi.left, roi.bottom - 1, roi.right - 1)
               .contains(c.y, c.x) for c in clicks)


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """The official ``get_bbox_iou`` on its inclusive ``(rmin, rmax, cmin, cmax)`` boxes."""
    return Box.from_inclusive(*a).iou(Box.from_inclusive(*b))
