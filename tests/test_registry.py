"""The model registry: every released checkpoint, matching files by content, importing local
files, predictors usable by sessions."""
from __future__ import annotations

import dataclasses
import lzma
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from annotator.cli import main as cli_main
from engine import Click, InteractiveSession
from engine.checkpoints import CheckpointError, read_checkpoint
from weights import (MODELS, WeightsNotFound, build_predictor, checkpoint_path, registry,
                     weights_dir)
from weights.integrity import load_records
from weights.manager import (AmbiguousImport, ImportRefused, State, entry_status, import_file,
                            verify_entry)
from weights.registry import engine_unavailable_reason


def test_every_released_checkpoint_is_registered() -> None:
    by_family: dict[str, set[str]] = {}
    for entry in MODELS.values():
        if entry.checkpoint:
            by_family.setdefault(entry.family, set()).add(entry.checkpoint)
    assert by_family["ritm"] == {"sbd_h18_itermask.pth", "coco_lvis_h18_baseline.pth",
                                 "coco_lvis_h18s_itermask.pth", "coco_lvis_h18_itermask.pth",
                                 "coco_lvis_h32_itermask.pth"}
    assert by_family["fbrs"] == {"resnet34_dh128_sbd.pth", "resnet50_dh128_sbd.pth",
                                 "resnet101_dh256_sbd.pth", "hrnet18_ocr64_sbd.pth",
                                 "hrnet32_ocr128_sbd.pth", "resnet50_dh128_lvis.pth",
                                 "hrnet32_ocr128_lvis.pth"}
    assert len(by_family["focalclick"]) == 8
    for entry in MODELS.values():
        if not entry.checkpoint:
            continue
        assert entry.architecture in ("hrnet", "deeplab", "segformer") and entry.identity
        assert entry.size_mb > 0 and entry.url.startswith("https://")
        if entry.family != "focalclick":  # released as GitHub assets named like the file
            assert entry.url.endswith("/v1.0/" + entry.checkpoint)
            assert entry.download_url == entry.url and not entry.from_mirror
    blobs = {e.checkpoint: e.git_blob for e in MODELS.values() if e.git_blob}
    assert blobs == {"coco_lvis_h18s_itermask.pth": "4ce03fbea3bb2ea9656d3395762c3c2044524002",
                     "coco_lvis_h18_itermask.pth": "644200a8cac6cd2d9cae887221291ea5864d9d33",
                     "coco_lvis_h18_baseline.pth": "35124d030931747dc1e421f523c53ec75f6f4a50",
                     "sbd_h18_itermask.pth": "affba1b47461b3ae0d2a905c8c2d0ba628c1dc90",
                     "resnet34_dh128_sbd.pth": "e1d2f9411287bb1cfe94119e8a184b604b963bf6"}


def test_focalclick_files_come_from_the_authors_folder_or_a_named_mirror() -> None:
    focal = [e for e in MODELS.values() if e.family == "focalclick"]
    assert {e.url for e in focal} == {registry.FOCALCLICK_FOLDER}
    mirrored = {e.name for e in focal if e.download_url}
    assert mirrored == {"focalclick-segformerb0-s1-cclvs", "focalclick-segformerb0-s2-cclvs",
                        "focalclick-segformerb3-s2-cclvs", "focalclick-segformerb3-s2-comb"}
    assert all(MODELS[name].from_mirror for name in mirrored)


@pytest.mark.parametrize("file, expected", [
    ("golden/ritm/ritm_hrnet18s_itermask_synthetic.pth", {"ritm-hrnet18s-cocolvis-itm"}),
    ("golden/ritm/ritm_hrnet18_itermask_synthetic.pth.xz",
     {"ritm-hrnet18-cocolvis-itm", "ritm-hrnet18-sbd-itm"}),
    ("golden/focalclick/hrnet18s_S2_synthetic.pth", {"focalclick-hrnet18s-s2-cclvs"}),
    ("golden/focalclick/segformerB0_S2_synthetic.pth", {"focalclick-segformerb0-s2-cclvs"}),
    ("golden/fbrs/resnet34_dh128_golden.pth.xz", {"fbrs-resnet34-sbd"}),
])
def test_entries_match_files_by_content(shared_dir: Path, file: str, expected: set) -> None:
    info = read_checkpoint(shared_dir / file)[0]
    assert {e.name for e in MODELS.values() if e.checkpoint and e.matches(info)} == expected


def test_an_s1_file_is_not_taken_for_s2(shared_dir: Path) -> None:
    info = read_checkpoint(shared_dir / "golden/focalclick/segformerB0_S2_synthetic.pth")[0]
    s1 = dataclasses.replace(info, params={**info.params, "pipeline_version": "s1"})
    matching = {e.name for e in MODELS.values() if e.checkpoint and e.matches(s1)}
    assert matching == {"focalclick-segformerb0-s1-cclvs"}


def test_entries_without_an_engine_say_so_when_built(shared_dir: Path) -> None:
    from engine.checkpoints import MODEL_CONSTRUCTORS
    from engine.inference.factory import PREDICTOR_FACTORIES

    entry = MODELS["fbrs-resnet34-sbd"]
    with lzma.open(shared_dir / "golden/fbrs/resnet34_dh128_golden.pth.xz") as packed:
        checkpoint_path(entry).write_bytes(packed.read())
    reason = engine_unavailable_reason(entry)
    runnable = "fbrs" in PREDICTOR_FACTORIES and ("fbrs", "deeplab") in MODEL_CONSTRUCTORS
    if runnable:  # the f-BRS engine has landed: the entry builds
        assert reason is None
        assert build_predictor(entry.name, "cpu") is not None
    else:
        assert "no f-BRS DeepLabV3+ engine" in reason
        with pytest.raises(CheckpointError, match="f-BRS"):
            build_predictor(entry.name, "cpu")
    assert engine_unavailable_reason(MODELS["grabcut"]) is None
    assert engine_unavailable_reason(MODELS["ritm-hrnet18s-cocolvis-itm"]) is None


