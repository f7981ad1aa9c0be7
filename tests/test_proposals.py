"""First-click proposals: the recipe on synthetic scenes, and the session's choice with undo."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine import Click, InteractiveSession
from engine.inference.grabcut import GrabCutPredictor
from engine.masks import mask_iou
from engine.proposals import ProposalConfig, ProposalGenerator, best_iou

HEIGHT, WIDTH = 480, 640
CENTER = (240, 320)


def _nested_scene() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A red part inside a green object inside a blue group, on grey, with noise."""
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    radius = np.hypot(yy - CENTER[0], xx - CENTER[1])
    levels = {"part": radius <= 15, "whole": radius <= 40, "group": radius <= 110}
    rng = np.random.default_rng(0)
    image = rng.normal(128, 8, (HEIGHT, WIDTH, 3))
    for name, color in (("group", (40, 60, 200)), ("whole", (40, 180, 60)),
                        ("part", (210, 40, 40))):
        region = levels[name]
        image[region] = rng.normal(0, 8, (int(region.sum()), 3)) + color
    return np.clip(image, 0, 255).astype(np.uint8), levels


class RedChannelPredictor:
    """A click model that reads the answer off the image: probability = red / 255.

    Whatever window it is shown, it finds the same objects: the proposals' windows and
    thresholds then see identical maps. Records the images and keeps a state counter.
    """

    name = "red"

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.state = 0

    def set_image(self, image: np.ndarray) -> None:
        self.images.append(image)
        self.image = image
        self.state = 0

    def predict(self, clicks, prev_mask):
        self.state += 1
        return self.image[..., 0].astype(np.float32) / 255

    def get_state(self):
        return self.state

    def set_state(self, state) -> None:
        self.state = state


def _red_image(region: np.ndarray, value: int = 242) -> np.ndarray:
    image = np.zeros((*region.shape, 3), np.uint8)
    image[..., 0] = np.where(region, value, 12)
    return image


def test_nested_objects_give_part_whole_and_group_with_grabcut() -> None:
    image, levels = _nested_scene()
    session = InteractiveSession(GrabCutPredictor(), image)
    session.add_click(Click(*CENTER, True))
    proposals = session.propose(ProposalGenerator())
    assert [p.kind for p in proposals] == ["part", "whole", "group"]
    for proposal, level in zip(proposals, ("part", "whole", "group")):
        assert mask_iou(proposal.mask, levels[level]) > 0.8, level
        assert proposal.mask[CENTER]
    assert sum(p.suggested for p in proposals) == 1
    assert sum(p.plain for p in proposals) == 1


def test_the_plain_prediction_is_always_a_proposal_so_best_of_k_is_never_worse() -> None:
    image, levels = _nested_scene()
    predictor = GrabCutPredictor()
    predictor.set_image(image)
    plain = predictor.predict([Click(*CENTER, True)], None)
    proposals = ProposalGenerator().generate(predictor, image, Click(*CENTER, True), plain)
    plain_proposal = next(p for p in proposals if p.plain)
    assert np.array_equal(plain_proposal.probability, plain)
    for truth in levels.values():
        assert best_iou(proposals, truth) >= mask_iou(plain > 0.5, truth)


def test_identical_maps_collapse_to_one_proposal() -> None:
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    disk = np.hypot(yy - CENTER[0], xx - CENTER[1]) <= 30
    image = _red_image(disk)
    proposals = ProposalGenerator().generate(RedChannelPredictor(), image, Click(*CENTER, True))
    assert len(proposals) == 1 and proposals[0].plain and proposals[0].kind == "whole"
    assert mask_iou(proposals[0].mask, disk) > 0.95


