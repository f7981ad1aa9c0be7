"""One box type for every crop, window and extent in the engine.

A :class:`Box` is integer image pixels, half-open: rows ``top <= y < bottom``, columns
``left <= x < right``. Other conventions appear only through the named conversions here:
the official RITM / FocalClick ``(rmin, rmax, cmin, cmax)`` inclusive boxes
(:meth:`Box.inclusive`), their ``(y1, y2, x1, x2)`` half-open rows-then-columns boxes
(:meth:`Box.rows_cols`), COCO ``[x, y, w, h]`` (:meth:`Box.xywh`) and ``(x1, y1, x2, y2)``
(:meth:`Box.xyxy`).

It is a NamedTuple rather than a dataclass so that it still equals the plain
``(top, left, bottom, right)`` tuples that stored results and tests compare against; the
field order is that one convention, and no other order is spelt anywhere else.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    top: int
    left: int
    bottom: int
    right: int

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def full(cls, shape: tuple[int, ...]) -> Box:
        """The whole of an image of ``shape`` (its first two dimensions)."""
        return cls(0, 0, int(shape[0]), int(shape[1]))

    @classmethod
    def of_mask(cls, mask: np.ndarray) -> Box | None:
        """The smallest box holding every set pixel of ``mask``; None for an empty mask."""
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(mask.any(axis=0))
        return cls(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)

    @classmethod
    def from_inclusive(cls, rmin: int, rmax: int, cmin: int, cmax: int) -> Box:
        """From the official ``(rmin, rmax, cmin, cmax)``, last row and column included."""
        return cls(rmin, cmin, rmax + 1, cmax + 1)

    @classmethod
    def from_rows_cols(cls, y1: int, y2: int, x1: int, x2: int) -> Box:
        """From ``(y1, y2, x1, x2)`` half-open (FocalClick's global and focus crops)."""
        return cls(y1, x1, y2, x2)

    @classmethod
    def from_xywh(cls, x: int, y: int, width: int, height: int) -> Box:
        """From COCO ``[x, y, w, h]``."""
        return cls(y, x, y + height, x + width)

    # -- conversions ----------------------------------------------------------------------
    @property
    def inclusive(self) -> tuple[int, int, int, int]:
        """``(rmin, rmax, cmin, cmax)``, last row and column included (the official form)."""
        return self.top, self.bottom - 1, self.left, self.right - 1

    @property
    def rows_cols(self) -> tuple[int, int, int, int]:
        """``(y1, y2, x1, x2)`` half-open."""
        return self.top, self.bottom, self.left, self.right

    @property
    def xywh(self) -> list[int]:
        """COCO ``[x, y, w, h]``."""
        return [self.left, self.top, self.width, self.height]

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        """``(x1, y1, x2, y2)`` half-open."""
        return self.left, self.top, self.right, self.bottom

    @property
    def slices(self) -> tuple[slice, slice]:
        """Index an ``H x W (x C)`` array with it: ``array[box.slices]``."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    # -- measures -------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def area(self) -> int:
        return self.height * self.width

    @property
    def is_empty(self) -> bool:
        return self.bottom <= self.top or self.right <= self.left

    def contains(self, y: float, x: float) -> bool:
        """Is the point ``(y, x)`` (pixel coordinates, possibly fractional) inside?"""
        return self.top <= y < self.bottom and self.left <= x < self.right

    def iou(self, other: Box) -> float:
        """The official (RITM ZoomIn) box IoU: the product of the rows' and the columns'
        IoUs, not the IoU of the areas."""
        def axis(lo1: int, hi1: int, lo2: int, hi2: int) -> float:
            inter = max(0, min(hi1, hi2) - max(lo1, lo2))
            return inter / (max(hi1, hi2) - min(lo1, lo2))
        return (axis(self.top, self.bottom, other.top, other.bottom)
                * axis(self.left, self.right, other.left, other.right))

    # -- derived boxes --------------------------------------------------------------------
    def clip(self, shape: tuple[int, ...]) -> Box:
        """This box cut to an image of ``shape``."""
        return Box(max(0, self.top), max(0, self.left),
                   min(int(shape[0]), self.bottom), min(int(shape[1]), self.right))

    def intersect(self, other: Box) -> Box:
        return Box(max(self.top, other.top), max(self.left, other.left),
                   min(self.bottom, other.bottom), min(self.right, other.right))

    def grown(self, top: int, left: int, bottom: int, right: int) -> Box:
        """Each side moved outwards by its amount (negative amounts move it in)."""
        return Box(self.top - top, self.left - left, self.bottom + bottom, self.right + right)

    def expanded(self, ratio: float, min_size: int, shape: tuple[int, ...]) -> Box:
        """The official RITM/FocalClick ``expand_box``: ``ratio`` times the size (at least
        ``min_size``) about the centre, rounded half to even as Python's ``round`` does,
        then clamped into the image (not re-centred). Computed on the inclusive form, as
        the official code does, so that every rounding matches it."""
        rmin, rmax, cmin, cmax = self.inclusive
        rcenter, ccenter = (rmin + rmax) / 2, (cmin + cmax) / 2
        height = max(ratio * (rmax - rmin + 1), min_size)
        width = max(ratio * (cmax - cmin + 1), min_size)
        rmin, rmax = round(rcenter - height / 2), round(rcenter + height / 2)
        cmin, cmax = round(ccenter - width / 2), round(ccenter + width / 2)
        return Box.from_inclusive(max(0, rmin), min(int(shape[0]) - 1, rmax),
                                  max(0, cmin), min(int(shape[1]) - 1, cmax))
