"""GrabCut driven by clicks: the weights-free predictor Clickmask uses by default.

Clicks and the previous mask become GrabCut's label map:

- each click: a small disk of sure foreground (positive) or sure background (negative);
- the previous mask (probability > 0.5): probable foreground; the rest probable background;
- with no previous foreground, a disk of probable foreground around each positive click,
  a guess of the object's size that seeds GrabCut's colour models;
- crop edges inside the image: a thin band of sure background (the object is assumed to lie
  inside the crop; image edges are not, so objects may touch them).

Only a crop is segmented, downscaled so that its longer side is at most ``max_side``: cost
does not grow with the image. With no previous foreground the crop is the whole image
(there is no extent to crop to yet); otherwise it is the box of the previous mask and the
positive clicks plus a margin, grown and segmented again when the object reaches its edge.

GrabCut's colour models are global, so afterwards the foreground is split between the
clicks by a watershed (see :func:`_object_pixels`): a negative click removes the part of the
foreground on its side of the strongest edge, not just its own disk, and regions that no
positive click (or previous mask) holds are dropped: one click, one object.
"""
from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from engine.clicks import Click
from engine.box import Box

# Probability written for each GrabCut label; the default threshold 0.49 keeps exactly the
# (probable) foreground. Indexed by cv2.GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD (0..3).
_LABEL_PROBABILITY = np.array([0.0, 1.0, 0.2, 0.8], dtype=np.float32)

_BAND = 2          # width in working pixels of the sure-background band on inner crop edges
_MIN_SAMPLES = 5   # GrabCut's colour models are 5-component GMMs fitted by k-means
_SEED = 0          # GrabCut's k-means initialisation draws from OpenCV's RNG
_POSITIVE_SEED, _NEGATIVE_SEED, _OUTSIDE_SEED = 1, 2, 3  # watershed markers
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


