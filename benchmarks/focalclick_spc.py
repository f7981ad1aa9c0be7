"""Seconds per click of checkpoint files at fixed image sizes: FocalClick next to RITM.

    .venv/bin/python benchmarks/focalclick_spc.py [CHECKPOINT ...] [--sizes 640x480 1920x1080]
        [--images 3] [--clicks 12] [--warmup 3] [--threads 1] [--device cpu]

Without checkpoints it times the golden FocalClick SegFormer-B0 S2 and HRNet-18s S2 files
and the golden RITM HRNet-18s file (official architectures with synthetic weights: the
cost does not depend on the weight values). Each GrabCut image and its mask are resized to
every size; the official click simulator makes the clicks; one click = one
``InteractiveSession.add_click`` (what the app pays). The first ``--warmup`` clicks are not
timed; the median, mean and max wall time of the rest are printed, and the median process
CPU time (with one thread, the cost without other programs competing for the cores).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from engine import InteractiveSession
from engine.checkpoints import read_checkpoint
from engine.evaluation.clicker import Clicker
from engine.evaluation.datasets import open_dataset
from engine.inference.factory import load_predictor

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_CHECKPOINTS = [SHARED / "golden/focalclick/segformerB0_S2_synthetic.pth",
                       SHARED / "golden/focalclick/hrnet18s_S2_synthetic.pth",
                       SHARED / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth"]


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def time_clicks(checkpoint: Path, size: tuple[int, int], images: int, clicks: int,
                warmup: int, device: str) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) of every click after the first ``warmup`` ones."""
    predictor = load_predictor(checkpoint, device)
    dataset = open_dataset("GrabCut", SHARED / "datasets" / "GrabCut")
    times: list[float] = []
    cpu_times: list[float] = []
    for index in range(images):
        sample = dataset[index]
        image = cv2.resize(sample.image, size, interpolation=cv2.INTER_LINEAR)
        # -1 (ignored) .. 1 shifted to uint8, which every OpenCV resize takes
        gt = cv2.resize((sample.gt + 1).astype(np.uint8), size,
                        interpolation=cv2.INTER_NEAREST).astype(np.int8) - 1
        session = InteractiveSession(predictor, image)
        clicker = Clicker(gt)
        for _ in range(clicks):
            click = clicker.make_next_click(session.mask)
            started, cpu_started = time.perf_counter(), time.process_time()
            session.add_click(click)
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)
    return times[warmup:], cpu_times[warmup:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, default=DEFAULT_CHECKPOINTS)
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(640, 480), (1920, 1080)])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}; "
          f"{args.images} images x {args.clicks} clicks, first {args.warmup} untimed")
    for checkpoint in args.checkpoints:
        title = read_checkpoint(checkpoint)[0].title
        for size in args.sizes:
            times, cpu_times = time_clicks(checkpoint, size, args.images, args.clicks,
                                           args.warmup, args.device)
            print(f"{title:32s} {size[0]}x{size[1]}: median {statistics.median(times):.3f} "
                  f"s/click, mean {statistics.mean(times):.3f}, max {max(times):.3f}; "
                  f"CPU median {statistics.median(cpu_times):.3f} ({len(times)} clicks)")


if __name__ == "__main__":
    main()
