"""A probability map stored as the box where it is not constant: what a session step keeps.

At 20000 x 20000 a float32 map is 1.6 GB, so a session that kept a full map per step
would grow by that much per click. A predictor's map is almost always one value outside a
box: GrabCut and Zoom-In write a constant outside their crop, and GrabCut's first
whole-image prediction is "probable background" everywhere but around the object. So a
step keeps that value and the values inside the box, exactly (same dtype); a map that
varies everywhere is kept whole, as before.

Inside the box, a map upscaled from a model's working resolution (GrabCut's 320 px) is
long runs of equal values along its rows; such a box is kept as runs (where each run
starts and its value), which at 20000 x 20000 is tens of MB where the box is hundreds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.box import Box


@dataclass(frozen=True)
class CompactMap:
    """A map that is ``fill`` outside ``box`` and ``values`` inside it (``box`` None: the
    map is ``fill`` everywhere). ``values`` is the box itself, or with ``run_starts`` the
    value of each run of the flattened box."""

    shape: tuple[int, int]
    fill: float
    box: Box | None
    values: np.ndarray | None
    run_starts: np.ndarray | None = None

    @classmethod
    def of(cls, probability: np.ndarray) -> CompactMap:
        """The compact form of an ``H x W`` map: the fill is the corner value whose box is
        smallest (usually all four corners agree, and one pass over the map suffices)."""
        height, width = probability.shape
        corners = {probability[y, x].item() for y in (0, height - 1) for x in (0, width - 1)}
        best: CompactMap | None = None
        for fill in sorted(corners):
            box = Box.of_mask(probability != fill)
            if box is None:
                return cls((height, width), fill, None, None)
            if best is None or box.area < best.box.area:
                best = cls((height, width), fill, box, probability[box.slices])
        return best._as_runs() or replace(best, values=best.values.copy())

    def _as_runs(self) -> CompactMap | None:
        """This map with its box kept as runs, or None when runs would not be smaller."""
        flat = self.values.ravel()
        starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        index = np.int32 if flat.size < 2 ** 31 else np.int64
        if (starts.size + 1) * (flat.itemsize + np.dtype(index).itemsize) >= flat.nbytes:
            return None
        starts = np.concatenate(([0], starts)).astype(index)
        return replace(self, values=flat[starts], run_starts=starts)

    @property
    def nbytes(self) -> int:
        """Memory the stored values take."""
        return sum(part.nbytes for part in (self.values, self.run_starts) if part is not None)

    def expand(self) -> np.ndarray:
        """The full ``H x W`` map (a new array)."""
        dtype = np.float32 if self.values is None else self.values.dtype
        full = np.full(self.shape, self.fill, dtype)
        if self.box is not None:
            values = self.values
            if self.run_starts is not None:
                lengths = np.diff(self.run_starts, append=self.box.area)
                values = np.repeat(values, lengths).reshape(self.box.shape)
            full[self.box.slices] = values
        return full
