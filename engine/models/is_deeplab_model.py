"""RITM ``DeeplabModel``: click-conditioned DeepLabV3+ (specs/ritm.md §3.4). No RITM weights
were released for it; it is here because the official configs can name it."""
from __future__ import annotations

from typing import Dict, Optional

import torch

from engine.models.deeplab import DeepLabV3Plus, SepConvHead
from engine.models.is_model import ISModel


class DeeplabModel(ISModel):
    """DeepLabV3+ feature extractor + ``SepConvHead``; see :class:`ISModel` for the inputs."""

    def __init__(self, backbone: str = "resnet50", deeplab_ch: int = 256,
                 aspp_dropout: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.feature_extractor = DeepLabV3Plus(backbone, deeplab_ch, aspp_dropout)
        self.head = SepConvHead(1, in_channels=deeplab_ch, mid_channels=deeplab_ch // 2)

    def backbone_forward(self, x: torch.Tensor, coord_features: Optional[torch.Tensor] = None
                         ) -> Dict[str, torch.Tensor]:
        return {"instances": self.head(self.feature_extractor(x, coord_features))}

    # f-BRS: A after c4, B after ASPP (the decoder input), C after the decoder.
    def brs_head(self, features, scale: torch.Tensor, bias: torch.Tensor,
                 insertion: str) -> torch.Tensor:
        return self.head(self.feature_extractor.brs_decode(features, scale, bias, insertion))
