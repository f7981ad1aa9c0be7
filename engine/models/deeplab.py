"""DeepLabV3+ on a dilated ResNet, with the module names of the official f-BRS/RITM code
(specs/fbrs.md §2.4): ASPP (rates 12/24/36) on c4, a 32-channel skip from c1, a decoder of
two separable convs and a 1x1 conv; ``SepConvHead`` turns the decoder output into logits.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.resnet import RESNET_LAYOUTS, ResNetBackbone


class SeparableConv2d(nn.Module):
    """Depthwise 3x3 -> pointwise 1x1 -> BN -> ReLU, as ``body.0`` ... ``body.3``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SepConvHead(nn.Module):
    """Two separable convs (``in -> mid -> mid``) and a 1x1 conv to ``num_outputs``."""

    def __init__(self, num_outputs: int, in_channels: int, mid_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(SeparableConv2d(in_channels, mid_channels),
                                    SeparableConv2d(mid_channels, mid_channels),
                                    nn.Conv2d(mid_channels, num_outputs, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _AsppPooling(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)),
                                 nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                 nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The official bilinear upsampling of a 1x1 map is a broadcast.
        return self.gap(x).expand(-1, -1, *x.shape[2:])


class ASPP(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, rates=(12, 24, 36),
                 dropout: float = 0.5) -> None:
        super().__init__()

        def branch(kernel: int, rate: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel,
                                           padding=rate if kernel == 3 else 0,
                                           dilation=rate, bias=False),
                                 nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

        self.concurent = nn.ModuleList([branch(1, 1), *(branch(3, r) for r in rates),
                                        _AsppPooling(in_channels, out_channels)])
        project = [nn.Conv2d(5 * out_channels, out_channels, 1, bias=False),
                   nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
        if dropout > 0:
            project.append(nn.Dropout(dropout))
        self.project = nn.Sequential(*project)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([block(x) for block in self.concurent], dim=1))


class _SkipProject(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.skip_project = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                          nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_project(x)


class _DeepLabHead(nn.Module):
    def __init__(self, in_channels: int, mid_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(SeparableConv2d(in_channels, mid_channels),
                                   SeparableConv2d(mid_channels, mid_channels),
                                   nn.Conv2d(mid_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DeepLabV3Plus(nn.Module):
    """``forward(x, additional_features)`` -> decoder output (``ch`` channels, stride 4).

    The f-BRS insertion points split it: ``after_c4`` (on c4), ``after_aspp`` (on
    [upsampled ASPP, skip]), ``after_deeplab`` (on the output).
    """

    def __init__(self, backbone: str = "resnet50", ch: int = 256,
                 project_dropout: float = 0.5) -> None:
        super().__init__()
        depth = int(backbone.removeprefix("resnet"))
        self.backbone = ResNetBackbone(depth)
        expansion = 1 if RESNET_LAYOUTS[depth][0] == "basic" else 4
        self.head = _DeepLabHead(ch + 32, ch, ch)
        self.skip_project = _SkipProject(64 * expansion, 32)
        self.aspp = ASPP(512 * expansion, ch, dropout=project_dropout)

    def decoder_input(self, c4: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.aspp(c4), size=skip.shape[2:], mode="bilinear",
                          align_corners=True)
        return torch.cat((x, skip), dim=1)

    def forward(self, x: torch.Tensor,
                additional_features: Optional[torch.Tensor] = None) -> torch.Tensor:
        c1, _, _, c4 = self.backbone(x, additional_features)
        return self.head(self.decoder_input(c4, self.skip_project(c1)))

    # -- f-BRS --------------------------------------------------------------------------
    @staticmethod
    def brs_insertion(brs_mode: str) -> str:
        return {"f-BRS-A": "after_c4", "f-BRS-B": "after_aspp",
                "f-BRS-C": "after_deeplab"}[brs_mode]

    def brs_channels(self, insertion: str) -> int:
        return {"after_c4": self.aspp.concurent[0][0].in_channels,
                "after_aspp": self.head.block[0].body[0].in_channels,
                "after_deeplab": self.head.block[2].out_channels}[insertion]

    def brs_features(self, x: torch.Tensor, additional_features: Optional[torch.Tensor],
                     insertion: str):
        """The cached input of the insertion point (after_c4: c4 and the projected skip)."""
        c1, _, _, c4 = self.backbone(x, additional_features)
        skip = self.skip_project(c1)
        if insertion == "after_c4":
            return c4, skip
        features = self.decoder_input(c4, skip)
        return features if insertion == "after_aspp" else self.head(features)

    def brs_decode(self, features, scale: torch.Tensor, bias: torch.Tensor,
                   insertion: str) -> torch.Tensor:
        """The decoder output with ``features * scale + bias`` at the insertion point."""
        if insertion == "after_c4":
            c4, skip = features
            return self.head(self.decoder_input(c4 * scale + bias, skip))
        features = features * scale + bias
        return self.head(features) if insertion == "after_aspp" else features
