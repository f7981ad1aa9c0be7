"""SegFormer: the Mix Vision Transformer (MiT) backbone and the all-MLP decode head.

Written from specs/focalclick.md §3.1. Module names follow the FocalClick state_dict keys
(``feature_extractor.backbone.*`` / ``feature_extractor.decode_head.*``) so the released
checkpoints load with ``strict=True``. The backbone has FocalClick's side patch embedding:
clicks and the previous mask are embedded like the image and added to stage 1's output
*after* that output was recorded, so the decode head's finest scale never sees them.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# MiT sizes the FocalClick SegFormer wires up: embedding widths, blocks per stage and the
# decode head's embedding width. Heads, spatial-reduction ratios and MLP ratio are shared.
MIT_VARIANTS = {
    "b0": {"embed_dims": (32, 64, 160, 256), "depths": (2, 2, 2, 2), "decoder_dim": 256},
    "b3": {"embed_dims": (64, 128, 320, 512), "depths": (3, 4, 18, 3), "decoder_dim": 512},
    "b5": {"embed_dims": (64, 128, 320, 512), "depths": (3, 6, 40, 3), "decoder_dim": 512},
}
_NUM_HEADS = (1, 2, 5, 8)
_SR_RATIOS = (8, 4, 2, 1)
_MLP_RATIO = 4
# Block and stage-end LayerNorms use 1e-6; patch-embedding and spatial-reduction norms keep
# PyTorch's default 1e-5 (verified against the official outputs).
_BLOCK_NORM_EPS = 1e-6


class OverlapPatchEmbed(nn.Module):
    """Strided convolution with overlapping windows, then LayerNorm on the tokens."""

    def __init__(self, patch_size: int, stride: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=stride,
                              padding=patch_size // 2)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        _, _, height, width = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)), height, width


class Attention(nn.Module):
    """Multi-head self-attention whose keys/values come from a spatially reduced grid."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, n, c = x.shape
        head_dim = c // self.num_heads
        q = self.q(x).reshape(b, n, self.num_heads, head_dim).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            grid = x.permute(0, 2, 1).reshape(b, c, height, width)
            x = self.norm(self.sr(grid).reshape(b, c, -1).permute(0, 2, 1))
        kv = self.kv(x).reshape(b, -1, 2, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class DWConv(nn.Module):
    """Depthwise 3x3 convolution on the token grid (MiT's positional information)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, _, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, height, width))
        return x.flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x), height, width)))


class Block(nn.Module):
    """Pre-norm transformer block: attention and Mix-FFN, each with a residual."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_BLOCK_NORM_EPS)
        self.attn = Attention(dim, num_heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim, eps=_BLOCK_NORM_EPS)
        self.mlp = Mlp(dim, dim * _MLP_RATIO)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), height, width)
        return x + self.mlp(self.norm2(x), height, width)


class MixVisionTransformer(nn.Module):
    """MiT backbone with FocalClick's side embedding; returns the four stage outputs c1..c4
    (B, C_i, H/4..H/32, W/4..W/32)."""

    def __init__(self, embed_dims: Sequence[int], depths: Sequence[int], side_dims: int = 3):
        super().__init__()
        in_dims = (3,) + tuple(embed_dims[:-1])
        for i, (cin, cout) in enumerate(zip(in_dims, embed_dims), start=1):
            patch, stride = (7, 4) if i == 1 else (3, 2)
            setattr(self, f"patch_embed{i}", OverlapPatchEmbed(patch, stride, cin, cout))
        self.patch_embed_side1 = OverlapPatchEmbed(7, 4, side_dims, embed_dims[0])
        for i, (dim, depth) in enumerate(zip(embed_dims, depths), start=1):
            setattr(self, f"block{i}", nn.ModuleList(
                Block(dim, _NUM_HEADS[i - 1], _SR_RATIOS[i - 1]) for _ in range(depth)))
            setattr(self, f"norm{i}", nn.LayerNorm(dim, eps=_BLOCK_NORM_EPS))

    def embed_side(self, side: torch.Tensor) -> torch.Tensor:
        """Side embedding of the coordinate features as a (B, C1, H/4, W/4) map."""
        tokens, height, width = self.patch_embed_side1(side)
        return tokens.reshape(side.shape[0], height, width, -1).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor, side: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
        batch = x.shape[0]
        outs = []
        for i in range(1, 5):
            tokens, height, width = getattr(self, f"patch_embed{i}")(x)
            for block in getattr(self, f"block{i}"):
                tokens = block(tokens, height, width)
            tokens = getattr(self, f"norm{i}")(tokens)
            x = tokens.reshape(batch, height, width, -1).permute(0, 3, 1, 2).contiguous()
            outs.append(x)
            if i == 1 and side is not None:
                x = x + self.embed_side(side)  # after recording c1: see the module docstring
        return outs


class _TokenLinear(nn.Module):
    """Per-pixel linear embedding of a feature map (the head's ``linear_c*.proj``)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        return self.proj(x.flatten(2).transpose(1, 2)).permute(0, 2, 1).reshape(b, -1, h, w)


class _ConvBNReLU(nn.Module):
    """mmcv-style ConvModule as the decode head uses it: bias-free conv, ``bn``, ReLU."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(out_dim)
        self.activate = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class SegFormerHead(nn.Module):
    """All-MLP decoder: embed c1..c4 to ``embed_dim``, resize to c1's grid, fuse, classify.

    ``forward`` returns ``(logits at stride 4, fused feature)``.
    """

    def __init__(self, in_channels: Sequence[int], embed_dim: int, num_classes: int = 1):
        super().__init__()
        for i, cin in enumerate(in_channels, start=1):
            setattr(self, f"linear_c{i}", _TokenLinear(cin, embed_dim))
        self.linear_fuse = _ConvBNReLU(4 * embed_dim, embed_dim)
        self.linear_pred = nn.Conv2d(embed_dim, num_classes, kernel_size=1)

    def forward(self, features: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        size = features[0].shape[2:]
        embedded = []
        for i in (4, 3, 2, 1):  # concatenation order of the official head
            x = getattr(self, f"linear_c{i}")(features[i - 1])
            if i != 1:
                # The only align_corners=False resize of the FocalClick pipeline.
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            embedded.append(x)
        feature = self.linear_fuse(torch.cat(embedded, dim=1))
        return self.linear_pred(feature), feature


class SegFormer(nn.Module):
    """MiT backbone + all-MLP head; ``forward(image, side) -> (logits /4, feature /4)``."""

    def __init__(self, version: str):
        super().__init__()
        if version not in MIT_VARIANTS:
            raise ValueError(f"unknown SegFormer version {version!r}; known: "
                             f"{', '.join(MIT_VARIANTS)}")
        variant = MIT_VARIANTS[version]
        self.embed_dim = variant["decoder_dim"]
        self.backbone = MixVisionTransformer(variant["embed_dims"], variant["depths"])
        self.decode_head = SegFormerHead(variant["embed_dims"], variant["decoder_dim"])

    def forward(self, image: torch.Tensor, side: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.decode_head(self.backbone(image, side))
