"""The user's clicks, in image pixel coordinates."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Click:
    """One click: row ``y``, column ``x`` (image pixels, row first like the official code).

    Coordinates may be fractional (a click between pixels); ``is_positive`` is True for a
    click on the object (left button) and False for a background click (right button).
    """

    y: float
    x: float
    is_positive: bool

    @property
    def coords(self) -> tuple[float, float]:
        return self.y, self.x

    def to_json(self) -> list:
        return [self.y, self.x, self.is_positive]

    @classmethod
    def from_json(cls, data: list) -> Click:
        y, x, positive = data
        return cls(float(y), float(x), bool(positive))
