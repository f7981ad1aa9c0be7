"""HRNetV2 backbone with an OCR (object-contextual representations) head.

Written from specs/ritm.md §3.3. Module/parameter names follow the official RITM state_dict
keys (``specs/keys/ritm_hrnet18s_keys.txt``) so official checkpoints load with ``strict=True``.

Variants (``width``, ``small``): 18s = (18, True), 18/32/48 = (w, False).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.ops import bn_relu


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _upsample(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


def _make_layer(block, inplanes: int, planes: int, blocks: int, stride: int = 1,
                norm_layer=nn.BatchNorm2d) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
            norm_layer(planes * block.expansion),
        )
    layers = [block(inplanes, planes, stride, downsample=downsample, norm_layer=norm_layer)]
    inplanes = planes * block.expansion
    for _ in range(1, blocks):
        layers.append(block(inplanes, planes, norm_layer=norm_layer))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by all-to-all fusion (outputs all branches)."""

    def __init__(self, num_branches: int, block, num_blocks: Sequence[int],
                 num_inchannels: List[int], num_channels: Sequence[int],
                 norm_layer=nn.BatchNorm2d, align_corners: bool = True):
        super().__init__()
        self.num_branches = num_branches
        self.align_corners = align_corners
        self.num_inchannels = list(num_inchannels)
        self.branches = nn.ModuleList([
            _make_layer(block, self.num_inchannels[i], num_channels[i], num_blocks[i],
                        norm_layer=norm_layer)
            for i in range(num_branches)
        ])
        self.num_inchannels = [c * block.expansion for c in num_channels]
        self.fuse_layers = self._make_fuse_layers(norm_layer) if num_branches > 1 else None
        self.relu = nn.ReLU(inplace=False)

    def _make_fuse_layers(self, norm_layer) -> nn.ModuleList:
        ch = self.num_inchannels
        fuse = []
        for i in range(self.num_branches):
            row = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(nn.Sequential(
                        nn.Conv2d(ch[j], ch[i], kernel_size=1, bias=False),
                        norm_layer(ch[i]),
                    ))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            steps.append(nn.Sequential(_conv3x3(ch[j], ch[i], 2), norm_layer(ch[i])))
                        else:
                            steps.append(nn.Sequential(_conv3x3(ch[j], ch[j], 2), norm_layer(ch[j]),
                                                       nn.ReLU(inplace=True)))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        return nn.ModuleList(fuse)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.num_branches == 1:
            return x
        out = []
        for i in range(self.num_branches):
            size = x[i].shape[-2:]
            y = x[0] if i == 0 else self.fuse_layers[i][0](x[0])
            for j in range(1, self.num_branches):
                if j == i:
                    y = y + x[j]
                elif j > i:
                    y = y + F.interpolate(self.fuse_layers[i][j](x[j]), size=size, mode="bilinear",
                                          align_corners=self.align_corners)
                else:
                    y = y + self.fuse_layers[i][j](x[j])
            out.append(self.relu(y))
        return out


