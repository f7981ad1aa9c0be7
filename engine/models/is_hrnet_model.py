"""RITM ``HRNetModel``: click-conditioned HRNet+OCR (specs/ritm.md §3.1-3.3).

Constructor keyword names equal the official config parameter names, so a checkpoint's
``{k: v['value'] for k, v in config['params'].items()}`` (minus ``backbone_lr_mult`` and
``norm_layer``, which only matter for training / are always BatchNorm2d) can be passed in.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.hrnet_ocr import HighResolutionNet
from engine.models.ops import DistMaps, ScaleLayer


class HRNetModel(nn.Module):
    """Interactive segmentation network of RITM with an HRNet+OCR feature extractor.

    ``forward(image, points)``: ``image`` (B, 3 or 4, H, W) RGB in [0, 1] (+ previous mask as
    channel 3 when ``with_prev_mask``); ``points`` (B, 2N, 3) rows ``(y, x, order)``, positives
    first, ``(-1, -1, -1)`` padding. Returns ``{'instances': logits (B,1,H,W),
    'instances_aux': aux logits}`` (upsampled with ``align_corners=True``; the aux output
    stays at stride 4 unless ``with_aux_output``).
    """

    def __init__(self, width: int = 48, ocr_width: int = 256, small: bool = False,
                 with_aux_output: bool = False, use_leaky_relu: bool = False,
                 use_rgb_conv: bool = True, use_disks: bool = False, norm_radius: float = 260,
                 with_prev_mask: bool = False, binary_prev_mask: bool = False,
                 conv_extend: bool = False, clicks_groups=None,
                 norm_mean_std=((.485, .456, .406), (.229, .224, .225)),
                 cpu_dist_maps: bool = False):
        super().__init__()
        if clicks_groups is not None:
            raise NotImplementedError(
                "HRNetModel: clicks_groups is not supported (no released RITM model uses it)")
        self.with_aux_output = with_aux_output
        self.clicks_groups = clicks_groups
        self.with_prev_mask = with_prev_mask
        self.binary_prev_mask = binary_prev_mask
        self.norm_radius = norm_radius
        self.use_disks = use_disks

        mean, std = norm_mean_std
        self.register_buffer("_norm_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer("_norm_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)

        self.coord_feature_ch = 2 + (1 if with_prev_mask else 0)

        if use_leaky_relu:
            def act():
                return nn.LeakyReLU(negative_slope=0.2)
        else:
            def act():
                return nn.ReLU(inplace=True)

        self.rgb_conv = None
        self.maps_transform = None
        if use_rgb_conv:
            # Old f-BRS style input fusion (not used by the RITM releases; key names unverified).
            c = self.coord_feature_ch
            self.rgb_conv = nn.Sequential(
                nn.Conv2d(3 + c, 6 + c, kernel_size=1),
                nn.BatchNorm2d(6 + c),
                act(),
                nn.Conv2d(6 + c, 3, kernel_size=1),
            )
        elif conv_extend:
            # Not used by the releases; key names unverified.
            self.maps_transform = nn.Conv2d(self.coord_feature_ch, 64, kernel_size=3, stride=2,
                                            padding=1)
            self.maps_transform.apply(_init_xavier)
        else:
            # "Conv1S", the released variant.
            self.maps_transform = nn.Sequential(
                nn.Conv2d(self.coord_feature_ch, 16, kernel_size=1),
                act(),
                nn.Conv2d(16, 64, kernel_size=3, stride=2, padding=1),
                ScaleLayer(init_value=0.05, lr_mult=1),
            )

        self.dist_maps = DistMaps(norm_radius=norm_radius, spatial_scale=1.0,
                                  cpu_mode=cpu_dist_maps, use_disks=use_disks)

        self.feature_extractor = HighResolutionNet(width=width, num_classes=1,
                                                   ocr_width=ocr_width, small=small,
                                                   norm_layer=nn.BatchNorm2d, align_corners=True)

    # -- input ---------------------------------------------------------------------------
    def normalize(self, rgb: torch.Tensor) -> torch.Tensor:
        return (rgb - self._norm_mean) / self._norm_std

    def prepare_input(self, image: torch.Tensor):
        """Split off the previous mask (channel 3) and normalize the RGB channels."""
        prev_mask = None
        if self.with_prev_mask:
            prev_mask = image[:, 3:, :, :]
            image = image[:, :3, :, :]
            if self.binary_prev_mask:
                prev_mask = (prev_mask > 0.5).to(image.dtype)
        return self.normalize(image), prev_mask

    def get_coord_features(self, image: torch.Tensor, prev_mask: Optional[torch.Tensor],
                           points: torch.Tensor) -> torch.Tensor:
        """[prev_mask,] positive map, negative map: (B, 2 or 3, H, W)."""
        coord_features = self.dist_maps(image, points)
        if prev_mask is not None:
            coord_features = torch.cat((prev_mask, coord_features), dim=1)
        return coord_features

    # -- network -------------------------------------------------------------------------
    def backbone_forward(self, image: torch.Tensor,
                         coord_features: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        out, out_aux = self.feature_extractor(image, coord_features)
        return {"instances": out, "instances_aux": out_aux}

    def forward(self, image: torch.Tensor, points: torch.Tensor) -> Dict[str, torch.Tensor]:
        image, prev_mask = self.prepare_input(image)
        coord_features = self.get_coord_features(image, prev_mask, points)

        if self.rgb_conv is not None:
            x = self.rgb_conv(torch.cat((image, coord_features), dim=1))
            outputs = self.backbone_forward(x)
        else:
            coord_features = self.maps_transform(coord_features)
            outputs = self.backbone_forward(image, coord_features)

        size = image.shape[2:]
        outputs["instances"] = F.interpolate(outputs["instances"], size=size, mode="bilinear",
                                             align_corners=True)
        if self.with_aux_output and outputs["instances_aux"] is not None:
            outputs["instances_aux"] = F.interpolate(outputs["instances_aux"], size=size,
                                                     mode="bilinear", align_corners=True)
        return outputs


def _init_xavier(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
