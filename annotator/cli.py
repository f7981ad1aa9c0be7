"""The ``clickmask`` command: the GUI by default, ``export`` / ``import`` for COCO files.

Bad input never ends in a traceback: each command prints what is wrong on stderr and exits
with 1 (nothing done) or 2 (done, but something was left out and named on stderr).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from annotator import __version__
from annotator.cli_evaluate import add_evaluate_parser, run_evaluate
from annotator.cli_import import add_import_parser, run_import
from resources import SAMPLES_DIR
from weights.cli import add_parser as add_weights_parser
from weights.cli import run as run_weights

SUBCOMMANDS = ("gui", "export", "import", "weights", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clickmask",
        description="Click-based interactive segmentation. With no command, opens the GUI.")
    parser.add_argument("--version", action="version", version=f"clickmask {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation headless (open the samples, one click, "
                             "COCO export, torch) and exit: 0 if everything worked")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = commands.add_parser("gui", help="open the annotator (the default command)")
    gui.add_argument("folder", nargs="?", type=Path,
                     help="folder of images (default: the bundled samples)")
    gui.add_argument("--project", type=Path,
                     help="project file (default: clickmask-project.json beside the images)")
    gui.add_argument("--model", default=None,
                     help="model name from the registry (default: the last session's)")
    gui.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                     help="default: the last session's, else auto")

    export = commands.add_parser(
        "export", help="export a project as COCO JSON",
        description="Write a project's objects as COCO JSON. Exit status 2: written, but "
                    "some images or objects were left out (named on stderr).")
    export.add_argument("source", type=Path, help="a project file or a folder of images")
    export.add_argument("-o", "--output", type=Path, required=True, help="COCO JSON to write")
    export.add_argument("--holes", choices=("rle", "fill"), default="rle",
                        help="objects with holes: 'rle' writes them as RLE (exact, default); "
                             "'fill' writes outer polygons, filling the holes")
    add_import_parser(commands)
    add_weights_parser(commands)
    add_evaluate_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0] not in SUBCOMMANDS and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    args = build_parser().parse_args(argv)
    if args.self_test:
        from annotator.selftest import run_self_test

        return run_self_test()
    if args.command == "export":
        return run_export(args.source, args.output, args.holes)
    if args.command == "import":
        return run_import(args)
    if args.command == "weights":
        return run_weights(args)
    if args.command == "evaluate":
        return run_evaluate(args)
    from annotator.app import run_gui  # Qt only loads for the GUI

    folder = args.folder if args.folder is not None else SAMPLES_DIR
    return run_gui(folder, args.project, args.model, args.device)


def run_export(source: Path, output: Path, holes: str) -> int:
    from tqdm import tqdm

    from engine.annotations import Project, ProjectError, saved_project_paths
    from engine.coco import ExportCancelled, export_coco

    try:
        if source.is_dir():
            if not saved_project_paths(source.resolve()):
                print(f"clickmask: no project found for {source}; "
                      "open it in Clickmask and annotate first", file=sys.stderr)
                return 1
            project = Project.open_folder(source)
        else:
            project = Project.load(source)
    except ProjectError as exc:
        print(f"clickmask: {exc}", file=sys.stderr)
        return 1
    with tqdm(desc="Exporting", unit="obj", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)  # tqdm throttles the redraws
        try:
            report = export_coco(project, output, holes=holes, progress=progress)
        except (OSError, ProjectError, ExportCancelled) as exc:
            print(f"clickmask: export failed: {exc}", file=sys.stderr)
            return 1
    print(f"Wrote {output}: {report.summary()}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 2 if report.warnings else 0


if __name__ == "__main__":
    sys.exit(main())
