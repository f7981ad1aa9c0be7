"""Checkpoint reading: safe loading, identification from content, clear refusals."""
from __future__ import annotations

import lzma
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from engine.checkpoints import CheckpointError, identify, read_checkpoint

GOLDEN = {
    "ritm/ritm_hrnet18s_itermask_synthetic.pth": ("ritm", "RITM HRNet-18s ITER-M (previous mask)", 929),
    "ritm/ritm_hrnet18_itermask_synthetic.pth.xz": ("ritm", "RITM HRNet-18 ITER-M (previous mask)", 1895),
    "focalclick/hrnet18s_S2_synthetic.pth": ("focalclick", "FocalClick HRNet-18s S2", 983),
    "focalclick/segformerB0_S2_synthetic.pth": ("focalclick", "FocalClick SegFormer-B0 S2", 257),
    "fbrs/resnet34_dh128_golden.pth.xz": ("fbrs", "f-BRS DeepLabV3+ ResNet-34 (dh128)", 251),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_checkpoints_are_identified(shared_dir: Path, name: str) -> None:
    family, title, tensors = GOLDEN[name]
    [info] = read_checkpoint(shared_dir / "golden" / name)
    assert (info.family, info.title, len(info.state_dict)) == (family, title, tensors)


def _state_dict_from_keys_file(path: Path) -> OrderedDict:
    state = OrderedDict()
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape, dtype = line.split("\t")
        dims = tuple(int(d) for d in re.findall(r"\d+", shape))
        state[key] = torch.zeros(dims, dtype=getattr(torch, dtype))
    return state


def test_fbrs_hrnet_is_identified_from_its_keys(shared_dir: Path) -> None:
    state = _state_dict_from_keys_file(shared_dir / "specs" / "keys" / "fbrs_hrnet18_keys.txt")
    info = identify(state)
    assert (info.family, info.architecture, info.params) == (
        "fbrs", "hrnet", {"width": 18, "ocr_width": 64, "small": False})


def test_ensemble_list_and_legacy_format(tmp_path: Path, shared_dir: Path) -> None:
    checkpoint = torch.load(shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth",
                            map_location="cpu", weights_only=True)
    path = tmp_path / "ensemble.pth"
    torch.save([checkpoint, checkpoint], path, _use_new_zipfile_serialization=False)
    infos = read_checkpoint(path)
    assert [i.family for i in infos] == ["ritm", "ritm"]


class _RunsCode:
    """What a malicious checkpoint carries: unpickling it would create a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_pickle_that_would_run_code_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "coco_lvis_h18s_itermask.pth"
    torch.save({"state_dict": {}, "config": _RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    assert not marker.exists()


def test_files_that_are_not_checkpoints(tmp_path: Path, shared_dir: Path) -> None:
    cases = {"notes.pth": b"just some text", "empty.pth": b""}
    golden = (shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth").read_bytes()
    cases["truncated.pth"] = golden[: len(golden) // 2]
    cases["broken.pth.xz"] = lzma.compress(b"x" * 100)[:-10]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
            read_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="neither a torch zip archive nor a pickle"):
        read_checkpoint(tmp_path / "notes.pth")  # not blamed on pickled objects


def test_unknown_content_is_refused_with_the_reason(tmp_path: Path) -> None:
    weights = {"conv.weight": torch.zeros(2, 2)}
    cases = [
        ({"state_dict": weights, "config": {"class": "some.other.Model", "params": {}}},
         "unknown model class 'some.other.Model'"),
        ({"state_dict": weights, "config": {"params": {}}}, "malformed 'config'"),
        (weights, "not an f-BRS checkpoint"),
        ([1, 2, 3], "not a click-model checkpoint"),
        ([], "empty list"),
    ]
    for data, message in cases:
        path = tmp_path / "model.pth"
        torch.save(data, path)
        with pytest.raises(CheckpointError, match=re.escape(message)):
            read_checkpoint(path)
