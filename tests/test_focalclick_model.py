"""FocalClick networks against the official outputs (golden/focalclick, raw npz files),
the checkpoint plumbing (strict keys, S1/S2 from the config) and our roi_align."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from engine.checkpoints import CheckpointError, CheckpointInfo, build_model, read_checkpoint
from engine.models.focalclick import FocalHRNetModel, SegFormerModel
from engine.models.roi_align import roi_align

torch.set_num_threads(1)

MODELS = ("segformerB0_S2", "hrnet18s_S2")


@pytest.fixture(scope="module")
def golden_dir(shared_dir):
    return shared_dir / "golden" / "focalclick"


_RUNS: dict = {}


def _golden_run(golden_dir, name: str):
    """(name, model, raw golden arrays, forward outputs, refine outputs), computed once."""
    if name not in _RUNS:
        [info] = read_checkpoint(golden_dir / f"{name}_synthetic.pth")
        model = build_model(info)
        raw = np.load(golden_dir / f"{name}_raw.npz")
        with torch.no_grad():
            out = model(_f32(raw["a_input_f16exact"]), torch.from_numpy(raw["a_points"]))
            refined = model.refine(_f32(raw["a_ref_image_f16exact"]),
                                   torch.from_numpy(raw["a_ref_points"]), out["feature"],
                                   out["instances"], torch.from_numpy(raw["a_ref_roi"]))
        _RUNS[name] = (name, model, raw, out, refined)
    return _RUNS[name]


@pytest.fixture(params=MODELS)
def golden_run(request, golden_dir):
    return _golden_run(golden_dir, request.param)


def _f32(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float32))


def _assert_f16_close(ours: torch.Tensor, stored: np.ndarray) -> None:
    """Stored-as-float16 arrays: compare our float32 result cast to float16 (README)."""
    expected = stored.astype(np.float32)
    np.testing.assert_allclose(ours.numpy().astype(np.float16).astype(np.float32), expected,
                               rtol=0, atol=2e-3 + 2e-3 * float(np.abs(expected).max()))


def test_golden_checkpoints_load_strictly_as_focalclick(golden_dir) -> None:
    for name, title, cls in (("segformerB0_S2", "FocalClick SegFormer-B0 S2", SegFormerModel),
                             ("hrnet18s_S2", "FocalClick HRNet-18s S2", FocalHRNetModel)):
        [info] = read_checkpoint(golden_dir / f"{name}_synthetic.pth")
        assert (info.family, info.title) == ("focalclick", title)
        model = build_model(info)  # strict: raises on any missing or unexpected tensor
        assert type(model) is cls and model.pipeline_version == "s2"
        assert set(model.state_dict()) == set(info.state_dict)


def test_state_dict_keys_equal_the_official_key_lists(shared_dir) -> None:
    lists = {"segformer": shared_dir / "specs/keys/focalclick_segformerB0_keys.txt",
             "hrnet": shared_dir / "golden/focalclick/hrnet18s_S2_state_dict_keys.txt"}
    models = {"segformer": SegFormerModel(pipeline_version="s2", model_version="b0"),
              "hrnet": FocalHRNetModel(pipeline_version="s2", width=18, ocr_width=48,
                                       small=True, use_leaky_relu=True)}
    for kind, path in lists.items():
        expected = [line.split("\t") for line in path.read_text().splitlines()
                    if line and not line.startswith("#")]
        ours = [(k, str(v.dtype).removeprefix("torch."), str(list(v.shape)))
                for k, v in models[kind].state_dict().items()]
        assert sorted(ours) == sorted((k, d, s) for k, d, s in expected), kind


@pytest.mark.parametrize("version, hrnet_width, size_mib", [
    ("b3", None, 174.53), (None, 32, 119.05)])
def test_larger_variants_have_the_released_sizes(version, hrnet_width, size_mib) -> None:
    """specs §1: sizes of files holding a state_dict and a (few kB) config."""
    if version:
        model = SegFormerModel(pipeline_version="s2", model_version=version)
    else:
        model = FocalHRNetModel(pipeline_version="s2", width=hrnet_width, ocr_width=128,
                                small=False)
    buffer = io.BytesIO()
    torch.save({"state_dict": model.state_dict()}, buffer)
    assert len(buffer.getvalue()) / 2 ** 20 == pytest.approx(size_mib, abs=0.05)
    points = torch.tensor([[[100.0, 120.0, 0], [30.0, 40.0, 1]]])
    with torch.no_grad():
        out = model.eval()(torch.rand(1, 4, 256, 256), points)
        refined = model.refine(torch.rand(1, 3, 256, 256), points, out["feature"],
                               out["instances"], torch.tensor([[0, 10.0, 20.0, 200.0, 240.0]]))
    assert out["instances"].shape == refined["instances_refined"].shape == (1, 1, 256, 256)


def test_coarse_outputs_match(golden_run) -> None:
    name, _, raw, out, _ = golden_run
    np.testing.assert_allclose(out["instances"].numpy(), raw["a_out_instances"],
                               atol=5e-4, rtol=1e-4)
    if "a_out_instances_aux" in raw:
        np.testing.assert_allclose(out["instances_aux"].numpy(), raw["a_out_instances_aux"],
                                   atol=5e-4, rtol=1e-4)
    np.testing.assert_array_equal(out["click_map"].numpy(), raw["a_out_click_map"])
    feature = out["feature"]
    assert list(feature.shape) == list(raw["a_out_feature_shape"])
    np.testing.assert_allclose(feature.mean(dim=(0, 2, 3)).double().numpy(),
                               raw["a_out_feature_channel_mean"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(feature.abs().mean(dim=(0, 2, 3)).double().numpy(),
                               raw["a_out_feature_channel_absmean"], rtol=1e-4, atol=1e-6)
    _assert_f16_close(feature[0, :32], raw["a_out_feature_ch0_31_f16"])


def test_refiner_outputs_match(golden_run) -> None:
    _, _, raw, _, refined = golden_run
    for key in ("instances_refined", "trimap", "instances_coarse"):
        np.testing.assert_allclose(refined[key].numpy(), raw[f"a_ref_out_{key}"],
                                   atol=5e-4, rtol=1e-4, err_msg=key)


def test_segformer_stages_and_side_embedding(golden_dir) -> None:
    """c1 is recorded before the click embedding is added; c2..c4 see the clicks."""
    _, model, raw, _, _ = _golden_run(golden_dir, "segformerB0_S2")
    image = _f32(raw["a_input_f16exact"])
    rgb = (image[:, :3] - model._norm_mean) / model._norm_std
    coords = torch.cat((image[:, 3:], model.dist_maps(rgb, torch.from_numpy(raw["a_points"]))),
                       dim=1)
    backbone = model.feature_extractor.backbone
    with torch.no_grad():
        stages = backbone(rgb, coords)
        side = backbone.embed_side(coords)
    _assert_f16_close(stages[0], raw["a_backbone_out0_f16"])
    for i in (1, 2, 3):
        np.testing.assert_allclose(stages[i].numpy(), raw[f"a_backbone_out{i}"],
                                   atol=5e-4, rtol=1e-4)
    _assert_f16_close(side.flatten(2).transpose(1, 2), raw["a_side_embed_tokens_f16"])


def test_hrnet_click_fusion_and_heads(golden_dir) -> None:
    _, model, raw, _, _ = _golden_run(golden_dir, "hrnet18s_S2")
    image = _f32(raw["a_input_f16exact"])
    rgb, prev = model.prepare_input(image)
    coords = model.get_coord_features(rgb, prev, torch.from_numpy(raw["a_points"]))
    net = model.feature_extractor
    with torch.no_grad():
        fused = model.maps_transform(coords)
        logits, aux = net(rgb, fused)
    _assert_f16_close(fused[:, :16], raw["a_maps_transform_out_ch0_15_f16"])
    np.testing.assert_allclose(aux.numpy(), raw["a_aux_head_out_lowres"], atol=5e-4, rtol=1e-4)
    np.testing.assert_allclose(logits.numpy(), raw["a_cls_head_out_lowres"], atol=5e-4,
                               rtol=1e-4)


def test_pipeline_version_comes_from_the_config(golden_dir) -> None:
    [info] = read_checkpoint(golden_dir / "segformerB0_S2_synthetic.pth")
    s1 = CheckpointInfo(info.family, info.architecture, info.title,
                        {**info.params, "pipeline_version": "s1"}, info.state_dict)
    model = build_model(s1)
    assert model.pipeline_version == "s1" and model.dist_maps.norm_radius == 3
    with torch.no_grad():
        out = model(torch.rand(1, 4, 256, 256), torch.tensor([[[100.0, 90.0, 0], [-1, -1, -1]]]))
    assert out["instances"].shape == (1, 1, 256, 256)
    assert out["feature"].shape[2:] == (32, 32)  # the segmentor ran on the 128 copy
    unknown = CheckpointInfo(info.family, info.architecture, info.title,
                             {k: v for k, v in info.params.items() if k != "pipeline_version"},
                             info.state_dict)
    with pytest.raises(CheckpointError, match="pipeline_version"):
        build_model(unknown)


def test_hrnet_s1_uses_radius_two_disks() -> None:
    model = FocalHRNetModel(pipeline_version="s1", width=18, ocr_width=48, small=True)
    assert model.dist_maps.norm_radius == 2 and model.dist_maps_refine.norm_radius == 5


# -- roi_align ---------------------------------------------------------------------------

def _reference_roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned):
    """torchvision's CPU kernel written out sample by sample (slow, obviously right)."""
    out_h, out_w = output_size
    _, channels, height, width = features.shape
    result = torch.zeros(len(rois), channels, out_h, out_w, dtype=torch.float64)

    def bilinear(fmap, y, x):
        if y < -1.0 or y > height or x < -1.0 or x > width:
            return torch.zeros(channels, dtype=torch.float64)
        y, x = max(y, 0.0), max(x, 0.0)
        y_low, x_low = int(y), int(x)
        if y_low >= height - 1:
            y_high = y_low = height - 1
            y = float(y_low)
        else:
            y_high = y_low + 1
        if x_low >= width - 1:
            x_high = x_low = width - 1
            x = float(x_low)
        else:
            x_high = x_low + 1
        ly, lx = y - y_low, x - x_low
        hy, hx = 1 - ly, 1 - lx
        return (hy * hx * fmap[:, y_low, x_low] + hy * lx * fmap[:, y_low, x_high]
                + ly * hx * fmap[:, y_high, x_low] + ly * lx * fmap[:, y_high, x_high])

    offset = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        fmap = features[int(b)].double()
        sx, sy = x1 * spatial_scale - offset, y1 * spatial_scale - offset
        rw, rh = x2 * spatial_scale - offset - sx, y2 * spatial_scale - offset - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / out_h)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / out_w)
        count = max(gh * gw, 1)
        for ph in range(out_h):
            for pw in range(out_w):
                acc = torch.zeros(channels, dtype=torch.float64)
                for iy in range(gh):
                    y = sy + ph * rh / out_h + (iy + 0.5) * rh / out_h / gh
                    for ix in range(gw):
                        x = sx + pw * rw / out_w + (ix + 0.5) * rw / out_w / gw
                        acc += bilinear(fmap, y, x)
                result[k, :, ph, pw] = acc / count
    return result


