"""Colours of objects and clicks, shared by the canvas and the object list."""
from __future__ import annotations

from engine.palette import RGB, palette_color
from engine.views import ObjectRow

CURRENT_OBJECT = (30, 144, 255)  # the object in progress: one colour the user learns
POSITIVE_CLICK = (40, 220, 40)
NEGATIVE_CLICK = (230, 30, 30)
ORIGINAL_OUTLINE = (255, 215, 0)  # dashed: the mask an object under review was imported with


def object_color(object_id: int) -> RGB:
    """A colour per object: neighbours of one category stay apart."""
    return palette_color(object_id)


def display_color(row: ObjectRow, by_category: bool) -> RGB:
    """The colour an object is drawn in: its category's, or its own (the View menu's choice)."""
    return row.category_color if by_category else object_color(row.id)