class SpatialGatherModule(nn.Module):
    """Soft object regions -> one context vector per region: (B, C, K, 1)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, feats: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        b, k = probs.shape[:2]
        c = feats.shape[1]
        probs = F.softmax(self.scale * probs.reshape(b, k, -1), dim=2)  # (B, K, HW)
        feats = feats.reshape(b, c, -1).permute(0, 2, 1)  # (B, HW, C)
        context = torch.matmul(probs, feats)  # (B, K, C)
        return context.permute(0, 2, 1).unsqueeze(3)


class ObjectAttentionBlock2D(nn.Module):
    """Pixel-to-object-region attention (scale 1). Children named as the official keys.

    With a single object region (K=1, the click models' case) the softmax over regions is
    identically 1, so ``f_pixel``/``f_object`` cannot influence the output. Setting
    ``single_region_shortcut = True`` skips them; the result then differs from the official
    computation by float rounding only (~5e-6 in logits, measured), so the default keeps the
    full computation, which reproduces the official logits bit for bit on CPU.
    """

    single_region_shortcut = False

    def __init__(self, in_channels: int, key_channels: int, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.in_channels = in_channels
        self.key_channels = key_channels
        self.f_pixel = nn.Sequential(
            nn.Conv2d(in_channels, key_channels, 1, bias=False), bn_relu(key_channels, norm_layer),
            nn.Conv2d(key_channels, key_channels, 1, bias=False), bn_relu(key_channels, norm_layer),
        )
        self.f_object = nn.Sequential(
            nn.Conv2d(in_channels, key_channels, 1, bias=False), bn_relu(key_channels, norm_layer),
            nn.Conv2d(key_channels, key_channels, 1, bias=False), bn_relu(key_channels, norm_layer),
        )
        self.f_down = nn.Sequential(
            nn.Conv2d(in_channels, key_channels, 1, bias=False), bn_relu(key_channels, norm_layer),
        )
        self.f_up = nn.Sequential(
            nn.Conv2d(key_channels, in_channels, 1, bias=False), bn_relu(in_channels, norm_layer),
        )

    def forward(self, x: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        k = proxy.shape[2] * proxy.shape[3]
        value = self.f_down(proxy).reshape(b, self.key_channels, k)  # (B, Ck, K)
        if k == 1 and self.single_region_shortcut:
            # Every pixel receives the single region's value vector.
            context = value.reshape(b, self.key_channels, 1, 1)
            context = self.f_up(context)
            return context.expand(b, self.in_channels, h, w)
        query = self.f_pixel(x).reshape(b, self.key_channels, -1).permute(0, 2, 1)  # (B, HW, Ck)
        key = self.f_object(proxy).reshape(b, self.key_channels, -1)  # (B, Ck, K)
        sim = torch.matmul(query, key) * (self.key_channels ** -0.5)
        sim = F.softmax(sim, dim=-1)  # (B, HW, K)
        context = torch.matmul(sim, value.permute(0, 2, 1))  # (B, HW, Ck)
        context = context.permute(0, 2, 1).reshape(b, self.key_channels, h, w)
        return self.f_up(context)


class SpatialOCRModule(nn.Module):
    """Augment pixel features with their object context: conv(cat[context, feats])."""

    def __init__(self, in_channels: int, key_channels: int, out_channels: int,
                 dropout: float = 0.1, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.object_context_block = ObjectAttentionBlock2D(in_channels, key_channels, norm_layer)
        self.conv_bn_dropout = nn.Sequential(
            nn.Conv2d(2 * in_channels, out_channels, kernel_size=1, bias=False),
            bn_relu(out_channels, norm_layer),
            nn.Dropout2d(dropout),
        )

    def forward(self, feats: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
        context = self.object_context_block(feats, proxy)
        return self.conv_bn_dropout(torch.cat([context, feats], dim=1))


class HighResolutionNet(nn.Module):
    """HRNetV2 (4 branches, stride 4 output) + OCR head; ``forward`` returns ``[out, out_aux]``."""

    def __init__(self, width: int, num_classes: int, ocr_width: int = 256, small: bool = False,
                 norm_layer=nn.BatchNorm2d, align_corners: bool = True):
        super().__init__()
        self.norm_layer = norm_layer
        self.width = width
        self.ocr_on = ocr_width > 0
        self.align_corners = align_corners

        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = norm_layer(64)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)

        num_blocks = 2 if small else 4
        stage_modules = (1, 3, 2) if small else (1, 4, 3)

        self.layer1 = _make_layer(Bottleneck, 64, 64, num_blocks, norm_layer=norm_layer)
        stage1_out = 64 * Bottleneck.expansion

        channels = [width, 2 * width]
        self.transition1 = self._make_transition_layer([stage1_out], channels)
        self.stage2, pre = self._make_stage(stage_modules[0], 2, num_blocks, channels)

        channels = [width, 2 * width, 4 * width]
        self.transition2 = self._make_transition_layer(pre, channels)
        self.stage3, pre = self._make_stage(stage_modules[1], 3, num_blocks, channels)

        channels = [width, 2 * width, 4 * width, 8 * width]
        self.transition3 = self._make_transition_layer(pre, channels)
        self.stage4, pre = self._make_stage(stage_modules[2], 4, num_blocks, channels)

        last_inp_channels = sum(pre)  # 15 * width
        if self.ocr_on:
            ocr_mid = 2 * ocr_width
            ocr_key = ocr_width
            self.conv3x3_ocr = nn.Sequential(
                nn.Conv2d(last_inp_channels, ocr_mid, kernel_size=3, stride=1, padding=1),
                norm_layer(ocr_mid),
                nn.ReLU(inplace=True),
            )
            self.ocr_gather_head = SpatialGatherModule(num_classes)
            self.ocr_distri_head = SpatialOCRModule(ocr_mid, ocr_key, ocr_mid, dropout=0.05,
                                                    norm_layer=norm_layer)
            self.cls_head = nn.Conv2d(ocr_mid, num_classes, kernel_size=1, padding=0, bias=True)
            self.aux_head = nn.Sequential(
                nn.Conv2d(last_inp_channels, last_inp_channels, kernel_size=1),
                norm_layer(last_inp_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(last_inp_channels, num_classes, kernel_size=1, padding=0, bias=True),
            )
        else:
            # Not used by any release; names unverified against a checkpoint.
            self.cls_head = nn.Sequential(
                nn.Conv2d(last_inp_channels, last_inp_channels, kernel_size=3, padding=1),
                norm_layer(last_inp_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(last_inp_channels, num_classes, kernel_size=1, padding=0, bias=True),
            )

    def _make_transition_layer(self, pre: List[int], cur: List[int]) -> nn.ModuleList:
        layers = []
        for i, c in enumerate(cur):
            if i < len(pre):
                if c != pre[i]:
                    layers.append(nn.Sequential(_conv3x3(pre[i], c), self.norm_layer(c),
                                                nn.ReLU(inplace=True)))
                else:
                    layers.append(None)
            else:
                steps = []
                for k in range(i + 1 - len(pre)):
                    cin = pre[-1]
                    cout = c if k == i - len(pre) else cin
                    steps.append(nn.Sequential(_conv3x3(cin, cout, 2), self.norm_layer(cout),
                                               nn.ReLU(inplace=True)))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def _make_stage(self, num_modules: int, num_branches: int, num_blocks: int,
                    channels: List[int]):
        modules = []
        inch = list(channels)
        for _ in range(num_modules):
            m = HighResolutionModule(num_branches, BasicBlock, [num_blocks] * num_branches, inch,
                                     channels, norm_layer=self.norm_layer,
                                     align_corners=self.align_corners)
            inch = m.num_inchannels
            modules.append(m)
        return nn.Sequential(*modules), inch

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        out = []
        for i, t in enumerate(transition):
            src = xs[i] if i < len(xs) else xs[-1]
            out.append(src if t is None else t(src))
        return out

    def compute_hrnet_feats(self, x: torch.Tensor,
                            additional_features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Stem (+ coord features after the first conv/BN/ReLU) ... concat of the 4 branches."""
        x = self.relu(self.bn1(self.conv1(x)))
        if additional_features is not None:
            x = x + additional_features
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)

        xs = self._apply_transition(self.transition1, [x])
        xs = self.stage2(xs)
        xs = self._apply_transition(self.transition2, xs)
        xs = self.stage3(xs)
        xs = self._apply_transition(self.transition3, xs)
        xs = self.stage4(xs)

        size = xs[0].shape[-2:]
        ups = [xs[0]] + [F.interpolate(t, size=size, mode="bilinear",
                                       align_corners=self.align_corners) for t in xs[1:]]
        return torch.cat(ups, dim=1)

    def forward_head(self, feats: torch.Tensor):
        """OCR head on the concatenated HRNet features -> ``[out, out_aux]`` (stride 4)."""
        if not self.ocr_on:
            return [self.cls_head(feats), None]
        out_aux = self.aux_head(feats)
        return [self.cls_head(self.ocr_context(feats, out_aux)), out_aux]

    def ocr_context(self, feats: torch.Tensor, out_aux: torch.Tensor) -> torch.Tensor:
        """The object-context feature ``cls_head`` classifies (f-BRS-C and FocalClick's
        refiner work on it)."""
        feats = self.conv3x3_ocr(feats)
        return self.ocr_distri_head(feats, self.ocr_gather_head(feats, out_aux))

    # -- f-BRS: "A" = on the concat features (f-BRS-A and -B alike), "C" = before cls_head --
    @staticmethod
    def brs_insertion(brs_mode: str) -> str:
        return {"f-BRS-A": "A", "f-BRS-B": "A", "f-BRS-C": "C"}[brs_mode]

    def brs_channels(self, insertion: str) -> int:
        return 15 * self.width if insertion == "A" else self.cls_head.in_channels

    def brs_features(self, x: torch.Tensor, additional_features: Optional[torch.Tensor],
                     insertion: str) -> torch.Tensor:
        feats = self.compute_hrnet_feats(x, additional_features)
        return feats if insertion == "A" else self.ocr_context(feats, self.aux_head(feats))

    def brs_head(self, features: torch.Tensor, insertion: str) -> torch.Tensor:
        return self.forward_head(features)[0] if insertion == "A" else self.cls_head(features)

    def forward(self, x: torch.Tensor, additional_features: Optional[torch.Tensor] = None):
        return self.forward_head(self.compute_hrnet_feats(x, additional_features))
