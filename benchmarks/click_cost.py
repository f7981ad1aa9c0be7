"""Seconds per click and peak memory of the click models, per architecture, image size,
Zoom-In and BRS mode (the protocol of the RITM engine issue), RITM next to FocalClick.

    .venv/bin/python benchmarks/click_cost.py [--arch h18s h18 h32 h48 fc-b0 fc-h18s]
        [--size 640x480 1920x1080] [--zoom on off] [--mode NoBRS f-BRS-B f-BRS-C]
        [--clicks 20] [--warmup 2] [--threads N] [--json results.json]

Every configuration runs in a fresh process (so its peak resident memory is its own) on a
GrabCut photograph resized to the size, with clicks from the official click simulator
against the resized ground truth. The median is over ``--clicks`` clicks after ``--warmup``
clicks, in wall time and in process CPU time (with ``--threads 1`` the CPU time is the cost
without other programs competing for the cores). h18s and h18 (RITM) and fc-b0 and fc-h18s
(FocalClick SegFormer-B0 S2 and HRNet-18s S2) use the golden synthetic checkpoints of
../shared; h32 and h48 are written with random weights in the official file format, which
costs the same time per click (the Zoom-In box follows the masks, which then look like
noise). For FocalClick, ``--zoom`` switches the target crop and BRS modes do not apply.
Timings depend on the machine's load: run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
GOLDEN = {"h18s": SHARED / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth",
          "h18": SHARED / "golden/ritm/ritm_hrnet18_itermask_synthetic.pth.xz",
          "fc-b0": SHARED / "golden/focalclick/segformerB0_S2_synthetic.pth",
          "fc-h18s": SHARED / "golden/focalclick/hrnet18s_S2_synthetic.pth"}
FOCALCLICK = ("fc-b0", "fc-h18s")
# Released RITM architectures (ITER-M): width, OCR width, small.
ARCHS = {"h18s": (18, 48, True), "h18": (18, 64, False), "h32": (32, 128, False),
         "h48": (48, 256, False)}
IMAGE = SHARED / "datasets/GrabCut/data_GT/106024.jpg"
MASK = SHARED / "datasets/GrabCut/boundary_GT/106024.bmp"


def checkpoint_for(arch: str, folder: Path) -> Path:
    """A checkpoint file of ``arch`` in the official format (the golden one where it exists)."""
    if arch in GOLDEN and GOLDEN[arch].exists():
        return GOLDEN[arch]
    import torch

    from engine.models.is_hrnet_model import HRNetModel

    width, ocr, small = ARCHS[arch]
    params = dict(width=width, ocr_width=ocr, small=small, with_aux_output=True,
                  use_leaky_relu=True, use_rgb_conv=False, use_disks=True, norm_radius=5,
                  with_prev_mask=True)
    torch.manual_seed(0)
    model = HRNetModel(**params)
    path = folder / f"{arch}.pth"
    torch.save({"state_dict": model.state_dict(),
                "config": {"class": "isegm.model.is_hrnet_model.HRNetModel",
                           "params": {k: {"value": v} for k, v in params.items()}}}, path)
    return path


def run_one(config: dict) -> dict:
    """Time one configuration in this process; returns the measurements."""
    import cv2
    import numpy as np
    import torch

    from engine import InteractiveSession
    from engine.evaluation.clicker import Clicker
    from engine.imageio import load_image
    from engine.inference.factory import load_predictor
    from engine.inference.options import InferenceOptions

    if config["threads"]:
        torch.set_num_threads(config["threads"])
    width, height = config["size"]
    image = cv2.resize(load_image(IMAGE), (width, height), interpolation=cv2.INTER_CUBIC)
    gt = cv2.resize(cv2.imread(str(MASK), cv2.IMREAD_GRAYSCALE), (width, height),
                    interpolation=cv2.INTER_NEAREST)
    gt = np.where(gt == 128, -1, (gt > 128).astype(np.int8)).astype(np.int8)
    options = InferenceOptions(zoom_in=config["zoom"], brs_mode=config["mode"])
    predictor = load_predictor(config["checkpoint"], "cpu", options)
    session = InteractiveSession(predictor, image)
    clicker = Clicker(gt)
    times, cpu_times = [], []
    for _ in range(config["warmup"] + config["clicks"]):
        click = clicker.make_next_click(session.mask)
        started, cpu_started = time.perf_counter(), time.process_time()
        session.add_click(click)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    timed = times[config["warmup"]:]
    return {"median_s": statistics.median(timed), "mean_s": statistics.mean(timed),
            "cpu_median_s": statistics.median(cpu_times[config["warmup"]:]),
            "max_s": max(timed), "clicks": len(timed), "threads": torch.get_num_threads(),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=list(ARCHS),
                        choices=[*ARCHS, *FOCALCLICK])
    parser.add_argument("--size", nargs="+", default=["640x480", "1920x1080"])
    parser.add_argument("--zoom", nargs="+", default=["on", "off"], choices=["on", "off"])
    parser.add_argument("--mode", nargs="+", default=["NoBRS"])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process's configuration
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return

    results = []
    print(f"{'arch':7} {'size':>9} {'zoom':4} {'mode':8} {'median s':>8} {'mean s':>7} "
          f"{'max s':>6} {'CPU s':>6} {'peak MiB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for arch in args.arch:
            checkpoint = checkpoint_for(arch, Path(folder))
            for size in args.size:
                for zoom in args.zoom:
                    for mode in args.mode:
                        if arch in FOCALCLICK and mode != "NoBRS":
                            continue  # FocalClick has no backpropagating refinement
                        config = {"checkpoint": str(checkpoint), "mode": mode,
                                  "size": [int(v) for v in size.split("x")],
                                  "zoom": zoom == "on", "clicks": args.clicks,
                                  "warmup": args.warmup, "threads": args.threads}
                        out = subprocess.run([sys.executable, __file__, "--one",
                                              json.dumps(config)], capture_output=True,
                                             text=True, env={**os.environ})
                        if out.returncode:
                            print(out.stderr, file=sys.stderr)
                            continue
                        result = {"arch": arch, "size": size, "zoom": zoom, "mode": mode,
                                  **json.loads(out.stdout.strip().splitlines()[-1])}
                        results.append(result)
                        print(f"{arch:7} {size:>9} {zoom:4} {mode:8} {result['median_s']:8.3f} "
                              f"{result['mean_s']:7.3f} {result['max_s']:6.3f} "
                              f"{result['cpu_median_s']:6.3f} {result['peak_mib']:8.0f}",
                              flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
