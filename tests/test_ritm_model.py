"""RITM HRNet+OCR network: state_dict layout and forward pass against the official outputs.

Golden data: ../shared/golden/ritm (README.md there); key list: ../shared/specs/keys.
"""
from __future__ import annotations

import io
import lzma
from collections import Counter

import numpy as np
import pytest
import torch

from engine.models.is_hrnet_model import HRNetModel
from engine.models.is_model import constructor_params
from engine.models.ops import DistMaps, ScaleLayer


H18S_ARGS = dict(width=18, ocr_width=48, small=True, with_aux_output=True, use_leaky_relu=True,
                 use_rgb_conv=False, use_disks=True, norm_radius=5, with_prev_mask=True)


def _model_kwargs(config: dict) -> dict:
    """Config params -> constructor kwargs (temporary local helper until engine/checkpoints.py)."""
    accepted = constructor_params(HRNetModel)
    return {k: v["value"] for k, v in config["params"].items()
            if k in accepted and k not in ("backbone_lr_mult", "norm_layer")}


def _build(ckpt: dict) -> HRNetModel:
    assert ckpt["config"]["class"] == "isegm.model.is_hrnet_model.HRNetModel"
    model = HRNetModel(**_model_kwargs(ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def golden(shared_dir, golden_threads):
    d = shared_dir / "golden" / "ritm"
    if not d.is_dir():
        pytest.skip(f"RITM golden data not found at {d}")
    return d


@pytest.fixture(scope="module")
def models(golden):
    """Both synthetic-weight checkpoints, built once per module (the .xz takes a moment)."""
    ck18s = torch.load(golden / "ritm_hrnet18s_itermask_synthetic.pth", map_location="cpu",
                       weights_only=True)
    with lzma.open(golden / "ritm_hrnet18_itermask_synthetic.pth.xz") as f:
        ck18 = torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=True)
    return {"hrnet18s": _build(ck18s), "hrnet18": _build(ck18)}


def _load_input(golden, data):
    import cv2

    name = str(data["image_name"])
    bgr = cv2.imread(str(golden / f"{name}.png"), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    image = torch.from_numpy(rgb).permute(2, 0, 1)
    prev = torch.from_numpy(data["prev_mask"].astype(np.float32))[None]
    return torch.cat([image, prev], dim=0)[None], torch.from_numpy(data["points"])


# --- state_dict layout -----------------------------------------------------------------------

def test_h18s_state_dict_matches_official_key_file(shared_dir):
    path = shared_dir / "specs" / "keys" / "ritm_hrnet18s_keys.txt"
    expected = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape, dtype = line.split("\t")
        expected.append((key, shape, dtype))
    got = [(k, str(tuple(v.shape)), str(v.dtype).removeprefix("torch."))
           for k, v in HRNetModel(**H18S_ARGS).state_dict().items()]
    assert len(got) == len(expected) == 929
    assert got == expected  # names, order, shapes and dtypes


@pytest.mark.parametrize("width,ocr,conv3x3_ocr", [(18, 64, (128, 270, 3, 3)),
                                                  (32, 128, (256, 480, 3, 3))])
def test_h18_h32_tensor_counts(width, ocr, conv3x3_ocr):
    sd = HRNetModel(width=width, ocr_width=ocr, with_aux_output=True, use_leaky_relu=True,
                    use_rgb_conv=False, use_disks=True, norm_radius=5,
                    with_prev_mask=True).state_dict()
    assert len(sd) == 1895
    groups = Counter(k.split(".")[1] if k.startswith("feature_extractor.") else k.split(".")[0]
                     for k in sd)
    assert {g: groups[g] for g in ("layer1", "stage2", "stage3", "stage4", "ocr_distri_head",
                                   "conv3x3_ocr", "aux_head", "cls_head", "maps_transform")} == {
        "layer1": 78, "stage2": 108, "stage3": 744, "stage4": 864, "ocr_distri_head": 42,
        "conv3x3_ocr": 7, "aux_head": 9, "cls_head": 2, "maps_transform": 5}
    assert tuple(sd["feature_extractor.conv3x3_ocr.0.weight"].shape) == conv3x3_ocr


def test_baseline_without_prev_mask_has_two_coord_channels():
    sd = HRNetModel(width=18, ocr_width=64, use_rgb_conv=False, use_disks=True,
                    norm_radius=5).state_dict()
    assert tuple(sd["maps_transform.0.weight"].shape) == (16, 2, 1, 1)


def test_clicks_groups_not_supported():
    with pytest.raises(NotImplementedError, match="clicks_groups"):
        HRNetModel(width=18, ocr_width=48, small=True, use_rgb_conv=False, clicks_groups=[2, 2])


# --- forward against the official outputs ----------------------------------------------------

CASES = [(m, i) for m in ("hrnet18s", "hrnet18") for i in ("img_a", "img_b")]


@pytest.mark.parametrize("model_name,img", CASES)
def test_raw_forward_matches_official(golden, models, model_name, img):
    data = np.load(golden / f"raw_forward_{model_name}_{img}.npz")
    model = models[model_name]
    image, points = _load_input(golden, data)

    captured = {}
    hooks = [
        model.maps_transform.register_forward_hook(
            lambda mod, inp, out: captured.update(coord=inp[0], mt=out)),
        model.feature_extractor.register_forward_hook(
            lambda mod, inp, out: captured.update(low=out)),
    ]
    try:
        with torch.no_grad():
            out = model(image, points)
    finally:
        for h in hooks:
            h.remove()
    coord, mt = captured["coord"], captured["mt"]
    low = {"instances": captured["low"][0], "instances_aux": captured["low"][1]}

    with torch.no_grad():
        rgb, prev = model.prepare_input(image)
        assert torch.equal(model.get_coord_features(rgb, prev, points), coord)

    # coord_features are stored as float16: the disks are exact, the prev mask channel equals
    # our float32 value rounded to float16.
    ref_cf = data["coord_features"]
    np.testing.assert_array_equal(coord[0].numpy().astype(np.float16), ref_cf)
    np.testing.assert_array_equal(coord[0, 1:].numpy(), ref_cf[1:].astype(np.float32))

    mean, std, absmax = data["maps_transform_out_stats"]
    assert mt.mean().item() == pytest.approx(mean, abs=1e-6)
    assert mt.std().item() == pytest.approx(std, rel=1e-5)
    assert mt.abs().max().item() == pytest.approx(absmax, rel=1e-6)

    np.testing.assert_allclose(low["instances"][0, 0].numpy(), data["logits_lowres"], rtol=0,
                               atol=1e-3)
    np.testing.assert_allclose(low["instances_aux"][0, 0].numpy(), data["aux_lowres"], rtol=0,
                               atol=1e-3)
    assert out["instances"].shape == (1, 1) + image.shape[2:]
    np.testing.assert_allclose(out["instances"][0, 0].numpy(), data["logits"], rtol=0, atol=1e-3)
    # with_aux_output=True: the aux logits are upsampled to the input size too.
    assert out["instances_aux"].shape == out["instances"].shape
    assert out["instances_aux"].abs().max().item() == pytest.approx(
        float(data["aux_logits_absmax"]), abs=1e-3)


# --- ops ---------------------------------------------------------------------------------------

def _pts(rows, n):
    """(1, 2n, 3) points tensor: ``rows`` are (y, x, positive) triples."""
    pos = [(y, x, i) for i, (y, x, p) in enumerate(rows) if p]
    neg = [(y, x, i) for i, (y, x, p) in enumerate(rows) if not p]
    pad = (-1.0, -1.0, -1.0)
    data = pos + [pad] * (n - len(pos)) + neg + [pad] * (n - len(neg))
    return torch.tensor([data], dtype=torch.float32)


def _exact_disk(h, w, y, x, r):
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - y) ** 2 + (xx - x) ** 2 <= r * r).astype(np.float32)


