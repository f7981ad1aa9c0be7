"""The BRS predictors against the official predictor's recorded f-BRS runs."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine import Click, InteractiveSession
from engine.checkpoints import build_model, read_checkpoint
from engine.inference.brs import BRSSettings, FeatureBRSPredictor, InputBRSPredictor, \
    click_squares
from engine.inference.zoom import ZoomIn
from engine.masks import mask_iou
from teacher_forcing import FIRST_EVALUATIONS, SHORT_RUN, clicks_of, \
    predict_from_official_state

FBRS_CASES = ["pred_fbrsB_zoom_hrnet18s_img_a", "pred_fbrsB_zoom_hrnet18s_img_b",
              "pred_fbrsC_zoom_hrnet18s_img_a", "pred_fbrsB_zoom_hrnet18_img_a",
              "pred_demo_fbrsB_zoom_hrnet18s_img_b"]
CHECKPOINTS = {"hrnet18s": "ritm_hrnet18s_itermask_synthetic.pth",
               "hrnet18": "ritm_hrnet18_itermask_synthetic.pth.xz"}
FREE_RUNNING_CLICKS = 3  # README §4: free-running f-BRS is stable up to here, chaotic after


@pytest.fixture(scope="module")
def infos(shared_dir: Path, golden_threads: int):
    return {name: read_checkpoint(shared_dir / "golden" / "ritm" / file)[0]
            for name, file in CHECKPOINTS.items()}


def _image(shared_dir: Path, name: str) -> np.ndarray:
    return cv2.imread(str(shared_dir / "golden" / "ritm" / f"{name}.png"))[..., ::-1].copy()


def _predictor(settings: dict, info) -> FeatureBRSPredictor:
    """The official ``get_predictor`` call a golden file records, rebuilt with our classes."""
    demo = settings["demo"]
    zoom = settings["zoom_in"]
    if isinstance(zoom["target_size"], list):
        zoom["target_size"] = tuple(zoom["target_size"])
    lbfgs = settings["lbfgs"]
    brs = BRSSettings(prob_thresh=settings["brs_prob_thresh"],
                      reg_weight=settings["reg_weight"],
                      reg_bias_weight=settings["reg_bias_weight"],
                      min_iou_diff=settings["min_iou_diff"], max_evaluations=lbfgs["maxfun"],
                      lbfgs_m=lbfgs["m"], lbfgs_factr=lbfgs["factr"], lbfgs_pgtol=lbfgs["pgtol"],
                      optimize_after_n_clicks=settings["optimize_after_n_clicks"])
    model = build_model(info, cpu_dist_maps=True) if demo else build_model(info)
    return FeatureBRSPredictor(model, brs_mode=settings["mode"], settings=brs,
                               with_flip=settings["with_flip"], zoom_in=ZoomIn(**zoom),
                               max_size=800 if demo else None,
                               net_clicks_limit=settings["net_clicks_limit"])


def _golden(shared_dir: Path, case: str):
    return np.load(shared_dir / "golden" / "ritm" / f"{case}.npz")


def _check_box(predictor: FeatureBRSPredictor, golden, step: int, where: str) -> None:
    roi = predictor.zoom_in.state.object_roi
    assert (roi or (-1, -1, -1, -1)) == tuple(int(v) for v in golden["roi"][step]), where


def _check_result(probs: np.ndarray, predictor: FeatureBRSPredictor, golden, step: int,
                  where: str) -> None:
    """The README's tolerances for one click: probabilities within 1e-3, the 0.49 masks'
    IoU at least 0.99, evaluations exact or +-1; and the variables within 1e-3."""
    where = f"{where} ({predictor.evaluations} evaluations, official " \
            f"{golden['lbfgs_n_fevals'][step]})"
    expected = golden["probs"][step]
    np.testing.assert_allclose(probs, expected, atol=1e-3, err_msg=where)
    assert mask_iou(probs > 0.49, expected > 0.49) >= 0.99, where
    assert abs(predictor.evaluations - golden["lbfgs_n_fevals"][step]) <= 1, where
    np.testing.assert_allclose(predictor.get_state().opt_data, golden["opt_data"][step],
                               atol=1e-3, err_msg=where)


@pytest.mark.parametrize("case", FBRS_CASES)
def test_fbrs_first_clicks_match_the_official_predictor(shared_dir: Path, infos,
                                                        case: str) -> None:
    """Free-running, as a user clicks: the first 3 clicks (the README's limit), up to the
    first long optimisation (see teacher_forcing)."""
    golden = _golden(shared_dir, case)
    predictor = _predictor(json.loads(str(golden["settings_json"])), infos[case.split("_")[-3]])
    session = InteractiveSession(predictor, _image(shared_dir, str(golden["image_name"])))
    for step, click in enumerate(clicks_of(golden["clicks"][:FREE_RUNNING_CLICKS])):
        if golden["lbfgs_n_fevals"][step] > SHORT_RUN:
            break
        probs = session.add_click(click)
        where = f"{case} click {step + 1}"
        _check_box(predictor, golden, step, where)
        _check_result(probs, predictor, golden, step, where)


@pytest.mark.parametrize("case, click", [(case, click) for case in FBRS_CASES
                                         for click in range(2, 7)])
def test_fbrs_click_matches_the_official_predictor_teacher_forced(shared_dir: Path, infos,
                                                                  case: str, click: int) -> None:
    """Click ``click`` alone, from the official state after the click before (README §4):
    its box and first evaluations, and its result if the optimisation was short."""
    golden = _golden(shared_dir, case)
    predictor = _predictor(json.loads(str(golden["settings_json"])), infos[case.split("_")[-3]])
    step = click - 1
    probs = predict_from_official_state(
        predictor, _image(shared_dir, str(golden["image_name"])),
        clicks_of(golden["clicks"][:click]), golden["probs"][step - 1], golden["roi"][step - 1],
        golden["opt_data"][step - 1])
    where = f"{case} click {click}, teacher-forced"
    _check_box(predictor, golden, step, where)
    # The same objective at the same start, and the gradient's first steps from it.
    first = golden["lbfgs_fvals"][step, :FIRST_EVALUATIONS]
    first = first[~np.isnan(first)]
    np.testing.assert_allclose(predictor.losses[:len(first)], first, rtol=1e-3, err_msg=where)
    if golden["lbfgs_n_fevals"][step] <= SHORT_RUN:
        _check_result(probs, predictor, golden, step, where)


def test_click_squares_skip_clicks_on_the_first_row_or_column() -> None:
    pos, neg = click_squares([[Click(0, 5, True), Click(4.5, 4.5, False), Click(9, 9, True)]],
                             (10, 10), torch.device("cpu"))
    assert pos.sum() == 4  # (0, 5): empty slice; (9, 9): clipped to a 2x2 corner
    assert neg[0, 0, 3:6, 3:6].sum() == 9  # round(4.5) == 4, half to even
    assert neg.sum() == 9


@pytest.mark.parametrize("mode", ["RGB-BRS", "DistMap-BRS"])
def test_input_brs_makes_the_clicks_obey(shared_dir: Path, infos, mode: str) -> None:
    """No official recording exists for the input modes: check what they are for. A
    negative click inside the predicted object is ignored by the plain network but
    enforced by the optimised bias."""
    image = _image(shared_dir, "img_a")[100:260, 160:400].copy()  # around the ellipse
    predictor = InputBRSPredictor(build_model(infos["hrnet18s"]), brs_mode=mode,
                                  settings=BRSSettings(max_evaluations=6))
    session = InteractiveSession(predictor, image)
    first = session.add_click(Click(70, 90, True))
    y, x = np.unravel_index(np.argmax(first), first.shape)  # the surest object pixel
    assert first[y, x] > 0.49
    second = session.add_click(Click(float(y), float(x), False))
    assert predictor.evaluations > 0
    assert second[y - 1:y + 2, x - 1:x + 2].max() < first[y - 1:y + 2, x - 1:x + 2].min()
    session.undo()
    assert predictor.get_state().opt_data.shape[1] == (3 if mode == "RGB-BRS" else 2)
