"""RITM's ``ISModel`` base: input normalisation, click maps, previous mask and the
injection of those coordinate features into a backbone (specs/ritm.md §3.1-3.2).

Constructor keyword names equal the official config parameter names, so a checkpoint's
``{k: v['value'] for k, v in config['params'].items()}`` can be passed in (the training-only
ones are dropped by ``engine.checkpoints``).
"""
from __future__ import annotations

import inspect
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.ops import DistMaps, ScaleLayer


class ISModel(nn.Module):
    """Click-conditioned segmentation network; subclasses add ``feature_extractor``.

    ``forward(image, points)``: ``image`` (B, 3 or 4, H, W) RGB in [0, 1] (+ previous mask as
    channel 3 when ``with_prev_mask``); ``points`` (B, 2N, 3) rows ``(y, x, order)``, positives
    first, ``(-1, -1, -1)`` padding. Returns ``{'instances': logits (B,1,H,W), ...}``
    upsampled with ``align_corners=True``.

    The input-BRS modes add ``rgb_bias`` to the normalised RGB or ``dmaps_bias`` to the
    [positive, negative] click maps (never to the previous mask).
    """

    def __init__(self, use_rgb_conv: bool = True, with_aux_output: bool = False,
                 norm_radius: float = 260, use_disks: bool = False, cpu_dist_maps: bool = False,
                 clicks_groups=None, with_prev_mask: bool = False, use_leaky_relu: bool = False,
                 binary_prev_mask: bool = False, conv_extend: bool = False,
                 norm_mean_std=((.485, .456, .406), (.229, .224, .225))):
        super().__init__()
        if clicks_groups is not None:
            raise NotImplementedError(
                "clicks_groups is not supported (no released RITM model uses it)")
        self.with_aux_output = with_aux_output
        self.with_prev_mask = with_prev_mask
        self.binary_prev_mask = binary_prev_mask
        self.coord_feature_ch = 2 + (1 if with_prev_mask else 0)

        mean, std = norm_mean_std
        self.register_buffer("_norm_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer("_norm_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)

        def act() -> nn.Module:
            return nn.LeakyReLU(negative_slope=0.2) if use_leaky_relu else nn.ReLU(inplace=True)

        self.rgb_conv = None
        self.maps_transform = None
        c = self.coord_feature_ch
        if use_rgb_conv:
            # Old f-BRS style input fusion (not used by the RITM releases).
            self.rgb_conv = nn.Sequential(nn.Conv2d(3 + c, 6 + c, kernel_size=1),
                                          nn.BatchNorm2d(6 + c), act(),
                                          nn.Conv2d(6 + c, 3, kernel_size=1))
        elif conv_extend:
            # Not used by the releases.
            self.maps_transform = nn.Conv2d(c, 64, kernel_size=3, stride=2, padding=1)
        else:
            # "Conv1S", the released variant.
            self.maps_transform = nn.Sequential(
                nn.Conv2d(c, 16, kernel_size=1), act(),
                nn.Conv2d(16, 64, kernel_size=3, stride=2, padding=1),
                ScaleLayer(init_value=0.05, lr_mult=1))
        self.dist_maps = DistMaps(norm_radius=norm_radius, spatial_scale=1.0,
                                  cpu_mode=cpu_dist_maps, use_disks=use_disks)

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
                           points: torch.Tensor,
                           dmaps_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[prev_mask,] positive map, negative map: (B, 2 or 3, H, W)."""
        coord_features = self.dist_maps(image, points)
        if dmaps_bias is not None:
            coord_features = coord_features + dmaps_bias
        if prev_mask is not None:
            coord_features = torch.cat((prev_mask, coord_features), dim=1)
        return coord_features

    def encode_input(self, image: torch.Tensor, points: torch.Tensor,
                     rgb_bias: Optional[torch.Tensor] = None,
                     dmaps_bias: Optional[torch.Tensor] = None):
        """The backbone's input and the coordinate features added inside it (or None)."""
        image, prev_mask = self.prepare_input(image)
        if rgb_bias is not None:
            image = image + rgb_bias
        coord_features = self.get_coord_features(image, prev_mask, points, dmaps_bias)
        if self.rgb_conv is not None:
            return self.rgb_conv(torch.cat((image, coord_features), dim=1)), None
        return image, self.maps_transform(coord_features)

    # -- network -------------------------------------------------------------------------
    def backbone_forward(self, x: torch.Tensor, coord_features: Optional[torch.Tensor]
                         ) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, image: torch.Tensor, points: torch.Tensor,
                rgb_bias: Optional[torch.Tensor] = None,
                dmaps_bias: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        x, coord_features = self.encode_input(image, points, rgb_bias, dmaps_bias)
        outputs = self.backbone_forward(x, coord_features)
        size = image.shape[2:]
        outputs["instances"] = F.interpolate(outputs["instances"], size=size, mode="bilinear",
                                             align_corners=True)
        if self.with_aux_output and outputs.get("instances_aux") is not None:
            outputs["instances_aux"] = F.interpolate(outputs["instances_aux"], size=size,
                                                     mode="bilinear", align_corners=True)
        return outputs

    # -- f-BRS hooks (engine/inference/brs.py); the feature extractor knows its insertion
    # points, subclasses add ``brs_head`` ------------------------------------------------
    def brs_insertion(self, brs_mode: str) -> str:
        """Where ``brs_mode``'s scale and bias act in this architecture."""
        return self.feature_extractor.brs_insertion(brs_mode)

    def brs_channels(self, insertion: str) -> int:
        return self.feature_extractor.brs_channels(insertion)

    def brs_features(self, image: torch.Tensor, points: torch.Tensor, insertion: str):
        """Everything computed before the f-BRS insertion point (cached between evaluations)."""
        return self.feature_extractor.brs_features(*self.encode_input(image, points), insertion)


def constructor_params(model_class: type) -> set[str]:
    """Keyword parameters ``model_class(...)`` accepts, its base classes' included (the
    subclasses pass ``**kwargs`` up to :class:`ISModel`)."""
    names: set[str] = set()
    for cls in model_class.__mro__:
        if cls is nn.Module or "__init__" not in vars(cls):
            continue
        names |= {name for name, p in inspect.signature(cls.__init__).parameters.items()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "self"}
    return names
