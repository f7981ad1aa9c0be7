"""The RITM NoBRS predictor against the official predictor's recorded outputs."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine import Click, InteractiveSession
from engine.checkpoints import build_model, read_checkpoint
from engine.inference.ritm import RITMPredictor
from engine.inference.zoom import ZoomIn, box_iou

NOBRS_CASES = ["pred_nobrs_zoom_hrnet18s_img_a", "pred_nobrs_zoom_hrnet18s_img_b",
               "pred_nobrs_zoom_hrnet18_img_a", "pred_nobrs_zoom_hrnet18_img_b",
               "pred_demo_nobrs_zoom_hrnet18s_img_c", "pred_demo_nobrs_nozoom_hrnet18s_img_c"]
CHECKPOINTS = {"hrnet18s": "ritm_hrnet18s_itermask_synthetic.pth",
               "hrnet18": "ritm_hrnet18_itermask_synthetic.pth.xz"}


@pytest.fixture(scope="module")
def models(shared_dir: Path, golden_threads: int) -> dict[str, torch.nn.Module]:
    built = {}
    for name, file in CHECKPOINTS.items():
        [info] = read_checkpoint(shared_dir / "golden" / "ritm" / file)
        built[name] = build_model(info)
        if name == "hrnet18s":  # the official demo loads its model with Cython click maps
            built["demo-hrnet18s"] = build_model(info, cpu_dist_maps=True)
    return built


def _image(shared_dir: Path, name: str) -> np.ndarray:
    return cv2.imread(str(shared_dir / "golden" / "ritm" / f"{name}.png"))[..., ::-1].copy()


@pytest.mark.parametrize("case", NOBRS_CASES)
def test_nobrs_zoom_matches_the_official_predictor(shared_dir: Path, models, case: str) -> None:
    golden = np.load(shared_dir / "golden" / "ritm" / f"{case}.npz")
    settings = json.loads(str(golden["settings_json"]))
    demo = settings["demo"]
    model = models[("demo-" if demo else "") + case.split("_")[-3]]
    zoom = settings["zoom_in"]
    if zoom is not None and isinstance(zoom["target_size"], list):
        zoom["target_size"] = tuple(zoom["target_size"])  # a fixed crop, as the demo's
    predictor = RITMPredictor(model, with_flip=settings["with_flip"],
                              zoom_in=ZoomIn(**zoom) if zoom else None,
                              max_size=800 if demo else None,
                              net_clicks_limit=settings["net_clicks_limit"])
    session = InteractiveSession(predictor, _image(shared_dir, str(golden["image_name"])))
    for step, (y, x, positive) in enumerate(golden["clicks"]):
        probs = session.add_click(Click(float(y), float(x), bool(positive)))
        roi = predictor.zoom_in.state.object_roi if predictor.zoom_in else None
        assert (tuple(golden["roi"][step]) == (-1, -1, -1, -1)) == (roi is None)
        if roi is not None:
            assert roi == tuple(int(v) for v in golden["roi"][step])
        assert predictor.net_calls == golden["net_calls"][step]
        expected = golden["probs"][step]
        # The README's tolerances: 1e-4, or 2e-3 for maps stored as float16.
        atol = 2e-3 if expected.dtype == np.float16 else 1e-4
        np.testing.assert_allclose(probs, expected.astype(np.float32), atol=atol,
                                   err_msg=f"{case} click {step + 1}")


def test_undo_restores_the_zoom_box_and_previous_prediction(shared_dir: Path, models) -> None:
    golden = np.load(shared_dir / "golden" / "ritm" / "pred_nobrs_zoom_hrnet18s_img_a.npz")
    predictor = RITMPredictor(models["hrnet18s"], zoom_in=ZoomIn())
    session = InteractiveSession(predictor, _image(shared_dir, "img_a"))
    clicks = [Click(float(y), float(x), bool(p)) for y, x, p in golden["clicks"]]
    for click in clicks[:3]:
        session.add_click(click)
    session.add_click(Click(10, 10, True))  # a stray click, undone
    session.undo()
    for step, click in enumerate(clicks[3:], start=3):
        probs = session.add_click(click)
        np.testing.assert_allclose(probs, golden["probs"][step], atol=1e-4)


def test_box_iou_is_the_official_product_of_axis_ious() -> None:
    assert box_iou((0, 9, 0, 9), (0, 9, 0, 9)) == 1.0
    assert box_iou((0, 9, 0, 9), (5, 14, 0, 9)) == pytest.approx(5 / 15)
    assert box_iou((0, 9, 0, 9), (20, 29, 20, 29)) == 0.0


class _ConstantModel(torch.nn.Module):
    """Logits ``value`` everywhere: tells which member of an ensemble ran."""

    with_prev_mask = False

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, image: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"instances": torch.full((image.shape[0], 1, *image.shape[2:]), self.value)}


def test_ensembles_run_member_min_n_clicks_len_minus_one() -> None:
    """The official rule for checkpoint lists: click n uses model min(n, len) - 1."""
    predictor = RITMPredictor([_ConstantModel(-1.0), _ConstantModel(0.0), _ConstantModel(1.0)])
    predictor.set_image(np.zeros((20, 30, 3), np.uint8))
    clicks = [Click(5, 5, True), Click(10, 10, False), Click(15, 15, True), Click(2, 2, False)]
    expected = [-1.0, 0.0, 1.0, 1.0]
    for n, logit in enumerate(expected, start=1):
        probs = predictor.predict(clicks[:n], None)
        assert np.allclose(probs, torch.sigmoid(torch.tensor(logit)).item()), n


def test_zoom_in_boxes_the_mask_the_user_continues_from(shared_dir: Path, models) -> None:
    """After a chosen proposal (or TAIZ's blend) the next click's box must come from that
    mask, not from the predictor's own last output, or the object would be cut off."""
    predictor = RITMPredictor(models["hrnet18s"], zoom_in=ZoomIn())
    predictor.set_image(_image(shared_dir, "img_a"))
    clicks = [Click(170, 250, True)]
    predictor.predict(clicks, None)
    chosen = np.zeros((320, 480), np.float32)
    chosen[20:300, 30:460] = 1  # a much larger mask than the first prediction
    predictor.predict(clicks + [Click(150, 335, True)], chosen)
    rmin, rmax, cmin, cmax = predictor.zoom_in.state.object_roi
    assert rmin <= 20 and rmax >= 299 and cmin <= 30 and cmax >= 459


def test_zoom_in_with_the_demos_longest_side_limit_on_a_large_image(shared_dir: Path,
                                                                    models) -> None:
    """The GUI's defaults: the first click runs on the image shrunk to 800 px, the next ones
    on the Zoom-In crop, which LimitLongestSide leaves alone (and must not paste back as if
    it were the whole image)."""
    image = cv2.resize(_image(shared_dir, "img_a"), (1000, 600))
    predictor = RITMPredictor(models["hrnet18s"], zoom_in=ZoomIn(target_size=400),
                              max_size=800)
    session = InteractiveSession(predictor, image)
    first = session.add_click(Click(300, 500, True))
    assert first.shape == (600, 1000) and predictor.limit.state.object_roi is not None
    second = session.add_click(Click(320, 560, True))
    assert second.shape == (600, 1000)
    assert predictor.zoom_in.state.object_roi is not None  # the crop the network saw
    assert predictor.limit.state.object_roi is None  # the crop was small enough
    rmin, rmax, cmin, cmax = predictor.zoom_in.state.object_roi
    outside = np.ones(second.shape, bool)
    outside[rmin:rmax + 1, cmin:cmax + 1] = False
    assert not second[outside].any()  # zero outside the zoom box, as official
    session.undo()  # back to the first click's state: the limit's box again
    assert predictor.limit.state.object_roi is not None