def test_dist_maps_disks_fractional_centres_and_padding():
    dm = DistMaps(norm_radius=5, use_disks=True)
    img = torch.zeros(1, 3, 30, 40)
    maps = dm(img, _pts([(10.5, 12.25, 1), (20, 30, 0), (3, 35, 1)], 3))[0].numpy()
    pos = np.maximum(_exact_disk(30, 40, 10.5, 12.25, 5), _exact_disk(30, 40, 3, 35, 5))
    np.testing.assert_array_equal(maps[0], pos)
    np.testing.assert_array_equal(maps[1], _exact_disk(30, 40, 20, 30, 5))
    assert maps[1, 20, 35] == 1.0 and maps[1, 20, 36] == 0.0  # boundary d2 == 25 included


def test_dist_maps_invalid_only_if_both_coordinates_negative():
    dm = DistMaps(norm_radius=5, use_disks=True)
    img = torch.zeros(1, 3, 20, 20)
    maps = dm(img, torch.tensor([[[-2.0, 5.0, 0.0], [-1.0, -1.0, -1.0]]]))[0].numpy()
    np.testing.assert_array_equal(maps[0], _exact_disk(20, 20, -2, 5, 5))  # still valid
    assert maps[1].sum() == 0


def test_dist_maps_int_points_and_no_points():
    dm = DistMaps(norm_radius=5, use_disks=True)
    img = torch.zeros(2, 3, 16, 16)
    pts = torch.tensor([[[4, 4, 0], [-1, -1, -1]], [[-1, -1, -1], [8, 9, 1]]], dtype=torch.int64)
    maps = dm(img, pts).numpy()
    np.testing.assert_array_equal(maps[0, 0], _exact_disk(16, 16, 4, 4, 5))
    np.testing.assert_array_equal(maps[1, 1], _exact_disk(16, 16, 8, 9, 5))
    assert maps[0, 1].sum() == 0 and maps[1, 0].sum() == 0
    empty = dm(img, torch.zeros(2, 0, 3))
    assert empty.shape == (2, 2, 16, 16) and empty.sum() == 0
    assert torch.all(DistMaps(norm_radius=5, use_disks=False)(img, torch.zeros(2, 0, 3)) == 1)


