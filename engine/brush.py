"""Hand edits of a mask: one brush or eraser stroke, rasterised in image pixels."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_RADIUS = 0  # a radius-0 brush paints single pixels
MAX_RADIUS = 1000  # px: far beyond any useful brush
_FAR = 2 ** 24


@dataclass(frozen=True)
class Stroke:
    """A press-drag-release of the brush: the pixels it passed over (``(y, x)``, row first,
    as clicks), its radius in image pixels and whether it erases or paints.

    The points may lie outside the image (a stroke that runs over the border); only the
    part inside counts.
    """

    points: tuple[tuple[int, int], ...]
    radius: int
    erase: bool = False

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a stroke needs at least one point")
        if not MIN_RADIUS <= self.radius <= MAX_RADIUS:
            raise ValueError(f"the brush radius must lie in [{MIN_RADIUS}, {MAX_RADIUS}] "
                             f"pixels, got {self.radius}")

    def footprint(self, shape: tuple[int, int]) -> np.ndarray:
        """H x W bool: the pixels the stroke covers, a disk of ``radius`` at each point
        joined by segments as wide as the disk."""
        canvas = np.zeros(shape, np.uint8)
        # cv2 takes int32 coordinates; a point clipped this far out still draws its
        # segments across the image in (almost exactly) the same direction.
        points = [(int(np.clip(x, -_FAR, _FAR)), int(np.clip(y, -_FAR, _FAR)))
                  for y, x in self.points]
        # cv2 draws a line of thickness t about t + 1 pixels wide: 2r matches the disks.
        thickness = max(1, 2 * self.radius)
        for point in points:
            cv2.circle(canvas, point, self.radius, 1, thickness=-1)
        for start, end in zip(points, points[1:]):
            cv2.line(canvas, start, end, 1, thickness=thickness)
        return canvas.astype(bool)

    def apply(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` with the stroke painted in (or erased); ``mask`` is left unchanged."""
        footprint = self.footprint(mask.shape[:2])
        return mask & ~footprint if self.erase else mask | footprint
