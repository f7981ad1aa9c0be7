"""The FocalClick predictor: coarse prediction on a target crop, refinement of a focus crop.

Per click (specs/focalclick.md §4, the official ``FocalPredictor`` with its evaluation
settings): the target crop around the previous mask and the positive clicks (none on the
first click) is squashed to the segmentor's 256 x 256 input; its coarse probabilities are
pasted back into an all-zero full-size map; the focus crop (the region that changed around
the last click) is cut from the full-resolution image, refined at 256 x 256 and written
over the coarse logits. After ten clicks only the focus crop changes. Every quirk of the
official code is kept on purpose (the spec's Q1-Q10): a logit threshold of 0.49 for the
focus crop, connected-component label 0 meaning "everything unchanged", half-to-even
rounding for the target crop and truncation for the focus crop, click scaling by
``256 / size`` next to ``align_corners=True`` resizes.

The official full-size maps are 0 (logit -inf) outside the target crop; only the crop is
computed here, with the same operations, which keeps large images cheap. The results equal
the official ones up to float rounding (<= 3e-7 in probability on the golden cases, below
the official code's own 1-vs-2-thread noise; every box identical).

The per-object state (previous prediction, the target crop's mask and box) is snapshotted
by ``get_state`` so that undo restores it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np
import torch

from engine.box import Box
from engine.clicks import Click
from engine.inference.encoding import (clicks_in_crop, crop_resized, flipped_clicks, image_tensor,
                                       mask_tensor, points_tensor, resize, takes_prev_mask)
_THRESH = 0.49  # every internal threshold of the official predictor
_MIN_MASK_PIXELS = 10  # the focus crop treats smaller masks as "no mask": whole image
_MAX_COARSE_CLICKS = 10  # beyond this many clicks only the focus crop is updated


@dataclass(frozen=True)
class FocalClickState:
    """Everything that carries over from one click to the next.

    ``prev_prediction``: the last returned probabilities (1, 1, H, W); ``zoom_probs``: the
    map the next target crop is built from (the same probabilities, unless the caller
    replaced it, as the official DAVIS-585 evaluation does with its merged mask);
    ``target_box``: the last target crop, or None.
    """

    prev_prediction: torch.Tensor
    zoom_probs: np.ndarray | None = None
    target_box: Box | None = None


@dataclass(frozen=True)
class FocalClickStep:
    """What the last ``predict`` computed on the way (for inspection and tests).

    Boxes in full-image pixels: the target crop (or None), the global crop (the target
    crop, or the whole image) and the focus crop; the ``*_roi`` properties give them in the
    official dumps' conventions. ``focus_roi_256`` (x1, y1, x2, y2) in the
    256 target frame. Tensors: the inputs of the segmentor (RGB + previous mask, 256
    target frame) and of the refiner (RGB, 256 focus frame), the click tensors given to
    each, the segmentor's logits and the refiner's outputs (``refine``'s dict).
    """

    target_box: Box | None
    global_box: Box
    focus_box: Box
    focus_roi_256: tuple[float, float, float, float]
    net_input: torch.Tensor
    focus_image: torch.Tensor | None
    points: torch.Tensor
    focus_points: torch.Tensor
    coarse_logits: torch.Tensor
    refined: dict[str, torch.Tensor]

    @property
    def target_roi(self) -> tuple[int, int, int, int] | None:
        """(rmin, rmax, cmin, cmax) inclusive, as the official ZoomIn keeps it."""
        return None if self.target_box is None else self.target_box.inclusive

    @property
    def global_roi(self) -> tuple[int, int, int, int]:
        """(y1, y2, x1, x2) half-open, as the official predictor passes it on."""
        return self.global_box.rows_cols

    @property
    def focus_roi(self) -> tuple[int, int, int, int]:
        """(y1, y2, x1, x2) half-open, as the official ``get_focus_cropv1`` returns it."""
        return self.focus_box.rows_cols


def target_crop(mask: np.ndarray, clicks: Sequence[Click], expansion_ratio: float = 1.4,
                min_crop_size: int = 10) -> tuple[int, int, int, int]:
    """The official target crop: bbox of ``mask`` plus every positive click's pixel,
    expanded ``expansion_ratio`` times (at least ``min_crop_size``), rounded half to even,
    clamped into the image. (rmin, rmax, cmin, cmax), inclusive, as the official code
    returns it. ``mask`` must not be empty once the clicks are added."""
    mask = mask.copy()
    for click in clicks:
        if click.is_positive:
            mask[int(click.y), int(click.x)] = True
    box = Box.of_mask(mask)
    if box is None:
        raise ValueError("target_crop needs a non-empty mask or a positive click")
    return box.expanded(expansion_ratio, min_crop_size, mask.shape).inclusive


def _bbox_or_image(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(y1, y2, x1, x2) with the last row and column included, or (0, H, 0, W) for a mask
    under 10 pixels (the official code mixes the two conventions here: quirk kept)."""
    if np.count_nonzero(mask) < _MIN_MASK_PIXELS:
        return 0, mask.shape[0], 0, mask.shape[1]
    return Box.of_mask(mask).inclusive


def focus_crop(pred: np.ndarray, prev: np.ndarray, global_roi: tuple[int, int, int, int],
               y: float, x: float, ratio: float = 1.4) -> tuple[int, int, int, int]:
    """The official focus crop (``get_focus_cropv1``) -> (y1, y2, x1, x2), half-open.

    ``pred``: the new coarse mask (full-res logits > 0.49); ``prev``: the previous mask
    (probabilities > 0.49); ``(y, x)``: the last click. With no previous mask the crop is
    the prediction's box; otherwise the changed region under the click (label 0 if the
    click's pixel did not change: the whole unchanged area), or a square of 0.4 x the
    prediction's extent around the click when that region is thin. Expanded ``ratio``
    times (truncating), clamped to the image and to ``global_roi``.
    """
    height, width = pred.shape
    if not prev.any():
        y1, y2, x1, x2 = _bbox_or_image(pred)
    else:
        _, labels = cv2.connectedComponents(np.logical_xor(prev, pred).astype(np.uint8),
                                            connectivity=8)
        y1d, y2d, x1d, x2d = _bbox_or_image(labels == labels[int(y), int(x)])
        y1p, y2p, x1p, x2p = _bbox_or_image(pred)
        hp, wp = y2p - y1p, x2p - x1p
        if y2d - y1d < hp / 3 or x2d - x1d < wp / 3:
            half = 0.2 * max(hp, wp)
            y1, y2, x1, x2 = y - half, y + half, x - half, x + half
        else:
            y1, y2, x1, x2 = y1d, y2d, x1d, x2d
    yc, xc = 0.5 * (y1 + y2), 0.5 * (x1 + x2)
    h, w = ratio * (y2 - y1 + 1), ratio * (x2 - x1 + 1)
    y1, y2 = max(0, int(yc - h * 0.5)), min(height, int(yc + h * 0.5))
    x1, x2 = max(0, int(xc - w * 0.5)), min(width, int(xc + w * 0.5))
    gy1, gy2, gx1, gx2 = global_roi
    return max(y1, gy1), min(y2, gy2), max(x1, gx1), min(x2, gx2)


class FocalClickPredictor:
    """Turns clicks into probabilities with a FocalClick network (see the module docstring).

    Args:
        model: a FocalClick network (``engine.models.focalclick``).
        device: torch device the model lives on.
        zoom_in: use the target crop (official); False predicts on the whole image.
        expansion_ratio: the target crop's expansion around the previous mask (1.4).
        focus_crop_r: the focus crop's expansion (1.4).
        with_flip: horizontal-flip test-time augmentation of the segmentor (off officially;
            the coarse logits of both passes are averaged, the refiner uses the unflipped one).
        net_clicks_limit: only the first N positive and N negative clicks reach the segmentor.
    """

    name = "focalclick"
    # The official FocalPredictor always feeds the previous mask (see ``takes_prev_mask``).
    prev_mask_by_default = True
    infer_size = 256

    def __init__(self, model: torch.nn.Module, device: str | torch.device = "cpu",
                 zoom_in: bool = True, expansion_ratio: float = 1.4, focus_crop_r: float = 1.4,
                 with_flip: bool = False, net_clicks_limit: int | None = None) -> None:
        self.model = model
        self.device = torch.device(device)
        self.zoom_in = zoom_in
        self.expansion_ratio = expansion_ratio
        self.focus_crop_r = focus_crop_r
        self.with_flip = with_flip
        self.net_clicks_limit = net_clicks_limit
        self._image: torch.Tensor | None = None
        self._state: FocalClickState | None = None
        self.last_step: FocalClickStep | None = None

    def set_image(self, image: np.ndarray) -> None:
        self._image = image_tensor(image, self.device)
        self._state = FocalClickState(torch.zeros(1, 1, *image.shape[:2], device=self.device))
        self.last_step = None

    def get_state(self) -> FocalClickState | None:
        return self._state

    def set_state(self, state: FocalClickState | None) -> None:
        self._state = state

    @torch.no_grad()
    def predict(self, clicks: Sequence[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        if self._image is None or self._state is None:
            raise RuntimeError("set_image must be called before predict")
        if not clicks:
            raise ValueError("predict needs at least one click")
        height, width = self._image.shape[2:]
        if prev_mask is not None:
            if prev_mask.shape != (height, width):
                raise ValueError(f"prev_mask is {prev_mask.shape}, image is {(height, width)}")
            prev = mask_tensor(prev_mask, self.device)
        else:
            prev = self._state.prev_prediction
        clicks = list(clicks)
        last = clicks[-1]

        target_box, crop_box = self._target_box(clicks)
        global_box = Box(0, 0, height, width) if target_box is None else target_box
        net_input, net_clicks = self._network_input(prev, clicks, crop_box)
        click_lists = [net_clicks]
        if self.with_flip:
            net_input = torch.cat((net_input, torch.flip(net_input, dims=[3])), dim=0)
            click_lists.append(flipped_clicks(net_clicks, self.infer_size))
        points = points_tensor(click_lists, self.net_clicks_limit, self.device)
        output = self.model(net_input, points)
        logits, feature = output["instances"], output["feature"]
        averaged = logits[:1]
        if self.with_flip:
            averaged = 0.5 * (logits[:1] + torch.flip(logits[1:], dims=[3]))

        # Everything outside the target crop is probability 0 (logit -inf) in the official
        # full-size maps; only the crop ("region") is computed, with the same operations.
        region_probs = self._back_to_region(torch.sigmoid(averaged), crop_box, target_box)
        region_logits = torch.log(region_probs / (1 - region_probs))  # +-inf allowed
        pred_mask = np.zeros((height, width), dtype=bool)
        pred_mask[global_box.slices] = region_logits[0, 0].cpu().numpy() > _THRESH
        focus = Box.from_rows_cols(*focus_crop(pred_mask, prev[0, 0].cpu().numpy() > _THRESH,
                                               global_box.rows_cols, last.y, last.x,
                                               self.focus_crop_r))
        focus_256 = self._map_roi(focus, global_box)
        if len(clicks) > _MAX_COARSE_CLICKS:
            base = self._state.prev_prediction
            base, origin = torch.log(base / (1 - base)), Box(0, 0, height, width)
        else:
            base, origin = region_logits, global_box
        refined, focus_image, focus_points = {}, None, torch.zeros(1, 0, 3)
        if not focus.is_empty:  # the official code fails on an empty focus crop
            square = (self.infer_size, self.infer_size)
            focus_image = crop_resized(self._image, focus, square)
            focus_points = points_tensor([self._focus_clicks(clicks, focus)], None, self.device,
                                         with_index=False)
            fx1, fy1, fx2, fy2 = focus_256
            rois = torch.tensor([[0, fx1, fy1, fx2, fy2]], dtype=torch.float32,
                                device=self.device)
            refined = self.model.refine(focus_image, focus_points, feature[:1], logits[:1], rois)
            # The focus crop lies inside the target crop (it is clamped to it).
            within = Box(focus.top - origin.top, focus.left - origin.left,
                         focus.bottom - origin.top, focus.right - origin.left)
            base[(..., *within.slices)] = resize(refined["instances_refined"], focus.shape)
        if base.shape[2:] == (height, width):
            probs = torch.sigmoid(base)
        else:
            probs = torch.zeros(1, 1, height, width, dtype=base.dtype, device=base.device)
            probs[(..., *global_box.slices)] = torch.sigmoid(base)

        probs_np = probs[0, 0].cpu().numpy()
        self._state = FocalClickState(probs, probs_np, target_box)
        self.last_step = FocalClickStep(target_box, global_box, focus, focus_256,
                                        net_input[:1], focus_image, points[:1], focus_points,
                                        logits[:1], refined)
        return probs_np

    def set_zoom_mask(self, mask: np.ndarray) -> None:
        """Replace the map the next target crop is built from (the official DAVIS-585
        evaluation writes its Progressive-Merge mask there after every click)."""
        if self._state is None:
            raise RuntimeError("set_image must be called before set_zoom_mask")
        self._state = replace(self._state, zoom_probs=np.asarray(mask, np.float32))

    # -- steps ---------------------------------------------------------------------------
    def _target_box(self, clicks: Sequence[Click]) -> tuple[Box | None, Box | None]:
        """(the target crop the back-mapping uses, the crop cut from the input or None).

        They differ only in the official corner case of an empty previous mask after an
        earlier crop: the whole image is fed but the old box is still used to paste back.
        """
        state = self._state
        if not self.zoom_in or len(clicks) <= 1 or state.zoom_probs is None:
            return state.target_box, None
        mask = state.zoom_probs > _THRESH
        if not mask.any():
            return state.target_box, None
        box = Box.from_inclusive(*target_crop(mask, clicks, self.expansion_ratio))
        return box, box

    def _network_input(self, prev: torch.Tensor, clicks: list[Click], roi: Box | None
                       ) -> tuple[torch.Tensor, list[Click]]:
        image = self._image
        if roi is not None:
            image, prev = image[(..., *roi.slices)], prev[(..., *roi.slices)]
            # Crop size = box size here: the official mapping is an identity up to
            # rounding, kept for fractional clicks.
            clicks = clicks_in_crop(clicks, roi, roi.shape)
        h, w = image.shape[2:]
        size = self.infer_size
        parts = ((image, prev) if takes_prev_mask(self.model, self.prev_mask_by_default)
                 else (image,))
        # Resized apart and joined at 256 px (bilinear works per channel: same numbers as
        # resizing the joined full-resolution tensor, without copying it).
        resized = torch.cat([resize(part, (size, size)) for part in parts], dim=1)
        return resized, [Click(c.y * (size / h), c.x * (size / w), c.is_positive)
                         for c in clicks]

    def _back_to_region(self, probs: torch.Tensor, crop_box: Box | None,
                        target_box: Box | None) -> torch.Tensor:
        """Network-frame probabilities -> the target crop's pixels (the whole image when
        there is no target crop), resized as the official inverse transforms do."""
        size = tuple(self._image.shape[2:]) if crop_box is None else crop_box.shape
        probs = resize(probs, size)
        if target_box is not None and crop_box is None:
            # The stale-box case: the whole-image result is squeezed into the old box.
            probs = resize(probs, target_box.shape)
        return probs

    def _map_roi(self, focus: Box, global_box: Box) -> tuple[float, float, float, float]:
        """Focus box in the 256 target frame, (x1, y1, x2, y2) clamped to [0, 256]."""
        size, g = self.infer_size, global_box
        sy, sx = size / g.height, size / g.width
        return (max((focus.left - g.left) * sx, 0), max((focus.top - g.top) * sy, 0),
                min((focus.right - g.left) * sx, size), min((focus.bottom - g.top) * sy, size))

    def _focus_clicks(self, clicks: Sequence[Click], focus: Box) -> list[Click]:
        ry, rx = self.infer_size / focus.height, self.infer_size / focus.width
        return [Click((c.y - focus.top) * ry, (c.x - focus.left) * rx, c.is_positive)
                for c in clicks]
