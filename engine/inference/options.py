"""The inference options a user may change per object: one dataclass shared by the GUI's
model panel, the evaluation harness and the registry."""
from __future__ import annotations

from dataclasses import dataclass

from engine.inference.taiz import TAIZConfig, TAIZPredictor
from engine.predictor import Predictor

# Backpropagating refinement modes of RITM and f-BRS models (engine.inference.brs).
FEATURE_MODES = ("f-BRS-A", "f-BRS-B", "f-BRS-C")
INPUT_MODES = ("RGB-BRS", "DistMap-BRS")
BRS_MODES = ("NoBRS", *FEATURE_MODES, *INPUT_MODES)
# The official demos' LimitLongestSide (--limit-longest-size): a first click on a full-HD
# image costs 1.8-3.1 GB of memory without it.
DEMO_MAX_SIZE = 800


@dataclass(frozen=True)
class InferenceOptions:
    """How a click model runs. The defaults are the official evaluation protocol's;
    :meth:`demo` gives the official interactive demo's (the GUI's defaults).

    Args:
        zoom_in: RITM/f-BRS Zoom-In (the official defaults, see ``ZoomIn``).
        zoom_target_size: Zoom-In's crop long side (400; 600 for DAVIS-sized evaluation).
        with_flip: horizontal-flip test-time augmentation.
        brs_mode: "NoBRS", "RGB-BRS", "DistMap-BRS", "f-BRS-A", "f-BRS-B" or "f-BRS-C".
        net_clicks_limit: clicks beyond the first N reach the network only through the BRS
            loss (None: all clicks go to the network; the BRS modes default to 8 or 5).
        lbfgs_max_evals: L-BFGS objective evaluations per click (BRS modes).
        max_size: LimitLongestSide's long side (the official demo uses 800), or None.
        target_crop_r: FocalClick's target-crop expansion around the previous mask
            (``zoom_in`` switches the target crop on and off).
        focus_crop_r: FocalClick's focus-crop expansion around the changed region.
        focalclick_with_flip: FocalClick's flip test-time augmentation (off in the official
            evaluation, unlike RITM's ``with_flip``).
        taiz: wrap the predictor in TAIZ, target-aware zooming (``engine.inference.taiz``).
        taiz_config: TAIZ's constants and blend schedule.
    """

    zoom_in: bool = True
    zoom_target_size: int = 400
    with_flip: bool = True
    brs_mode: str = "NoBRS"
    net_clicks_limit: int | None = None
    lbfgs_max_evals: int = 20
    max_size: int | None = None
    target_crop_r: float = 1.4
    focus_crop_r: float = 1.4
    focalclick_with_flip: bool = False
    taiz: bool = False
    taiz_config: TAIZConfig = TAIZConfig()

    @classmethod
    def demo(cls) -> InferenceOptions:
        """The official RITM demo's settings: Zoom-In on and LimitLongestSide(800)."""
        return cls(zoom_in=True, max_size=DEMO_MAX_SIZE)


def with_taiz(predictor: Predictor, options: InferenceOptions) -> Predictor:
    """``predictor`` wrapped in TAIZ when ``options`` ask for it. The one place TAIZ is
    switched on, for every engine (checkpoints and GrabCut) in the GUI and the CLI alike."""
    return TAIZPredictor(predictor, options.taiz_config) if options.taiz else predictor
