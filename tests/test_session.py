"""InteractiveSession: click history, undo/redo/reset semantics and predictor state restore."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Click, InteractiveSession, Predictor


class DiskPredictor:
    """Predicts a disk of radius 3 around each positive click, minus those around negatives.

    Counts its calls and keeps a per-image state (the number of predictions) so the tests
    can see that undo restores the state instead of predicting again.
    """

    name = "disk"

    def __init__(self) -> None:
        self.calls = 0
        self.state = 0
        self.prev_masks: list[np.ndarray | None] = []

    def set_image(self, image: np.ndarray) -> None:
        self.shape = image.shape[:2]
        self.state = 0

    def predict(self, clicks, prev_mask):
        self.calls += 1
        self.state += 1
        self.prev_masks.append(prev_mask)
        yy, xx = np.mgrid[: self.shape[0], : self.shape[1]]
        prob = np.zeros(self.shape, np.float32) if prev_mask is None else prev_mask.copy()
        for click in clicks:
            disk = (yy - click.y) ** 2 + (xx - click.x) ** 2 <= 9
            prob[disk] = 1.0 if click.is_positive else 0.0
        return prob

    def get_state(self):
        return self.state

    def set_state(self, state) -> None:
        self.state = state


@pytest.fixture
def session() -> InteractiveSession:
    return InteractiveSession(DiskPredictor(), np.zeros((40, 50, 3), np.uint8))


def test_predictor_protocol_is_satisfied() -> None:
    assert isinstance(DiskPredictor(), Predictor)


def test_click_adds_mask_and_history(session: InteractiveSession) -> None:
    assert not session.mask.any() and session.probability is None
    session.add_click(Click(10, 10, True))
    assert session.mask[10, 10] and not session.mask[30, 30]
    session.add_click(Click(30, 30, True))
    assert session.clicks == [Click(10, 10, True), Click(30, 30, True)]
    assert session.mask[30, 30] and session.mask.dtype == bool


def test_previous_probability_is_passed_to_the_predictor(session: InteractiveSession) -> None:
    first = session.add_click(Click(10, 10, True))
    session.add_click(Click(30, 30, True))
    predictor = session.predictor
    assert predictor.prev_masks[0] is None
    np.testing.assert_array_equal(predictor.prev_masks[1], first)


def test_undo_redo_restore_without_predicting(session: InteractiveSession) -> None:
    predictor = session.predictor
    session.add_click(Click(10, 10, True))
    after_first = session.mask.copy()
    session.add_click(Click(10, 12, False))
    after_second = session.mask.copy()
    assert predictor.calls == 2 and predictor.state == 2

    assert session.undo()
    np.testing.assert_array_equal(session.mask, after_first)
    assert predictor.state == 1 and session.clicks == [Click(10, 10, True)]
    assert session.redo()
    np.testing.assert_array_equal(session.mask, after_second)
    assert predictor.state == 2 and predictor.calls == 2
    assert not session.redo()

    assert session.undo() and session.undo()
    assert not session.undo()
    assert not session.mask.any() and predictor.state == 0


def test_new_click_clears_redo(session: InteractiveSession) -> None:
    session.add_click(Click(10, 10, True))
    session.undo()
    assert session.can_redo
    session.add_click(Click(20, 20, True))
    assert not session.can_redo
    assert session.clicks == [Click(20, 20, True)]


def test_coalesced_clicks_predict_once_and_undo_together(session: InteractiveSession) -> None:
    session.add_click(Click(5, 5, True))
    session.add_clicks([Click(20, 20, True), Click(30, 30, True)])
    assert session.predictor.calls == 2 and len(session.clicks) == 3
    session.undo()
    assert session.clicks == [Click(5, 5, True)]


def test_reset_and_finish(session: InteractiveSession) -> None:
    session.add_click(Click(10, 10, True))
    session.add_click(Click(20, 20, True))
    session.reset()
    assert session.clicks == [] and not session.can_undo and not session.can_redo
    assert session.predictor.state == 0
    session.add_click(Click(10, 10, True))
    mask = session.finish()
    assert mask[10, 10] and mask.sum() > 1
    assert session.clicks == [] and not session.mask.any()


def test_initial_mask_is_corrected_by_clicks(session: InteractiveSession) -> None:
    initial = np.zeros((40, 50), bool)
    initial[0:20, 0:20] = True
    session.set_initial_mask(initial)
    assert session.has_initial_mask
    np.testing.assert_array_equal(session.mask, initial)
    session.add_click(Click(10, 10, False))
    np.testing.assert_array_equal(session.predictor.prev_masks[0], initial.astype(np.float32))
    assert not session.mask[10, 10] and session.mask[0, 0]
    session.undo()
    np.testing.assert_array_equal(session.mask, initial)
    session.add_click(Click(1, 1, True))
    with pytest.raises(RuntimeError):
        session.set_initial_mask(initial)


def test_rejects_bad_input(session: InteractiveSession) -> None:
    with pytest.raises(ValueError, match="outside"):
        session.add_click(Click(40, 0, True))
    with pytest.raises(ValueError):
        session.add_clicks([])
    with pytest.raises(ValueError):
        session.set_initial_mask(np.zeros((5, 5), bool))
    with pytest.raises(ValueError):
        InteractiveSession(DiskPredictor(), np.zeros((4, 4), np.uint8))


def test_click_json_round_trip() -> None:
    click = Click(3.5, 7.0, False)
    assert Click.from_json(click.to_json()) == click