def test_import_identifies_registers_and_verifies(shared_dir: Path) -> None:
    source = shared_dir / "golden/focalclick/segformerB0_S2_synthetic.pth"
    result = import_file(source)
    entry = MODELS["focalclick-segformerb0-s2-cclvs"]
    assert result.entry is entry and result.title == "FocalClick SegFormer-B0 S2"
    assert not result.already_present and not entry.needs_download
    assert checkpoint_path(entry).read_bytes() == source.read_bytes()
    assert result.status.state is State.TRUSTED
    assert load_records()[entry.checkpoint].source == f"imported from {source}"
    assert not list(checkpoint_path(entry).parent.glob("*.tmp"))
    assert import_file(source).already_present


def test_import_refuses_what_is_not_a_released_checkpoint(shared_dir: Path,
                                                          tmp_path: Path) -> None:
    # Same architecture as a file with a known git blob id, other bytes: not the release.
    with pytest.raises(ImportRefused, match="not the released coco_lvis_h18s_itermask.pth"):
        import_file(shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth")
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ImportRefused, match="notes.pth"):
        import_file(text)
    code = tmp_path / "malicious.pth"
    torch.save({"state_dict": {}, "config": Exploit()}, code)
    with pytest.raises(ImportRefused, match="refused so that nothing in it can run"):
        import_file(code)
    other = tmp_path / "other.pth"
    torch.save({"weights": [1, 2, 3]}, other)
    with pytest.raises(ImportRefused, match="not a click-model checkpoint"):
        import_file(other)
    info = read_checkpoint(shared_dir / "golden/focalclick/hrnet18s_S2_synthetic.pth")[0]
    unknown = tmp_path / "hrnet48.pth"
    torch.save({"state_dict": dict(info.state_dict), "config": {
        "class": "isegm.model.is_hrnet_model.HRNetModel",
        "params": {"width": {"type": "builtin", "value": 48, "specified": True},
                   "pipeline_version": {"type": "builtin", "value": "s2",
                                        "specified": True}}}}, unknown)
    with pytest.raises(ImportRefused, match="none of the released checkpoints"):
        import_file(unknown)
    assert not any(p.suffix == ".pth" for p in weights_dir().iterdir())


def test_import_asks_when_the_content_fits_several_entries(shared_dir: Path, monkeypatch,
                                                           tmp_path: Path) -> None:
    b0 = MODELS["focalclick-segformerb0-s2-cclvs"]
    twin = dataclasses.replace(b0, name="focalclick-segformerb0-s2-twin",
                               checkpoint="focalclick-segformerb0-s2-twin.pth")
    monkeypatch.setitem(MODELS, twin.name, twin)
    source = shared_dir / "golden/focalclick/segformerB0_S2_synthetic.pth"
    with pytest.raises(AmbiguousImport) as refused:
        import_file(source)
    assert {e.name for e in refused.value.candidates} == {b0.name, twin.name}
    with pytest.raises(ImportRefused, match="cannot be ritm-hrnet18s-cocolvis-itm"):
        import_file(source, "ritm-hrnet18s-cocolvis-itm")
    named = tmp_path / b0.checkpoint  # the entry's own file name decides
    shutil.copy(source, named)
    assert import_file(named).entry is b0
    checkpoint_path(b0).unlink()
    assert import_file(source).entry is b0  # so does the hash recorded for an entry
    assert import_file(source, twin.name).entry is twin


def test_cli_add_says_what_the_file_is(shared_dir: Path, capsys, tmp_path: Path) -> None:
    source = shared_dir / "golden/focalclick/hrnet18s_S2_synthetic.pth"
    assert cli_main(["weights", "add", str(source)]) == 0
    out = capsys.readouterr().out
    assert "is a FocalClick HRNet-18s S2 checkpoint" in out
    assert "focalclick-hrnet18s-s2-cclvs" in out and "trust on first use" not in out
    assert "recorded" in out
    assert not MODELS["focalclick-hrnet18s-s2-cclvs"].needs_download
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00" * 10)
    assert cli_main(["weights", "add", str(junk)]) == 1
    assert "refused" in capsys.readouterr().err
    assert cli_main(["weights", "verify", "focalclick-hrnet18s-s2-cclvs"]) == 0
    assert "unchanged since first use" in capsys.readouterr().out


class Exploit:
    """Pickles as a call to os.system: what weights_only loading must never run."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


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


def test_verify_checks_the_content_of_a_file_put_in_by_hand(shared_dir: Path) -> None:
    entry = MODELS["focalclick-hrnet18s-s1-cclvs"]
    shutil.copy(shared_dir / "golden/focalclick/hrnet18s_S2_synthetic.pth",
                checkpoint_path(entry))
    status = verify_entry(entry)
    assert status.state is State.WRONG_FILE
    assert "FocalClick HRNet-18s S2 checkpoint, not FocalClick HRNet-18s S1" in status.detail
    assert entry.checkpoint not in load_records()  # nothing trusted

    right = MODELS["focalclick-hrnet18s-s2-cclvs"]
    shutil.copy(shared_dir / "golden/focalclick/hrnet18s_S2_synthetic.pth",
                checkpoint_path(right))
    status = verify_entry(right)
    assert status.state is State.TRUSTED and "recorded now" in status.detail
    assert load_records()[right.checkpoint].sha256 == status.sha256
    assert entry_status(right).state is State.TRUSTED