def test_dist_maps_tanh_variant():
    dm = DistMaps(norm_radius=10, use_disks=False)
    img = torch.zeros(1, 3, 12, 14)
    maps = dm(img, _pts([(3, 4, 1)], 1))[0].numpy()
    yy, xx = np.mgrid[0:12, 0:14]
    d = np.sqrt(((yy - 3) / 10.0) ** 2 + ((xx - 4) / 10.0) ** 2)
    np.testing.assert_allclose(maps[0], np.tanh(2 * d), atol=1e-6)
    assert maps[0, 3, 4] == 0.0
    assert np.all(maps[1] == 1.0)  # no negative click


def test_dist_maps_cpu_mode_rounds_half_to_even():
    img = torch.zeros(1, 3, 30, 30)
    for y, x, ry, rx in [(10.5, 12.5, 10, 12), (11.5, 3.5, 12, 4), (2.4, 7.6, 2, 8)]:
        maps = DistMaps(norm_radius=5, use_disks=True, cpu_mode=True)(img, _pts([(y, x, 1)], 1))
        np.testing.assert_array_equal(maps[0, 0].numpy(), _exact_disk(30, 30, ry, rx, 5))


def test_scale_layer_uses_absolute_value():
    layer = ScaleLayer(init_value=0.05, lr_mult=1)
    assert layer.scale.shape == (1,)
    with torch.no_grad():
        layer.scale.fill_(-2.0)
    assert torch.equal(layer(torch.tensor([1.0, -3.0])), torch.tensor([2.0, -6.0]))


# --- other constructor variants (random weights; not covered by golden data) -----------------

def _random_eval_model(**kwargs) -> HRNetModel:
    torch.manual_seed(0)
    model = HRNetModel(**kwargs).eval()
    with torch.no_grad():  # non-trivial BN statistics so every layer matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def test_batch_matches_single_images():
    model = _random_eval_model(**H18S_ARGS)
    torch.manual_seed(1)
    images = torch.rand(2, 4, 50, 70)
    pts = torch.tensor([[[10, 20, 0], [-1, -1, -1], [30, 40, 1], [-1, -1, -1]],
                        [[25, 35, 0], [5, 60, 2], [45, 3, 1], [-1, -1, -1]]], dtype=torch.float32)
    with torch.no_grad():
        both = model(images, pts)["instances"]
        one = torch.cat([model(images[i:i + 1], pts[i:i + 1])["instances"] for i in range(2)])
    assert both.shape == (2, 1, 50, 70)
    torch.testing.assert_close(both, one, rtol=0, atol=1e-4)


