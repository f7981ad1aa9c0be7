"""``clickmask weights list|fetch|verify|add``: the model manager on the command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from weights.download import DownloadError
from weights.manager import (AmbiguousImport, ImportRefused, State, downloadable_entries,
                             entry_status, fetch_entry, import_file, verify_entry)
from weights.registry import (FAMILY_TITLES, MODELS, ModelEntry, engine_unavailable_reason,
                              weights_dir)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``weights`` command and its subcommands to the CLI's subparsers."""
    parser = commands.add_parser("weights", help="list, download, verify or import model "
                                                 "checkpoints")
    actions = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    actions.add_parser("list", help="every registered checkpoint and its state on disk")
    fetch = actions.add_parser("fetch", help="download checkpoints (resumes an interrupted "
                                             "download)")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="registry names (see list)")
    verify = actions.add_parser("verify", help="rehash downloaded checkpoints and compare")
    verify.add_argument("names", nargs="*", metavar="NAME",
                        help="registry names (default: every file present)")
    add = actions.add_parser("add", help="identify a local checkpoint file by its content "
                                         "and copy it in")
    add.add_argument("file", type=Path)
    add.add_argument("--as", dest="name", metavar="NAME",
                     help="the registry entry, when the content fits several")


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``weights`` command; returns the exit status."""
    if args.weights_command == "list":
        return _list()
    if args.weights_command == "fetch":
        return _fetch(args.names)
    if args.weights_command == "verify":
        return _verify(args.names)
    return _add(args.file, args.name)


def _entries(names: list[str]) -> list[ModelEntry] | None:
    unknown = [name for name in names if name not in MODELS or not MODELS[name].checkpoint]
    if unknown:
        known = ", ".join(entry.name for entry in downloadable_entries())
        print(f"clickmask: unknown checkpoint {', '.join(unknown)}; known: {known}",
              file=sys.stderr)
        return None
    return [MODELS[name] for name in names]


def _list() -> int:
    print(f"Weights folder: {weights_dir()}")
    for entry in downloadable_entries():
        status = entry_status(entry)
        family = FAMILY_TITLES[entry.family]
        engine = engine_unavailable_reason(entry)
        print(f"{entry.name:34} {family:10} {entry.size_mb:7.1f} MB  {status.state.value}")
        print(f"{'':34} {status.detail}")
        if engine:
            print(f"{'':34} cannot run yet: {engine}")
    return 0


def _fetch(names: list[str]) -> int:
    from tqdm import tqdm

    entries = _entries(names)
    if entries is None:
        return 2
    failed = 0
    for entry in entries:
        if not entry.needs_download:
            print(f"{entry.name}: already present ({entry_status(entry).state.value})")
            continue
        if entry.download_url is None:
            print(f"clickmask: {entry.name}: no direct download link; get the file from "
                  f"{entry.url} in a browser, then run `clickmask weights add FILE`",
                  file=sys.stderr)
            failed += 1
            continue
        with tqdm(desc=entry.name, unit="B", unit_scale=True, unit_divisor=1024,
                  file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total or None
                bar.update(done - bar.n)  # tqdm throttles the redraws
            try:
                status = fetch_entry(entry, progress)
            except KeyboardInterrupt:
                bar.close()
                print(f"\n{entry.name}: interrupted; run the same command again to resume",
                      file=sys.stderr)
                return 130
            except DownloadError as exc:
                bar.close()
                print(f"clickmask: {entry.name}: {exc}", file=sys.stderr)
                failed += 1
                continue
        print(f"{entry.name}: {status.state.value}: {status.detail}")
    return 1 if failed else 0


def _verify(names: list[str]) -> int:
    entries = _entries(names) if names else [e for e in downloadable_entries()
                                             if not e.needs_download]
    if entries is None:
        return 2
    if not entries:
        print("No checkpoint is downloaded yet; see `clickmask weights list`.")
        return 0
    bad = 0
    for entry in entries:
        status = verify_entry(entry)
        bad += status.state in (State.CHANGED, State.WRONG_FILE, State.NOT_DOWNLOADED,
                                State.PARTIAL)
        print(f"{entry.name}: {status.state.value}: {status.detail}")
    return 1 if bad else 0


def _add(file: Path, name: str | None) -> int:
    try:
        result = import_file(file, name)
    except AmbiguousImport as exc:
        print(f"clickmask: {exc} Run again with --as NAME.", file=sys.stderr)
        return 1
    except ImportRefused as exc:
        print(f"clickmask: refused: {exc}", file=sys.stderr)
        return 1
    done = "was already present" if result.already_present else "copied in"
    print(f"{file.name} is a {result.title} checkpoint: registry entry {result.entry.name} "
          f"({result.entry.title}); {done} as {result.entry.checkpoint}.")
    print(f"{result.status.state.value}: {result.status.detail}")
    return 0
