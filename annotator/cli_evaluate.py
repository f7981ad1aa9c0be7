"""``clickmask evaluate``: the NoC protocol for models on benchmarks, from the command line.

    clickmask evaluate --model grabcut --dataset GrabCut=../shared/datasets/GrabCut

Each model runs on each dataset; the summary table is printed, and the output folder gets
``results.json`` (every click and IoU), ``results.csv`` (the table) and ``miou.png``
(mIoU-vs-clicks curves of these runs and of any ``--compare`` results files).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import asdict, replace
from pathlib import Path

from engine.inference.options import BRSMode
DAVIS_ZOOM_SIZE = 600  # the official evaluation zooms DAVIS's large frames to 600 px


class EvaluateError(Exception):
    """Bad input for ``clickmask evaluate``; the message is shown to the user."""


def add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` subcommand on the ``clickmask`` parser."""
    evaluate = commands.add_parser(
        "evaluate", help="measure NoC/NoF/mIoU/SPC of models on benchmarks",
        description="Run the standard NoC protocol (RITM's click simulator) and write "
                    "results.json, results.csv and miou.png to the output folder.")
    evaluate.add_argument("--model", nargs="+", required=True, metavar="NAME_OR_FILE",
                          help="registry model names or checkpoint files")
    evaluate.add_argument("--dataset", nargs="+", required=True, metavar="NAME=PATH",
                          help="benchmarks: GrabCut, Berkeley, DAVIS, COCO_MVal, SBD, "
                               "PascalVOC or COCO (a .json file); another NAME reads PATH "
                               "by its layout")
    evaluate.add_argument("--mode", default="NoBRS", choices=[str(mode) for mode in BRSMode],
                          help="back-propagating refinement scheme (default NoBRS)")
    evaluate.add_argument("--max-clicks", type=int, default=20,
                          help="clicks per object (default 20)")
    evaluate.add_argument("--target-iou", type=float, nargs="+", default=[0.85, 0.90],
                          metavar="IOU", help="IoUs for NoF, also reported as NoC "
                                              "(default 0.85 0.90)")
    evaluate.add_argument("--stop-at-target", action="store_true",
                          help="stop an object once it reaches the highest target IoU, as "
                               "the official NoC runs do (faster; no mIoU@k or BIoU)")
    evaluate.add_argument("--zoom", action=argparse.BooleanOptionalAction, default=True,
                          help="Zoom-In for the models that have it (default on)")
    evaluate.add_argument("--taiz", action="store_true",
                          help="wrap each model in TAIZ (target-aware zooming)")
    evaluate.add_argument("--proposals", action="store_true",
                          help="first-click proposals: the one closest to the ground truth "
                               "is picked (oracle) and the suggested one's mIoU@1 reported")
    evaluate.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    evaluate.add_argument("--output", type=Path, default=Path("clickmask-evaluation"),
                          help="folder for the results (default ./clickmask-evaluation)")
    evaluate.add_argument("--limit", type=int, default=None, metavar="N",
                          help="only the first N samples of each dataset")
    evaluate.add_argument("--compare", type=Path, nargs="+", default=[], metavar="RESULTS",
                          help="results.json files of earlier runs to draw in the plot")


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate every model on every dataset; 0 on success, 1 on bad input, 130 if stopped."""
    try:
        return _run(args)
    except EvaluateError as exc:
        print(f"clickmask evaluate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("clickmask evaluate: interrupted; nothing written", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.evaluation import metrics
    from engine.evaluation.plot import plot_miou_curves
    from engine.evaluation.report import (Run, load_runs, markdown_table, run_to_json,
                                          write_csv, write_json)
    from engine.evaluation.datasets import DatasetError
    from engine.evaluation.runner import evaluate_dataset
    from engine.inference.options import InferenceOptions
    from engine.proposals import ProposalGenerator
    from engine.session import DEFAULT_PROB_THRESH

    if args.max_clicks < 1:
        raise EvaluateError("--max-clicks must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise EvaluateError("--limit must be at least 1")
    if not all(0.0 < t <= 1.0 for t in args.target_iou):
        raise EvaluateError("--target-iou values must lie in (0, 1]")
    earlier = [run for path in args.compare for run in _load_compare(load_runs, path)]
    datasets = [_open_dataset(spec) for spec in args.dataset]
    thresholds = tuple(sorted(set(metrics.NOC_THRESHOLDS) | set(args.target_iou)))
    failures = tuple(sorted(set(args.target_iou)))
    stop_iou = max(args.target_iou) if args.stop_at_target else None
    options = InferenceOptions(zoom_in=args.zoom, brs_mode=args.mode, taiz=args.taiz)
    proposals = ProposalGenerator() if args.proposals else None
    # Every model is loaded before the first run, so a bad one fails at once, not hours in.
    models = [_load_model(spec, args.device, options) for spec in args.model]
    runs = []
    for spec, (default_predictor, label) in zip(args.model, models):
        for name, dataset in datasets:
            model_options, predictor = options, default_predictor
            if dataset.kind == "DAVIS":
                model_options = replace(options, zoom_target_size=DAVIS_ZOOM_SIZE)
                predictor, _ = _load_model(spec, args.device, model_options)
            total = len(dataset) if args.limit is None else min(args.limit, len(dataset))
            with tqdm(total=total, desc=f"{label} on {name}", unit="obj",
                      file=sys.stderr) as bar:
                try:
                    result = evaluate_dataset(
                        predictor, dataset, args.max_clicks, stop_iou, DEFAULT_PROB_THRESH,
                        limit=args.limit, name=name, proposals=proposals,
                        progress=lambda done, _total: bar.update(done - bar.n))
                except DatasetError as exc:
                    raise EvaluateError(f"{name}: {exc}") from None
            settings = {"mode": args.mode, "proposals": args.proposals,
                        "device": args.device, "stop_iou": stop_iou,
                        "prob_thresh": DEFAULT_PROB_THRESH, "dataset_path": str(dataset.root),
                        "engine": predictor.name, **asdict(model_options)}
            runs.append(Run(label, name, settings, result, thresholds, failures))

    output: Path = args.output
    command = shlex.join(["clickmask", "evaluate", *sys.argv[2:]]) \
        if sys.argv[1:2] == ["evaluate"] else ""
    write_json(runs, output / "results.json", command)
    write_csv(runs, output / "results.csv")
    all_runs = [run_to_json(run) for run in runs] + earlier
    drawn = plot_miou_curves(all_runs, output / "miou.png")
    if not drawn:
        (output / "miou.png").unlink(missing_ok=True)  # no stale plot of an earlier run
    print()
    print(markdown_table(all_runs), end="")
    print(f"\nWrote {output / 'results.json'}, {output / 'results.csv'}"
          + (f" and {output / 'miou.png'} ({drawn} curve{'s' * (drawn != 1)})" if drawn else
             " (no plot: no run has a full mIoU curve)"))
    return 0


def _open_dataset(spec: str):
    from engine.evaluation.datasets import DatasetError, open_dataset

    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise EvaluateError(f"--dataset takes NAME=PATH (e.g. GrabCut=datasets/GrabCut), "
                            f"not {spec!r}")
    try:
        return name, open_dataset(name, Path(path).expanduser())
    except DatasetError as exc:
        raise EvaluateError(str(exc)) from None


def _load_compare(load_runs, path: Path) -> list[dict]:
    try:
        return load_runs(path)
    except ValueError as exc:
        raise EvaluateError(str(exc)) from None


def _load_model(spec: str, device: str, options):
    """The predictor for a registry name or a checkpoint file, and its label in reports."""
    from engine.checkpoints import CheckpointError
    from engine.inference.factory import load_predictor
    from weights.registry import MODELS, WeightsNotFound, build_predictor

    path = Path(spec).expanduser()
    entry = MODELS.get(spec)
    if entry is None and not path.is_file():
        raise EvaluateError(f"--model {spec!r} is neither a registered model ("
                            f"{', '.join(sorted(MODELS))}) nor a checkpoint file")
    try:
        if entry is None:
            predictor, label = load_predictor(path, device, options), path.name
        elif entry.checkpoint is None:  # the weights-free default: TAIZ is its only option
            if options.brs_mode.refines:
                raise EvaluateError(f"{entry.title} has no BRS modes; use --mode NoBRS")
            return build_predictor(spec, device, options), spec
        else:  # raises WeightsNotFound, saying how to get the file, when it is missing
            predictor, label = build_predictor(spec, device, options), spec
    except (CheckpointError, WeightsNotFound, RuntimeError, ValueError) as exc:
        raise EvaluateError(str(exc)) from None
    _make_torch_deterministic()
    return predictor, label


def _make_torch_deterministic() -> None:
    # The official evaluation sets this too: cuDNN's autotuned kernels differ run to run.
    import torch

    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
