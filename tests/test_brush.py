"""Hand edits: brush strokes (engine.brush), mask clean-ups (engine.masks) and edits as
steps of the session's history (InteractiveSession.edit_mask)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine import Click, InteractiveSession
from engine.brush import MAX_RADIUS, Stroke
from engine.inference.grabcut import GrabCutPredictor
from engine.masks import fill_holes, keep_largest_component, mask_iou
from engine.proposals import Proposal


# -- strokes ------------------------------------------------------------------------------
def test_a_dot_is_a_disk_of_the_radius() -> None:
    footprint = Stroke(((20, 30),), radius=5).footprint((40, 60))
    yy, xx = np.mgrid[:40, :60]
    distance = np.hypot(yy - 20, xx - 30)
    assert footprint[distance <= 4.5].all()
    assert not footprint[distance > 5.5].any()
    assert footprint[20, 25] and footprint[20, 35] and footprint[15, 30] and footprint[25, 30]
    assert not footprint[20, 24] and not footprint[14, 30]


def test_radius_zero_paints_single_pixels() -> None:
    footprint = Stroke(((3, 4), (3, 6)), radius=0).footprint((10, 10))
    assert np.flatnonzero(footprint.ravel()).tolist() == [34, 35, 36]


def test_a_drag_covers_a_band_as_wide_as_the_brush() -> None:
    footprint = Stroke(((20, 10), (20, 50)), radius=3).footprint((40, 70))
    for x in (10, 30, 50):
        assert np.flatnonzero(footprint[:, x]).tolist() == list(range(17, 24))
    assert footprint[20, 7] and footprint[20, 53]  # the round ends
    assert not footprint[20, 6] and not footprint[20, 54]
    diagonal = Stroke(((5, 5), (35, 35)), radius=2).footprint((40, 40))
    assert diagonal[np.arange(5, 36), np.arange(5, 36)].all()
    assert not diagonal[5, 35] and not diagonal[35, 5]


def test_a_stroke_over_the_border_paints_only_inside() -> None:
    footprint = Stroke(((-10, 5), (5, 5), (5, 10 ** 9)), radius=2).footprint((20, 30))
    assert footprint.shape == (20, 30)
    assert footprint[0, 5] and footprint[5, 29]  # towards both far points
    assert not footprint[10, 5]
    assert not Stroke(((-50, -50),), radius=3).footprint((20, 30)).any()


def test_apply_paints_or_erases_without_touching_the_input() -> None:
    mask = np.zeros((30, 30), bool)
    mask[10:20, 10:20] = True
    before = mask.copy()
    painted = Stroke(((15, 25),), radius=2).apply(mask)
    erased = Stroke(((15, 15),), radius=2, erase=True).apply(mask)
    np.testing.assert_array_equal(mask, before)
    assert painted[15, 25] and painted[10:20, 10:20].all()
    assert not erased[15, 15] and erased[10, 10] and not erased[15, 25]
    assert erased.sum() == mask.sum() - Stroke(((15, 15),), 2).footprint((30, 30)).sum()


@pytest.mark.parametrize("points, radius", [((), 3), (((1, 1),), -1),
                                            (((1, 1),), MAX_RADIUS + 1)])
def test_bad_strokes_are_refused(points, radius) -> None:
    with pytest.raises(ValueError):
        Stroke(points, radius)


# -- mask clean-ups -------------------------------------------------------------------------
def test_keep_largest_component() -> None:
    mask = np.zeros((20, 20), bool)
    mask[1:4, 1:4] = True  # 9 px
    mask[10:15, 10:15] = True  # 25 px
    mask[18, 0] = True
    largest = keep_largest_component(mask)
    assert largest.sum() == 25 and largest[10:15, 10:15].all()


def test_keep_largest_joins_parts_touching_at_a_corner() -> None:
    mask = np.zeros((10, 10), bool)
    mask[1:4, 1:4] = True
    mask[4:6, 4:6] = True  # touches the first square at (3, 3)-(4, 4) only
    mask[8, 8] = True
    np.testing.assert_array_equal(keep_largest_component(mask), mask & ~(np.arange(10) == 8)[:, None])


def test_keep_largest_of_nothing_or_ties() -> None:
    assert not keep_largest_component(np.zeros((5, 5), bool)).any()
    tie = np.zeros((5, 9), bool)
    tie[1:3, 6:8] = True
    tie[1:3, 1:3] = True
    kept = keep_largest_component(tie)
    assert kept[1:3, 1:3].all() and not kept[:, 5:].any()  # the first in row-major order


def _ring(shape=(20, 20)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[4:16, 4:16] = True
    mask[7:13, 7:13] = False
    return mask


def test_fill_holes_fills_an_enclosed_hole_and_an_island_in_it() -> None:
    mask = _ring()
    mask[9:11, 9:11] = True  # an island inside the hole
    filled = fill_holes(mask)
    expected = np.zeros((20, 20), bool)
    expected[4:16, 4:16] = True
    np.testing.assert_array_equal(filled, expected)


def test_a_gap_open_to_the_border_is_not_a_hole() -> None:
    mask = _ring()
    mask[9:11, 13:16] = False  # a channel from the hole to the outside
    np.testing.assert_array_equal(fill_holes(mask), mask)
    bay = np.zeros((10, 10), bool)
    bay[0:6, 2:8] = True
    bay[0:3, 4:6] = False  # a notch in the top edge: touches the image border
    np.testing.assert_array_equal(fill_holes(bay), bay)


def test_a_diagonal_step_in_the_outline_still_closes_a_hole() -> None:
    # A diamond outline of 8-connected pixels: the background inside touches the outside
    # only at corners, so with a 4-connected background it is a hole.
    mask = np.zeros((11, 11), bool)
    for i in range(5):
        for y, x in ((i, 5 + i), (5 + i, 10 - i), (10 - i, 5 - i), (5 - i, i)):
            mask[y, x] = True
    filled = fill_holes(mask)
    assert filled[5, 5] and filled[3, 5] and filled.sum() == 61
    assert not filled[0, 0]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.floats(0.2, 0.8))
def test_cleanups_agree_with_whole_image_references(seed: int, density: float) -> None:
    rng = np.random.default_rng(seed)
    mask = np.zeros((24, 30), bool)
    top, left = rng.integers(0, 12), rng.integers(0, 15)  # often away from the border
    mask[top:top + 12, left:left + 15] = rng.random((12, 15)) < density
    # Holes by flood-filling the background from a 1-pixel frame around the image.
    framed = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    flood = np.zeros((framed.shape[0] + 2, framed.shape[1] + 2), np.uint8)
    cv2.floodFill(framed, flood, (0, 0), 2, flags=4)
    np.testing.assert_array_equal(fill_holes(mask), framed[1:-1, 1:-1] != 2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
    if count > 1:
        largest = stats[1:, cv2.CC_STAT_AREA].max()
        kept = keep_largest_component(mask)
        assert kept.sum() == largest and (kept <= mask).all()
        assert len(np.unique(labels[kept])) == 1


def test_fill_holes_of_full_and_empty_masks() -> None:
    assert fill_holes(np.ones((4, 4), bool)).all()
    assert not fill_holes(np.zeros((4, 4), bool)).any()


# -- edits in the session's history -----------------------------------------------------------
class SquarePredictor:
    """Paints a 5 x 5 square around each click over the previous mask, and records the
    previous masks it was given; its state counts predictions."""

    name = "square"

    def __init__(self) -> None:
        self.prev_masks: list[np.ndarray | None] = []
        self.state = 0

    def set_image(self, image: np.ndarray) -> None:
        self.shape = image.shape[:2]
        self.state = 0

    def predict(self, clicks, prev_mask):
        self.prev_masks.append(None if prev_mask is None else prev_mask.copy())
        self.state += 1
        prob = np.zeros(self.shape, np.float32) if prev_mask is None else prev_mask.copy()
        click = clicks[-1]
        prob[max(0, click.y - 2):click.y + 3, max(0, click.x - 2):click.x + 3] = (
            1.0 if click.is_positive else 0.0)
        return prob

    def get_state(self):
        return self.state

    def set_state(self, state) -> None:
        self.state = state


@pytest.fixture
def session() -> InteractiveSession:
    return InteractiveSession(SquarePredictor(), np.zeros((40, 50, 3), np.uint8))


def test_an_edit_is_a_step_undone_and_redone_with_the_clicks(session) -> None:
    session.add_click(Click(10, 10, True))
    after_click = session.mask.copy()
    stroke = Stroke(((30, 30), (30, 40)), radius=2)
    assert session.edit_mask(stroke.apply(session.mask))
    edited = session.mask.copy()
    assert edited[30, 35] and edited[10, 10]
    np.testing.assert_array_equal(session.probability, edited.astype(np.float32))
    assert session.clicks == [Click(10, 10, True)]
    assert session.step_clicks == [(Click(10, 10, True),), ()]

    assert session.undo()
    np.testing.assert_array_equal(session.mask, after_click)
    assert session.clicks == [Click(10, 10, True)] and session.redo_step_clicks == [()]
    assert session.redo()
    np.testing.assert_array_equal(session.mask, edited)
    assert session.undo() and session.undo()
    assert session.probability is None and session.clicks == []
    assert session.redo() and session.redo()
    np.testing.assert_array_equal(session.mask, edited)


def test_the_next_click_continues_from_the_edited_mask(session) -> None:
    predictor = session.predictor
    session.add_click(Click(10, 10, True))
    erased = Stroke(((10, 10),), radius=1, erase=True).apply(session.mask)
    session.edit_mask(erased)
    state_after_edit = predictor.state
    session.add_click(Click(30, 30, True))
    np.testing.assert_array_equal(predictor.prev_masks[-1], erased.astype(np.float32))
    assert not session.mask[10, 10] and session.mask[8, 8] and session.mask[30, 30]
    # The edit kept the predictor's state, and undoing the click restores it.
    assert state_after_edit == 1
    session.undo()
    assert predictor.state == 1


def test_an_edit_clears_the_redo_history(session) -> None:
    session.add_click(Click(10, 10, True))
    session.add_click(Click(20, 20, True))
    session.undo()
    assert session.can_redo
    session.edit_mask(Stroke(((30, 30),), 2).apply(session.mask))
    assert not session.can_redo


def test_painting_starts_an_object_from_nothing(session) -> None:
    assert not session.edit_mask(np.zeros((40, 50), bool))  # nothing to nothing: no step
    assert not session.can_undo
    painted = Stroke(((20, 20), (20, 30)), radius=3).apply(session.mask)
    assert session.edit_mask(painted)
    assert session.clicks == [] and session.can_undo
    np.testing.assert_array_equal(session.mask, painted)
    session.add_click(Click(5, 45, True))
    np.testing.assert_array_equal(session.predictor.prev_masks[-1], painted.astype(np.float32))
    assert session.mask[20, 25] and session.mask[5, 45]
    expected = session.mask.copy()
    np.testing.assert_array_equal(session.finish(), expected)


def test_an_unchanged_mask_adds_no_step(session) -> None:
    session.add_click(Click(10, 10, True))
    assert not session.edit_mask(session.mask.copy())
    assert session.step_clicks == [(Click(10, 10, True),)]


def test_erasing_everything_leaves_an_empty_mask_not_nothing(session) -> None:
    session.add_click(Click(10, 10, True))
    assert session.edit_mask(np.zeros((40, 50), bool))
    assert session.probability is not None and not session.mask.any()
    assert not session.finish().any()


def test_an_edit_corrects_an_initial_mask_and_undo_returns_to_it(session) -> None:
    initial = np.zeros((40, 50), bool)
    initial[5:15, 5:15] = True
    session.set_initial_mask(initial)
    session.edit_mask(fill_holes(initial) | Stroke(((30, 30),), 3).apply(initial))
    assert session.mask[30, 30] and session.mask[10, 10]
    session.undo()
    np.testing.assert_array_equal(session.mask, initial)
    assert session.has_initial_mask


def test_edits_of_the_wrong_shape_are_refused(session) -> None:
    with pytest.raises(ValueError):
        session.edit_mask(np.zeros((10, 10), bool))


def _proposals(shape) -> tuple[Proposal, ...]:
    small, large = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    small[8:13, 8:13] = 1
    large[5:20, 5:20] = 1
    return (Proposal(small > 0.5, small, 0.9, 1.0, 1.0, "part", "plain", plain=True),
            Proposal(large > 0.5, large, 0.8, 1.0, 1.0, "whole", "window"))


class _FixedProposals:
    def generate(self, predictor, image, click, probability, threshold):
        return _proposals(image.shape[:2])


def test_an_edit_ends_the_proposal_choice(session) -> None:
    session.add_click(Click(10, 10, True))
    assert len(session.propose(_FixedProposals())) == 2
    session.choose_proposal(1)
    assert session.current_proposal == 1
    session.edit_mask(Stroke(((30, 40),), 2).apply(session.mask))
    assert session.proposals == () and session.current_proposal is None
    assert session.step_clicks == [(Click(10, 10, True),), (), ()]
    session.undo()
    assert session.current_proposal == 1 and len(session.proposals) == 2


def test_edits_with_the_grabcut_predictor() -> None:
    yy, xx = np.mgrid[:120, :200]
    left = (yy - 60) ** 2 + (xx - 50) ** 2 <= 28 ** 2
    right = (yy - 60) ** 2 + (xx - 150) ** 2 <= 28 ** 2
    rng = np.random.default_rng(0)
    image = rng.normal(60, 6, (120, 200, 3))
    image[left] = rng.normal((220, 120, 40), 6, (int(left.sum()), 3))
    image[right] = rng.normal((230, 220, 60), 6, (int(right.sum()), 3))
    session = InteractiveSession(GrabCutPredictor(), np.clip(image, 0, 255).astype(np.uint8))
    session.add_click(Click(60, 50, True))
    assert mask_iou(session.mask, left) > 0.9
    clicked = session.mask.copy()
    # Paint the second disc by hand: GrabCut keeps the parts of the previous mask.
    stroke = Stroke(((60, 150),), radius=28)
    session.edit_mask(stroke.apply(session.mask))
    assert mask_iou(session.mask, left | right) > 0.9
    session.add_click(Click(10, 100, False))
    assert mask_iou(session.mask, left | right) > 0.9
    session.undo()
    session.undo()
    np.testing.assert_array_equal(session.mask, clicked)
    session.redo()
    np.testing.assert_array_equal(session.mask, stroke.apply(clicked))
