"""Running the NoC protocol: one predictor, one dataset, click by click.

Per sample (the official ``evaluate_sample``): the simulator clicks on the current mask
(empty at first), the predictor returns probabilities for all clicks so far, the mask is
``probability > prob_thresh`` (0.49, the official value) and its IoU is recorded, until
``max_clicks`` clicks or, when ``stop_iou`` is given, until the IoU reaches it. The
predictor runs through :class:`InteractiveSession`, exactly as the annotator drives it.

With first-click proposals (``engine.proposals``), the session proposes masks after the
first click and the simulated user picks the one closest to the ground truth (the oracle
pick of the proposals' evaluation protocol); later clicks continue from it. The IoU of the
suggested proposal is kept as well.

Nothing here is random: the same predictor on the same dataset gives the same clicks and
IoUs. SPC (seconds per click) counts the predictor's time (``set_image`` and the
predictions), not image loading or the simulator.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from engine.clicks import Click
from engine.evaluation import metrics
from engine.evaluation.clicker import Clicker
from engine.evaluation.datasets import Dataset
from engine.predictor import Predictor
from engine.session import DEFAULT_PROB_THRESH, InteractiveSession

if TYPE_CHECKING:
    from engine.coco import CancelToken
    from engine.proposals import ProposalGenerator

ProgressCallback = Callable[[int, int], None]
BOUNDARY_IOU_CLICK = 5


class EvaluationCancelled(Exception):
    """The evaluation was cancelled before every sample was done."""


@dataclass(frozen=True)
class SampleResult:
    """One sample's run: its IoU after each click, the clicks, and the predictor's time."""

    name: str
    ious: np.ndarray  # float32, one per click
    clicks: tuple[Click, ...]
    seconds: float
    boundary_iou: float | None  # after click BOUNDARY_IOU_CLICK, if the run got there
    suggested_iou: float | None = None  # first-click proposals: the suggested one's IoU


@dataclass
class DatasetResult:
    """Every sample of one dataset evaluated with one predictor, and the summary metrics."""

    dataset: str
    max_clicks: int
    samples: list[SampleResult] = field(default_factory=list)

    @property
    def curves(self) -> list[np.ndarray]:
        return [sample.ious for sample in self.samples]

    @property
    def total_clicks(self) -> int:
        return sum(len(sample.ious) for sample in self.samples)

    @property
    def seconds_per_click(self) -> float:
        clicks = self.total_clicks
        return sum(s.seconds for s in self.samples) / clicks if clicks else float("nan")

    def summary(self, thresholds: Sequence[float] = metrics.NOC_THRESHOLDS,
                failure_thresholds: Sequence[float] = (0.85, 0.90)) -> dict:
        """NoC@t, NoF@t, mIoU@k (k = 1..max_clicks; None if a run stopped early), BIoU@5
        (None unless every sample got that far), SPC and, with proposals, the suggested
        proposals' mIoU@1, as a JSON-ready dict."""
        curves = self.curves
        boundary = [s.boundary_iou for s in self.samples]
        suggested = [s.suggested_iou for s in self.samples if s.suggested_iou is not None]
        return {
            "samples": len(self.samples),
            "noc": {_percent(t): metrics.noc(curves, t, self.max_clicks) for t in thresholds},
            "nof": {_percent(t): metrics.nof(curves, t, self.max_clicks)
                    for t in failure_thresholds},
            "miou": metrics.miou_at(curves, self.max_clicks),
            f"biou@{BOUNDARY_IOU_CLICK}": (float(np.mean(boundary)) if boundary
                                           and None not in boundary else None),
            "spc": self.seconds_per_click,
            "clicks": self.total_clicks,
            "suggested_miou@1": float(np.mean(suggested)) if suggested else None,
        }


def _percent(threshold: float) -> str:
    return f"{threshold * 100:g}"


def evaluate_sample(predictor: Predictor, image: np.ndarray, gt: np.ndarray, name: str = "",
                    max_clicks: int = 20, stop_iou: float | None = None,
                    prob_thresh: float = DEFAULT_PROB_THRESH,
                    proposals: ProposalGenerator | None = None) -> SampleResult:
    """Click on one object until ``max_clicks`` (or ``stop_iou`` reached, when given);
    with ``proposals``, the best first-click proposal is picked (module docstring)."""
    if gt.shape != image.shape[:2]:
        raise ValueError(f"{name}: ground truth {gt.shape} does not match image {image.shape}")
    clicker = Clicker(gt)
    pred_mask = np.zeros(gt.shape, dtype=bool)
    ious: list[float] = []
    boundary = suggested = None
    started = time.perf_counter()
    session = InteractiveSession(predictor, image, prob_thresh=prob_thresh)
    seconds = time.perf_counter() - started
    for _ in range(max_clicks):
        click = clicker.make_next_click(pred_mask)
        started = time.perf_counter()
        session.add_click(click)
        if proposals is not None and len(ious) == 0:
            suggested = _pick_proposal(session, proposals, gt)
        seconds += time.perf_counter() - started
        pred_mask = session.mask
        ious.append(metrics.iou(gt, pred_mask))
        if len(ious) == BOUNDARY_IOU_CLICK:
            boundary = metrics.boundary_iou(gt, pred_mask)
        if stop_iou is not None and ious[-1] >= stop_iou:
            break
    return SampleResult(name, np.array(ious, dtype=np.float32), tuple(clicker.clicks),
                        seconds, boundary, suggested)


def _pick_proposal(session: InteractiveSession, generator: ProposalGenerator,
                   gt: np.ndarray) -> float | None:
    """Choose the proposal closest to ``gt``; the suggested one's IoU (None: no proposals)."""
    candidates = session.propose(generator)
    if not candidates:
        return None
    ious = [metrics.iou(gt, p.mask) for p in candidates]
    session.choose_proposal(int(np.argmax(ious)))
    return next((iou for iou, p in zip(ious, candidates) if p.suggested), None)


def evaluate_dataset(predictor: Predictor, dataset: Dataset, max_clicks: int = 20,
                     stop_iou: float | None = None, prob_thresh: float = DEFAULT_PROB_THRESH,
                     limit: int | None = None, name: str | None = None,
                     proposals: ProposalGenerator | None = None,
                     progress: ProgressCallback | None = None,
                     cancel: CancelToken | None = None) -> DatasetResult:
    """Evaluate ``predictor`` on the first ``limit`` samples of ``dataset`` (all if None);
    the result is labelled ``name`` (default: the dataset's kind).

    ``progress(done, total)`` is called after each sample; when ``cancel.is_set()`` the run
    stops with :class:`EvaluationCancelled`.
    """
    if max_clicks < 1:
        raise ValueError(f"max_clicks must be at least 1, not {max_clicks}")
    total = len(dataset) if limit is None else min(limit, len(dataset))
    result = DatasetResult(name or dataset.kind, max_clicks)
    for index in range(total):
        if cancel is not None and cancel.is_set():
            raise EvaluationCancelled(f"evaluation on {dataset.kind} cancelled")
        sample = dataset[index]
        result.samples.append(evaluate_sample(predictor, sample.image, sample.gt, sample.name,
                                              max_clicks, stop_iou, prob_thresh, proposals))
        if progress is not None:
            progress(index + 1, total)
    return result
