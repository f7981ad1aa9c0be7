"""Property-based tests (hypothesis): masks through COCO and back, and click sessions.

COCO round trip. :func:`engine.coco.export_coco` reports, per instance, the IoU its
geometry keeps (``ExportReport.instances[id].iou``); importing the file again must give
masks with exactly that IoU. The floor, by kind of mask:

- every non-empty mask keeps IoU >= ``MIN_POLYGON_IOU`` in the default export, which
  writes exact RLE wherever a polygon would lose more; RLE instances come back exactly;
- a *non-degenerate* mask comes back exactly even as polygons. Degenerate means what a
  polygon outline cannot carry: background enclosed by the mask (a hole, also one closed
  only through a diagonal pinch), or two pixels touching only at a corner (a pinch; a
  diagonal 1-pixel line is one), whose outline closes the notch beside it. Thin
  axis-aligned lines and single pixels are not degenerate: the traced outline runs
  along the pixels' outer corners, so they keep their area;
- an empty mask has no geometry: it is skipped with a warning, never written.

Sessions. A RuleBasedStateMachine clicks, undoes, redoes, resets, proposes, chooses
proposals and finishes on an :class:`InteractiveSession` with a fake predictor whose
output and state are a pure function of the clicks and the previous mask, and compares the
session after every rule with a plain model: a list of steps and a redo stack.
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant,
                                 precondition, rule)

from engine import Click, InteractiveSession
from engine.annotations import Project
from engine.coco import MIN_POLYGON_IOU, export_coco, import_coco
from engine.masks import mask_iou
from engine.proposals import Proposal

# -- random masks -----------------------------------------------------------------------------

MAX_SIDE = 40


@st.composite
def _shape_mask(draw, height: int, width: int) -> np.ndarray:
    """Blobs, holes and lines, drawn over each other; any of them may cross the border."""
    mask = np.zeros((height, width), np.uint8)
    point = st.tuples(st.integers(-3, width + 2), st.integers(-3, height + 2))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["rect", "ellipse", "line", "hline", "vline"]))
        value = draw(st.sampled_from([1, 1, 0]))  # a third of the shapes cut holes
        if kind == "rect":
            cv2.rectangle(mask, draw(point), draw(point), value, -1)
        elif kind == "ellipse":
            axes = (draw(st.integers(0, width)), draw(st.integers(0, height)))
            cv2.ellipse(mask, draw(point), axes, draw(st.integers(0, 179)), 0, 360, value, -1)
        elif kind == "line":  # 1 pixel wide, any direction (8-connected)
            cv2.line(mask, draw(point), draw(point), value, 1)
        elif kind == "hline":
            y = draw(st.integers(0, height - 1))
            x0, x1 = sorted((draw(st.integers(0, width - 1)), draw(st.integers(0, width - 1))))
            mask[y, x0:x1 + 1] = value
        else:
            x = draw(st.integers(0, width - 1))
            y0, y1 = sorted((draw(st.integers(0, height - 1)), draw(st.integers(0, height - 1))))
            mask[y0:y1 + 1, x] = value
    return mask.astype(bool)


@st.composite
def masks(draw, height: int, width: int) -> np.ndarray:
    """An H x W mask: shapes, speckle (pixel noise), empty or full."""
    kind = draw(st.sampled_from(["shapes", "shapes", "shapes", "speckle", "empty", "full"]))
    if kind == "shapes":
        return draw(_shape_mask(height, width))
    if kind == "speckle":
        return draw(arrays(np.bool_, (height, width)))
    return np.full((height, width), kind == "full")


@st.composite
def images_with_masks(draw) -> tuple[tuple[int, int], list[np.ndarray]]:
    height, width = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    return (height, width), draw(st.lists(masks(height, width), min_size=1, max_size=4))


def has_enclosed_background(mask: np.ndarray) -> bool:
    """Background pixels the outside cannot reach in 4-connected steps: holes, including
    pockets closed only through a diagonal pinch."""
    outside = np.ascontiguousarray(np.pad(mask, 1), dtype=np.uint8)
    cv2.floodFill(outside, None, (0, 0), 1, flags=4)
    return bool((outside[1:-1, 1:-1] == 0).any())


def has_diagonal_pinch(mask: np.ndarray) -> bool:
    """Two pixels touching only at a corner (2 x 2 windows [[1, 0], [0, 1]] or mirrored)."""
    a, b, c, d = mask[:-1, :-1], mask[:-1, 1:], mask[1:, :-1], mask[1:, 1:]
    return bool(((a & d & ~b & ~c) | (b & c & ~a & ~d)).any())


def is_degenerate(mask: np.ndarray) -> bool:
    return has_enclosed_background(mask) or has_diagonal_pinch(mask)


def test_the_degenerate_predicates_see_what_they_claim() -> None:
    ring = np.ones((5, 5), bool)
    ring[2, 2] = False
    pinch = np.eye(3, dtype=bool)
    pocket = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], bool)  # closed through corners
    line = np.zeros((4, 9), bool)
    line[2, 1:8] = True
    assert has_enclosed_background(ring) and not has_diagonal_pinch(ring)
    assert has_diagonal_pinch(pinch) and not has_enclosed_background(pinch)
    assert has_enclosed_background(pocket) and has_diagonal_pinch(pocket)
    assert not is_degenerate(line) and not is_degenerate(np.ones((1, 1), bool))


def _round_trip(shape: tuple[int, int], object_masks: list[np.ndarray], **export_options):
    """Export a project holding ``object_masks`` on one image, import the file into a new
    project of the same folder: (report, original objects, re-imported masks by id,
    import report)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cv2.imwrite(str(folder / "image.png"), np.zeros((*shape, 3), np.uint8))
        project = Project.open_folder(folder)
        # One category per object: equal masks of one category would be duplicates.
        originals = [project.add_object("image.png", mask, f"c{index}")
                     for index, mask in enumerate(object_masks)]
        report = export_coco(project, folder / "coco.json", **export_options)
        again = Project.open_folder(folder, folder / "again.json")
        imported = import_coco(again, folder / "coco.json")
        back = {obj.id: obj.mask for _, obj in again.iter_objects()}
    return report, originals, back, imported


