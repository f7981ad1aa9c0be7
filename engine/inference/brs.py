"""Backpropagating refinement (BRS) predictors, as the official RITM/f-BRS code runs them.

After the network's forward pass, a few variables are optimised with L-BFGS-B
(``scipy.optimize.fmin_l_bfgs_b``, the official settings) so that the prediction obeys the
clicks: a 3x3 square around every click must be above (positive) or below (negative) the
threshold. The variables are

* f-BRS-A/B/C: a per-channel scale and bias on intermediate features, cached between
  evaluations (only the part of the network after the insertion point runs per step);
* RGB-BRS / DistMap-BRS: a bias image added to the normalised RGB or to the click maps
  (the whole network runs per step).

The rules that make results equal the official ones (specs/ritm.md §4.4, specs/fbrs.md §3):
the scale/bias warm-starts from the previous click; the returned logits are those of the
lowest-loss evaluation; an evaluation whose clicks are all satisfied, or whose mask barely
moved, returns a zero gradient (L-BFGS then stops on pgtol); after ``net_clicks_limit``
clicks the cached features are reused, so later clicks act through the loss only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import fmin_l_bfgs_b

from engine.clicks import Click
from engine.inference.options import INPUT_MODES, BRSMode
from engine.inference.ritm import RITMPredictor, RITMState


@dataclass(frozen=True)
class BRSSettings:
    """The objective and optimiser constants; defaults are the official evaluation's.

    The official demo uses ``prob_thresh=0.5`` and ``min_iou_diff=1e-3``.
    """

    prob_thresh: float = 0.49
    reg_weight: float = 1e-3
    reg_bias_weight: float = 10.0  # f-BRS only: biases cost 10x more than scales
    min_iou_diff: float = 0.01
    max_evaluations: int = 20  # L-BFGS maxfun; maxiter is always twice that
    lbfgs_m: int = 20
    lbfgs_factr: float = 0.0
    lbfgs_pgtol: float = 1e-8
    optimize_after_n_clicks: int = 1


@dataclass(frozen=True)
class BRSState:
    base: RITMState
    opt_data: np.ndarray | torch.Tensor | None


class _Objective:
    """f(x) and its gradient for L-BFGS-B; remembers the best evaluation's logits.

    ``unpack(x)`` turns the float32 variable tensor into ``(head arguments, regulariser)``.
    """

    def __init__(self, logits_fn: Callable[..., torch.Tensor],
                 unpack: Callable[[torch.Tensor], tuple[tuple, torch.Tensor]],
                 pos_mask: torch.Tensor, neg_mask: torch.Tensor, settings: BRSSettings,
                 device: torch.device) -> None:
        self.logits_fn = logits_fn
        self.unpack = unpack
        self.pos_mask = pos_mask
        self.neg_mask = neg_mask
        self.settings = settings
        self.device = device
        self.best_logits: torch.Tensor | None = None
        self.best_loss: np.ndarray | None = None
        self.losses: list[float] = []
        self._prev_mask: torch.Tensor | None = None

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        params = torch.from_numpy(x).float().to(self.device).requires_grad_(True)
        with torch.enable_grad():
            head_args, reg_loss = self.unpack(params)
            logits = self.logits_fn(*head_args)
            result = torch.sigmoid(logits)
            loss, max_pos, max_neg = _mask_loss(result, self.pos_mask, self.neg_mask)
            loss = loss + reg_loss
        f_val = loss.detach().cpu().numpy()
        self.losses.append(float(f_val))
        if self.best_logits is None or f_val < self.best_loss:
            self.best_logits = logits.detach()
            self.best_loss = f_val
        thresh = self.settings.prob_thresh
        if max_pos < 1 - thresh and max_neg < thresh:
            return f_val, np.zeros_like(x)  # every click square is satisfied: stop
        mask = result > thresh
        if self._prev_mask is not None and self.settings.min_iou_diff > 0:
            iou = _batch_iou(mask, self._prev_mask)
            if len(iou) > 0 and iou.mean() > 1 - self.settings.min_iou_diff:
                return f_val, np.zeros_like(x)  # the mask stopped changing: stop
        self._prev_mask = mask
        loss.backward()
        return f_val, params.grad.cpu().numpy().ravel().astype(np.float64)


def _mask_loss(result: torch.Tensor, pos_mask: torch.Tensor, neg_mask: torch.Tensor,
               eps: float = 1e-5) -> tuple[torch.Tensor, float, float]:
    pos_diff = (1 - result) * pos_mask
    neg_diff = result * neg_mask
    loss = (torch.sum(pos_diff ** 2) / (torch.sum(pos_mask) + eps)
            + torch.sum(neg_diff ** 2) / (torch.sum(neg_mask) + eps))
    with torch.no_grad():
        return loss, torch.max(torch.abs(pos_diff)).item(), torch.max(torch.abs(neg_diff)).item()


def _batch_iou(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per batch item IoU of two boolean masks, items with an empty union left out (the
    official metric averages, so the ratio uses means, not sums)."""
    dims = tuple(range(1, a.dim()))
    union = torch.mean((a | b).float(), dim=dims).cpu().numpy()
    inter = torch.mean((a & b).float(), dim=dims).cpu().numpy()
    nonzero = union > 0
    return inter[nonzero] / union[nonzero]


