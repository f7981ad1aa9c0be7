"""The FocalClick predictor against the official FocalPredictor, click by click
(golden/focalclick case files), plus its crop rules, undo and the factory entry."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.checkpoints import build_model, read_checkpoint
from engine.clicks import Click
from engine.inference.factory import load_predictor
from engine.inference.focalclick import FocalClickPredictor, focus_crop, target_crop
from engine.inference.options import InferenceOptions
from engine.session import InteractiveSession

torch.set_num_threads(1)

CASES = [("segformerB0_S2", "A"), ("segformerB0_S2", "B"), ("segformerB0_S2", "C"),
         ("hrnet18s_S2", "A")]
_MODELS: dict = {}


@pytest.fixture(scope="module")
def golden_dir(shared_dir):
    return shared_dir / "golden" / "focalclick"


@pytest.fixture(scope="module")
def inputs(golden_dir):
    return np.load(golden_dir / "inputs.npz")


def _model(golden_dir, name: str) -> torch.nn.Module:
    if name not in _MODELS:
        [info] = read_checkpoint(golden_dir / f"{name}_synthetic.pth")
        _MODELS[name] = build_model(info)
    return _MODELS[name]


def _unpack(packed: np.ndarray, shape) -> np.ndarray:
    height, width = shape
    return np.unpackbits(packed)[:height * width].reshape(height, width).astype(bool)


def _progressive_merge(pred: np.ndarray, previous: np.ndarray, y: int, x: int) -> np.ndarray:
    """The official evaluation's merge with an initial mask (specs §5): add or remove the
    changed component under the click."""
    _, labels = cv2.connectedComponents(np.logical_xor(pred, previous).astype(np.uint8),
                                        connectivity=8)
    component = labels == labels[y, x]
    merged = previous.copy()
    merged[component] = not previous[y, x]
    return merged


def _f16_diff(ours: torch.Tensor | np.ndarray, stored: np.ndarray) -> float:
    ours = np.asarray(ours, dtype=np.float32).astype(np.float16).astype(np.float32)
    return float(np.abs(ours - stored.astype(np.float32)).max())


def _logit_tolerance(stored: np.ndarray) -> float:
    return 2e-3 + 2e-3 * float(np.abs(stored.astype(np.float32)).max())


@pytest.mark.parametrize("name, case", CASES)
def test_predictor_matches_the_official_sequence(golden_dir, inputs, name, case) -> None:
    golden = np.load(golden_dir / f"{name}_case{case}.npz")
    shape = tuple(golden["image_hw"])
    predictor = FocalClickPredictor(_model(golden_dir, name))
    predictor.set_image(inputs["image_A" if case == "A" else "image_B"])
    prev = merged = None
    if case == "C":
        merged = inputs["init_mask_C"]
        prev = merged.astype(np.float32)
    clicks = []
    for k, (y, x, positive) in enumerate(golden["clicks_yx_pos"].tolist(), start=1):
        g = {key[4:]: golden[key] for key in golden.files if key.startswith(f"c{k:02d}_")}
        clicks.append(Click(y, x, bool(positive)))
        prob = predictor.predict(clicks, prev)
        prev = prob
        step = predictor.last_step
        where = f"{name} case {case} click {k}"

        assert step.target_roi == (tuple(g["target_roi"]) if g["target_roi"][0] >= 0
                                   else None), where
        assert step.global_roi == tuple(g["global_roi"]), where
        assert step.focus_roi == tuple(g["focus_roi"]), where
        np.testing.assert_allclose(step.focus_roi_256, g["focus_roi_in_target_256"], atol=1e-4)
        np.testing.assert_allclose(step.points.numpy(), g["points_nd"], atol=1e-4)
        np.testing.assert_allclose(step.focus_points.numpy(), g["focus_points"], atol=1e-4)

        assert prob.dtype == np.float32 and prob.shape == shape
        assert _f16_diff(prob, g["prob_f16"]) <= 1e-3, where
        for ours, key in ((step.coarse_logits[0, 0], "coarse_logits_256_f16"),
                          (step.refined["instances_refined"][0, 0], "refined_logits_256_f16"),
                          (step.refined["trimap"][0, 0], "trimap_logits_256_f16"),
                          (step.refined["instances_coarse"][0, 0],
                           "focus_coarse_logits_256_f16")):
            if key in g:
                assert _f16_diff(ours, g[key]) <= _logit_tolerance(g[key]), f"{where} {key}"
        if "net_input_256_f16" in g:
            assert _f16_diff(step.net_input[0], g["net_input_256_f16"]) <= 1e-3
            assert _f16_diff(step.focus_image[0], g["focus_image_256_f16"]) <= 1e-3

        if case == "C":
            merged = _progressive_merge(prob > 0.5, merged, y, x)
            assert np.count_nonzero(merged != g["merged_mask"]) <= 20, where
            predictor.set_zoom_mask(merged.astype(np.float32))
    assert len(clicks) == (6 if name.startswith("hrnet") or case == "B" else
                           4 if case == "C" else 12)


@pytest.mark.parametrize("name, case", CASES)
def test_crop_rules_on_the_recorded_masks(golden_dir, name, case) -> None:
    """The two crop rules alone, fed the exact masks the official code thresholded."""
    golden = np.load(golden_dir / f"{name}_case{case}.npz")
    shape = tuple(golden["image_hw"])
    clicks = [Click(y, x, bool(p)) for y, x, p in golden["clicks_yx_pos"].tolist()]
    for k in range(1, len(clicks) + 1):
        prefix = f"c{k:02d}_"
        if prefix + "fc_arg_pred_gt049_packed" not in golden.files:
            break
        gy1, gy2, gx1, gx2, y, x, ratio = golden[prefix + "fc_args_roi_y_x_ratio"].tolist()
        box = focus_crop(_unpack(golden[prefix + "fc_arg_pred_gt049_packed"], shape),
                         _unpack(golden[prefix + "fc_arg_prev_gt049_packed"], shape),
                         (int(gy1), int(gy2), int(gx1), int(gx2)), int(y), int(x), ratio)
        assert box == tuple(golden[prefix + "focus_roi"]), k
        if prefix + "zoomin_in_gt049_packed" in golden.files:
            mask = _unpack(golden[prefix + "zoomin_in_gt049_packed"], shape)
            assert target_crop(mask, clicks[:k]) == tuple(golden[prefix + "target_roi"]), k


def test_undo_restores_the_state_exactly(golden_dir, inputs) -> None:
    predictor = FocalClickPredictor(_model(golden_dir, "segformerB0_S2"))
    image = inputs["image_B"]
    session = InteractiveSession(predictor, image)
    clicks = [Click(260, 150, True), Click(220, 165, True), Click(260, 300, False)]
    session.add_click(clicks[0])
    session.add_click(clicks[1])
    after_two = session.probability.copy()
    session.add_click(clicks[2])
    after_three = session.probability.copy()
    session.undo()
    np.testing.assert_array_equal(session.probability, after_two)
    session.add_click(clicks[2])
    np.testing.assert_array_equal(session.probability, after_three)
    session.reset()
    session.add_click(clicks[0])
    fresh = FocalClickPredictor(_model(golden_dir, "segformerB0_S2"))
    fresh.set_image(image)
    np.testing.assert_array_equal(session.probability, fresh.predict(clicks[:1], None))


def test_factory_builds_the_predictor_with_the_official_options(golden_dir, inputs) -> None:
    predictor = load_predictor(golden_dir / "hrnet18s_S2_synthetic.pth", "cpu")
    assert isinstance(predictor, FocalClickPredictor) and predictor.name == "focalclick"
    assert (predictor.zoom_in, predictor.expansion_ratio, predictor.focus_crop_r,
            predictor.with_flip) == (True, 1.4, 1.4, False)
    flipped = load_predictor(golden_dir / "hrnet18s_S2_synthetic.pth", "cpu",
                             InferenceOptions(focalclick_with_flip=True, focus_crop_r=1.6))
    assert flipped.with_flip and flipped.focus_crop_r == 1.6


def test_flip_averages_the_coarse_logits_of_both_passes(golden_dir, inputs) -> None:
    model = _model(golden_dir, "segformerB0_S2")
    predictor = FocalClickPredictor(model, with_flip=True)
    predictor.set_image(inputs["image_A"])
    click = Click(150, 190, True)
    prob = predictor.predict([click], None)
    step = predictor.last_step
    assert prob.shape == (320, 480) and np.isfinite(prob).all()
    with torch.no_grad():
        image = step.net_input
        flipped = model(torch.flip(image, dims=[3]),
                        torch.tensor([[[float(step.points[0, 0, 0]),
                                        255 - float(step.points[0, 0, 1]), 0],
                                       [-1, -1, -1]]]))["instances"]
    no_flip = FocalClickPredictor(model)
    no_flip.set_image(inputs["image_A"])
    no_flip.predict([click], None)
    expected = 0.5 * (no_flip.last_step.coarse_logits + torch.flip(flipped, dims=[3]))
    # Only the coarse map outside the focus crop shows the average directly.
    y1, y2, x1, x2 = step.focus_roi
    coarse = torch.sigmoid(torch.nn.functional.interpolate(
        expected, size=(320, 480), mode="bilinear", align_corners=True))[0, 0].numpy()
    outside = np.ones((320, 480), bool)
    outside[y1:y2, x1:x2] = False
    np.testing.assert_allclose(prob[outside], coarse[outside], atol=1e-5)


def test_bad_input_is_refused(golden_dir) -> None:
    predictor = FocalClickPredictor(_model(golden_dir, "segformerB0_S2"))
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict([Click(1, 1, True)], None)
    with pytest.raises(ValueError, match="uint8"):
        predictor.set_image(np.zeros((4, 4), np.uint8))
    predictor.set_image(np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="prev_mask"):
        predictor.predict([Click(1, 1, True)], np.zeros((4, 4), np.float32))


def test_empty_previous_mask_keeps_the_stale_target_crop(golden_dir, inputs) -> None:
    """Official quirk Q5: with nothing above 0.49 left, the whole image goes to the network
    but the result is still squeezed into the previous target crop (zero elsewhere)."""
    predictor = FocalClickPredictor(_model(golden_dir, "segformerB0_S2"))
    image = inputs["image_B"]
    predictor.set_image(image)
    clicks = [Click(260, 150, True), Click(220, 165, True)]
    predictor.predict(clicks[:1], None)
    prob = predictor.predict(clicks, None)
    roi = predictor.last_step.target_roi
    assert roi is not None
    predictor.set_zoom_mask(np.zeros(image.shape[:2], np.float32))
    clicks.append(Click(150, 300, True))
    prob = predictor.predict(clicks, prob)
    step = predictor.last_step
    assert step.target_roi == roi
    assert step.global_roi == (roi[0], roi[1] + 1, roi[2], roi[3] + 1)
    whole = torch.nn.functional.interpolate(
        torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255, size=(256, 256),
        mode="bilinear", align_corners=True)
    torch.testing.assert_close(step.net_input[:, :3], whole)
    outside = np.ones(prob.shape, bool)
    outside[roi[0]:roi[1] + 1, roi[2]:roi[3] + 1] = False
    assert not prob[outside].any()
