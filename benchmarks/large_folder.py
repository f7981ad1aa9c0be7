"""Large folder: open 50,000 images in the real main window and annotate 100 objects.

    PYTHONPATH=. .venv/bin/python benchmarks/large_folder.py [--images 50000] [--objects 100]
        [--keep FOLDER]

The GUI as a user drives it, offscreen and scripted, in one process: the main window opens
a folder of ``--images`` tiny images (hard links to one 64x48 PNG), then for each of
``--objects`` images clicks the disk in it, finishes the object (the category question
answered) and goes to the next image, waiting each time until the object is saved and the
next image is shown. The default engine (GrabCut) runs the clicks.

It reports the time to open the folder (until its first image is shown) and per object,
wall clock and CPU (every thread of the process), and how Python's count of references to
None moved over the session: a Qt binding that loses them (PySide6 6.12.0 on Python 3.11)
aborts this run with ``Fatal Python error: none_dealloc``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_SIZE = (48, 64)  # rows, columns
DISK = (24, 32, 12)  # y, x, radius of the object in every image


@dataclass(frozen=True)
class Clock:
    """Wall and CPU seconds since it was made."""

    wall: float
    cpu: float

    @classmethod
    def start(cls) -> Clock:
        return cls(time.perf_counter(), time.process_time())

    def elapsed(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def make_folder(folder: Path, count: int) -> None:
    """``count`` images in ``folder``: hard links to one small PNG with a disk in it."""
    image = np.full((*IMAGE_SIZE, 3), 40, np.uint8)
    cv2.circle(image, (DISK[1], DISK[0]), DISK[2], (60, 170, 230), -1)
    source = folder / ".source.png"  # hidden: not listed as an image of the folder
    cv2.imwrite(str(source), image)
    for index in range(count):
        target = folder / f"img{index:06d}.png"
        if not target.exists():
            os.link(source, target)


def run(folder: Path, objects: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QPointF, Qt
    from PySide6.QtTest import QTest

    from annotator.app import create_application
    from annotator.controller import SessionController
    from annotator.main_window import MainWindow

    create_application()
    window = MainWindow(SessionController())
    errors: list[str] = []
    window.show_error = errors.append
    window.ask_category = lambda: "disk"
    window.show()
    controller = window.controller

    def wait(condition: Callable[[], bool], what: str, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if errors:
                raise SystemExit(f"error while waiting for {what}: {errors}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            QCoreApplication.processEvents()
            time.sleep(0.001)

    def shown(index: int) -> Callable[[], bool]:
        return lambda: (controller.current_index == index and controller.session.image is not None
                        and not controller.session.busy)

    none_before = sys.getrefcount(None)
    clock = Clock.start()
    if not window.open_folder(folder):
        raise SystemExit(f"could not open {folder}: {errors}")
    wait(shown(0), "the first image")
    open_wall, open_cpu = clock.elapsed()
    count = len(controller.files)
    print(f"opened {count} images in {open_wall:.2f} s wall, {open_cpu:.2f} s CPU "
          f"(until the first image is shown)", flush=True)

    walls, cpus = [], []
    for index in range(min(objects, count - 1)):
        clock = Clock.start()
        before = len(controller.rows.current_objects())
        viewport_pos = window.canvas.mapFromScene(QPointF(DISK[1] + 0.5, DISK[0] + 0.5))
        QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=viewport_pos)
        wait(lambda: controller.session.view.mask is not None and not controller.session.busy, "the click")
        window.finish_action.trigger()
        wait(lambda: not controller.session.busy, "the finish")
        if len(controller.rows.current_objects()) != before + 1:
            raise SystemExit(f"object {index + 1} was not stored: {errors}")
        window.next_action.trigger()
        wait(shown(index + 1), f"image {index + 2}")
        wall, cpu = clock.elapsed()
        walls.append(wall)
        cpus.append(cpu)
        if (index + 1) % 25 == 0:
            print(f"  {index + 1} objects, last {wall:.3f} s wall", flush=True)
    stored = sum(len(entry.objects) for entry in controller.rows.project.images.values())
    print(f"{len(walls)} objects (click, finish, next image): per object "
          f"{statistics.mean(walls):.3f} s wall (median {statistics.median(walls):.3f}, "
          f"max {max(walls):.3f}), {statistics.mean(cpus):.3f} s CPU; {stored} stored")
    if sys.version_info < (3, 12):
        print(f"references to None: {none_before} before opening, "
              f"{sys.getrefcount(None)} after the session")
    window.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="make (or reuse) the folder here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clickmask-large-folder-") as scratch:
        os.environ.setdefault("CLICKMASK_HOME", str(Path(scratch) / "home"))
        folder = args.keep or Path(scratch) / "images"
        folder.mkdir(parents=True, exist_ok=True)
        clock = Clock.start()
        make_folder(folder, args.images)
        print(f"folder of {args.images} images ready in {clock.elapsed()[0]:.1f} s: {folder}",
              flush=True)
        run(folder, args.objects)


if __name__ == "__main__":
    main()
