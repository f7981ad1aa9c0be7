"""engine.box: one box type, its named conversions, and the official arithmetic it keeps."""
from __future__ import annotations

import numpy as np
import pytest

from engine.box import Box


def test_conversions_round_trip_and_name_each_convention() -> None:
    box = Box(top=2, left=3, bottom=7, right=11)
    assert box.inclusive == (2, 6, 3, 10)
    assert Box.from_inclusive(*box.inclusive) == box
    assert box.rows_cols == (2, 7, 3, 11)
    assert Box.from_rows_cols(*box.rows_cols) == box
    assert box.xywh == [3, 2, 8, 5]
    assert Box.from_xywh(*box.xywh) == box
    assert box.xyxy == (3, 2, 11, 7)
    assert (box.height, box.width, box.shape, box.area) == (5, 8, (5, 8), 40)
    image = np.arange(20 * 20).reshape(20, 20)
    assert image[box.slices].shape == box.shape


def test_of_mask_is_the_tight_half_open_box() -> None:
    mask = np.zeros((10, 12), bool)
    assert Box.of_mask(mask) is None
    mask[3, 4] = mask[6, 9] = True
    assert Box.of_mask(mask) == Box(3, 4, 7, 10)
    assert Box.full(mask.shape) == Box(0, 0, 10, 12)


def test_contains_clip_intersect_grow() -> None:
    box = Box(2, 2, 5, 5)
    assert box.contains(2, 2) and box.contains(4.9, 4.9)
    assert not box.contains(5, 3) and not box.contains(3, 1.99)
    assert Box(-3, -1, 30, 8).clip((20, 10)) == Box(0, 0, 20, 8)
    assert box.intersect(Box(4, 0, 9, 3)) == Box(4, 2, 5, 3)
    assert Box(4, 4, 5, 5).intersect(Box(0, 0, 2, 2)).is_empty
    assert box.grown(1, 2, 3, 4) == Box(1, 0, 8, 9)


def test_iou_is_the_official_product_of_axis_ious() -> None:
    a = Box.from_inclusive(0, 9, 0, 9)
    assert a.iou(a) == 1.0
    assert a.iou(Box.from_inclusive(5, 14, 0, 9)) == pytest.approx(5 / 15)
    assert a.iou(Box.from_inclusive(20, 29, 20, 29)) == 0.0
    # Not the area IoU: 0.5 x 0.5 here, where the areas give 1/7.
    assert Box(0, 0, 10, 10).iou(Box(0, 0, 5, 5)) == pytest.approx(0.25)


@pytest.mark.parametrize("ratio, min_size, inclusive, expected", [
    # 1.4 x 10 = 14 about centre 4.5: 4.5 - 7 = -2.5 rounds half to even to -2, then clamps.
    (1.4, 0, (0, 9, 0, 9), (0, 12, 0, 12)),
    # The minimum size wins, and the box is clamped to the image, not re-centred.
    (1.4, 200, (40, 49, 90, 99), (0, 99, 0, 99)),
    (1.0, 1, (10, 19, 30, 39), (10, 20, 30, 40)),  # 14.5 +- 5 -> round(9.5)=10, round(19.5)=20
])
def test_expanded_is_the_official_expand_box(ratio: float, min_size: int,
                                            inclusive: tuple[int, int, int, int],
                                            expected: tuple[int, int, int, int]) -> None:
    box = Box.from_inclusive(*inclusive).expanded(ratio, min_size, (100, 100))
    assert box.inclusive == expected
