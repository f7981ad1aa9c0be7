"""FocalClick networks: a coarse segmentor (SegFormer or HRNet+OCR) plus the refiner.

Written from specs/focalclick.md §3. Both classes take the official config parameter names,
so ``{k: v['value'] for k, v in config['params'].items()}`` of a checkpoint builds them, and
their ``state_dict`` keys equal the official ones (including tensors the official forward
never uses, so that strict loading works).

``forward(image, points)``: ``image`` (B, 4, 256, 256) = RGB in [0, 1] + previous mask;
``points`` (B, 2N, 3) rows ``(y, x, index)``, positives first, ``(-1, -1, -1)`` padding.
Returns ``instances`` (coarse logits at the input size), ``instances_aux``, ``feature`` (the
map the refiner consumes) and ``click_map`` (the click disks).

``refine(image, points, feature, logits, rois)`` refines the region ``rois`` (K, 5) rows
``(batch, x1, y1, x2, y2)`` of the input frame: ``image`` is that region of the full-size
image resized to the input size (RGB in [0, 1], not normalised), ``points`` the clicks in
that frame. Returns ``instances_refined``, ``trimap`` (gate logits) and ``instances_coarse``
(the coarse logits cropped to the region).

``pipeline_version`` 's2' runs the segmentor on the 256 input; 's1' on a half-size copy
(click disks of radius 3 for SegFormer, 2 for HRNet, instead of 5). It must come from the
checkpoint's config: S1 and S2 files have identical tensors.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.is_hrnet_model import HRNetModel
from engine.models.ops import DistMaps, ScaleLayer
from engine.models.roi_align import roi_align
from engine.models.segformer import SegFormer

PIPELINES = ("s1", "s2")
_REFINE_RADIUS = 5  # the refiner's click disks, whatever the pipeline
_NORM_MEAN_STD = ((.485, .456, .406), (.229, .224, .225))


def _upsample(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class _ConvNormReLU(nn.Module):
    """Conv (with bias) -> BatchNorm ``norm`` -> ReLU: the refiner's ConvModule."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, kernel_size, stride, padding)
        self.norm = nn.BatchNorm2d(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class _XConvNormReLU(nn.Module):
    """Depthwise 3x3 -> pointwise 1x1 -> BatchNorm -> ReLU (an "Xception" block)."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv3x3 = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.conv1x1 = nn.Conv2d(dim, dim, 1, 1, 0)
        self.norm = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv1x1(self.conv3x3(x))))


class RefineLayer(nn.Module):
    """The refiner: a light image branch at half the crop size, fused with the segmentor
    feature; predicts refined logits and a gate ("trimap") that blends them with the coarse
    logits: ``refined * sigmoid(gate) + coarse * (1 - sigmoid(gate))``.

    ``with_feature_gate`` only adds the SegFormer checkpoints' unused ``feature_gate``
    tensors (the official forward never calls it).
    """

    def __init__(self, feature_dims: int, mid_dims: int = 32, input_dims: int = 6,
                 with_feature_gate: bool = False):
        super().__init__()
        self.image_conv1 = _ConvNormReLU(input_dims, mid_dims, 3, 2, 1)
        self.image_conv2 = _XConvNormReLU(mid_dims)
        self.image_conv3 = _XConvNormReLU(mid_dims)
        self.refine_fusion = _ConvNormReLU(feature_dims, mid_dims, 1, 1, 0)
        self.refine_fusion2 = _XConvNormReLU(mid_dims)
        self.refine_fusion3 = _XConvNormReLU(mid_dims)
        if with_feature_gate:
            self.feature_gate = nn.Sequential(nn.Conv2d(mid_dims, 1, 1), nn.Sigmoid())
        self.refine_pred = nn.Conv2d(mid_dims, 1, 3, 1, 1)
        self.refine_trimap = nn.Conv2d(mid_dims, 1, 3, 1, 1)

    def forward(self, image: torch.Tensor, click_map: torch.Tensor, feature: torch.Tensor,
                coarse_logits: torch.Tensor):
        x = torch.cat([image, click_map, torch.sigmoid(coarse_logits)], dim=1)
        image_feature = self.image_conv3(self.image_conv2(self.image_conv1(x)))
        fused = _upsample(self.refine_fusion(feature), image_feature.shape[2:]) + image_feature
        fused = self.refine_fusion3(self.refine_fusion2(fused))
        size = x.shape[2:]
        trimap = _upsample(self.refine_trimap(fused), size)
        refined = _upsample(self.refine_pred(fused), size)
        gate = torch.sigmoid(trimap)
        return refined * gate + coarse_logits * (1 - gate), trimap


class _FocalClickMixin:
    """What the two FocalClick networks share: click encoding, S1 resizing, refine()."""

    pipeline_version: str
    refiner: RefineLayer
    dist_maps_refine: DistMaps

    @staticmethod
    def _check_pipeline(pipeline_version: str) -> None:
        if pipeline_version not in PIPELINES:
            raise ValueError(f"unknown FocalClick pipeline_version {pipeline_version!r} "
                             f"(expected 's1' or 's2')")

    def _segmentor_input(self, image: torch.Tensor, coord_features: torch.Tensor):
        if self.pipeline_version == "s1":
            return (F.interpolate(image, scale_factor=0.5, mode="bilinear", align_corners=True),
                    F.interpolate(coord_features, scale_factor=0.5, mode="bilinear",
                                  align_corners=True))
        return image, coord_features

    def refine(self, cropped_image: torch.Tensor, cropped_points: torch.Tensor,
               full_feature: torch.Tensor, full_logits: torch.Tensor,
               rois: torch.Tensor) -> Dict[str, torch.Tensor]:
        ratio = cropped_image.shape[-1] / full_feature.shape[-1]
        feature = roi_align(full_feature, rois, tuple(full_feature.shape[2:]),
                            spatial_scale=1 / ratio, aligned=True)
        logits = roi_align(full_logits, rois, tuple(cropped_image.shape[2:]), spatial_scale=1,
                           aligned=True)
        click_map = self.dist_maps_refine(cropped_image, cropped_points)
        refined, trimap = self.refiner(cropped_image, click_map, feature, logits)
        return {"instances_refined": refined, "trimap": trimap, "instances_coarse": logits}


class SegFormerModel(_FocalClickMixin, nn.Module):
    """FocalClick with a SegFormer (MiT) segmentor; ``model_version`` 'b0', 'b3' or 'b5'."""

    def __init__(self, *, pipeline_version: str, model_version: str,
                 with_prev_mask: bool = True, binary_prev_mask: bool = False,
                 with_aux_output: bool = False, use_rgb_conv: bool = False,
                 clicks_groups=None, norm_mean_std=_NORM_MEAN_STD):
        super().__init__()
        self._check_pipeline(pipeline_version)
        if use_rgb_conv or clicks_groups is not None:
            raise NotImplementedError("FocalClick SegFormer: use_rgb_conv / clicks_groups are "
                                      "not supported (no released model uses them)")
        self.pipeline_version = pipeline_version
        self.model_version = model_version
        self.with_prev_mask = with_prev_mask
        self.binary_prev_mask = binary_prev_mask
        self.with_aux_output = with_aux_output
        mean, std = norm_mean_std
        self.register_buffer("_norm_mean", torch.tensor(mean).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer("_norm_std", torch.tensor(std).view(1, -1, 1, 1),
                             persistent=False)

        self.feature_extractor = SegFormer(model_version)
        # Stored in every checkpoint although the official forward never uses it.
        self.maps_transform = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),
            ScaleLayer(init_value=0.05, lr_mult=1),
        )
        self.refiner = RefineLayer(feature_dims=self.feature_extractor.embed_dim,
                                   with_feature_gate=True)
        self.dist_maps = DistMaps(norm_radius=3 if pipeline_version == "s1" else 5,
                                  use_disks=True)
        self.dist_maps_refine = DistMaps(norm_radius=_REFINE_RADIUS, use_disks=True)

    def forward(self, image: torch.Tensor, points: torch.Tensor) -> Dict[str, torch.Tensor]:
        rgb = (image[:, :3] - self._norm_mean) / self._norm_std
        coord_features = self.dist_maps(rgb, points)
        click_map = coord_features
        if self.with_prev_mask:
            prev_mask = image[:, 3:]
            if self.binary_prev_mask:
                prev_mask = (prev_mask > 0.5).to(image.dtype)
            coord_features = torch.cat((prev_mask, coord_features), dim=1)
        small_image, small_coords = self._segmentor_input(rgb, coord_features)
        logits, feature = self.feature_extractor(small_image, small_coords)
        instances = _upsample(logits, image.shape[2:])
        return {"instances": instances, "instances_aux": instances, "feature": feature,
                "click_map": click_map}


class FocalHRNetModel(_FocalClickMixin, HRNetModel):
    """FocalClick with RITM's HRNet+OCR segmentor (clicks enter through ``maps_transform``
    after the stem's first convolution, as in RITM). ``norm_radius``, ``use_disks`` and
    ``cpu_dist_maps`` are accepted because the configs store them, but as officially they
    do not shape the click disks: the pipeline version does."""

    def __init__(self, *, pipeline_version: str, width: int = 48, ocr_width: int = 256,
                 small: bool = True, with_aux_output: bool = False,
                 use_leaky_relu: bool = False, use_rgb_conv: bool = False,
                 use_disks: bool = True, norm_radius: float = 5, cpu_dist_maps: bool = False,
                 with_prev_mask: bool = True, binary_prev_mask: bool = False,
                 conv_extend: bool = False, clicks_groups=None, norm_mean_std=_NORM_MEAN_STD):
        self._check_pipeline(pipeline_version)
        if use_rgb_conv or conv_extend or ocr_width <= 0:
            raise NotImplementedError("FocalClick HRNet: only the released variant (OCR head, "
                                      "Conv1S click fusion) is supported")
        super().__init__(width=width, ocr_width=ocr_width, small=small,
                         with_aux_output=with_aux_output, use_leaky_relu=use_leaky_relu,
                         use_rgb_conv=False, use_disks=use_disks, norm_radius=norm_radius,
                         with_prev_mask=with_prev_mask, binary_prev_mask=binary_prev_mask,
                         clicks_groups=clicks_groups, norm_mean_std=norm_mean_std)
        self.pipeline_version = pipeline_version
        self.dist_maps = DistMaps(norm_radius=2 if pipeline_version == "s1" else 5,
                                  use_disks=True)
        self.dist_maps_refine = DistMaps(norm_radius=_REFINE_RADIUS, use_disks=True)
        self.refiner = RefineLayer(feature_dims=2 * ocr_width)

    def forward(self, image: torch.Tensor, points: torch.Tensor) -> Dict[str, torch.Tensor]:
        rgb, prev_mask = self.prepare_input(image)
        coord_features = self.get_coord_features(rgb, prev_mask, points)
        click_map = coord_features[:, -2:]
        small_image, small_coords = self._segmentor_input(rgb, coord_features)
        net = self.feature_extractor
        feats = net.compute_hrnet_feats(small_image, self.maps_transform(small_coords))
        # HighResolutionNet's OCR head, keeping the object-context feature it classifies:
        # that feature is what the refiner consumes.
        aux = net.aux_head(feats)
        feature = net.ocr_context(feats, aux)
        size = image.shape[2:]
        return {"instances": _upsample(net.cls_head(feature), size),
                "instances_aux": _upsample(aux, size) if self.with_aux_output else aux,
                "feature": feature, "click_map": click_map}
