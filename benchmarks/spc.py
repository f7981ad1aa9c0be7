"""Seconds per click and memory of a registered model on real photographs.

    .venv/bin/python benchmarks/spc.py [--model grabcut] [--dataset ../shared/datasets/GrabCut]
                                       [--clicks 5] [--images 50] [--scale 1.0]
                                       [--mode NoBRS|f-BRS-B|...] [--no-zoom]

Each image gets ``--clicks`` clicks from the official click simulator
(``engine.evaluation.clicker``; full NoC evaluations: ``clickmask evaluate``). Prints
seconds per click (mean, median, max), mIoU after each click and the process's peak
resident memory. ``--scale`` upsamples the images to show how the cost grows with image
size. ``--dataset`` takes any layout ``engine.evaluation.datasets`` reads.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from engine import InteractiveSession
from engine.evaluation.clicker import Clicker
from engine.evaluation.datasets import detect_kind, open_dataset
from engine.evaluation.metrics import iou
from engine.inference.options import InferenceOptions
from weights import DEFAULT_MODEL, build_predictor

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "GrabCut"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET,
                        help="a benchmark folder (GrabCut, Berkeley, DAVIS... layout)")
    parser.add_argument("--clicks", type=int, default=5)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--mode", default="NoBRS", help="BRS mode of RITM / f-BRS models")
    parser.add_argument("--no-zoom", dest="zoom", action="store_false",
                        help="without Zoom-In (RITM / f-BRS) or the target crop (FocalClick)")
    args = parser.parse_args()

    predictor = build_predictor(args.model, "auto",
                                InferenceOptions(zoom_in=args.zoom, brs_mode=args.mode))
    times: list[float] = []
    ious = np.zeros(args.clicks)
    dataset = open_dataset(detect_kind(args.dataset), args.dataset)
    images = min(args.images, len(dataset))
    for index in range(images):
        sample = dataset[index]
        image, gt = sample.image, sample.gt
        if args.scale != 1.0:
            size = (round(image.shape[1] * args.scale), round(image.shape[0] * args.scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
            # -1 (ignored) .. 1 shifted to uint8, which every OpenCV resize takes
            gt = cv2.resize((gt + 1).astype(np.uint8), size,
                            interpolation=cv2.INTER_NEAREST).astype(np.int8) - 1
        session = InteractiveSession(predictor, image)
        clicker = Clicker(gt)
        for k in range(args.clicks):
            click = clicker.make_next_click(session.mask)
            started = time.perf_counter()
            session.add_click(click)
            times.append(time.perf_counter() - started)
            ious[k] += iou(gt, session.mask)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    zoom = "on" if args.zoom else "off"
    print(f"model {args.model} ({args.mode}, Zoom-In {zoom}), {images} images x {args.clicks} "
          f"clicks, scale {args.scale} ({image.shape[1]}x{image.shape[0]} last image)")
    print(f"seconds per click: mean {statistics.mean(times):.3f}, "
          f"median {statistics.median(times):.3f}, max {max(times):.3f}")
    print("mIoU after click k: " + " ".join(f"{v:.3f}" for v in ious / images))
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
