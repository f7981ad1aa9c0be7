"""The rules of the operations on the object in progress, without a worker: which
operations join into one, and how each changes the steps the GUI shows before it runs."""
from __future__ import annotations

import numpy as np

from engine import Click
from annotator.predictor_ops import ChangeModel, Load
from annotator.session_ops import (AddClicks, ChooseProposal, EditMask, Finish, FinishRequest,
                                   Op, Propose, Redo, Reset, Undo)

A, B, C = Click(1, 1, True), Click(2, 2, False), Click(3, 3, True)


def _replayed(ops: list[Op], steps=(), redo=()):
    steps, redo = list(steps), list(redo)
    for op in ops:
        op.replay(steps, redo)
    return steps, redo


def test_clicks_queued_after_clicks_join_into_one_prediction() -> None:
    joined = AddClicks((A,)).joined(AddClicks((B, C)))
    assert joined == AddClicks((A, B, C))
    # Anything else between them keeps them apart, and nothing else joins.
    for other in (Undo(), Redo(), Reset(), Propose(), ChooseProposal(0),
                  EditMask(lambda m: m, None), Load("a.png"), ChangeModel("grabcut")):
        assert AddClicks((A,)).joined(other) is None
        assert other.joined(AddClicks((A,))) is None


def test_replay_shows_the_steps_the_worker_will_make() -> None:
    ops: list[Op] = [AddClicks((A, B)), EditMask(lambda m: m, None), AddClicks((C,)), Undo()]
    assert _replayed(ops) == ([(A, B), ()], [(C,)])
    assert _replayed([*ops, Redo()]) == ([(A, B), (), (C,)], [])
    # A new step ends what could be redone; undo and redo past the ends change nothing.
    assert _replayed([*ops, ChooseProposal(1)]) == ([(A, B), (), ()], [])
    assert _replayed([Undo(), Redo()], steps=[(A,)]) == ([(A,)], [])
    assert _replayed([Redo()], redo=[]) == ([], [])


def test_reset_finish_and_load_start_a_new_object_and_the_rest_keep_the_steps() -> None:
    before = [(A,), ()], [(B,)]
    request = FinishRequest("a.png", "cat", None)
    for op in (Reset(), Finish(request), Load("b.png")):
        assert _replayed([op], *before) == ([], [])
    for op in (Propose(), ChangeModel("grabcut")):
        assert _replayed([op], *before) == before


def test_only_a_change_of_predictor_outlives_a_change_of_image() -> None:
    assert ChangeModel("grabcut").outlives_image
    assert not any(op.outlives_image for op in (AddClicks((A,)), Undo(), Load("a.png"),
                                               EditMask(lambda m: np.zeros((1, 1), bool), None)))