@pytest.mark.parametrize("seed", range(6))
def test_no_two_proposals_overlap_more_than_the_nms_threshold(seed: int) -> None:
    """Random blobs of several grey levels: many near-duplicate candidates."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    red = np.full((HEIGHT, WIDTH), 12.0)
    for _ in range(12):
        cy, cx = rng.integers(0, HEIGHT), rng.integers(0, WIDTH)
        radius = rng.integers(10, 160)
        red[np.hypot(yy - cy, xx - cx) <= radius] = rng.integers(60, 250)
    red[np.hypot(yy - CENTER[0], xx - CENTER[1]) <= 8] = 250
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = red
    config = ProposalConfig(min_stability=0.0)  # keep every candidate to stress the NMS
    proposals = ProposalGenerator(config).generate(RedChannelPredictor(), image,
                                                   Click(*CENTER, True))
    assert 1 <= len(proposals) <= 3
    for a, b in itertools.combinations(proposals, 2):
        assert mask_iou(a.mask, b.mask) <= 0.8
    assert [p.area for p in proposals] == sorted(p.area for p in proposals)
    assert all(p.mask[CENTER] for p in proposals if not p.plain)


def test_masks_cut_by_a_window_edge_are_dropped() -> None:
    """A band across the image: every window cuts it at its inner edges."""
    band = np.zeros((HEIGHT, WIDTH), bool)
    band[CENTER[0] - 10:CENTER[0] + 10] = True
    proposals = ProposalGenerator().generate(RedChannelPredictor(), _red_image(band),
                                             Click(*CENTER, True))
    assert len(proposals) == 1 and proposals[0].plain


def test_a_window_mask_touching_the_image_border_is_kept() -> None:
    """An object in the image corner: windows shift inside the image and keep it whole,
    while the grey halo around it (part of it at τ 0.3) is only in the plain map."""
    region = np.zeros((HEIGHT, WIDTH), bool)
    region[:40, :40] = True
    image = _red_image(region)
    click = Click(20, 20, True)
    proposals = ProposalGenerator().generate(RedChannelPredictor(), image, click)
    assert len(proposals) == 1 and mask_iou(proposals[0].mask, region) == 1.0
    generator = ProposalGenerator(ProposalConfig(window_fractions=(0.2,)))
    assert generator._windows(HEIGHT, WIDTH, click) == [(0, 0, 128, 128)]
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[:40, :40] = True
    assert not generator._truncated(mask, (0, 0, 128, 128))
    mask[:40, :128] = True
    assert generator._truncated(mask, (0, 0, 128, 128))


def test_generator_restores_the_predictor_image_and_state() -> None:
    predictor = RedChannelPredictor()
    image = _red_image(np.ones((HEIGHT, WIDTH), bool))
    predictor.set_image(image)
    predictor.state = 7
    ProposalGenerator().generate(predictor, image, Click(*CENTER, True))
    assert predictor.images[-1] is image and predictor.state == 7
    assert len(predictor.images) == 1 + 1 + 3 + 1  # set, plain is computed, 3 windows, back


def test_bad_clicks_are_refused() -> None:
    image = _red_image(np.ones((20, 30), bool))
    with pytest.raises(ValueError, match="outside"):
        ProposalGenerator().generate(RedChannelPredictor(), image, Click(25, 5, True))
    with pytest.raises(ValueError, match="positive"):
        ProposalGenerator().generate(RedChannelPredictor(), image, Click(5, 5, False))


# -- the session ---------------------------------------------------------------------------------
class PrevRecorder(RedChannelPredictor):
    """Also records the previous mask of each prediction on the full image."""

    def __init__(self) -> None:
        super().__init__()
        self.prev_masks: list[np.ndarray | None] = []

    def predict(self, clicks, prev_mask):
        self.prev_masks.append(prev_mask)
        return super().predict(clicks, prev_mask)


@pytest.fixture
def nested_session() -> InteractiveSession:
    image, _ = _nested_scene()
    session = InteractiveSession(GrabCutPredictor(), image)
    session.add_click(Click(*CENTER, True))
    session.propose(ProposalGenerator())
    return session


def test_choice_is_a_step_undone_and_redone_like_a_click(nested_session) -> None:
    session = nested_session
    proposals = session.proposals
    assert len(proposals) == 3 and session.current_proposal == 2  # the plain one: the group
    plain_probability = session.probability
    session.choose_proposal(0)
    assert session.current_proposal == 0 and np.array_equal(session.mask, proposals[0].mask)
    assert session.clicks == [Click(*CENTER, True)] and session.can_undo
    session.undo()
    assert session.current_proposal == 2
    assert np.array_equal(session.probability, plain_probability)  # rebuilt exactly
    session.redo()
    assert session.current_proposal == 0 and np.array_equal(session.mask, proposals[0].mask)
    session.choose_proposal(1)
    session.undo()
    assert session.current_proposal == 0
    session.undo()
    session.undo()
    assert session.proposals == () and session.current_proposal is None
    session.redo()
    assert session.proposals is proposals  # the proposals come back with the first click


def test_chosen_mask_is_the_previous_mask_of_the_next_click() -> None:
    predictor = PrevRecorder()
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    radius = np.hypot(yy - CENTER[0], xx - CENTER[1])
    red = np.where(radius <= 20, 250, np.where(radius <= 90, 150, 12)).astype(np.uint8)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = red
    session = InteractiveSession(predictor, image)
    session.add_click(Click(*CENTER, True))
    proposals = session.propose(ProposalGenerator(ProposalConfig(min_stability=0.0)))
    assert len(proposals) >= 2
    index = next(i for i, p in enumerate(proposals) if not p.plain)
    session.choose_proposal(index)
    assert predictor.images[-1] is image  # the generator put the image back
    session.add_click(Click(300, 400, True))
    assert np.array_equal(predictor.prev_masks[-1], proposals[index].probability)
    assert np.array_equal(predictor.prev_masks[-1] > session.prob_thresh, proposals[index].mask)
    assert session.proposals == ()  # a second click ends the choice
    with pytest.raises(IndexError):
        session.choose_proposal(0)


def test_proposals_only_after_one_positive_first_click() -> None:
    image = _red_image(np.ones((60, 80), bool))
    generator = ProposalGenerator()
    session = InteractiveSession(RedChannelPredictor(), image)
    assert session.propose(generator) == ()
    session.add_click(Click(5, 5, False))
    assert session.propose(generator) == ()
    session.reset()
    session.set_initial_mask(np.ones((60, 80), bool))
    session.add_click(Click(5, 5, True))
    assert session.propose(generator) == ()
    session.reset()
    session.add_clicks([Click(5, 5, True), Click(9, 9, True)])
    assert session.propose(generator) == ()


def test_proposals_with_a_golden_ritm_checkpoint(shared_dir) -> None:
    """Any click model: the RITM HRNet-18s checkpoint (random weights) runs the recipe."""
    from engine.inference.factory import load_predictor
    from engine.inference.options import InferenceOptions

    import torch
    torch.set_num_threads(1)
    path = shared_dir / "golden" / "ritm" / "ritm_hrnet18s_itermask_synthetic.pth"
    predictor = load_predictor(path, "cpu", InferenceOptions(with_flip=False))
    image, _ = _nested_scene()
    image = np.ascontiguousarray(image[::2, ::2])
    session = InteractiveSession(predictor, image)
    session.add_click(Click(120, 160, True))
    state = predictor.get_state()
    proposals = session.propose(ProposalGenerator(ProposalConfig(window_long_side=200)))
    assert len(proposals) <= 3
    assert all(p.mask.shape == image.shape[:2] for p in proposals)
    if session.probability.max() > session.prob_thresh:  # random weights may predict nothing
        assert any(p.plain for p in proposals)
    assert torch.equal(predictor.get_state().prev_prediction, state.prev_prediction)
