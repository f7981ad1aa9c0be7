"""What TAIZ and first-click proposals cost and buy, with the NoC protocol's click simulator.

    .venv/bin/python benchmarks/taiz_proposals.py cost [--images 3] [--clicks 12]
    .venv/bin/python benchmarks/taiz_proposals.py noc [--images 10] [--dataset GrabCut]
    .venv/bin/python benchmarks/taiz_proposals.py proposals [--images 50] [--dataset Berkeley]

``cost``: seconds per click of each engine with and without TAIZ (blend from click 1, so
every click pays the zoomed pass) on images resized to 640 x 480, TAIZ's own time outside
the model, and seconds to compute the proposals after the first click. Engines: the
GrabCut default and RITM HRNet-18s (the golden checkpoint's random weights: a timing
stand-in for the released one).
``noc``: NoC@85/90 with and without TAIZ (the paper's schedule) on a dataset, GrabCut engine.
``proposals``: IoU after one click of the plain mask vs the best and the suggested proposal.
Torch runs on one thread: the numbers are per core.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from engine import InteractiveSession, Predictor
from engine.evaluation import metrics
from engine.evaluation.clicker import Clicker
from engine.evaluation.datasets import open_dataset
from engine.evaluation.runner import evaluate_dataset
from engine.inference.factory import load_predictor
from engine.inference.grabcut import GrabCutPredictor
from engine.inference.taiz import TAIZConfig, TAIZPredictor
from engine.proposals import ProposalGenerator

SHARED = Path(__file__).resolve().parents[2] / "shared"
RITM_H18S = SHARED / "golden" / "ritm" / "ritm_hrnet18s_itermask_synthetic.pth"


class _Timed:
    """A predictor that adds up the seconds its wrapped predictor spends predicting."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.name = predictor.name
        self.seconds = 0.0

    def set_image(self, image: np.ndarray) -> None:
        self.predictor.set_image(image)

    def predict(self, clicks, prev_mask):
        started = time.perf_counter()
        try:
            return self.predictor.predict(clicks, prev_mask)
        finally:
            self.seconds += time.perf_counter() - started

    def get_state(self):
        return self.predictor.get_state()

    def set_state(self, state) -> None:
        self.predictor.set_state(state)


ENGINES = {"grabcut": GrabCutPredictor,
           "ritm-h18s": lambda: load_predictor(RITM_H18S, "cpu")}


def cost(args: argparse.Namespace) -> None:
    """Plain and TAIZ sessions click in turn on the same images, so that the load of a
    shared machine hits both alike."""
    dataset = open_dataset(args.dataset, SHARED / "datasets" / args.dataset)
    samples = [dataset[i] for i in range(args.images)]
    resized = [(cv2.resize(s.image, (640, 480), interpolation=cv2.INTER_AREA),
                cv2.resize(s.gt.astype(np.int8), (640, 480),
                           interpolation=cv2.INTER_NEAREST)) for s in samples]
    for name, build in ENGINES.items():
        plain_times, taiz_times, proposing = [], [], []
        inner = _Timed(build())
        taiz = TAIZPredictor(inner, TAIZConfig(blend_start=1))
        plain = build()
        for image, gt in resized:
            sessions = [(InteractiveSession(plain, image), Clicker(gt), plain_times),
                        (InteractiveSession(taiz, image), Clicker(gt), taiz_times)]
            for index in range(args.clicks):
                for session, clicker, times in sessions:
                    click = clicker.make_next_click(session.mask)
                    started = time.perf_counter()
                    session.add_click(click)
                    times.append(time.perf_counter() - started)
                if index == 0:
                    started = time.perf_counter()
                    sessions[0][0].propose(ProposalGenerator())
                    proposing.append(time.perf_counter() - started)
        own = (sum(taiz_times) - inner.seconds) / len(taiz_times)  # outside the model
        print(f"{name:10s} plain s/click mean {statistics.mean(plain_times):.3f} "
              f"median {statistics.median(plain_times):.3f} | TAIZ mean "
              f"{statistics.mean(taiz_times):.3f} median {statistics.median(taiz_times):.3f} "
              f"(TAIZ's own warping {own * 1000:.0f} ms/click) | proposals after click 1: "
              f"mean {statistics.mean(proposing):.2f} s", flush=True)


def noc(args: argparse.Namespace) -> None:
    dataset = open_dataset(args.dataset, SHARED / "datasets" / args.dataset)
    for label, predictor in (("grabcut", GrabCutPredictor()),
                             ("grabcut+taiz", TAIZPredictor(GrabCutPredictor()))):
        started = time.perf_counter()
        result = evaluate_dataset(predictor, dataset, max_clicks=20, limit=args.images)
        summary = result.summary()
        print(f"{label:14s} {args.dataset} n={summary['samples']} "
              f"NoC@85 {summary['noc']['85']:.2f} NoC@90 {summary['noc']['90']:.2f} "
              f"NoF@90 {summary['nof']['90']} mIoU@20 {summary['miou'][-1]:.3f} "
              f"SPC {summary['spc']:.3f} ({time.perf_counter() - started:.0f} s)", flush=True)


def proposals(args: argparse.Namespace) -> None:
    dataset = open_dataset(args.dataset, SHARED / "datasets" / args.dataset)
    generator = ProposalGenerator()
    plain_ious, best_ious, suggested_ious, counts, seconds = [], [], [], [], []
    predictor = GrabCutPredictor()
    total = min(args.images, len(dataset))
    for index in range(total):
        sample = dataset[index]
        session = InteractiveSession(predictor, sample.image)
        session.add_click(Clicker(sample.gt).make_next_click(session.mask))
        plain_ious.append(metrics.iou(sample.gt, session.mask))
        started = time.perf_counter()
        found = session.propose(generator)
        seconds.append(time.perf_counter() - started)
        ious = [metrics.iou(sample.gt, p.mask) for p in found] or [plain_ious[-1]]
        best_ious.append(max(ious))
        suggested_ious.append(next((i for i, p in zip(ious, found) if p.suggested),
                                   plain_ious[-1]))
        counts.append(len(found))
    plain, best = np.array(plain_ious), np.array(best_ious)
    print(f"{args.dataset} n={total} GrabCut engine: mIoU@1 plain {plain.mean():.3f}, "
          f"best proposal {best.mean():.3f}, suggested {np.mean(suggested_ious):.3f}; "
          f"best beats plain (+0.01 IoU or more) on {np.sum(best > plain + 0.01)} images, "
          f"strictly on {np.sum(best > plain)}; never below: {bool(np.all(best >= plain))}; "
          f"proposals per image {np.mean(counts):.2f}; "
          f"{statistics.mean(seconds):.2f} s per image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("cost", "noc", "proposals"))
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=12)
    parser.add_argument("--dataset", default="GrabCut")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"cost": cost, "noc": noc, "proposals": proposals}[args.what](args)


if __name__ == "__main__":
    main()
