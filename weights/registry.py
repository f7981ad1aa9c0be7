"""Model names -> predictor builders (one entry point, like timm's ``create_model``).

Neural entries add their checkpoint file, source URL and integrity value here; the
embedded default needs no file, so the app always has a working engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from engine.inference.grabcut import GrabCutPredictor
from engine.predictor import Predictor


@dataclass(frozen=True)
class ModelEntry:
    name: str
    title: str
    description: str
    build: Callable[[str], Predictor]  # device ("auto", "cpu", "cuda") -> predictor


MODELS: dict[str, ModelEntry] = {
    "grabcut": ModelEntry(
        name="grabcut",
        title="GrabCut (embedded)",
        description="Weights-free default: OpenCV GrabCut seeded by the clicks, on a crop "
                    "around them. Works everywhere, no download.",
        build=lambda device: GrabCutPredictor(),
    ),
}

DEFAULT_MODEL = "grabcut"


def build_predictor(name: str = DEFAULT_MODEL, device: str = "auto") -> Predictor:
    """Create the predictor registered as ``name`` on ``device``."""
    try:
        entry = MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None
    return entry.build(device)
