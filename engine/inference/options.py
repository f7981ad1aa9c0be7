"""The inference options a user may change per object: one options class per engine, each
declaring its fields' bounds and which of them are saved, joined into the
:class:`InferenceOptions` shared by the GUI's model panel, its settings, the evaluation
harness and the registry."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from engine.inference.option_fields import Bounds, option
from engine.inference.taiz import TAIZConfig, TAIZPredictor
from engine.predictor import Predictor

# The official demos' LimitLongestSide (--limit-longest-size): a first click on a full-HD
# image costs 1.8-3.1 GB of memory without it.
DEMO_MAX_SIZE = 800


class BRSMode(str, Enum):
    """Backpropagating refinement of RITM and f-BRS models (engine.inference.brs). A str
    enum: the value is the official name, which is what settings and the CLI spell."""

    NONE = "NoBRS"
    FBRS_A = "f-BRS-A"
    FBRS_B = "f-BRS-B"
    FBRS_C = "f-BRS-C"
    RGB = "RGB-BRS"
    DISTMAP = "DistMap-BRS"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __hash__(self) -> int:
        # Equal to its name as a str (the official code's dict keys), so hashed as one.
        return hash(self.value)

    @property
    def refines(self) -> bool:
        return self is not BRSMode.NONE

    @property
    def on_features(self) -> bool:
        """f-BRS: a scale and bias on the network's features (else on its input)."""
        return self in (BRSMode.FBRS_A, BRSMode.FBRS_B, BRSMode.FBRS_C)

    @property
    def default_net_clicks_limit(self) -> int:
        """The official predictors' network-clicks limit (8 for f-BRS, 5 for the input
        modes). Here rather than on the predictors so that the GUI shows it without torch."""
        if not self.refines:
            raise ValueError("NoBRS has no network-clicks limit of its own")
        return 8 if self.on_features else 5


FEATURE_MODES = tuple(mode for mode in BRSMode if mode.on_features)
INPUT_MODES = tuple(mode for mode in BRSMode if mode.refines and not mode.on_features)


@dataclass(frozen=True)
class ClickModelOptions:
    """What RITM-family and FocalClick models share.

    Args:
        zoom_in: RITM/f-BRS Zoom-In, FocalClick's target crop (official: on).
        net_clicks_limit: only the first N positive and N negative clicks reach the
            network (None: all; with BRS, the others act through its loss, and None means
            the mode's official limit, 8 or 5).
    """

    zoom_in: bool = option(True)
    net_clicks_limit: int | None = option(None, Bounds(1, 100, off=True))


@dataclass(frozen=True)
class RITMOptions(ClickModelOptions):
    """RITM and f-BRS models (engine.inference.ritm, .brs, .zoom).

    Args:
        zoom_target_size: Zoom-In's crop long side (400; 600 for DAVIS-sized evaluation;
            the demo offers 100-800).
        with_flip: horizontal-flip test-time augmentation (official: on).
        max_size: LimitLongestSide's long side (the official demo uses 800), or None.
        brs_mode: backpropagating refinement, :class:`BRSMode`.
        lbfgs_max_evals: L-BFGS objective evaluations per click (BRS modes; the demo's
            range is 1-1000).
    """

    zoom_target_size: int = option(400, Bounds(100, 1600))
    with_flip: bool = option(True, saved=False)
    max_size: int | None = option(None, Bounds(200, 8000, off=True))
    brs_mode: BRSMode = option(BRSMode.NONE)
    lbfgs_max_evals: int = option(20, Bounds(1, 1000))

    def __post_init__(self) -> None:
        # Accept the official names ("f-BRS-B") from the CLI, benchmarks and old settings.
        object.__setattr__(self, "brs_mode", BRSMode(self.brs_mode))


@dataclass(frozen=True)
class FocalClickOptions(ClickModelOptions):
    """FocalClick models (engine.inference.focalclick).

    Args:
        target_crop_r: the target crop's expansion around the previous mask (``zoom_in``
            switches the target crop on and off).
        focus_crop_r: the focus crop's expansion around the changed region.
        focalclick_with_flip: flip test-time augmentation (off in the official evaluation,
            unlike RITM's ``with_flip``).
    """

    target_crop_r: float = option(1.4, saved=False)
    focus_crop_r: float = option(1.4, saved=False)
    focalclick_with_flip: bool = option(False, saved=False)


@dataclass(frozen=True)
class TAIZOptions:
    """TAIZ, target-aware zooming around any engine (engine.inference.taiz).

    Args:
        taiz: wrap the predictor in TAIZ.
        taiz_config: TAIZ's constants and blend schedule (its saved fields and their bounds
            are declared on :class:`TAIZConfig`).
    """

    taiz: bool = option(False)
    taiz_config: TAIZConfig = option(TAIZConfig())


@dataclass(frozen=True)
class InferenceOptions(RITMOptions, FocalClickOptions, TAIZOptions):
    """How a click model runs: every engine's options together, one flat immutable record
    (each engine reads its own part, typed as its class). The defaults are the official
    evaluation protocol's; :meth:`demo` gives the official interactive demo's (the GUI's
    defaults)."""

    @classmethod
    def demo(cls) -> InferenceOptions:
        """The official RITM demo's settings: Zoom-In on and LimitLongestSide(800)."""
        return cls(zoom_in=True, max_size=DEMO_MAX_SIZE)


def with_taiz(predictor: Predictor, options: InferenceOptions) -> Predictor:
    """``predictor`` wrapped in TAIZ when ``options`` ask for it. The one place TAIZ is
    switched on, for every engine (checkpoints and GrabCut) in the GUI and the CLI alike."""
    return TAIZPredictor(predictor, options.taiz_config) if options.taiz else predictor
