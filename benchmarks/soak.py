"""Soak: 1,000 clicks and 200 objects on one image through the engine, memory measured.

    PYTHONPATH=. .venv/bin/python benchmarks/soak.py [--objects 200] [--clicks 5]
        [--undo-every 10] [--every 50] [--keep FOLDER]

The path the GUI takes for every click, without Qt: an
:class:`~engine.session.InteractiveSession` with the default predictor (GrabCut), a
:class:`~engine.workspace.Workspace` applying, journaling and saving every finished object,
and its crash journal recording every click, undo and redo. The image is
a grid of ``--objects`` shapes with known masks; the official click simulator
(:mod:`engine.evaluation.clicker`) clicks each one ``--clicks`` times, and every
``--undo-every``-th object undoes and redoes its third click.

At the start, every ``--every`` objects and at the end it records the resident memory
(RSS), the memory Python allocated (tracemalloc: Python objects and numpy arrays) and the
size of what the project stores: the masks' RLE bytes, and the objects' whole in-memory
size (RLE strings, click lists, the objects themselves). Growth of the allocated memory
beyond the stored objects would be a leak: the table shows it as "unexplained".
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from engine import InteractiveSession
from engine.annotations import AnnotatedObject, Project
from engine.evaluation.clicker import Clicker
from engine.imageio import load_image
from engine import edit_builders as build
from engine.journal import journal_path
from engine.workspace import Workspace
from engine.masks import decode_rle, encode_rle
from engine.predictor import Predictor
from weights import DEFAULT_MODEL, build_predictor

IMAGE_NAME = "soak.png"
CELL = 40  # pixels per grid cell, one object per cell

FinishCheck = Callable[[InteractiveSession, Project, list[AnnotatedObject]], None]


@dataclass(frozen=True)
class Sample:
    """Memory after ``objects`` finished objects and ``clicks`` clicks."""

    objects: int
    clicks: int
    seconds: float
    rss: int  # resident set size of the process, bytes
    traced: int  # bytes Python holds (tracemalloc), after a garbage collection
    rle_bytes: int  # the stored masks' compressed RLE strings
    stored_bytes: int  # the stored objects whole: RLE, clicks, the objects themselves


@dataclass
class SoakResult:
    samples: list[Sample] = field(default_factory=list)
    undos: int = 0
    project_file_bytes: int = 0
    journal_file_bytes: int = 0

    @property
    def traced_growth(self) -> int:
        return self.samples[-1].traced - self.samples[0].traced

    @property
    def unexplained_growth(self) -> int:
        """Allocated memory the stored objects do not account for."""
        return self.traced_growth - self.samples[-1].stored_bytes


def make_scene(folder: Path, objects: int, seed: int = 0) -> list[dict]:
    """Write an image of ``objects`` shapes (discs, boxes, ellipses) on a noisy background
    into ``folder`` and return each shape's mask, one per grid cell, as compressed RLE
    (200 full-image masks would hold 64 MB of the memory being measured)."""
    columns = min(objects, 20)
    rows = -(-objects // columns)
    rng = np.random.default_rng(seed)
    height, width = rows * CELL, columns * CELL
    image = rng.integers(20, 70, (height, width, 3), dtype=np.uint8)
    masks = []
    for index in range(objects):
        row, column = divmod(index, columns)
        centre = (column * CELL + CELL // 2 + int(rng.integers(-3, 4)),
                  row * CELL + CELL // 2 + int(rng.integers(-3, 4)))
        shape = np.zeros((height, width), np.uint8)
        axes = (int(rng.integers(7, 15)), int(rng.integers(7, 15)))
        if index % 3 == 2:
            cv2.rectangle(shape, (centre[0] - axes[0], centre[1] - axes[1]),
                          (centre[0] + axes[0], centre[1] + axes[1]), 1, -1)
        else:
            cv2.ellipse(shape, centre, axes, int(rng.integers(0, 180)), 0, 360, 1, -1)
        colour = [int(c) for c in rng.integers(120, 256, 3)]
        image[shape.astype(bool)] = colour
        masks.append(encode_rle(shape.astype(bool)))
    cv2.imwrite(str(folder / IMAGE_NAME), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return masks


def rss_bytes() -> int:
    """The process's resident memory now (Linux), else its peak (other POSIX systems)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def deep_size(value: Any, seen: set[int] | None = None) -> int:
    """Bytes held by ``value`` and everything it references through containers and
    instance attributes (shared objects counted once)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, (list, tuple, set, frozenset)):
        size += sum(deep_size(item, seen) for item in value)
    elif hasattr(value, "__dict__"):
        size += deep_size(vars(value), seen)
    return size


def _sample(project: Project, objects: int, clicks: int, started: float) -> Sample:
    gc.collect()
    stored = [obj for _, obj in project.iter_objects()]
    return Sample(objects, clicks, time.perf_counter() - started, rss_bytes(),
                  tracemalloc.get_traced_memory()[0],
                  sum(len(obj.rle["counts"]) for obj in stored), deep_size(stored))


def _click_object(session: InteractiveSession, workspace: Workspace, gt: dict,
                  clicks: int, undo: bool) -> None:
    """Click one object as the simulated user, journaling every step as the GUI does;
    ``undo``: undo and redo the third click. ``gt`` is the object's mask as RLE. (A
    function of its own so that the click simulator's H x W maps are freed before the
    memory is sampled.)"""
    clicker = Clicker(decode_rle(gt).astype(np.int8))
    for number in range(clicks):
        session.add_click(clicker.make_next_click(session.mask))
        workspace.record_progress(IMAGE_NAME, session.clicks, None, None)
        if undo and number == 2:
            for step in (session.undo, session.redo):
                step()
                workspace.record_progress(IMAGE_NAME, session.clicks, None, None)


def run_soak(folder: Path, objects: int = 200, clicks_per_object: int = 5,
             undo_every: int = 10, sample_every: int = 50,
             predictor: Predictor | None = None, on_finish: FinishCheck | None = None,
             progress: Callable[[Sample], None] | None = None) -> SoakResult:
    """Annotate ``objects`` objects of a fresh scene in ``folder``; see the module docstring.

    ``on_finish(session, project, finished)`` runs after every finished object (tests
    check the structure there); ``progress`` gets every sample as it is taken.
    """
    masks = make_scene(folder, objects)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        workspace, _ = Workspace.open(folder)
        project = workspace.project
        session = InteractiveSession(predictor or build_predictor(DEFAULT_MODEL),
                                     load_image(folder / IMAGE_NAME))
        result = SoakResult()
        finished: list[AnnotatedObject] = []
        clicks = 0
        started = time.perf_counter()

        def sample() -> None:
            result.samples.append(_sample(project, len(finished), clicks, started))
            if progress is not None:
                progress(result.samples[-1])

        sample()
        for index, gt in enumerate(masks):
            undo = (index + 1) % undo_every == 0
            _click_object(session, workspace, gt, clicks_per_object, undo)
            clicks += clicks_per_object
            result.undos += undo
            object_clicks = session.clicks
            # Journaled, applied and saved as the GUI does after every object.
            workspace.apply(build.add_object(project, IMAGE_NAME, session.finish(), "shape",
                                             object_clicks), finishes=True)
            obj = project.images[IMAGE_NAME].objects[-1]
            finished.append(obj)
            if on_finish is not None:
                on_finish(session, project, finished)
            if len(finished) % sample_every == 0 and len(finished) < objects:
                sample()
        sample()
        workspace.close()
        result.project_file_bytes = project.path.stat().st_size
        result.journal_file_bytes = journal_path(project.path).stat().st_size
        return result
    finally:
        if not tracing:
            tracemalloc.stop()


def _mb(value: int) -> str:
    return f"{value / 2 ** 20:8.2f}"


def _print_sample(sample: Sample) -> None:
    print(f"{sample.objects:7d} {sample.clicks:6d} {sample.seconds:8.1f} {_mb(sample.rss)} "
          f"{_mb(sample.traced)} {sample.rle_bytes / 1024:9.1f} "
          f"{sample.stored_bytes / 1024:9.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--clicks", type=int, default=5, help="clicks per object")
    parser.add_argument("--undo-every", type=int, default=10,
                        help="every N-th object undoes and redoes its third click")
    parser.add_argument("--every", type=int, default=50, help="sample every N objects")
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    args = parser.parse_args()

    print("objects clicks  seconds  RSS MiB  Py MiB  RLE KiB  stored KiB")
    if args.keep:
        args.keep.mkdir(parents=True)
        folder_context = None
        folder = args.keep
    else:
        folder_context = tempfile.TemporaryDirectory()
        folder = Path(folder_context.name)
    try:
        result = run_soak(folder, args.objects, args.clicks, args.undo_every, args.every,
                          progress=_print_sample)
    finally:
        if folder_context is not None:
            folder_context.cleanup()
    first, last = result.samples[0], result.samples[-1]
    print(f"\n{last.clicks} clicks ({result.undos} undo + redo), {last.objects} objects "
          f"in {last.seconds:.1f} s ({last.seconds / max(last.clicks, 1) * 1000:.0f} ms "
          "per click with saving and journaling)")
    print(f"RSS: {first.rss / 2 ** 20:.1f} MiB at the start, {last.rss / 2 ** 20:.1f} MiB "
          f"at the end ({(last.rss - first.rss) / 2 ** 20:+.1f} MiB)")
    print(f"Python allocations: {first.traced / 2 ** 20:.2f} MiB at the start, "
          f"{last.traced / 2 ** 20:.2f} MiB at the end "
          f"({result.traced_growth / 1024:+.1f} KiB)")
    print(f"Stored masks: {last.rle_bytes / 1024:.1f} KiB of RLE; the stored objects whole "
          f"(RLE, clicks, objects) {last.stored_bytes / 1024:.1f} KiB; growth beyond them "
          f"{result.unexplained_growth / 1024:+.1f} KiB")
    print(f"Project file {result.project_file_bytes / 1024:.1f} KiB, journal "
          f"{result.journal_file_bytes} bytes after the last save")


if __name__ == "__main__":
    main()
