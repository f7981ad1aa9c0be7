"""RoIAlign (Mask R-CNN), with the sampling rules of torchvision's ``roi_align``.

FocalClick's refiner crops the segmentor's feature map and logits with it. Because every
sample point of one output row shares its y (and every one of a column its x), bilinear
sampling is separable: the crop is ``Wy @ feature @ Wx^T`` with two sparse interpolation
matrices, which is exact up to float summation order and cheap (no gather per pixel).
"""
from __future__ import annotations

import math
from typing import Tuple

import torch


def _axis_weights(start: float, size: float, pooled: int, grid: int, length: int,
                  dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(pooled, length) matrix averaging the ``grid`` bilinear samples of each output bin.

    Sample positions are computed in float32 in torchvision's order of operations, so they
    are the same numbers the reference kernel samples at.
    """
    if grid == 0:  # an empty roi samples nothing: torchvision returns zeros
        return torch.zeros(pooled, length, dtype=dtype, device=device)
    f32 = torch.float32
    start_t = torch.tensor(start, dtype=f32, device=device)
    bin_size = torch.tensor(size, dtype=f32, device=device) / pooled
    index = torch.arange(pooled * grid, device=device)
    bins = (index // grid).to(f32)
    sub = (index % grid).to(f32) + 0.5
    coords = start_t + bins * bin_size + sub * bin_size / grid
    valid = ((coords >= -1.0) & (coords <= length)).to(torch.float64)
    coords = coords.clamp(min=0.0)
    low = coords.floor().long()
    at_end = low >= length - 1
    low = torch.where(at_end, torch.full_like(low, length - 1), low)
    coords = torch.where(at_end, low.to(f32), coords)
    high = torch.where(at_end, low, low + 1)
    frac = (coords - low.to(f32)).to(torch.float64)
    weights = torch.zeros(pooled * grid, length, dtype=torch.float64, device=device)
    rows = torch.arange(pooled * grid, device=device)
    weights.index_put_((rows, low), (1 - frac) * valid, accumulate=True)
    weights.index_put_((rows, high), frac * valid, accumulate=True)
    return weights.reshape(pooled, grid, length).mean(dim=1).to(dtype)


def _f32(value: float) -> float:
    return float(torch.tensor(value, dtype=torch.float32))


def roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: Tuple[int, int],
              spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = True) -> torch.Tensor:
    """Crop-and-resize ``features`` (N, C, H, W) to ``rois`` (K, 5) rows
    ``(batch_index, x1, y1, x2, y2)`` in input coordinates -> (K, C, out_h, out_w).

    Same semantics as ``torchvision.ops.roi_align``: ``aligned=True`` shifts the box by half
    a pixel; ``sampling_ratio <= 0`` takes ``ceil(roi_size / output_size)`` samples per bin
    and axis; samples beyond one pixel outside the map count as zero.
    """
    if features.dim() != 4 or rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"roi_align expects features (N,C,H,W) and rois (K,5), got "
                         f"{tuple(features.shape)} and {tuple(rois.shape)}")
    out_h, out_w = output_size
    height, width = features.shape[2:]
    offset = 0.5 if aligned else 0.0
    crops = []
    for roi in rois.tolist():
        batch, x1, y1, x2, y2 = roi
        # float32 box corners, as the reference kernel rounds them
        start_x, start_y, end_x, end_y = (
            _f32(v * spatial_scale - offset) for v in (x1, y1, x2, y2))
        roi_w, roi_h = _f32(end_x - start_x), _f32(end_y - start_y)
        if not aligned:  # the legacy mode forces at least a 1-pixel box
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / out_h)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / out_w)
        wy = _axis_weights(start_y, roi_h, out_h, grid_h, height, features.dtype,
                           features.device)
        wx = _axis_weights(start_x, roi_w, out_w, grid_w, width, features.dtype,
                           features.device)
        crops.append(wy @ features[int(batch)] @ wx.T)
    return torch.stack(crops)
