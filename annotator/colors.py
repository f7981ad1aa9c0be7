"""Colours of objects and clicks, shared by the canvas and the object list."""
from __future__ import annotations

# A qualitative palette (distinct hues, readable on photos); objects cycle through it by id.
_PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0), (170, 255, 195),
]

CURRENT_OBJECT = (30, 144, 255)  # the object in progress: one colour the user learns
POSITIVE_CLICK = (40, 220, 40)
NEGATIVE_CLICK = (230, 30, 30)
ORIGINAL_OUTLINE = (255, 215, 0)  # dashed: the mask an object under review was imported with


def object_color(object_id: int) -> tuple[int, int, int]:
    return _PALETTE[(object_id - 1) % len(_PALETTE)]
