"""The model registry: released RITM entries, weights lookup, predictors usable by sessions."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine import Click, InteractiveSession
from weights import MODELS, WeightsNotFound, build_predictor, checkpoint_path


def test_every_released_ritm_checkpoint_is_registered() -> None:
    files = {e.checkpoint for e in MODELS.values() if e.name.startswith("ritm-")}
    assert files == {"sbd_h18_itermask.pth", "coco_lvis_h18_baseline.pth",
                     "coco_lvis_h18s_itermask.pth", "coco_lvis_h18_itermask.pth",
                     "coco_lvis_h32_itermask.pth"}
    for entry in MODELS.values():
        if entry.checkpoint:
            assert entry.url.endswith("/v1.0/" + entry.checkpoint) and entry.size_mb > 0


def test_missing_weights_say_where_to_put_them() -> None:
    entry = MODELS["ritm-hrnet18s-cocolvis-itm"]
    assert entry.needs_download
    with pytest.raises(WeightsNotFound, match="coco_lvis_h18s_itermask.pth"):
        build_predictor(entry.name, "cpu")
    with pytest.raises(KeyError, match="known models"):
        build_predictor("no-such-model")


def test_a_registered_ritm_model_runs_in_a_session(shared_dir: Path) -> None:
    entry = MODELS["ritm-hrnet18s-cocolvis-itm"]
    # The synthetic golden file has the released file's format and architecture.
    shutil.copy(shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth",
                checkpoint_path(entry))
    assert not entry.needs_download
    image = np.zeros((120, 160, 3), np.uint8)
    image[30:90, 40:120] = (220, 60, 40)
    session = InteractiveSession(build_predictor(entry.name, "auto"), image)
    probability = session.add_click(Click(60, 80, True))
    assert probability.shape == (120, 160) and probability.dtype == np.float32
    assert 0 <= probability.min() and probability.max() <= 1
