"""The numpy side of drawing: mask and probability layers (RGBA arrays) and the display
resolution of huge images. No Qt here: the canvas turns these arrays into pixmaps, and the
proposal strip and the controller's worker use them without a view."""
from __future__ import annotations

import math

import cv2
import numpy as np

from engine.box import Box
from engine.palette import RGB

HEAT_FULL_PROBABILITY = 0.5  # the heat map fades out below this: low values barely cover
# Longer images are drawn from a copy downscaled to this many pixels on the longer side (and
# so are their masks): a 20000 x 20000 pixmap would take 1.6 GB and exceed what Qt draws.
# 8192 keeps a 4K screen sharp at full view and costs 256 MB per layer at most.
DISPLAY_MAX_SIDE = 8192
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def mask_overlay(masks: list[tuple[np.ndarray, RGB]], shape: tuple[int, int],
                 opacity: float, outline: bool) -> np.ndarray:
    """RGBA layer painting each mask in its colour; later masks are drawn over earlier ones."""
    layer = np.zeros((*shape, 4), np.uint8)
    alpha = int(round(255 * opacity))
    for mask, color in masks:
        layer[mask] = (*color, alpha)
        if outline:
            edge = mask & ~_eroded(mask)
            layer[edge] = (*color, 255)
    return layer


def masks_layer(masks: list[tuple[np.ndarray, RGB]], shape: tuple[int, int],
                opacity: float) -> np.ndarray:
    """RGBA layer at the display ``shape`` of image-sized ``masks``, outlined, filled at
    ``opacity`` (0: outlines only)."""
    shown = [(shrink_mask(mask, shape), color) for mask, color in masks]
    return mask_overlay(shown, shape, opacity, outline=True)


def probability_overlay(probability: np.ndarray, mask: np.ndarray, opacity: float,
                        outline: RGB) -> np.ndarray:
    """RGBA heat map of a probability map (turbo: blue low, red high) with the thresholded
    mask's outline in the colour ``outline``. Low probabilities fade out, so a model
    that gives the background a little probability does not tint the whole image."""
    levels = np.clip(np.rint(probability * 255), 0, 255).astype(np.uint8)
    layer = np.empty((*probability.shape, 4), np.uint8)
    layer[..., :3] = cv2.applyColorMap(levels, cv2.COLORMAP_TURBO)[..., ::-1]
    weight = np.clip(probability / HEAT_FULL_PROBABILITY, 0.0, 1.0)
    layer[..., 3] = np.rint(255 * opacity * weight).astype(np.uint8)
    edge = mask & ~_eroded(mask)
    layer[edge] = (*outline, 255)
    return layer


def _eroded(mask: np.ndarray) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), _CROSS, borderValue=0).astype(bool)


# -- display resolution ---------------------------------------------------------------------

def display_shape(shape: tuple[int, int], max_side: int = DISPLAY_MAX_SIDE) -> tuple[int, int]:
    """(height, width) an image of ``shape`` is drawn at: itself, or scaled down so that its
    longer side is ``max_side``."""
    height, width = shape
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def display_copy(image: np.ndarray) -> np.ndarray:
    """What the canvas draws of ``image``: itself, or a copy scaled to the display shape.
    Seconds for a huge image, so the controller makes it on its worker thread."""
    return shrink_image(image, display_shape(image.shape[:2]))


def shrink_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (any channels) at ``shape``, averaged over the pixels each one covers."""
    if image.shape[:2] == shape:
        return image
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def shrink_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` at ``shape``: a display pixel is on when any image pixel it covers is, so
    downscaling never hides a small object or a thin part. Only the mask's box is scaled
    (an object is a small part of a huge image), placed within a display pixel."""
    if mask.shape == shape:
        return mask
    shown = np.zeros(shape, bool)
    box = Box.of_mask(mask)
    if box is None:
        return shown
    (height, width), (shown_height, shown_width) = mask.shape, shape
    # The display box around the mask's box, and the image pixels that box covers.
    y0, y1 = int(box.top * shown_height / height), math.ceil(box.bottom * shown_height / height)
    x0, x1 = int(box.left * shown_width / width), math.ceil(box.right * shown_width / width)
    part = mask[int(y0 * height / shown_height):math.ceil(y1 * height / shown_height),
                int(x0 * width / shown_width):math.ceil(x1 * width / shown_width)]
    # At 255 the smallest share one image pixel has in a display pixel still rounds above 0.
    coverage = shrink_image(np.ascontiguousarray(part).view(np.uint8) * np.uint8(255),
                            (y1 - y0, x1 - x0))
    shown[y0:y1, x0:x1] = coverage > 0
    return shown
