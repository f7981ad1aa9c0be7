"""Teacher forcing for the recorded f-BRS runs (golden/ritm/README.md section 4).

Free-running f-BRS is chaotic: L-BFGS amplifies the float noise of one CPU's kernels into
other masks a few clicks later, and its variables carry the difference to the next click.
So click k is judged alone, from the state the official predictor recorded after click
k-1: its previous prediction, its zoom box and its f-BRS variables.

Even alone, a long L-BFGS run is chaotic: its last steps can walk a flat valley of the
loss, where 1e-6 of noise moves the mask without moving the loss. Measured from the
official state, with 1 or 2 threads and ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA and
MKL_ENABLE_INSTRUCTIONS lowered to AVX2 or below (10 settings): every run of at most 6
evaluations kept its result within 2.1e-4 of the recording (the DeepLab demo's click 5
within 1.6e-3, its README allowing 2e-3); five of the twelve runs of 9 to 21 evaluations
moved by 2.5e-2 to 0.43 (mask IoU down to 0.23) under some setting; so do the official
code's own (golden/ritm/noise_report.json: 1.2e-3 at hrnet18 img_a click 3 with 1
thread). The first 3 evaluations of every run agreed within 5e-5 (relative). So a long
run is judged by its first evaluations, not by its result.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from engine.box import Box
from engine.clicks import Click
from engine.inference.brs import BRSState, FeatureBRSPredictor
from engine.inference.zoom import ZoomState

SHORT_RUN = 6  # at most this many objective evaluations: the result is reproducible
FIRST_EVALUATIONS = 3  # the part of any run that is reproducible


def predict_from_official_state(predictor: FeatureBRSPredictor, image: np.ndarray,
                                clicks: list[Click], prev_probs: np.ndarray,
                                roi: np.ndarray, opt_data: np.ndarray) -> np.ndarray:
    """Predict ``clicks`` (1..k) on ``image`` after the official click k-1, whose output
    was ``prev_probs``, whose zoom box was ``roi`` ((-1,)*4: none) and whose variables were
    ``opt_data`` (kept in the recorded dtype: scipy hands L-BFGS float64)."""
    predictor.set_image(image)
    prev_probs = np.asarray(prev_probs, dtype=np.float32)
    box = None if roi[0] < 0 else Box.from_inclusive(*(int(v) for v in roi))
    base = replace(predictor.get_state().base,
                   prev_prediction=torch.from_numpy(prev_probs)[None, None],
                   zoom=ZoomState(prev_probs=prev_probs, object_box=box))
    predictor.set_state(BRSState(base, np.array(opt_data)))
    return predictor.predict(clicks, prev_probs)


def clicks_of(rows: np.ndarray) -> list[Click]:
    """The recorded click rows (y, x, is_positive) as clicks."""
    return [Click(float(y), float(x), bool(positive)) for y, x, positive in rows]