class GrabCutPredictor:
    """The :class:`engine.predictor.Predictor` protocol on top of ``cv2.grabCut``.

    Parameters:
        iterations: GrabCut iterations per prediction (colour model and graph cut rounds).
        click_radius: radius of a click's sure-label disk, in working (downscaled) pixels.
        margin: context around the previous mask and the clicks, as a fraction of the
            longer side of their box.
        min_margin: smallest context in image pixels, so a tiny object still brings
            background around it.
        first_extent: with no previous foreground, radius of the probable-foreground disk
            around each positive click, as a fraction of the image's longer side. A guess
            of the object's size that suits objects up to about a fifth of the image
            across; larger ones take more positive clicks, and a much smaller one on a
            plain surround may take a negative click.
        max_side: the crop is downscaled to at most this many pixels on its longer side.
        max_grow: how many times a crop may grow when the object reaches its edge.

    The result depends only on the image, the clicks and the previous mask (GrabCut is
    reseeded every time), so there is no per-click state: ``get_state`` returns None.
    """

    name = "grabcut"

    def __init__(
        self,
        iterations: int = 3,
        click_radius: int = 5,
        margin: float = 1.0,
        min_margin: int = 16,
        first_extent: float = 0.1,
        max_side: int = 320,
        max_grow: int = 2,
    ) -> None:
        if iterations < 1 or click_radius < 1 or max_side < 16 or max_grow < 0:
            raise ValueError("iterations and click_radius must be >= 1, max_side >= 16, "
                             "max_grow >= 0")
        self.iterations = iterations
        self.click_radius = click_radius
        self.margin = margin
        self.min_margin = min_margin
        self.first_extent = first_extent
        self.max_side = max_side
        self.max_grow = max_grow
        self._image: np.ndarray | None = None
        self._overview: np.ndarray | None = None

    def set_image(self, image: np.ndarray) -> None:
        """Use ``image`` (H x W x 3 uint8 RGB) for the next predictions."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 image, got {image.shape} {image.dtype}")
        self._image = image
        # Every first click segments the whole image: downscale it once, not per click.
        height, width = image.shape[:2]
        self._overview = self._downscale(image, self._working_size(height, width))

    def get_state(self) -> Any:
        """Nothing changes from click to click: every prediction starts from the inputs."""
        return None

    def set_state(self, state: Any) -> None:
        """Nothing to restore (see :meth:`get_state`)."""

    def predict(self, clicks: Sequence[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        """Object probability (H x W float32 in [0, 1]) for ``clicks`` and ``prev_mask``.

        1 at clicked foreground, 0.8 probable foreground, 0.2 probable background, 0 at
        negative clicks and outside the crop; the crop is upscaled bilinearly, so edges
        take values in between. Without a positive click or previous foreground the map
        is all zeros.
        """
        if self._image is None:
            raise RuntimeError("set_image must be called before predict")
        height, width = self._image.shape[:2]
        prior = None if prev_mask is None else np.asarray(prev_mask, dtype=np.float32)
        prior_box = None if prior is None else Box.of_mask(prior > 0.5)
        positives = [click for click in clicks if click.is_positive]
        if not positives and prior_box is None:
            return np.zeros((height, width), dtype=np.float32)

        if prior_box is None:
            crop = Box(0, 0, height, width)
            prior = None  # all background: nothing to carry over
        else:
            crop = self._context_box(positives, prior_box)
        for _ in range(self.max_grow):
            probability, reached = self._segment(clicks, prior, crop)
            if not any(reached):
                return probability
            crop = self._grow(crop, reached)
        return self._segment(clicks, prior, crop)[0]

    # -- crops ---------------------------------------------------------------------------
    def _context_box(self, positives: Sequence[Click], prior_box: Box) -> Box:
        top, left, bottom, right = prior_box
        for click in positives:
            top, left = min(top, int(click.y)), min(left, int(click.x))
            bottom, right = max(bottom, int(click.y) + 1), max(right, int(click.x) + 1)
        margin = max(self.min_margin, round(self.margin * max(bottom - top, right - left)))
        return Box(top, left, bottom, right).grown(margin, margin, margin, margin).clip(
            self._image.shape)

    def _grow(self, crop: Box, reached: tuple[bool, bool, bool, bool]) -> Box:
        """Move each reached edge out by half the crop's size."""
        step_y, step_x = (crop.height + 1) // 2, (crop.width + 1) // 2
        return crop.grown(step_y * reached[0], step_x * reached[1], step_y * reached[2],
                          step_x * reached[3]).clip(self._image.shape)

    def _working_size(self, height: int, width: int) -> tuple[int, int]:
        scale = min(1.0, self.max_side / max(height, width))
        return max(1, round(height * scale)), max(1, round(width * scale))

    @staticmethod
    def _downscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if size == image.shape[:2]:
            return np.ascontiguousarray(image)
        # INTER_AREA reads every pixel of the crop (and OpenCV first copies a crop, which
        # is a strided view): seconds at 20000 x 20000. Taking every step-th pixel first,
        # down to at least 4x the working size, leaves 16 samples averaged into each working
        # pixel, plenty for GrabCut's colour models; crops under 4x are scaled as before.
        step = max(1, min(image.shape[0] // (4 * size[0]), image.shape[1] // (4 * size[1])))
        return cv2.resize(image[::step, ::step], (size[1], size[0]),
                          interpolation=cv2.INTER_AREA)

    # -- one GrabCut run -----------------------------------------------------------------
    def _segment(self, clicks: Sequence[Click], prior: np.ndarray | None,
                 crop: Box) -> tuple[np.ndarray, tuple[bool, bool, bool, bool]]:
        """Probability map of the whole image from GrabCut on ``crop``, and which inner
        crop edges (top, left, bottom, right) the foreground reached."""
        height, width = self._image.shape[:2]
        top, left, bottom, right = crop
        crop_h, crop_w = crop.shape
        work_h, work_w = self._working_size(crop_h, crop_w)
        scale_y, scale_x = work_h / crop_h, work_w / crop_w
        if crop == Box.full(self._image.shape):
            work = self._overview
        else:
            work = self._downscale(self._image[crop.slices], (work_h, work_w))

        def to_work(click: Click) -> tuple[int, int] | None:
            # The working pixel under the click; None for a click outside the crop.
            y = int((click.y - top) * scale_y)
            x = int((click.x - left) * scale_x)
            return (min(y, work_h - 1), min(x, work_w - 1)) if crop.contains(click.y, click.x) \
                else None

        labels = np.full((work_h, work_w), cv2.GC_PR_BGD, dtype=np.uint8)
        previous = None
        if prior is not None:
            previous = self._downscale(prior[crop.slices], (work_h, work_w)) > 0.5
            labels[previous] = cv2.GC_PR_FGD
        else:
            extent = max(1, round(self.first_extent * max(work_h, work_w)))
            for click in clicks:
                point = to_work(click)
                if click.is_positive and point is not None:
                    cv2.circle(labels, (point[1], point[0]), extent, cv2.GC_PR_FGD, -1)

        inner = (top > 0, left > 0, bottom < height, right < width)
        for side, edge in zip(inner, (np.s_[:_BAND], np.s_[:, :_BAND],
                                      np.s_[-_BAND:], np.s_[:, -_BAND:])):
            if side:
                labels[edge] = cv2.GC_BGD
        points = [(click, to_work(click)) for click in clicks]
        _stamp(labels, points, self.click_radius, cv2.GC_FGD, cv2.GC_BGD)

        foreground = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        n_foreground = int(np.count_nonzero(foreground))
        if min(n_foreground, labels.size - n_foreground) >= _MIN_SAMPLES:
            cv2.setRNGSeed(_SEED)
            background_model = np.zeros((1, 65), np.float64)
            foreground_model = np.zeros((1, 65), np.float64)
            cv2.grabCut(work, labels, None, background_model, foreground_model,
                        self.iterations, cv2.GC_INIT_WITH_MASK)
            foreground = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)

        seeds = np.zeros((work_h, work_w), dtype=np.int32)
        _stamp(seeds, points, self.click_radius, _POSITIVE_SEED, _NEGATIVE_SEED)
        foreground = _object_pixels(work, foreground, seeds, previous)
        labels[(labels == cv2.GC_PR_FGD) & ~foreground] = cv2.GC_PR_BGD
        near = _BAND + 1
        reached = (inner[0] and foreground[:near].any(), inner[1] and foreground[:, :near].any(),
                   inner[2] and foreground[-near:].any(), inner[3] and foreground[:, -near:].any())

        probability = np.zeros((height, width), dtype=np.float32)
        # Written straight into the crop: a 20000 x 20000 map is 1.6 GB, not worth a copy.
        cv2.resize(_LABEL_PROBABILITY[labels], (crop_w, crop_h),
                   dst=probability[crop.slices], interpolation=cv2.INTER_LINEAR)
        # Upscaling blurs the click disks; restate them at full resolution so that a
        # positive click is always inside the mask and a negative one always outside.
        full_radius = max(1, round(self.click_radius / min(scale_y, scale_x)))
        _stamp(probability, [(click, (int(click.y), int(click.x))) for click in clicks],
               full_radius, 1.0, 0.0)
        return probability, reached


def _stamp(target: np.ndarray, points: Sequence[tuple[Click, tuple[int, int] | None]],
           radius: int, positive: float, negative: float) -> None:
    """Draw each click's disk, in click order, then each click's own pixel again.

    A later click's disk may cover an earlier click, but every click keeps its own pixel
    (unless a later click lands on exactly that pixel): a positive click is never outside
    the object it asked for.
    """
    for click, point in points:
        if point is not None:
            cv2.circle(target, (point[1], point[0]), radius,
                       positive if click.is_positive else negative, -1)
    for click, point in points:
        if point is not None:
            target[point] = positive if click.is_positive else negative


def _object_pixels(work: np.ndarray, foreground: np.ndarray, seeds: np.ndarray,
                   previous: np.ndarray | None) -> np.ndarray:
    """The part of GrabCut's foreground that belongs to the object being clicked.

    GrabCut's colour models are global: a negative click on a region coloured like the
    object only removes its own disk. So the foreground is flooded (a watershed) from the
    click disks: each negative click takes the foreground that it reaches before a
    positive click does, the border falling on the strongest colour edge between them.
    Foreground parts that no positive click reaches stay when they were in the previous
    mask (their pixels seed the object: an imported mask's other parts, or a part that a
    negative click can only dent) and go otherwise: one click, one object.
    """
    markers = seeds.copy()
    if previous is not None:
        reach = (foreground | (seeds == _NEGATIVE_SEED)).astype(np.uint8)
        count, regions = cv2.connectedComponents(reach, connectivity=4)
        clicked = np.zeros(count, dtype=bool)
        clicked[regions[seeds == _POSITIVE_SEED]] = True
        clicked[0] = False
        markers[(markers == 0) & foreground & previous & ~clicked[regions]] = _POSITIVE_SEED
    outside = (markers == 0) & ~foreground
    markers[outside] = _OUTSIDE_SEED
    # Halved colours inside, 255 outside: stepping in from outside costs at least 128,
    # more than any step within, so the outside floods only what no seed reaches first.
    relief = work // 2
    relief[outside] = 255
    cv2.watershed(relief, markers)
    claimed = markers == _POSITIVE_SEED
    # Watershed lines (-1) separate regions, and also frame the crop; count those pixels
    # to the object where they touch it.
    touching = cv2.dilate(claimed.astype(np.uint8), _CROSS) > 0
    return claimed | ((markers == -1) & foreground & touching)

