"""The qualitative colour palette shared by categories and objects, and colour text."""
from __future__ import annotations

import re

RGB = tuple[int, int, int]

# Distinct hues that stay readable on photos; categories and objects cycle through them.
PALETTE: tuple[RGB, ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0), (170, 255, 195),
)

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def palette_color(number: int) -> RGB:
    """The palette colour of ``number`` (an id from 1): the same number, the same colour."""
    return PALETTE[(number - 1) % len(PALETTE)]


def color_to_hex(color: RGB) -> str:
    """``(r, g, b)`` as ``#rrggbb``, the form colours take in files."""
    return "#{:02x}{:02x}{:02x}".format(*color)


def hex_to_color(text: str) -> RGB:
    """``#rrggbb`` as ``(r, g, b)``; ``ValueError`` for anything else."""
    if not isinstance(text, str) or not _HEX.fullmatch(text):
        raise ValueError(f"{text!r} is not a colour of the form #rrggbb")
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
