"""RITM ``HRNetModel``: click-conditioned HRNet+OCR (specs/ritm.md §3.1-3.3)."""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from engine.models.hrnet_ocr import HighResolutionNet
from engine.models.is_model import ISModel


class HRNetModel(ISModel):
    """Interactive segmentation network of RITM with an HRNet+OCR feature extractor.

    Returns ``{'instances': logits, 'instances_aux': aux logits}``; the aux output stays at
    stride 4 unless ``with_aux_output``. See :class:`ISModel` for the inputs.
    """

    def __init__(self, width: int = 48, ocr_width: int = 256, small: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.feature_extractor = HighResolutionNet(width=width, num_classes=1,
                                                   ocr_width=ocr_width, small=small,
                                                   norm_layer=nn.BatchNorm2d, align_corners=True)

    def backbone_forward(self, x: torch.Tensor, coord_features: Optional[torch.Tensor] = None
                         ) -> Dict[str, torch.Tensor]:
        out, out_aux = self.feature_extractor(x, coord_features)
        return {"instances": out, "instances_aux": out_aux}

    # f-BRS: A and B both act on the HRNet concat features; C before cls_head.
    def brs_head(self, features: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
                 insertion: str) -> torch.Tensor:
        return self.feature_extractor.brs_head(features * scale + bias, insertion)
