"""The RITM predictor, NoBRS path: the official BasePredictor, click by click.

Input transforms run in the official order: Zoom-In, LimitLongestSide, horizontal flip
(test-time augmentation, averaged on logits), then the inverse in reverse order with the
sigmoid between. The per-image state (previous prediction, zoom box) is snapshotted with
``get_state`` so that the session's undo restores it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import torch

from engine.clicks import Click
from engine.inference.encoding import (flipped_clicks, image_tensor, mask_tensor, points_tensor,
                                       takes_prev_mask)
from engine.inference.zoom import LimitLongestSide, ZoomIn, ZoomState


@dataclass(frozen=True)
class RITMState:
    prev_prediction: torch.Tensor
    zoom: ZoomState | None
    limit: ZoomState | None


class RITMPredictor:
    """Turns clicks into probabilities with an RITM network (see the module docstring).

    Args:
        model: an RITM ``ISModel`` (``forward(image, points) -> {'instances': logits}``), or
            the models of an ensemble checkpoint: click n (1-based) runs model
            min(n, len(models)) - 1, as official.
        device: torch device the model lives on.
        with_flip: horizontal-flip test-time augmentation (on by default, as official).
        zoom_in: a :class:`ZoomIn`, or None to predict on the whole image.
        max_size: LimitLongestSide's long side (the demo uses 800), or None.
        net_clicks_limit: only the first N positive and N negative clicks reach the network.
    """

    name = "ritm"
    # The official BasePredictor adds the previous mask only for a network flagged
    # ``with_prev_mask`` (see ``takes_prev_mask``).
    prev_mask_by_default = False
    # channels_last: the convolutions run 15-20% faster on CPU (measured with HRNet-18s at
    # 400x300 and 1920x1080) and the logits move by 1e-4 at most; the BRS predictors keep
    # the default layout, since L-BFGS amplifies such differences into other masks.
    channels_last = True

    def __init__(self, model: torch.nn.Module | Sequence[torch.nn.Module], device: str | torch.device = "cpu",
                 with_flip: bool = True, zoom_in: ZoomIn | None = None,
                 max_size: int | None = None, net_clicks_limit: int | None = None) -> None:
        self.models = [model] if isinstance(model, torch.nn.Module) else list(model)
        if self.channels_last:
            self.models = [m.to(memory_format=torch.channels_last) for m in self.models]
        self.device = torch.device(device)
        self.with_flip = with_flip
        self.zoom_in = zoom_in
        self.limit = LimitLongestSide(max_size) if max_size else None
        self.net_clicks_limit = net_clicks_limit
        self._image_nd: torch.Tensor | None = None
        self._prev_prediction: torch.Tensor | None = None
        self.net_calls = 0  # forward passes of the last predict (the recalculation makes two)

    def set_image(self, image: np.ndarray) -> None:
        self._image_nd = image_tensor(image, self.device)
        for transform in self._transforms():
            transform.reset()
        self._prev_prediction = torch.zeros(1, 1, *image.shape[:2], device=self.device)

    def get_state(self) -> Any:
        return RITMState(self._prev_prediction,
                         self.zoom_in.state if self.zoom_in else None,
                         self.limit.state if self.limit else None)

    def set_state(self, state: Any) -> None:
        self._prev_prediction = state.prev_prediction
        if self.zoom_in:
            self.zoom_in.state = state.zoom
        if self.limit:
            self.limit.state = state.limit

    @torch.no_grad()
    def predict(self, clicks: Sequence[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        if self._image_nd is None:
            raise RuntimeError("set_image must be called before predict")
        self.net_calls = 0
        prev = (mask_tensor(prev_mask, self.device) if prev_mask is not None
                else self._prev_prediction)
        if prev_mask is not None and self.zoom_in is not None and len(clicks) > 1:
            # Zoom-In boxes the mask the user continues from. The official ZoomIn keeps its
            # own last output, which is the same map unless the mask came from elsewhere
            # (a chosen first-click proposal, TAIZ's blend), where its box would cut the
            # object off.
            self.zoom_in.state = replace(self.zoom_in.state,
                                         prev_probs=np.asarray(prev_mask, np.float32))
        probs = self._predict(clicks, prev)
        if self.zoom_in is not None and self.zoom_in.check_possible_recalculation():
            # The official code predicts again once it knows where to zoom, with its stored
            # previous prediction (an explicit prev_mask is not forwarded to that pass).
            probs = self._predict(clicks, self._prev_prediction)
        self._prev_prediction = probs
        return probs[0, 0].cpu().numpy()

    def _transforms(self) -> list[ZoomIn]:
        return [t for t in (self.zoom_in, self.limit) if t is not None]

    def _predict(self, clicks: Sequence[Click], prev: torch.Tensor) -> torch.Tensor:
        model = self.models[min(len(clicks), len(self.models)) - 1]
        image_nd = self._image_nd
        if takes_prev_mask(model, self.prev_mask_by_default):
            image_nd = torch.cat((image_nd, prev), dim=1)
        clicks = list(clicks)
        image_changed = False
        for transform in self._transforms():
            image_nd, clicks = transform.transform(image_nd, clicks)
            image_changed |= transform.image_changed
        click_lists = [clicks]
        if self.with_flip:
            width = image_nd.shape[3]
            image_nd = torch.cat((image_nd, torch.flip(image_nd, dims=[3])), dim=0)
            click_lists.append(flipped_clicks(clicks, width))
        self.net_calls += 1
        if self.channels_last:
            image_nd = image_nd.contiguous(memory_format=torch.channels_last)
        logits = self._net_logits(model, image_nd, click_lists, image_changed)
        if self.with_flip:
            logits = 0.5 * (logits[:1] + torch.flip(logits[1:], dims=[3]))
        probs = torch.sigmoid(logits)
        for transform in reversed(self._transforms()):
            probs = transform.inv_transform(probs)
        return probs

    def _net_logits(self, model: torch.nn.Module, image_nd: torch.Tensor,
                    click_lists: list[list[Click]], image_changed: bool) -> torch.Tensor:
        """Logits at the network input's size for the (transformed, flip-batched) input.

        ``image_changed`` says a transform changed the network's view (a new zoom box);
        the BRS predictors override this step.
        """
        # The model already returns logits at its input size (the official code resizes
        # them once more to the same size, an identity we skip).
        return model(image_nd, self._points(click_lists))["instances"]

    def _points(self, click_lists: list[list[Click]]) -> torch.Tensor:
        return points_tensor(click_lists, self.net_clicks_limit, self.device)
