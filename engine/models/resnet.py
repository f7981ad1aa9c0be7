"""Dilated ResNet backbones in the gluoncv "v1b" layout the f-BRS and RITM DeepLab models use
(specs/fbrs.md §2.4, specs/ritm.md §3.4): ResNet-34 v1b (7x7 stem), ResNet-50/101 v1s (deep
3x3 stem with 128 channels), output stride 8 (layer3 dilation 2, layer4 dilation 4).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

# depth -> (block type, blocks per layer, deep stem)
RESNET_LAYOUTS = {34: ("basic", (3, 4, 6, 3), False),
                  50: ("bottleneck", (3, 4, 6, 3), True),
                  101: ("bottleneck", (3, 4, 23, 3), True)}


class BasicBlockV1b(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: Optional[nn.Module] = None, previous_dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, padding=previous_dilation,
                               dilation=previous_dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class BottleneckV1b(nn.Module):
    """The stride sits on the 3x3 conv (the "v1b" variant)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: Optional[nn.Module] = None, previous_dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class ResNetBackbone(nn.Module):
    """``forward(x, additional_features)`` -> (c1, c2, c3, c4); the coordinate features are
    added after the stem's first conv/BN/ReLU, zero-padded along channels."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"ResNet-{depth} is not supported (34, 50 or 101)")
        kind, layers, deep_stem = RESNET_LAYOUTS[depth]
        block = BasicBlockV1b if kind == "basic" else BottleneckV1b
        if deep_stem:
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                nn.Conv2d(64, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                nn.Conv2d(64, 128, 3, 1, 1, bias=False))
            self.inplanes = 128
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.inplanes = 64
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], dilation=2)
        self.layer4 = self._make_layer(block, 512, layers[3], dilation=4)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1,
                    dilation: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        # The first block of a dilated layer uses half the dilation on its first 3x3 conv.
        first = 1 if dilation in (1, 2) else dilation // 2
        layers = [block(self.inplanes, planes, stride, dilation=first, downsample=downsample,
                        previous_dilation=dilation)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, dilation=dilation, previous_dilation=dilation)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, additional_features: Optional[torch.Tensor] = None):
        x = self.relu(self.bn1(self.conv1(x)))
        if additional_features is not None:
            pad = x.shape[1] - additional_features.shape[1]
            x = x + F.pad(additional_features, [0, 0, 0, 0, 0, pad])
        c1 = self.layer1(self.maxpool(x))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return c1, c2, c3, c4
