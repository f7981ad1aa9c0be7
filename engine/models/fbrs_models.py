"""The original f-BRS models (specs/fbrs.md §2): tanh distance maps (radius 260) fused with
the normalised RGB by the "DMF" block, whose 3-channel output replaces the backbone input.

They are the RITM architectures with another input block, so the RITM predictors run them
unchanged. The official f-BRS code normalises the image before Zoom-In and flip while ours
normalises inside the model, after them: both are affine per channel and commute with the
bilinear resize, so the results agree to float rounding.
"""
from __future__ import annotations

from torch import nn

from engine.models.is_deeplab_model import DeeplabModel
from engine.models.is_hrnet_model import HRNetModel


def dmf_block() -> nn.Sequential:
    """Conv1x1(5->8) -> LeakyReLU(0.2) -> BN -> Conv1x1(8->3): the activation comes before
    the BN here, unlike in RITM's ``rgb_conv``."""
    return nn.Sequential(nn.Conv2d(5, 8, kernel_size=1), nn.LeakyReLU(negative_slope=0.2),
                         nn.BatchNorm2d(8), nn.Conv2d(8, 3, kernel_size=1))


class FBRSDeeplabModel(DeeplabModel):
    """f-BRS DeepLabV3+ ResNet-34/50/101 ("dh128" / "dh256" = ``deeplab_ch``)."""

    def __init__(self, backbone: str = "resnet34", deeplab_ch: int = 128,
                 aspp_dropout: float = 0.2, norm_radius: float = 260,
                 cpu_dist_maps: bool = False) -> None:
        super().__init__(backbone=backbone, deeplab_ch=deeplab_ch, aspp_dropout=aspp_dropout,
                         use_rgb_conv=True, norm_radius=norm_radius,
                         cpu_dist_maps=cpu_dist_maps)
        self.rgb_conv = dmf_block()


class FBRSHRNetModel(HRNetModel):
    """f-BRS HRNetV2 + OCR (W18/OCR64, W32/OCR128)."""

    def __init__(self, width: int = 18, ocr_width: int = 64, small: bool = False,
                 norm_radius: float = 260, cpu_dist_maps: bool = False) -> None:
        super().__init__(width=width, ocr_width=ocr_width, small=small, use_rgb_conv=True,
                         norm_radius=norm_radius, cpu_dist_maps=cpu_dist_maps)
        self.rgb_conv = dmf_block()