def _check_round_trip(report, originals, back, imported) -> None:
    """What every export keeps, whatever its options."""
    written = [obj for obj in originals if obj.mask.any()]
    assert sorted(report.instances) == sorted(back) == sorted(obj.id for obj in written)
    assert imported.skipped == 0 and imported.duplicates == 0
    assert len(report.warnings) == len(originals) - len(written)  # one per empty mask
    assert all("its mask is empty" in warning for warning in report.warnings)
    for obj in written:
        instance = report.instances[obj.id]
        assert mask_iou(back[obj.id], obj.mask) == pytest.approx(instance.iou, abs=1e-6)
        if instance.kind == "rle":
            assert np.array_equal(back[obj.id], obj.mask)
        if not is_degenerate(obj.mask):
            assert np.array_equal(back[obj.id], obj.mask), "a non-degenerate mask changed"


ROUND_TRIP_SETTINGS = settings(max_examples=200, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIP_SETTINGS
@given(images_with_masks())
def test_masks_round_trip_through_coco_with_the_reported_iou(case) -> None:
    shape, object_masks = case
    report, originals, back, imported = _round_trip(shape, object_masks)
    _check_round_trip(report, originals, back, imported)
    for obj in originals:
        if obj.id in report.instances:
            instance = report.instances[obj.id]
            assert instance.iou >= MIN_POLYGON_IOU
            if has_enclosed_background(obj.mask) and not has_diagonal_pinch(obj.mask):
                assert instance.kind == "rle"  # a real hole: polygons cannot cut it
            if not is_degenerate(obj.mask):
                assert instance.kind == "polygon" and instance.iou == 1.0


@ROUND_TRIP_SETTINGS
@given(images_with_masks())
def test_forced_polygons_report_the_iou_they_keep(case) -> None:
    """Polygons for every mask (holes filled, no RLE fallback): the IoU they report is the
    IoU a reader gets, however much of a degenerate mask they lose."""
    shape, object_masks = case
    report, originals, back, imported = _round_trip(shape, object_masks, holes="fill",
                                                    min_iou=0.0)
    _check_round_trip(report, originals, back, imported)
    assert all(instance.kind == "polygon" for instance in report.instances.values())


# -- click sessions ---------------------------------------------------------------------------

SIDE = 12
THRESH = 0.49


def _digest(array: np.ndarray | None) -> str:
    return "none" if array is None else hashlib.sha1(array.tobytes()).hexdigest()[:12]


def fake_prediction(clicks: list[Click], prev: np.ndarray | None) -> np.ndarray:
    """A pure function of the clicks and the previous map: squares painted over the
    previous map (positive 0.9, negative 0.1), then a fingerprint of the click count."""
    probability = (np.zeros((SIDE, SIDE), np.float32) if prev is None
                   else prev.astype(np.float32).copy())
    for click in clicks:
        y, x = int(click.y), int(click.x)
        probability[max(0, y - 1):y + 2, max(0, x - 1):x + 2] = 0.9 if click.is_positive else 0.1
    probability[0, 0] = len(clicks) / 100.0
    return probability


def fake_state(clicks: list[Click], prev: np.ndarray | None) -> tuple:
    return len(clicks), tuple(clicks), _digest(prev)


class FakePredictor:
    """Deterministic predictor whose state is what it last predicted from."""

    name = "fake"

    def __init__(self) -> None:
        self.state: tuple = ("fresh",)

    def set_image(self, image: np.ndarray) -> None:
        self.state = ("image", _digest(image))

    def predict(self, clicks, prev_mask):
        clicks = list(clicks)
        self.state = fake_state(clicks, prev_mask)
        return fake_prediction(clicks, prev_mask)

    def get_state(self):
        return self.state

    def set_state(self, state) -> None:
        self.state = state


class FakeProposals:
    """Three proposals from the first click's map; it runs the predictor (changing its
    state, which the session must restore) like the real generator."""

    def generate(self, predictor, image, click, plain, prob_thresh):
        predictor.predict([click, Click(0, 0, False)], None)
        proposals = []
        for index, scale in enumerate((1.0, 0.5, 1.1)):
            probability = np.clip(plain * scale, 0, 1).astype(np.float32)
            proposals.append(Proposal(probability > prob_thresh, probability, 1.0 - index / 10,
                                      1.0, 1.0, "whole", f"scale {scale}", plain=index == 0))
        return proposals


clicks_strategy = st.lists(st.builds(Click, st.integers(0, SIDE - 1), st.integers(0, SIDE - 1),
                                     st.booleans()), min_size=1, max_size=3)


class SessionMachine(RuleBasedStateMachine):
    """The session against a model: steps (clicks, probability, predictor state, proposals,
    chosen) and a redo stack, kept with plain lists."""

    @initialize(initial=st.booleans())
    def start(self, initial: bool) -> None:
        self.image = np.arange(SIDE * SIDE * 3, dtype=np.uint8).reshape(SIDE, SIDE, 3)
        self.predictor = FakePredictor()
        self.session = InteractiveSession(self.predictor, self.image, THRESH)
        self.initial_state = ("image", _digest(self.image))
        self.initial_probability = None
        self.steps: list[dict] = []
        self.redo_stack: list[dict] = []
        self.finished: list[np.ndarray] = []
        if initial:
            self.set_initial_mask()

    # -- the model's view -------------------------------------------------------------------
    def model_clicks(self) -> list[Click]:
        return [click for step in self.steps for click in step["clicks"]]

    def model_probability(self) -> np.ndarray | None:
        return self.steps[-1]["probability"] if self.steps else self.initial_probability

    def model_proposals(self) -> tuple:
        if self.steps and not any(step["clicks"] for step in self.steps[1:]):
            return self.steps[0]["proposals"]
        return ()

    def model_current_proposal(self) -> int | None:
        if not self.model_proposals():
            return None
        return self.steps[-1]["chosen"] if self.steps[-1]["chosen"] is not None else 0

    # -- rules --------------------------------------------------------------------------------
    def set_initial_mask(self) -> None:
        mask = np.zeros((SIDE, SIDE), bool)
        mask[3:7, 2:9] = True
        self.session.set_initial_mask(mask)
        self.initial_probability = mask.astype(np.float32)
        self.redo_stack.clear()

    @precondition(lambda self: not self.steps)
    @rule()
    def initial_mask(self) -> None:
        self.set_initial_mask()

    @rule(clicks=clicks_strategy)
    def add_clicks(self, clicks: list[Click]) -> None:
        expected = fake_prediction(self.model_clicks() + clicks, self.model_probability())
        state = fake_state(self.model_clicks() + clicks, self.model_probability())
        if len(clicks) == 1:
            probability = self.session.add_click(clicks[0])
        else:
            probability = self.session.add_clicks(clicks)
        assert np.array_equal(probability, expected)
        self.steps.append({"clicks": list(clicks), "probability": expected, "state": state,
                           "proposals": (), "chosen": None})
        self.redo_stack.clear()

    @rule()
    def undo(self) -> None:
        assert self.session.undo() == bool(self.steps)
        if self.steps:
            self.redo_stack.append(self.steps.pop())

    @rule()
    def redo(self) -> None:
        assert self.session.redo() == bool(self.redo_stack)
        if self.redo_stack:
            self.steps.append(self.redo_stack.pop())

    @rule()
    def reset(self) -> None:
        self.session.reset()
        self.steps.clear()
        self.redo_stack.clear()
        self.initial_probability = None

    @precondition(lambda self: not self.steps and self.initial_probability is None)
    @rule(y=st.integers(0, SIDE - 1), x=st.integers(0, SIDE - 1))
    def first_positive_click(self, y: int, x: int) -> None:
        """A first click and its proposals, as the GUI does with proposals on: more often
        than random clicks and a random ``propose`` would give it."""
        self.add_clicks([Click(y, x, True)])
        self.propose()

    @rule()
    def propose(self) -> None:
        proposals = self.session.propose(FakeProposals())
        eligible = (len(self.steps) == 1 and self.initial_probability is None
                    and len(self.steps[0]["clicks"]) == 1
                    and self.steps[0]["clicks"][0].is_positive)
        if not eligible:
            assert proposals == ()
            return
        if not self.steps[0]["proposals"]:
            self.steps[0]["proposals"] = proposals
        event("proposals made")
        assert proposals is self.steps[0]["proposals"] and len(proposals) == 3
        assert np.array_equal(proposals[0].probability, self.steps[0]["probability"])

    @precondition(lambda self: bool(self.model_proposals()))
    @rule(index=st.integers(0, 2))
    def choose_proposal(self, index: int) -> None:
        probability = self.session.choose_proposal(index)
        proposals = self.model_proposals()
        if index != self.model_current_proposal():
            self.steps.append({"clicks": [], "probability": proposals[index].probability,
                               "state": self.steps[-1]["state"], "proposals": (),
                               "chosen": index})
            event("redo dropped by a choice" if self.redo_stack else "proposal chosen")
            self.redo_stack.clear()
        assert np.array_equal(probability, proposals[index].probability)

    @precondition(lambda self: bool(self.steps) and self.steps[-1]["chosen"] is not None)
    @rule(index=st.integers(1, 2))
    def undo_the_choice_and_choose_another(self, index: int) -> None:
        """A user comparing proposals; the choice must drop the undone one from redo."""
        self.undo()
        self.choose_proposal(index)

    @rule()
    def finish(self) -> None:
        probability = self.model_probability()
        expected = (np.zeros((SIDE, SIDE), bool) if probability is None
                    else probability > THRESH)
        assert np.array_equal(self.session.finish(), expected)
        self.finished.append(expected)
        self.steps.clear()
        self.redo_stack.clear()
        self.initial_probability = None

    # -- what must always hold ------------------------------------------------------------------
    @invariant()
    def agrees_with_the_model(self) -> None:
        session = self.session
        assert session.clicks == self.model_clicks()
        assert session.can_undo == bool(self.steps)
        assert session.can_redo == bool(self.redo_stack)
        probability = self.model_probability()
        if probability is None:
            assert session.probability is None and not session.mask.any()
        else:
            assert np.array_equal(session.probability, probability)
            assert np.array_equal(session.mask, probability > THRESH)
        assert session.has_initial_mask == (self.initial_probability is not None)
        assert session.proposals == self.model_proposals()
        assert session.current_proposal == self.model_current_proposal()
        # Undo and redo restore the predictor's state without predicting again.
        expected_state = self.steps[-1]["state"] if self.steps else self.initial_state
        assert self.predictor.get_state() == expected_state


SessionMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40,
                                            deadline=None)
test_click_sessions_agree_with_a_model_of_steps_and_redo = SessionMachine.TestCase
