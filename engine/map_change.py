"""How one session step changed the probability map, stored in the box where it changed.

A session keeps one full-size current map; each step keeps only the values inside the
box where the map changed, before and after. At 20000 x 20000 a float32 map is 1.6 GB, so
full maps per step would grow memory by that much per click, while a click usually
changes the map only around the object (GrabCut and Zoom-In write zeros outside their
crop). Undo and redo rebuild the neighbouring map exactly from the current one.
Maps are never changed in place (the GUI thread may be drawing one), so a step that
changed nothing shares its map with the step before.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.masks import mask_extent

# (top, left, bottom, right), end-exclusive.
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class MapChange:
    """The values a step changed, inside ``box``: ``before`` (None when there was no map
    before the step, which then counts as zeros) and ``after``. ``box`` is None when the
    step changed nothing."""

    box: Box | None
    before: np.ndarray | None
    after: np.ndarray | None
    had_previous: bool

    @classmethod
    def between(cls, old: np.ndarray | None, new: np.ndarray) -> MapChange:
        """The change from map ``old`` (None: no map yet) to map ``new`` (same shape)."""
        changed = new != 0 if old is None else new != old
        extent = mask_extent(changed)
        if extent is None:
            return cls(None, None, None, old is not None)
        top, bottom, left, right = extent
        box = (top, left, bottom + 1, right + 1)
        window = np.s_[box[0]:box[2], box[1]:box[3]]
        before = None if old is None else old[window].copy()
        return cls(box, before, new[window].copy(), old is not None)

    @property
    def nbytes(self) -> int:
        """Memory the stored values take."""
        return sum(part.nbytes for part in (self.before, self.after) if part is not None)

    def apply(self, old: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
        """The map after the step, from the map before it (``old`` is left as it is)."""
        if not self.had_previous:
            new = np.zeros(shape, np.float32)
        elif self.box is None:
            return old
        else:
            new = old.copy()
        if self.box is not None:
            new[self.box[0]:self.box[2], self.box[1]:self.box[3]] = self.after
        return new

    def revert(self, new: np.ndarray) -> np.ndarray | None:
        """The map before the step, from the map after it (``new`` is left as it is), or
        None when the step started from no map."""
        if not self.had_previous:
            return None
        if self.box is None:
            return new
        old = new.copy()
        old[self.box[0]:self.box[2], self.box[1]:self.box[3]] = self.before
        return old
