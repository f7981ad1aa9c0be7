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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.annotations import Project


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
    from engine.annotations import Project, ProjectError

    try:
        # Locked: a window editing the same project would otherwise save over the import.
        project = Project.open_folder(args.folder, args.project, lock=True)
    except (ProjectError, OSError) as exc:
        print(f"clickmask: nothing imported: {exc}", file=sys.stderr)
        return 1
    try:
        return _import_into(project, args.coco)
    finally:
        project.release_lock()


def _import_into(project: Project, coco: Path) -> int:
    from engine.annotations import ProjectError
    from engine.coco import CocoFormatError, import_coco
    from engine.journal import Journal, JournalError, journal_path, set_aside

    journal = None
    try:
        # Work a crash left in the journal goes into the project first, as the GUI does,
        # and a damaged journal is set aside as the GUI does.
        if journal_path(project.path).exists():
            try:
                journal = Journal.open(project)[0]
            except JournalError as exc:
                print(f"warning: {exc}; it was kept as {set_aside(project)}", file=sys.stderr)
        report = import_coco(project, coco)
        if report.added_total:
            project.save()
    except CocoFormatError as exc:
        print(f"clickmask: nothing imported: {exc}", file=sys.stderr)
        return 1
    except (ProjectError, OSError) as exc:
        print(f"clickmask: nothing imported: the project cannot be saved to {project.path}: "
              f"{exc}", file=sys.stderr)
        return 1
    finally:
        if journal is not None:
            journal.close()
    print(f"{report.summary()}; project saved to {project.path}" if report.added_total
          else report.summary())
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 2 if report.skipped or report.missing_images else 0
