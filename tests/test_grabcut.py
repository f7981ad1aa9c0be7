"""engine.inference.grabcut: the weights-free predictor on synthetic scenes."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.clicks import Click
from engine.inference.grabcut import GrabCutPredictor
from engine.masks import mask_iou
from engine.predictor import Predictor
from engine.session import DEFAULT_PROB_THRESH, InteractiveSession

ORANGE = (220, 120, 40)


def _scene(height: int, width: int, discs: list[tuple[int, int, int, tuple[int, int, int]]],
           seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """A blue background with a vertical gradient, coloured discs, mild noise.

    Returns the RGB image and each disc's mask. The noise is a small tile repeated, so
    that a 4000 x 3000 scene is quick to draw.
    """
    yy, xx = np.ogrid[:height, :width]
    image = np.empty((height, width, 3), np.float32)
    image[:] = (40, 60, 160)
    image += (yy * (30.0 / height))[..., None]
    masks = []
    for cy, cx, radius, color in discs:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
        image[mask] = color
        masks.append(mask)
    tile = np.random.default_rng(seed).normal(0, 8, (64, 64, 3)).astype(np.float32)
    image += np.tile(tile, (height // 64 + 1, width // 64 + 1, 1))[:height, :width]
    return np.clip(image, 0, 255).astype(np.uint8), masks


def _mask(probability: np.ndarray) -> np.ndarray:
    return probability > DEFAULT_PROB_THRESH


def test_is_a_predictor():
    predictor = GrabCutPredictor()
    assert isinstance(predictor, Predictor)
    assert predictor.name == "grabcut"


def test_one_positive_click_segments_a_disc():
    image, (disc,) = _scene(200, 260, [(100, 120, 55, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    probability = predictor.predict([Click(100, 120, True)], None)
    assert probability.shape == (200, 260) and probability.dtype == np.float32
    assert 0.0 <= probability.min() and probability.max() <= 1.0
    assert mask_iou(_mask(probability), disc) > 0.9


def test_negative_click_removes_a_touching_region_of_the_same_colour():
    image, (left, right) = _scene(200, 300, [(100, 100, 50, ORANGE), (100, 195, 50, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    positive = Click(100, 100, True)
    first = predictor.predict([positive], None)
    # GrabCut's colours alone take both discs: the negative click has work to do.
    assert np.count_nonzero(_mask(first) & right) > 0.5 * np.count_nonzero(right)

    negative = Click(100, 195, False)
    second = _mask(predictor.predict([positive, negative], first))
    assert not second[100, 195]
    assert np.count_nonzero(second & right) < 0.1 * np.count_nonzero(right)
    assert mask_iou(second, left) > 0.85


def test_negative_click_on_background_stays_background():
    image, (disc,) = _scene(200, 260, [(100, 120, 55, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    clicks = [Click(100, 120, True), Click(20, 230, False)]
    mask = _mask(predictor.predict(clicks, None))
    assert not mask[20, 230]
    assert mask_iou(mask, disc) > 0.9


def test_clicks_always_get_their_label():
    image, (disc,) = _scene(200, 260, [(100, 120, 55, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    # A positive click on plain background and a negative one inside the disc still win
    # their own pixel, even though the colours say otherwise.
    clicks = [Click(100, 120, True), Click(30.6, 230.2, True), Click(110, 130, False)]
    mask = _mask(predictor.predict(clicks, disc.astype(np.float32)))
    assert mask[100, 120] and mask[30, 230]
    assert not mask[110, 130]


def test_no_positive_click_and_no_prior_gives_an_empty_map():
    image, _ = _scene(120, 160, [(60, 80, 30, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    for clicks, prior in (([], None), ([Click(60, 80, False)], None),
                          ([Click(60, 80, False)], np.zeros((120, 160), np.float32))):
        probability = predictor.predict(clicks, prior)
        assert probability.shape == (120, 160) and not probability.any()


def test_deterministic():
    image, _ = _scene(200, 260, [(100, 120, 55, ORANGE), (60, 200, 30, (200, 200, 60))])
    clicks = [Click(100, 120, True), Click(60, 200, True), Click(150, 60, False)]

    def run(predictor: GrabCutPredictor) -> list[np.ndarray]:
        predictor.set_image(image)
        maps, previous = [], None
        for count in range(1, len(clicks) + 1):
            previous = predictor.predict(clicks[:count], previous)
            maps.append(previous)
        return maps

    predictor = GrabCutPredictor()
    first = run(predictor)
    cv2.setRNGSeed(12345)  # whatever OpenCV's RNG went through in between
    cv2.randu(np.empty((10, 10), np.float32), 0, 1)
    for again in (run(predictor), run(GrabCutPredictor())):
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)


def test_previous_mask_is_kept():
    image, (disc,) = _scene(200, 260, [(100, 120, 55, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    probability = predictor.predict([Click(10, 10, False)], disc.astype(np.float32))
    assert mask_iou(_mask(probability), disc) > 0.9


def test_parts_of_the_previous_mask_stay_without_a_click_of_their_own():
    image, (left, right) = _scene(200, 300, [(100, 80, 45, ORANGE), (100, 220, 45, (230, 220, 60))])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    both = (left | right).astype(np.float32)  # e.g. an imported two-part mask
    mask = _mask(predictor.predict([Click(100, 80, True)], both))
    assert mask_iou(mask, left | right) > 0.9


def test_negative_click_inside_an_imported_mask_only_dents_it():
    image, (disc,) = _scene(200, 260, [(100, 120, 55, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    mask = _mask(predictor.predict([Click(100, 150, False)], disc.astype(np.float32)))
    assert not mask[100, 150]
    assert mask_iou(mask, disc) > 0.85


def test_probability_levels_on_an_unscaled_crop():
    image, _ = _scene(200, 260, [(100, 120, 55, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    probability = predictor.predict([Click(100, 120, True), Click(20, 20, False)], None)
    # Sure foreground, probable foreground, probable background, sure background.
    assert np.isin(probability, np.float32([0.0, 0.2, 0.8, 1.0])).all()
    assert probability[100, 120] == 1.0 and probability[20, 20] == 0.0


def test_crop_grows_when_the_object_reaches_its_edge():
    image, (disc,) = _scene(240, 320, [(120, 160, 90, ORANGE)])
    prior = (disc & (np.arange(320) < 150)).astype(np.float32)  # the left half only
    click = [Click(120, 130, True)]
    fixed = GrabCutPredictor(margin=0.1, max_grow=0)
    fixed.set_image(image)
    growing = GrabCutPredictor(margin=0.1)
    growing.set_image(image)
    assert mask_iou(_mask(fixed.predict(click, prior)), disc) < 0.7
    assert mask_iou(_mask(growing.predict(click, prior)), disc) > 0.9


def test_through_a_session_with_undo_and_redo():
    image, (disc, other) = _scene(200, 300, [(100, 100, 50, ORANGE), (100, 230, 40, ORANGE)])
    session = InteractiveSession(GrabCutPredictor(), image)
    assert session.predictor.get_state() is None
    session.add_click(Click(100, 100, True))
    one = session.mask.copy()
    assert mask_iou(one, disc) > 0.9
    session.add_click(Click(100, 230, True))
    two = session.mask.copy()
    assert mask_iou(two, disc | other) > 0.9

    assert session.undo()
    np.testing.assert_array_equal(session.mask, one)
    assert session.redo()
    np.testing.assert_array_equal(session.mask, two)
    assert session.undo() and session.undo()
    assert not session.mask.any()
    session.add_click(Click(100, 230, True))
    assert mask_iou(session.mask, other) > 0.9


def test_huge_image_only_segments_a_small_crop(monkeypatch):
    image, (disc, far) = _scene(3000, 4000, [(1500, 2000, 300, ORANGE),
                                            (400, 500, 200, ORANGE)])
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    sizes = []
    real_grabcut = cv2.grabCut

    def recording_grabcut(img, *args):
        sizes.append(img.shape[:2])
        return real_grabcut(img, *args)

    monkeypatch.setattr(cv2, "grabCut", recording_grabcut)
    first = predictor.predict([Click(1500, 2000, True)], None)
    assert mask_iou(_mask(first), disc) > 0.9
    second = predictor.predict([Click(1500, 2000, True), Click(1500, 1750, True)], first)
    assert mask_iou(_mask(second), disc) > 0.9
    assert sizes and all(max(size) <= predictor.max_side for size in sizes)
    # The second click worked on a crop around the object: far away nothing was touched.
    assert not second[:1000, :1000].any()
    assert not _mask(second)[far].any()


def test_rejects_misuse():
    with pytest.raises(RuntimeError):
        GrabCutPredictor().predict([Click(1, 1, True)], None)
    with pytest.raises(ValueError):
        GrabCutPredictor().set_image(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        GrabCutPredictor(iterations=0)
