"""The contract every click model implements (RITM, FocalClick, TAIZ wrapper, GrabCut)."""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from engine.clicks import Click


@runtime_checkable
class Predictor(Protocol):
    """Turns an image and a click sequence into a probability map.

    A predictor may keep per-image state between clicks (a zoom-in box, f-BRS
    parameters...). ``get_state`` snapshots it after a prediction and ``set_state``
    restores a snapshot, which is how the session makes undo instant and exact.
    """

    name: str

    def set_image(self, image: np.ndarray) -> None:
        """Start work on ``image`` (H x W x 3 uint8 RGB) and reset every per-image state."""

    def predict(self, clicks: Sequence[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        """Return the object probability (H x W float32 in [0, 1]) for all ``clicks`` so far.

        ``prev_mask`` is the previous probability map (H x W float32) or None before the
        first click when no initial mask was given.
        """

    def get_state(self) -> Any:
        """Snapshot of the per-image state, taken after each prediction."""

    def set_state(self, state: Any) -> None:
        """Restore a snapshot returned by ``get_state``."""