def test_aux_output_stays_at_stride_4_without_with_aux_output():
    args = dict(H18S_ARGS, with_aux_output=False)
    model = _random_eval_model(**args)
    with torch.no_grad():
        out = model(torch.rand(1, 4, 64, 96), torch.tensor([[[10.0, 20.0, 0.0], [-1, -1, -1]]]))
    assert out["instances"].shape == (1, 1, 64, 96)
    assert out["instances_aux"].shape == (1, 1, 16, 24)


@pytest.mark.parametrize("extra", [dict(use_rgb_conv=True), dict(use_rgb_conv=False, conv_extend=True),
                                   dict(use_rgb_conv=False, with_prev_mask=False),
                                   dict(use_rgb_conv=False, use_disks=False, norm_radius=260,
                                        use_leaky_relu=False, binary_prev_mask=True)])
def test_unreleased_variants_run(extra):
    args = dict(H18S_ARGS)
    args.update(extra)
    model = _random_eval_model(**args)
    channels = 4 if args["with_prev_mask"] else 3
    with torch.no_grad():
        out = model(torch.rand(1, channels, 40, 52), torch.tensor([[[10.0, 20.0, 0.0], [3, 4, 1]]]))
    assert out["instances"].shape == (1, 1, 40, 52)
    assert torch.isfinite(out["instances"]).all()


def test_single_region_shortcut_matches_full_attention(monkeypatch):
    from engine.models.hrnet_ocr import ObjectAttentionBlock2D

    model = _random_eval_model(**H18S_ARGS)
    image = torch.rand(1, 4, 48, 64)
    pts = torch.tensor([[[10.0, 20.0, 0.0], [30, 5, 1]]])
    with torch.no_grad():
        full = model(image, pts)["instances"]
        monkeypatch.setattr(ObjectAttentionBlock2D, "single_region_shortcut", True)
        fast = model(image, pts)["instances"]
    torch.testing.assert_close(fast, full, rtol=0, atol=1e-4)


def test_cpu_mode_writes_a_stray_click_seed_where_the_demo_cython_does() -> None:
    maps = DistMaps(norm_radius=5, cpu_mode=True, use_disks=True)
    # One positive click inside, one negative click far right of a 5 x 10 grid.
    points = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 25.0, 1.0]]])
    features = maps(torch.zeros(1, 3, 5, 10), points)
    negative = features[0, 1]
    assert negative.sum() == 1 and negative[2, 5] == 1  # flat (1*5 + 0)*10 + 25 = 75 -> (2, 5)
    exact = DistMaps(norm_radius=5, cpu_mode=False, use_disks=True)(torch.zeros(1, 3, 5, 10),
                                                                    points)
    assert exact[0, 1].sum() == 0 and torch.equal(exact[0, 0], features[0, 0])


def test_focalclick_hrnet_coarse_network_is_the_same_network(shared_dir) -> None:
    """FocalClick's HRNet-18s S2 is RITM's HRNet+OCR Conv1S network plus a refiner."""
    from engine.checkpoints import read_checkpoint

    [info] = read_checkpoint(shared_dir / "golden/focalclick/hrnet18s_S2_synthetic.pth")
    accepted = constructor_params(HRNetModel)
    model = HRNetModel(**{k: v for k, v in info.params.items() if k in accepted})
    own = set(model.state_dict())
    assert {k.split(".")[0] for k in set(info.state_dict) - own} == {"refiner"}
    model.load_state_dict({k: v for k, v in info.state_dict.items() if k in own}, strict=True)
    golden = np.load(shared_dir / "golden/focalclick/hrnet18s_S2_raw.npz")
    image = torch.from_numpy(golden["a_input_f16exact"].astype(np.float32))
    with torch.no_grad():
        out = model.eval()(image, torch.from_numpy(golden["a_points"]))
    np.testing.assert_allclose(out["instances"].numpy(), golden["a_out_instances"], atol=1e-3)
    np.testing.assert_allclose(out["instances_aux"].numpy(), golden["a_out_instances_aux"],
                               atol=1e-3)
