"""``clickmask import``: add a COCO file's instances to the project of a folder of images.

    clickmask import photos/ annotations.json

Exit status: 0 when every instance was imported, 2 when the project was saved but some
instances were skipped (each one named on stderr), 1 when nothing was imported (the file is
not a COCO dataset, or the project cannot be read or saved).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_import_parser(commands: argparse._SubParsersAction) -> None:
    """Register the ``import`` subcommand on the ``clickmask`` parser."""
    command = commands.add_parser(
        "import", help="import COCO JSON annotations into a folder's project",
        description="Add the instances of a COCO JSON file to the project of a folder of "
                    "images (matched by file name) and save it. Exit status 2: saved, but "
                    "some instances were skipped; 1: nothing imported.")
    command.add_argument("folder", type=Path, help="the folder of the images")
    command.add_argument("coco", type=Path, help="the COCO JSON file to import")
    command.add_argument("--project", type=Path,
                         help="project file (default: the folder's, as the GUI finds it)")


def run_import(args: argparse.Namespace) -> int:
    """Import ``args.coco`` into the project of ``args.folder``; see the module's exit codes."""
    from engine.annotations import ProjectError
    from engine.coco import CocoFormatError
    from engine.workspace import Workspace

    problems: list[str] = []
    try:
        # Locked: a window editing the same project would otherwise save over the import.
        # Work a crash left in the journal goes into the project first, and a damaged
        # journal is set aside, as the GUI does.
        workspace, _ = Workspace.open(args.folder, args.project, report=problems.append)
    except (ProjectError, OSError) as exc:
        print(f"clickmask: nothing imported: {exc}", file=sys.stderr)
        return 1
    try:
        for problem in problems:
            print(f"warning: {problem}", file=sys.stderr)
        problems.clear()
        report = workspace.import_coco(args.coco)
    except CocoFormatError as exc:
        print(f"clickmask: nothing imported: {exc}", file=sys.stderr)
        return 1
    finally:
        workspace.close()
    if problems:  # the import could not be saved (it stays in the journal)
        print(f"clickmask: the import was not saved: {problems[0]}", file=sys.stderr)
        return 1
    project = workspace.project
    print(f"{report.summary()}; project saved to {project.path}" if report.added_total
          else report.summary())
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 2 if report.skipped or report.missing_images else 0
