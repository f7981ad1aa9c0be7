"""First-click proposals (the DISNet workflow) from any single-output click model.

A first click is ambiguous: a part, the whole object or a group of objects. The recipe
(../shared/specs/taiz_and_proposals.md, section 2.2) asks the model several questions and
keeps the distinct, stable answers:

A. candidates: the plain prediction on the whole image, and the model run on square
   windows centred on the click (0.2, 0.4 and 0.7 of the long side; small windows tend to
   give parts, large ones the object or a group); each map is thresholded at 0.3, 0.5 and
   0.7 and the 8-connected component holding the click is kept (small holes filled);
B. filters and score: area bounds; a window candidate that runs along a window edge
   inside the image is truncated and dropped; stability = IoU of the component at
   τ + 0.15 and τ - 0.15; score = 0.6 stability + 0.4 mean probability;
C. greedy mask-IoU de-duplication at 0.8;
D. at most three for the user: the top-scored one (suggested; the plain prediction unless
   another scores clearly higher), the best clearly smaller
   one (part) and the best clearly larger one (group); a free slot goes to the best
   candidate of yet another scale.

The plain prediction is always one of the proposals (unless it is empty), so picking the
best proposal is never worse than the single first-click mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from engine.box import Box
from engine.clicks import Click
from engine.masks import mask_iou
from engine.predictor import Predictor

# (top, left, bottom, right) in image pixels, end-exclusive.


@dataclass(frozen=True)
class ProposalConfig:
    """The recipe's constants (spec 2.2); the defaults are the spec's.

    Args:
        window_fractions: window sides as fractions of the image's long side.
        min_window: smallest window side in pixels.
        window_long_side: each window is resized to this long side for the model (RITM's
            Zoom-In size).
        thresholds: the threshold sweep applied to every probability map.
        min_area, min_area_fraction, max_area_fraction: a candidate's area must be at least
            max(min_area, min_area_fraction * H * W) and at most max_area_fraction * H * W.
        edge_tolerance: pixels from a window edge that count as touching it.
        max_edge_fraction: a window candidate touching an inner window edge along more than
            this fraction of the edge is truncated.
        stability_offset: stability compares the component at τ ± this offset (clipped to
            [0.05, 0.95]).
        min_stability: candidates less stable than this are dropped.
        stability_weight: score = w stability + (1 - w) mean probability.
        nms_iou: candidates overlapping a better one more than this are duplicates.
        part_ratio, group_ratio: a part is at most part_ratio, a group at least group_ratio
            times the suggested mask's area.
        hole_fraction: holes smaller than this fraction of the mask's area are filled.
        suggest_margin: another candidate is suggested instead of the plain prediction only
            when it scores this much higher [our choice: with the GrabCut engine the top
            score alone suggested masks 0.12 mIoU@1 worse than the plain one on GrabCut].
    """

    window_fractions: tuple[float, ...] = (0.2, 0.4, 0.7)
    min_window: int = 96
    window_long_side: int = 400
    thresholds: tuple[float, ...] = (0.3, 0.5, 0.7)
    min_area: int = 64
    min_area_fraction: float = 0.0005
    max_area_fraction: float = 0.95
    edge_tolerance: int = 2
    max_edge_fraction: float = 0.05
    stability_offset: float = 0.15
    min_stability: float = 0.80
    stability_weight: float = 0.6
    nms_iou: float = 0.8
    part_ratio: float = 0.6
    group_ratio: float = 1.6
    hole_fraction: float = 0.005
    suggest_margin: float = 0.05


@dataclass(frozen=True)
class Proposal:
    """One candidate mask for the first click.

    ``probability`` is what the session continues from when the proposal is chosen: the
    plain prediction itself, or the source map restricted to the component and rescaled
    so that its threshold τ maps to 0.5 (the component is exactly where it exceeds 0.5).
    """

    mask: np.ndarray
    probability: np.ndarray
    score: float
    stability: float
    confidence: float
    kind: str  # "part", "whole" or "group", relative to the suggested proposal
    source: str  # where it came from, e.g. "plain", "window 128 px, τ 0.7"
    suggested: bool = False
    plain: bool = False

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))


@dataclass(eq=False)  # compared by identity
class _Candidate:
    mask: np.ndarray
    source_map: np.ndarray
    tau: float
    source: str
    score: float = 0.0
    stability: float = 0.0
    confidence: float = 0.0
    plain: bool = False

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))


class ProposalGenerator:
    """Proposes up to three distinct masks for a first positive click (module docstring)."""

    def __init__(self, config: ProposalConfig | None = None) -> None:
        self.config = config or ProposalConfig()

    def generate(self, predictor: Predictor, image: np.ndarray, click: Click,
                 plain: np.ndarray | None = None, prob_thresh: float = 0.5) -> list[Proposal]:
        """Proposals for ``click`` on ``image``, in increasing area.

        ``plain`` is the predictor's probability map for the click alone when the caller
        already has it (the predictor then already works on ``image``); ``prob_thresh`` is
        the threshold that makes it a mask. The predictor is left with ``image`` and the
        state it had on entry.
        """
        height, width = image.shape[:2]
        if not (0 <= click.y < height and 0 <= click.x < width):
            raise ValueError(f"click {click} is outside the {width}x{height} image")
        if not click.is_positive:
            raise ValueError("proposals need a positive first click")
        state = predictor.get_state()
        try:
            if plain is None:
                predictor.set_image(image)
                plain = predictor.predict([click], None)
            maps: list[tuple[np.ndarray, Box | None, str]] = [(plain, None, "image")]
            for box in self._windows(height, width, click):
                maps.append((self._window_map(predictor, image, click, box), box,
                             f"window {box.height}x{box.width} px"))
        finally:
            predictor.set_image(image)
            predictor.set_state(state)
        candidates = [self._plain_candidate(plain, prob_thresh)]
        for probability, box, label in maps:
            for tau in self.config.thresholds:
                candidate = self._threshold_candidate(probability, box, click, tau,
                                                      f"{label}, τ {tau:g}")
                if candidate is not None:
                    candidates.append(candidate)
        return self._select([c for c in candidates if c.area > 0])

    # -- A. candidates ---------------------------------------------------------------------
    def _windows(self, height: int, width: int, click: Click) -> list[Box]:
        """Square windows centred on the click, shifted (not shrunk) to stay inside."""
        long_side = max(height, width)
        boxes: list[Box] = []
        for fraction in self.config.window_fractions:
            side = max(self.config.min_window, round(fraction * long_side))
            box_h, box_w = min(side, height), min(side, width)
            if (box_h, box_w) == (height, width):
                continue  # the whole image: the plain pass already asked that question
            top = int(np.clip(round(click.y - box_h / 2), 0, height - box_h))
            left = int(np.clip(round(click.x - box_w / 2), 0, width - box_w))
            box = Box(top, left, top + box_h, left + box_w)
            if box not in boxes:
                boxes.append(box)
        return boxes

    def _window_map(self, predictor: Predictor, image: np.ndarray, click: Click,
                    box: Box) -> np.ndarray:
        """The model's probability for the click on ``box``, pasted into a full-size map."""
        top, left = box.top, box.left
        box_h, box_w = box.shape
        scale = self.config.window_long_side / max(box_h, box_w)
        size_h, size_w = max(1, round(box_h * scale)), max(1, round(box_w * scale))
        crop = image[box.slices]
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        predictor.set_image(np.ascontiguousarray(
            cv2.resize(crop, (size_w, size_h), interpolation=interpolation)))
        moved = Click(min(size_h - 1.0, max(0.0, (click.y - top + 0.5) * size_h / box_h - 0.5)),
                      min(size_w - 1.0, max(0.0, (click.x - left + 0.5) * size_w / box_w - 0.5)),
                      True)
        probability = predictor.predict([moved], None)
        full = np.zeros(image.shape[:2], np.float32)
        full[box.slices] = cv2.resize(probability.astype(np.float32),
                                                  (box_w, box_h),
                                                  interpolation=cv2.INTER_LINEAR)
        return full

    def _plain_candidate(self, plain: np.ndarray, prob_thresh: float) -> _Candidate:
        candidate = _Candidate(plain > prob_thresh, plain, prob_thresh, "plain", plain=True)
        low, high = self._offsets(prob_thresh)
        candidate.stability = mask_iou(plain > high, plain > low)
        candidate.confidence = _mean(plain, candidate.mask)
        candidate.score = self._score(candidate)
        return candidate

    def _threshold_candidate(self, probability: np.ndarray, box: Box | None, click: Click,
                             tau: float, source: str) -> _Candidate | None:
        config = self.config
        mask = _component(probability > tau, click)
        if mask is None:
            return None
        mask = _fill_small_holes(mask, config.hole_fraction)
        area, total = int(np.count_nonzero(mask)), mask.size
        if area < max(config.min_area, config.min_area_fraction * total) \
                or area > config.max_area_fraction * total:
            return None
        if box is not None and self._truncated(mask, box):
            return None
        low, high = self._offsets(tau)
        high_part = _component(probability > high, click)
        low_part = _component(probability > low, click)
        stability = (0.0 if high_part is None or low_part is None
                     else mask_iou(high_part, low_part))
        if stability < config.min_stability:
            return None
        candidate = _Candidate(mask, probability, tau, source, stability=stability,
                               confidence=_mean(probability, mask))
        candidate.score = self._score(candidate)
        return candidate

    def _offsets(self, tau: float) -> tuple[float, float]:
        offset = self.config.stability_offset
        return max(0.05, tau - offset), min(0.95, tau + offset)

    def _score(self, candidate: _Candidate) -> float:
        weight = self.config.stability_weight
        return weight * candidate.stability + (1 - weight) * candidate.confidence

    def _truncated(self, mask: np.ndarray, box: Box) -> bool:
        """Does the mask run along a window edge that is not an image edge?"""
        top, left, bottom, right = box
        height, width = mask.shape
        near = self.config.edge_tolerance + 1
        inside = mask[top:bottom, left:right]
        edges = ((top > 0, inside[:near].any(axis=0)),
                 (bottom < height, inside[-near:].any(axis=0)),
                 (left > 0, inside[:, :near].any(axis=1)),
                 (right < width, inside[:, -near:].any(axis=1)))
        return any(inner and touching.mean() > self.config.max_edge_fraction
                   for inner, touching in edges)

    # -- C. de-duplication and D. choice ------------------------------------------------------
    def _select(self, candidates: list[_Candidate]) -> list[Proposal]:
        config = self.config
        # The plain prediction goes first so that nothing can remove it as a duplicate.
        ordered = sorted(candidates, key=lambda c: (not c.plain, -c.score))
        kept: list[_Candidate] = []
        for candidate in ordered:
            if all(mask_iou(candidate.mask, other.mask) <= config.nms_iou for other in kept):
                kept.append(candidate)
        if not kept:
            return []
        by_score = sorted(kept, key=lambda c: -c.score)
        plain = next((c for c in kept if c.plain), None)
        suggested = by_score[0]
        if plain is not None and suggested.score < plain.score + config.suggest_margin:
            suggested = plain
        chosen = [suggested]
        for limit in (lambda c: c.area <= config.part_ratio * suggested.area,
                      lambda c: c.area >= config.group_ratio * suggested.area):
            best = next((c for c in by_score if limit(c) and c not in chosen), None)
            if best is not None:
                chosen.append(best)
        # A free slot (no group, say) goes to the best candidate of yet another scale: a
        # part and a whole below a suggested group are both worth showing.
        for candidate in by_score:
            if len(chosen) < 3 and candidate not in chosen and all(
                    self._other_scale(candidate, other) for other in chosen):
                chosen.append(candidate)
        if plain is not None and plain not in chosen:
            if len(chosen) == 3:
                chosen.remove(min(chosen[1:], key=lambda c: c.score))
            chosen.append(plain)
        chosen.sort(key=lambda c: c.area)
        return [self._proposal(c, suggested, kind)
                for c, kind in zip(chosen, self._kinds(chosen, suggested))]

    def _other_scale(self, a: _Candidate, b: _Candidate) -> bool:
        return (a.area <= self.config.part_ratio * b.area
                or a.area >= self.config.group_ratio * b.area)

    @staticmethod
    def _kinds(chosen: list[_Candidate], suggested: _Candidate) -> list[str]:
        """part / whole / group by increasing area; with fewer than three, the suggested
        one is the whole."""
        if len(chosen) == 3:
            return ["part", "whole", "group"]
        return ["whole" if c is suggested else "part" if c.area < suggested.area else "group"
                for c in chosen]

    def _proposal(self, candidate: _Candidate, suggested: _Candidate, kind: str) -> Proposal:
        if candidate.plain:
            probability = candidate.source_map.astype(np.float32, copy=False)
        else:
            probability = _rescaled(candidate.source_map, candidate.tau, candidate.mask)
        return Proposal(candidate.mask, probability, candidate.score, candidate.stability,
                        candidate.confidence, kind, candidate.source,
                        suggested=candidate is suggested, plain=candidate.plain)