def click_squares(click_lists: Sequence[Sequence[Click]], shape: tuple[int, int],
                  device: torch.device, radius: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss's positive and negative maps: a (2r+1)^2 square at every click.

    Python's ``round`` and NumPy slicing on purpose: a click on row or column 0 starts its
    slice at -1, which selects nothing, so such a click gets no constraint (as official).
    """
    pos = np.zeros((len(click_lists), 1, *shape), dtype=np.float32)
    neg = np.zeros_like(pos)
    for index, clicks in enumerate(click_lists):
        for click in clicks:
            y, x = int(round(click.y)), int(round(click.x))
            target = pos if click.is_positive else neg
            target[index, 0, y - radius:y + radius + 1, x - radius:x + radius + 1] = 1
    return torch.from_numpy(pos).to(device), torch.from_numpy(neg).to(device)


class _BRSPredictor(RITMPredictor):
    """What both BRS families share: settings, the variables, the optimisation loop."""

    channels_last = False

    modes: tuple[str, ...] = ()

    def __init__(self, model: torch.nn.Module, device: str | torch.device = "cpu",
                 brs_mode: str | None = None, settings: BRSSettings = BRSSettings(),
                 net_clicks_limit: int | None = None, **kwargs: Any) -> None:
        brs_mode = brs_mode or self.modes[0]
        if brs_mode not in self.modes:
            raise ValueError(f"{type(self).__name__} runs {self.modes}, not {brs_mode!r}")
        super().__init__(model, device, net_clicks_limit=net_clicks_limit
                         or BRSMode(brs_mode).default_net_clicks_limit, **kwargs)
        self.brs_mode = brs_mode
        self.settings = settings
        self._opt_data: Any = None
        self.evaluations = 0  # objective evaluations in the last predict
        self.losses: list[float] = []  # their loss values, in order

    def set_image(self, image: np.ndarray) -> None:
        super().set_image(image)
        self._opt_data = None
        self._clear_cache()

    def get_state(self) -> BRSState:
        return BRSState(super().get_state(), self._opt_data)

    def set_state(self, state: BRSState) -> None:
        # The official predictor keeps its last cached features on undo; we recompute
        # them at the next click instead, so undo-then-click equals never having clicked.
        super().set_state(state.base)
        self._opt_data = state.opt_data
        self._clear_cache()

    def predict(self, clicks: Sequence[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        self.evaluations, self.losses = 0, []
        return super().predict(clicks, prev_mask)

    def _clear_cache(self) -> None:
        pass

    def _refine(self, logits_fn: Callable[..., torch.Tensor],
                unpack: Callable[[torch.Tensor], tuple[tuple, torch.Tensor]], x0: np.ndarray,
                click_lists: list[list[Click]], size: tuple[int, int]
                ) -> tuple[np.ndarray, torch.Tensor]:
        """Optimise the variables from ``x0`` (from the 2nd click on) so that the clicks are
        obeyed; returns the final variables and the logits to show: the lowest-loss
        evaluation's, or the head at ``x0`` when nothing was optimised."""
        pos, neg = click_squares(click_lists, size, self.device)
        objective = _Objective(logits_fn, unpack, pos, neg, self.settings, self.device)
        if len(click_lists[0]) > self.settings.optimize_after_n_clicks:
            s = self.settings
            x0, _, _ = fmin_l_bfgs_b(func=objective, x0=x0, m=s.lbfgs_m, factr=s.lbfgs_factr,
                                     pgtol=s.lbfgs_pgtol, maxfun=s.max_evaluations,
                                     maxiter=2 * s.max_evaluations)
        self.evaluations += len(objective.losses)
        self.losses += objective.losses
        if objective.best_logits is not None:
            return x0, objective.best_logits
        head_args, _ = unpack(torch.from_numpy(x0).to(self.device))
        return x0, logits_fn(*head_args)


class FeatureBRSPredictor(_BRSPredictor):
    """f-BRS-A, -B or -C: per-channel scale and bias at the model's insertion point.

    The model provides ``brs_insertion(mode)``, ``brs_channels(insertion)``,
    ``brs_features(image, points, insertion)`` and ``brs_head(features, scale, bias,
    insertion)`` (HRNet: A = B on the concat features, C before ``cls_head``; DeepLab:
    after c4 / after ASPP / after the decoder).
    """

    name = "ritm-fbrs"
    modes = ("f-BRS-B", "f-BRS-A", "f-BRS-C")  # the first is the default

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._features: Any = None

    def _clear_cache(self) -> None:
        self._features = None

    def _net_logits(self, model: torch.nn.Module, image_nd: torch.Tensor,
                    click_lists: list[list[Click]], image_changed: bool) -> torch.Tensor:
        insertion = model.brs_insertion(self.brs_mode)
        channels = model.brs_channels(insertion)
        n_clicks = len(click_lists[0])
        batch = image_nd.shape[0] // 2 if self.with_flip else image_nd.shape[0]
        if self._opt_data is None or self._opt_data.shape[0] != batch * 2 * channels:
            self._opt_data = np.zeros(batch * 2 * channels, dtype=np.float32)
        if (self._features is None or image_changed or self.net_clicks_limit is None
                or n_clicks <= self.net_clicks_limit):
            self._features = model.brs_features(image_nd, self._points(click_lists), insertion)
        features, size = self._features, image_nd.shape[2:]
        copies = 2 if self.with_flip else 1

        def logits_fn(scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            scale = scale.view(batch, -1, 1, 1).repeat(copies, 1, 1, 1)
            bias = bias.view(batch, -1, 1, 1).repeat(copies, 1, 1, 1)
            logits = model.brs_head(features, scale, bias, insertion)
            return F.interpolate(logits, size=size, mode="bilinear", align_corners=True)

        def unpack(params: torch.Tensor) -> tuple[tuple, torch.Tensor]:
            half = params.shape[0] // 2
            scale, bias = params[:half], params[half:]
            reg = self.settings.reg_weight * (torch.sum(scale ** 2)
                                              + self.settings.reg_bias_weight * torch.sum(bias ** 2))
            return (1 + scale, bias), reg

        self._opt_data, logits = self._refine(logits_fn, unpack, self._opt_data, click_lists,
                                              tuple(size))
        return logits


class InputBRSPredictor(_BRSPredictor):
    """RGB-BRS / DistMap-BRS: a bias image on the normalised RGB or on the two click maps,
    reset whenever the network's view changes (a new zoom box)."""

    name = "ritm-input-brs"
    modes = INPUT_MODES

    def _net_logits(self, model: torch.nn.Module, image_nd: torch.Tensor,
                    click_lists: list[list[Click]], image_changed: bool) -> torch.Tensor:
        batch = image_nd.shape[0] // 2 if self.with_flip else image_nd.shape[0]
        channels = 3 if self.brs_mode == "RGB-BRS" else 2
        shape = (batch, channels, *image_nd.shape[2:])
        if self._opt_data is None or image_changed or tuple(self._opt_data.shape) != shape:
            self._opt_data = torch.zeros(shape, dtype=torch.float32, device=self.device)
        points = self._points(click_lists)
        size = image_nd.shape[2:]
        target = "rgb_bias" if self.brs_mode == "RGB-BRS" else "dmaps_bias"

        def logits_fn(bias: torch.Tensor) -> torch.Tensor:
            logits = model(image_nd, points, **{target: bias})["instances"]
            return F.interpolate(logits, size=size, mode="bilinear", align_corners=True)

        def unpack(params: torch.Tensor) -> tuple[tuple, torch.Tensor]:
            bias = params.view(shape)
            if self.with_flip:
                bias = torch.cat((bias, torch.flip(bias, dims=[3])), dim=0)
            return (bias,), self.settings.reg_weight * torch.sum(bias ** 2)

        x, logits = self._refine(logits_fn, unpack, self._opt_data.cpu().numpy().ravel(),
                                 click_lists, tuple(size))
        self._opt_data = torch.from_numpy(x).view(shape).to(self.device)
        return logits


def brs_predictor_class(brs_mode: str) -> type[_BRSPredictor]:
    """The predictor that runs ``brs_mode`` (any :class:`BRSMode` but NoBRS)."""
    for cls in (FeatureBRSPredictor, InputBRSPredictor):
        if brs_mode in cls.modes:
            return cls
    raise ValueError(f"unknown BRS mode {brs_mode!r}; expected one of {[str(m) for m in BRSMode]}")