@pytest.mark.parametrize("spatial_scale, sampling_ratio, aligned, output_size", [
    (1.0, -1, True, (7, 9)),     # FocalClick's setting
    (0.25, -1, True, (6, 6)),
    (0.5, 2, True, (5, 4)),
    (1.0, -1, False, (4, 6)),
])
def test_roi_align_matches_the_reference_semantics(spatial_scale, sampling_ratio, aligned,
                                                    output_size) -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 11, 13, generator=generator)
    rois = torch.tensor([[0, 1.3, 2.2, 9.7, 8.1],     # inside
                         [1, -3.0, -2.5, 14.2, 12.6],  # beyond every edge
                         [1, 4.0, 5.0, 4.4, 5.2],      # tiny
                         [0, 10.5, 0.0, 30.0, 40.0]])  # mostly outside
    rois[:, 1:] /= spatial_scale
    ours = roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned)
    expected = _reference_roi_align(features, rois, output_size, spatial_scale,
                                    sampling_ratio, aligned)
    np.testing.assert_allclose(ours.double().numpy(), expected.numpy(), atol=1e-5)


def test_roi_align_rejects_malformed_rois() -> None:
    with pytest.raises(ValueError, match="rois"):
        roi_align(torch.zeros(1, 1, 4, 4), torch.zeros(1, 4), (2, 2))