def _component(mask: np.ndarray, click: Click) -> np.ndarray | None:
    """The 8-connected component of ``mask`` holding the click, or None if it is outside."""
    y, x = int(click.y), int(click.x)
    if not mask[y, x]:
        return None
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return labels == labels[y, x]


def _fill_small_holes(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Fill background regions enclosed by the mask and smaller than ``fraction`` of it."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (~mask).astype(np.uint8), connectivity=4)
    limit = fraction * np.count_nonzero(mask)
    border = np.unique(np.concatenate((labels[0], labels[-1], labels[:, 0], labels[:, -1])))
    small = stats[:, cv2.CC_STAT_AREA] < limit
    small[border] = False
    small[0] = False  # label 0 is the mask itself
    return mask | small[labels] if small.any() else mask


def _mean(probability: np.ndarray, mask: np.ndarray) -> float:
    return float(probability[mask].mean()) if mask.any() else 0.0


def _rescaled(probability: np.ndarray, tau: float, mask: np.ndarray) -> np.ndarray:
    """Probabilities on ``mask`` mapped piecewise linearly so that τ -> 0.5; 0 elsewhere."""
    p = probability.astype(np.float32)
    scaled = np.where(p > tau, 0.5 + 0.5 * (p - tau) / max(1e-6, 1 - tau), 0.5 * p / tau)
    return np.where(mask, np.maximum(scaled, np.nextafter(np.float32(0.5), np.float32(1))),
                    0).astype(np.float32)


def best_iou(proposals: Sequence[Proposal], truth: np.ndarray) -> float:
    """IoU with ``truth`` of the proposal that matches it best (the oracle pick)."""
    return max((mask_iou(p.mask, truth) for p in proposals), default=0.0)
