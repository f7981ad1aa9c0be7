"""TAIZ, target-aware image zooming (Fang et al., AAAI 2024), as a wrapper around any predictor.

Per click (the paper's inference procedure, ../shared/specs/taiz_and_proposals.md, 1.2):

1. the wrapped predictor runs as usual: the plain prediction O2;
2. guidance S = (O2 > 0.5) ∪ a disk around every click;
3. S's column and row sums define two separable, strictly increasing warps T_x, T_y
   ([0, 1] -> [0, 1], T(0) = 0, T(1) = 1) that spend more output samples where S is;
4. the image, O2 and the clicks are resampled with them to a small network input
   (clicks are mapped through T^-1 and drawn again by the model, not resampled);
5. the wrapped predictor runs on that input; its output is unwarped with the exact
   inverse of the piecewise-linear warps, at the image's full resolution;
6. the result is O = (1 - λ_t) O2 + λ_t unwarp(O2'), λ_t = 0 before click T_max / 2
   and t / T_max after: the zoomed pass only runs from that click on. The plain pass
   always runs, even at λ_t = 1: its mask is what the warp zooms onto.

The warp (spec 1.3): the guidance marginals are box-averaged onto the output lattice,
normalised, floored with β / n (the empty guidance gives the identity warp) and pushed
through the separable Recasens/LZU formula T_i = Σ_j x_j s_j k(i - j) / Σ_j s_j k(i - j)
with a Gaussian k and reflect padding (which pins T(0) = 0 and T(1) = 1). β doubles until
the largest local magnification is at most ``max_zoom``.

Everything is 1-D per axis and resampling is separable linear interpolation in numpy, so
TAIZ needs no torch and wraps the GrabCut default as well as the neural models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from engine.clicks import Click
from engine.inference.option_fields import Bounds, option
from engine.predictor import Predictor

_STRICT_STEP = 1e-6  # smallest increase between lattice samples, so T can be inverted


@dataclass(frozen=True)
class TAIZConfig:
    """TAIZ's constants; the defaults are the spec's.

    Args:
        input_size: long side of the zoomed network input, in pixels (the short side keeps
            the image's aspect ratio). 400 is RITM's Zoom-In size [our choice].
        sigma: the Gaussian's σ in normalised units (a fraction of the axis); None means
            11 lattice cells of the long side, 11 / (input_size - 1), the paper's σ = 11.
        beta: the uniform floor's mass relative to the guidance's (1: half the mass).
        max_zoom: largest allowed local magnification per axis (1 = uniform resize).
        max_doublings: how many times β may double to respect ``max_zoom``.
        click_radius: click disk radius in the guidance, in network-input pixels (RITM's
            disks are 5 px); mapped to image pixels, at least ``min_click_radius``.
        min_click_radius: smallest guidance disk radius in image pixels.
        blend_start: first click (1-based) whose result blends in the zoomed pass; T_max / 2
            in the paper.
        max_clicks: T_max, the click at which the zoomed pass has all the weight (20, NoC@20).
        prob_thresh: the plain prediction's foreground, M2 = O2 > 0 in logits.
    """

    input_size: int = 400
    sigma: float | None = None
    beta: float = 1.0
    max_zoom: float = 4.0
    max_doublings: int = 5
    click_radius: float = 5.0
    min_click_radius: float = 3.0
    blend_start: int = option(10, Bounds(1, 100))
    max_clicks: int = option(20, Bounds(1, 100))
    prob_thresh: float = 0.5

    def __post_init__(self) -> None:
        if self.input_size < 8:
            raise ValueError(f"TAIZ input_size must be at least 8 px, got {self.input_size}")
        if self.sigma is not None and self.sigma <= 0:
            raise ValueError(f"TAIZ sigma must be positive, got {self.sigma}")
        if self.beta <= 0 or self.max_zoom <= 1 or self.max_doublings < 0:
            raise ValueError("TAIZ needs beta > 0, max_zoom > 1 and max_doublings >= 0")
        if not 1 <= self.blend_start <= self.max_clicks:
            raise ValueError(f"TAIZ blend_start must be in 1..max_clicks ({self.max_clicks}), "
                             f"got {self.blend_start}")

    @property
    def sigma_normalized(self) -> float:
        return self.sigma if self.sigma is not None else 11.0 / (self.input_size - 1)

    def blend_weight(self, click_index: int) -> float:
        """λ_t for the ``click_index``-th click (1-based): 0 before ``blend_start``, then
        max(blend_start, t) / max_clicks, at most 1."""
        if click_index < self.blend_start:
            return 0.0
        return min(1.0, max(self.blend_start, click_index) / self.max_clicks)


# -- 1-D warps ------------------------------------------------------------------------------
def lattice_profile(profile: np.ndarray, n: int) -> np.ndarray:
    """Mean of a source profile (N samples at k / (N - 1)) over each of the n lattice cells.

    Cell i is centred on i / (n - 1) and one lattice step wide; a source sample covers one
    source step. Area averaging (not point sampling) keeps a thin click disk's mass.
    """
    profile = np.asarray(profile, dtype=np.float64)
    size = len(profile)
    if size < 2 or n < 2:
        raise ValueError(f"profiles and lattices need at least 2 samples, got {size} and {n}")
    cumulative = np.concatenate(([0.0], np.cumsum(profile)))  # at pixel edges k - 0.5
    step = (size - 1) / (n - 1)
    edges = np.clip((np.arange(n + 1) - 0.5) * step, -0.5, size - 0.5)
    area = np.interp(edges, np.arange(size + 1) - 0.5, cumulative)
    return np.diff(area) / np.diff(edges)


def warp_function(density: np.ndarray, sigma_cells: float) -> np.ndarray:
    """T on the lattice u_i = i / (n - 1) for a positive ``density`` on that lattice.

    T_i = Σ_j x_j s_j k(i - j) / Σ_j s_j k(i - j), Gaussian k truncated at 4σ, the density
    reflect-padded with positions continuing linearly (so T(0) = 0 and T(1) = 1 exactly by
    symmetry), clamped to [0, 1] and made strictly increasing.
    """
    density = np.asarray(density, dtype=np.float64)
    n = len(density)
    if n < 2 or not np.all(density > 0):
        raise ValueError("the warp needs a positive density on at least 2 lattice points")
    pad = min(n - 1, math.ceil(4 * sigma_cells))
    padded = np.pad(density, pad, mode="reflect")
    positions = np.arange(-pad, n + pad) / (n - 1)
    offsets = np.arange(-pad, pad + 1)
    kernel = np.exp(-0.5 * (offsets / sigma_cells) ** 2)
    warp = (np.convolve(padded * positions, kernel, mode="valid")
            / np.convolve(padded, kernel, mode="valid"))
    warp = np.clip(warp, 0.0, 1.0)
    warp[0], warp[-1] = 0.0, 1.0
    # Float plateaus (tiny σ, huge peaks) would break the inversion: force a strict rise.
    ramp = _STRICT_STEP * np.arange(n)
    warp = np.maximum.accumulate(warp - ramp) + ramp
    return warp / warp[-1]


def max_magnification(warp: np.ndarray) -> float:
    """Largest local zoom 1 / min(dT/du) of a lattice warp (1 for the identity)."""
    return float(1.0 / (np.diff(warp).min() * (len(warp) - 1)))


def axis_warp(profile: np.ndarray, n: int, config: TAIZConfig) -> np.ndarray:
    """The warp of one axis from its guidance marginal (``profile``, source samples)."""
    density = lattice_profile(profile, n)
    total = density.sum()
    density = density / total if total > 0 else np.zeros(n)
    sigma_cells = config.sigma_normalized * (n - 1)
    beta = config.beta
    for _ in range(config.max_doublings):
        warp = warp_function(density + beta / n, sigma_cells)
        if max_magnification(warp) <= config.max_zoom:
            return warp
        beta *= 2
    return warp_function(density + beta / n, sigma_cells)


def invert(warp: np.ndarray, size: int) -> np.ndarray:
    """u_k with T(u_k) = k / (size - 1) for k < size: the exact inverse of the
    piecewise-linear T, as lattice coordinates in [0, 1]."""
    lattice = np.linspace(0.0, 1.0, len(warp))
    return np.interp(np.linspace(0.0, 1.0, size), warp, lattice)


def resample_axis(array: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``array`` along ``axis`` at fractional indices ``coords``."""
    length = array.shape[axis]
    coords = np.clip(np.asarray(coords, dtype=np.float64), 0, length - 1)
    low = np.minimum(np.floor(coords).astype(np.intp), length - 2)
    frac = coords - low
    shape = [1] * array.ndim
    shape[axis] = len(coords)
    frac = frac.reshape(shape).astype(np.float32)
    values = array.astype(np.float32, copy=False)
    return (np.take(values, low, axis=axis) * (1 - frac)
            + np.take(values, low + 1, axis=axis) * frac)


# -- the 2-D separable warp -------------------------------------------------------------------
@dataclass(frozen=True)
class Warp:
    """Separable zoom of an H x W image onto an n_h x n_w lattice (``ty``: n_h, ``tx``: n_w)."""

    ty: np.ndarray
    tx: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ty), len(self.tx)

    def zoom(self, array: np.ndarray) -> np.ndarray:
        """Sample ``array`` (any H x W [x C] size: only normalised positions matter)."""
        height, width = array.shape[:2]
        rows = resample_axis(array, self.ty * (height - 1), axis=0)
        return resample_axis(rows, self.tx * (width - 1), axis=1)

    def unzoom(self, array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Map a zoomed n_h x n_w ``array`` back to ``shape`` (exact inverse warp)."""
        n_h, n_w = self.shape
        rows = resample_axis(array, invert(self.ty, shape[0]) * (n_h - 1), axis=0)
        return resample_axis(rows, invert(self.tx, shape[1]) * (n_w - 1), axis=1)

    def point(self, y: float, x: float, shape: tuple[int, int]) -> tuple[float, float]:
        """Where source pixel (y, x) of an image of ``shape`` lands in the zoomed input."""
        height, width = shape
        n_h, n_w = self.shape
        lattice_y, lattice_x = np.linspace(0, 1, n_h), np.linspace(0, 1, n_w)
        v = np.interp(y / max(height - 1, 1), self.ty, lattice_y)
        u = np.interp(x / max(width - 1, 1), self.tx, lattice_x)
        return float(v * (n_h - 1)), float(u * (n_w - 1))


def zoomed_shape(shape: tuple[int, int], input_size: int) -> tuple[int, int]:
    """The network input's (n_h, n_w): long side ``input_size``, the image's aspect ratio."""
    height, width = shape
    scale = input_size / max(height, width)
    return max(2, round(height * scale)), max(2, round(width * scale))


def guidance_map(probability: np.ndarray, clicks: Sequence[Click], radius: float,
                 prob_thresh: float = 0.5) -> np.ndarray:
    """S = (probability > prob_thresh) ∪ a disk of ``radius`` px around every click."""
    guidance = (probability > prob_thresh).astype(np.uint8)
    for click in clicks:
        cv2.circle(guidance, (int(round(click.x)), int(round(click.y))),
                   int(round(radius)), 1, -1)
    return guidance


def target_warp(guidance: np.ndarray, lattice_shape: tuple[int, int],
                config: TAIZConfig) -> Warp:
    """The warp that zooms onto ``guidance`` (H x W, nonzero on the target)."""
    guidance = guidance.astype(np.float64)
    return Warp(ty=axis_warp(guidance.sum(axis=1), lattice_shape[0], config),
                tx=axis_warp(guidance.sum(axis=0), lattice_shape[1], config))


# -- the predictor wrapper ---------------------------------------------------------------------
class TAIZPredictor:
    """Any :class:`Predictor` with TAIZ's zoomed second pass blended in (module docstring).

    The wrapped predictor's state is TAIZ's state: the zoomed pass runs on a fresh image
    and the plain pass's state is put back afterwards, so undo stays exact.
    """

    def __init__(self, predictor: Predictor, config: TAIZConfig | None = None) -> None:
        self.predictor = predictor
        self.config = config or TAIZConfig()
        self.name = f"{predictor.name}+taiz"
        self._image: np.ndarray | None = None
        self._source: np.ndarray | None = None  # the image, pre-shrunk for the zoomed pass

    def set_image(self, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        if min(height, width) < 2:
            raise ValueError(f"TAIZ needs an image of at least 2x2 pixels, got {width}x{height}")
        self.predictor.set_image(image)
        self._image = image
        # Linear sampling does not antialias: shrink with area averaging to at most twice
        # the network input first (background is compressed about 2x below uniform).
        limit = 2 * self.config.input_size
        scale = limit / max(height, width)
        if scale < 1:
            size = (max(2, round(width * scale)), max(2, round(height * scale)))
            self._source = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        else:
            self._source = image

    def get_state(self) -> Any:
        return self.predictor.get_state()

    def set_state(self, state: Any) -> None:
        self.predictor.set_state(state)

    def predict(self, clicks: Sequence[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        if self._image is None:
            raise RuntimeError("set_image must be called before predict")
        plain = self.predictor.predict(clicks, prev_mask)
        weight = self.config.blend_weight(len(clicks))
        if weight == 0.0:
            return plain
        zoomed = self._zoomed_prediction(clicks, plain)
        return ((1.0 - weight) * plain + weight * zoomed).astype(np.float32)

    def _zoomed_prediction(self, clicks: Sequence[Click], plain: np.ndarray) -> np.ndarray:
        """The zoomed pass for ``clicks`` given the plain prediction, unwarped to H x W."""
        shape = self._image.shape[:2]
        lattice = zoomed_shape(shape, self.config.input_size)
        radius = max(self.config.min_click_radius,
                     self.config.click_radius * max(shape) / max(lattice))
        warp = target_warp(guidance_map(plain, clicks, radius, self.config.prob_thresh),
                           lattice, self.config)
        image = np.clip(np.rint(warp.zoom(self._source)), 0, 255).astype(np.uint8)
        previous = warp.zoom(plain)  # M2': the current plain prediction, per the paper
        moved = [Click(*warp.point(c.y, c.x, shape), c.is_positive) for c in clicks]
        state = self.predictor.get_state()
        try:
            self.predictor.set_image(image)
            output = self.predictor.predict(moved, previous)
        finally:
            self.predictor.set_image(self._image)
            self.predictor.set_state(state)
        return np.clip(warp.unzoom(output, shape), 0.0, 1.0)
