"""What the RITM-family networks are fed, written once for the RITM and FocalClick predictors:
the image tensor, the previous-mask channel, the object crop and the clicks tensor.

Each function keeps the official arithmetic exactly (specs/ritm.md §4, specs/focalclick.md
§3.0 and §4): the golden tests compare the predictors with the official code's numbers.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from engine.box import Box
from engine.clicks import Click


def image_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(1, 3, H, W)`` float32 in [0, 1] from an ``H x W x 3`` uint8 RGB image (the
    official ``ToTensor``). The uint8 image is moved to the device first: a quarter of the
    bytes of the float one."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {image.shape} "
                         f"{image.dtype}")
    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return (tensor.permute(2, 0, 1).float() / 255).unsqueeze(0)


def mask_tensor(mask: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(1, 1, H, W)`` float32 from an ``H x W`` map (a previous mask or probabilities)."""
    return torch.from_numpy(np.asarray(mask, np.float32))[None, None].to(device)


def takes_prev_mask(model: torch.nn.Module, official_default: bool) -> bool:
    """Does ``model`` get the previous mask as a 4th input channel?

    The model's own ``with_prev_mask`` decides. ``official_default`` is what the official
    predictor does with a network that has no such attribute, which differs between the
    two codes: RITM's ``BasePredictor`` adds the channel only ``if hasattr(net,
    'with_prev_mask') and net.with_prev_mask`` (default False), while FocalClick's
    ``FocalPredictor`` always concatenates it (default True; its networks all take it)."""
    return bool(getattr(model, "with_prev_mask", official_default))


def resize(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear with ``align_corners=True``, the resize of every official transform."""
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=True)


def crop_resized(tensor: torch.Tensor, box: Box, size: tuple[int, int]) -> torch.Tensor:
    """The ``(B, C, H, W)`` tensor's ``box``, resized to ``size`` (the object crop)."""
    return resize(tensor[(..., *box.slices)], size)


def clicks_in_crop(clicks: Sequence[Click], box: Box, size: tuple[int, int]) -> list[Click]:
    """Clicks moved into ``box`` resized to ``size``, with the official arithmetic
    ``size * (coordinate - box start) / box size`` (in this order: the rounding matters
    for fractional clicks)."""
    crop_h, crop_w = size
    return [Click(crop_h * (c.y - box.top) / box.height, crop_w * (c.x - box.left) / box.width,
                  c.is_positive) for c in clicks]


def flipped_clicks(clicks: Sequence[Click], width: int) -> list[Click]:
    """The clicks of the horizontally flipped copy of a ``width``-wide input."""
    return [Click(c.y, width - c.x - 1, c.is_positive) for c in clicks]


def points_tensor(click_lists: Sequence[Sequence[Click]], limit: int | None,
                  device: torch.device, with_index: bool = True) -> torch.Tensor:
    """``(B, 2N, 3)`` rows ``(y, x, order)``: each list's positives then its negatives,
    padded with ``(-1, -1, -1)``; ``N`` is the largest count of either kind over the
    lists (at most ``limit``, at least 1). Only each list's first ``limit`` clicks in time
    are used, both kinds together (``get_points_nd``). ``with_index`` False writes 0 as the
    order (FocalClick's refiner clicks)."""
    indexed = [list(enumerate(clicks)) for clicks in click_lists]
    n = max(max(sum(c.is_positive for _, c in items), sum(not c.is_positive for _, c in items))
            for items in indexed)
    n = max(1, n if limit is None else min(limit, n))
    rows = []
    for items in indexed:
        batch: list[tuple[float, float, int]] = []
        for positive in (True, False):
            chosen = [(c.y, c.x, i if with_index else 0) for i, c in items[:limit]
                      if c.is_positive == positive]
            batch += chosen + [(-1, -1, -1)] * (n - len(chosen))
        rows.append(batch)
    return torch.tensor(rows, dtype=torch.float32, device=device)
