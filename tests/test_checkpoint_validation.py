"""A checkpoint whose config or tensors do not fit is a CheckpointError naming the parameter
or tensor, before any network is allocated (issue 18, item 4b): never a raw RuntimeError
(width 10**9 asked torch for 9.2 TB), TypeError or StopIteration."""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.checkpoints import CheckpointError, build_model, identify, read_checkpoint
from engine.inference.factory import load_predictor

RITM = "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth"
FBRS_HRNET_KEYS = "specs/keys/fbrs_hrnet18_keys.txt"


@pytest.fixture(scope="module")
def ritm(shared_dir: Path) -> dict:
    return torch.load(shared_dir / RITM, map_location="cpu", weights_only=True)


def _with_param(ritm: dict, name: str, value: Any) -> dict:
    data = {"state_dict": ritm["state_dict"], "config": copy.deepcopy(ritm["config"])}
    data["config"]["params"][name] = {"type": "builtin", "value": value, "specified": True}
    return data


def _with_tensor(ritm: dict, key: str, tensor: torch.Tensor) -> dict:
    return {"state_dict": OrderedDict(ritm["state_dict"], **{key: tensor}),
            "config": ritm["config"]}


def test_a_width_of_a_billion_is_refused_naming_it(ritm: dict, tmp_path: Path) -> None:
    path = tmp_path / "wide.pth"
    torch.save(_with_param(ritm, "width", 10**9), path)
    message = ("wide.pth has an unusable config: parameter 'width' is 1000000000, outside "
               "the range 8..64")
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match=message):
        load_predictor(path, "cpu")


BAD_PARAMS = {
    "width": [1e9, "18", [18], True, -18, 7, 65],
    "ocr_width": [-1, 513, 48.0, None],
    "small": ["yes", 2, None],
    "norm_radius": [math.nan, math.inf, -5, 0, 10**400, "5"],
    "with_prev_mask": [[1], 0.5],
    "norm_mean_std": [([0, 0, 0], [0.2, 0, 0.2]), ([0, 0], [1, 1]), [[math.nan] * 3, [1] * 3],
                      "imagenet", None],
}


@pytest.mark.parametrize(("name", "value"), [(name, value) for name, values in
                                             BAD_PARAMS.items() for value in values],
                         ids=lambda value: repr(value)[:20])
def test_each_bad_config_parameter_is_named(ritm: dict, name: str, value: Any) -> None:
    with pytest.raises(CheckpointError, match=f"x.pth has an unusable config: parameter "
                                              f"'{name}' "):
        identify(_with_param(ritm, name, value), "x.pth")


def test_the_parameters_of_every_golden_checkpoint_pass(shared_dir: Path) -> None:
    for path in sorted((shared_dir / "golden").glob("*/*.pth*")):
        for info in read_checkpoint(path):
            build_model(info)  # config checked, skeleton compared, weights loaded


def test_a_transposed_tensor_is_named_with_both_shapes(ritm: dict, tmp_path: Path) -> None:
    key = "feature_extractor.conv1.weight"
    path = tmp_path / "transposed.pth"
    torch.save(_with_tensor(ritm, key, ritm["state_dict"][key].transpose(0, 1).contiguous()),
               path)
    with pytest.raises(CheckpointError, match=(
            r"RITM HRNet-18s ITER-M \(previous mask\): the weights do not fit the architecture "
            rf"its config describes: tensor '{key}' is 3x64x3x3 in the file but the network "
            r"needs 64x3x3x3$")):
        load_predictor(path, "cpu")


def test_a_config_that_does_not_fit_the_tensors_is_named_without_building_it(
        ritm: dict) -> None:
    # Width 64 is a valid HRNet, just not this file's (18): checked on the meta device,
    # which allocates nothing, and reported tensor by tensor.
    info = identify(_with_param(ritm, "width", 64), "x.pth")
    with pytest.raises(CheckpointError, match=r"tensor 'feature_extractor\.[^']+' is "
                                              r"\d+x\d+x\d+x\d+ in the file but the network "
                                              r"needs \d+x\d+x\d+x\d+, .* and \d+ more$"):
        build_model(info)


def test_integer_values_for_float_weights_are_named(ritm: dict) -> None:
    key = "feature_extractor.conv1.weight"
    info = identify(_with_tensor(ritm, key, ritm["state_dict"][key].to(torch.int64)))
    with pytest.raises(CheckpointError, match=f"tensor '{key}' holds torch.int64 values where "
                                              "the network needs torch.float32"):
        build_model(info)


def test_missing_and_extra_tensors_are_named(ritm: dict) -> None:
    state = OrderedDict(ritm["state_dict"])
    state.pop("feature_extractor.conv1.weight")
    state["head.extra"] = torch.zeros(2)
    info = identify({"state_dict": state, "config": ritm["config"]})
    with pytest.raises(CheckpointError, match=r"\(1 missing: feature_extractor\.conv1\.weight; "
                                              r"1 unexpected: head\.extra\)"):
        build_model(info)


def _fbrs_hrnet_state(shared_dir: Path) -> OrderedDict:
    state = OrderedDict()
    for line in (shared_dir / FBRS_HRNET_KEYS).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, shape, dtype = line.split("\t")
            dims = [int(d) for d in shape.strip("[]() ").replace(" ", "").split(",") if d]
            state[key] = torch.zeros(dims, dtype=getattr(torch, dtype))
    return state


def test_an_fbrs_file_without_the_tensor_its_size_is_read_from_is_named(
        shared_dir: Path) -> None:
    state = _fbrs_hrnet_state(shared_dir)
    assert identify(state).params == {"width": 18, "ocr_width": 64, "small": False}
    ocr_key = next(k for k in state if "object_context_block.f_down.1.0.bias" in k)
    del state[ocr_key]
    with pytest.raises(CheckpointError, match="x.pth looks like an f-BRS file but has no "
                                              "usable tensor 'ocr_distri_head"):
        identify(state, "x.pth")


def test_an_fbrs_file_of_an_absurd_width_is_refused(shared_dir: Path) -> None:
    state = _fbrs_hrnet_state(shared_dir)
    state["feature_extractor.stage2.0.branches.0.0.conv1.weight"] = torch.zeros(4096, 1, 1, 1)
    with pytest.raises(CheckpointError, match="parameter 'width' is 4096, outside the range"):
        identify(state, "x.pth")
