"""engine.inference.encoding: the network inputs both RITM-family predictors share."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.box import Box
from engine.clicks import Click
from engine.inference.encoding import (clicks_in_crop, flipped_clicks, image_tensor,
                                       points_tensor, takes_prev_mask)
from engine.inference.focalclick import FocalClickPredictor
from engine.inference.ritm import RITMPredictor

CPU = torch.device("cpu")


def test_points_positives_then_negatives_padded_to_the_largest_count() -> None:
    clicks = [Click(1, 2, True), Click(3, 4, False), Click(5, 6, True)]
    points = points_tensor([clicks], None, CPU)
    assert points.tolist() == [[[1, 2, 0], [5, 6, 2], [3, 4, 1], [-1, -1, -1]]]
    assert points.dtype == torch.float32


def test_points_limit_keeps_the_first_clicks_in_time_of_both_kinds() -> None:
    clicks = [Click(0, 0, False), Click(1, 1, True), Click(2, 2, True), Click(3, 3, True)]
    points = points_tensor([clicks], 2, CPU)
    # N = min(limit, 3 positives) = 2; the first two clicks are one negative, one positive.
    assert points.tolist() == [[[1, 1, 1], [-1, -1, -1], [0, 0, 0], [-1, -1, -1]]]


def test_points_batch_shares_n_and_index_can_be_zeroed() -> None:
    a, b = [Click(1, 1, True)], [Click(2, 2, True), Click(3, 3, True)]
    points = points_tensor([a, b], None, CPU, with_index=False)
    assert points.shape == (2, 4, 3)
    assert points[0].tolist() == [[1, 1, 0], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1]]
    assert points[1, :2, 2].tolist() == [0, 0]
    assert points_tensor([[]], None, CPU).tolist() == [[[-1, -1, -1], [-1, -1, -1]]]


def test_clicks_in_crop_and_flip() -> None:
    box = Box(10, 20, 30, 60)  # 20 x 40
    moved = clicks_in_crop([Click(15, 30, True)], box, (40, 80))
    assert moved == [Click(10.0, 20.0, True)]
    assert flipped_clicks([Click(3, 0, False)], 8) == [Click(3, 7, False)]


def test_image_tensor_scales_to_unit_range_and_refuses_other_images() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    image[1, 2] = (255, 0, 51)
    tensor = image_tensor(image, CPU)
    assert tensor.shape == (1, 3, 2, 3)
    assert tensor[0, :, 1, 2].tolist() == pytest.approx([1.0, 0.0, 0.2])
    with pytest.raises(ValueError, match="uint8 RGB"):
        image_tensor(image.astype(np.float32), CPU)
    with pytest.raises(ValueError, match="uint8 RGB"):
        image_tensor(image[..., 0], CPU)


def test_prev_mask_channel_follows_each_official_predictor() -> None:
    class Flagged(torch.nn.Module):
        def __init__(self, flag: bool) -> None:
            super().__init__()
            self.with_prev_mask = flag

    class Unflagged(torch.nn.Module):
        pass

    # The network's flag decides; without one, RITM's BasePredictor adds no channel and
    # FocalClick's FocalPredictor always adds it.
    for default in (False, True):
        assert takes_prev_mask(Flagged(True), default)
        assert not takes_prev_mask(Flagged(False), default)
    assert not takes_prev_mask(Unflagged(), RITMPredictor.prev_mask_by_default)
    assert takes_prev_mask(Unflagged(), FocalClickPredictor.prev_mask_by_default)
