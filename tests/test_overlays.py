"""annotator.overlays: the RGBA layers the canvas draws, computed without Qt."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from annotator.overlays import (HEAT_FULL_PROBABILITY, mask_overlay, masks_layer,
                                probability_overlay, shrink_image, shrink_mask)

ROOT = Path(__file__).resolve().parents[1]
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _square(shape: tuple[int, int], top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:top + size, left:left + size] = True
    return mask


def test_the_module_needs_no_qt() -> None:
    code = "import sys, annotator.overlays; print('PySide6' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_mask_overlay_fills_outlines_and_draws_later_masks_on_top() -> None:
    a, b = _square((10, 10), 1, 1, 6), _square((10, 10), 4, 4, 5)
    layer = mask_overlay([(a, RED), (b, BLUE)], (10, 10), 0.5, outline=True)
    assert layer.shape == (10, 10, 4) and layer.dtype == np.uint8
    assert tuple(layer[0, 0]) == (0, 0, 0, 0)  # outside every mask: transparent
    assert tuple(layer[3, 3]) == (*RED, 128)  # a's inside: fill at half opacity
    assert tuple(layer[1, 1]) == (*RED, 255)  # a's edge: opaque outline
    assert tuple(layer[6, 6]) == (*BLUE, 128)  # where both are, the later mask wins
    plain = mask_overlay([(a, RED)], (10, 10), 0.5, outline=False)
    assert tuple(plain[1, 1]) == (*RED, 128)


def test_probability_overlay_fades_low_values_and_outlines_the_mask() -> None:
    probability = np.zeros((8, 8), np.float32)
    probability[2:6, 2:6] = 1.0
    probability[0, 7] = HEAT_FULL_PROBABILITY / 2
    layer = probability_overlay(probability, probability > 0.5, 1.0, RED)
    assert layer[0, 0, 3] == 0  # probability 0: invisible
    assert layer[0, 7, 3] == 128  # half of the fade-in range: half covering
    assert tuple(layer[2, 2]) == (*RED, 255)  # the thresholded mask's outline
    assert layer[3, 3, 3] == 255 and layer[3, 3, 0] > layer[3, 3, 2]  # high is red, opaque


def test_shrunk_masks_keep_small_objects_visible() -> None:
    mask = np.zeros((1000, 1000), bool)
    mask[500, 500] = True  # one pixel of a large image
    shown = shrink_mask(mask, (100, 100))
    assert shown.sum() == 1 and shown[50, 50]
    assert shrink_mask(np.zeros((1000, 1000), bool), (100, 100)).sum() == 0
    assert shrink_image(np.full((40, 40, 3), 7, np.uint8), (10, 10)).shape == (10, 10, 3)
    layer = masks_layer([(mask, RED)], (100, 100), 0.0)
    assert layer.shape == (100, 100, 4) and tuple(layer[50, 50]) == (*RED, 255)
