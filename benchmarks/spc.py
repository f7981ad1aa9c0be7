"""Seconds per click and memory of a registered model on real photographs.

    .venv/bin/python benchmarks/spc.py [--model grabcut] [--dataset ../shared/datasets/GrabCut]
                                       [--clicks 5] [--images 50] [--scale 1.0]

Each image gets ``--clicks`` clicks, each at the centre of the largest error region (a
simplified click simulator, for timing only: the official NoC protocol lives in the
evaluation harness). Prints seconds per click (mean, median, max), mIoU after each click
and the process's peak resident memory. ``--scale`` upsamples the images to show how the
cost grows with image size.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from engine import Click, InteractiveSession
from engine.imageio import load_image
from engine.masks import mask_iou
from weights import DEFAULT_MODEL, build_predictor

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "GrabCut"


def _interior_point(region: np.ndarray) -> tuple[int, int]:
    distance = cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(distance[1:-1, 1:-1].argmax()), region.shape)
    return int(y), int(x)


def next_click(mask: np.ndarray, truth: np.ndarray, ignore: np.ndarray) -> Click:
    missed = truth & ~mask & ~ignore
    extra = mask & ~truth & ~ignore
    region, positive = (missed, True) if missed.sum() >= extra.sum() else (extra, False)
    return Click(*_interior_point(region), positive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET,
                        help="a GrabCut-layout folder (data_GT/ + boundary_GT/)")
    parser.add_argument("--clicks", type=int, default=5)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    predictor = build_predictor(args.model, "auto")
    times: list[float] = []
    ious = np.zeros(args.clicks)
    images = sorted((args.dataset / "data_GT").iterdir())[: args.images]
    for path in images:
        truth_raw = cv2.imread(str(args.dataset / "boundary_GT" / f"{path.stem}.bmp"),
                               cv2.IMREAD_GRAYSCALE)
        image = load_image(path)
        if args.scale != 1.0:
            size = (round(image.shape[1] * args.scale), round(image.shape[0] * args.scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
            truth_raw = cv2.resize(truth_raw, size, interpolation=cv2.INTER_NEAREST)
        truth, ignore = truth_raw == 255, truth_raw == 128
        session = InteractiveSession(predictor, image)
        click = Click(*_interior_point(truth), True)
        for k in range(args.clicks):
            started = time.perf_counter()
            session.add_click(click)
            times.append(time.perf_counter() - started)
            ious[k] += mask_iou(session.mask & ~ignore, truth & ~ignore)
            click = next_click(session.mask, truth, ignore)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model {args.model}, {len(images)} images x {args.clicks} clicks, "
          f"scale {args.scale} ({image.shape[1]}x{image.shape[0]} last image)")
    print(f"seconds per click: mean {statistics.mean(times):.3f}, "
          f"median {statistics.median(times):.3f}, max {max(times):.3f}")
    print("mIoU after click k: " + " ".join(f"{v:.3f}" for v in ious / len(images)))
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
