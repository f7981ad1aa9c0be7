"""Peak memory and time of a huge image through the whole annotator: load, open in the GUI,
5 clicks with GrabCut, finish, save.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/huge_image.py [--size 20000]
        [--screenshot shot.png]

A synthetic image (a few shapes on a plain background, ``--size`` pixels square) is written
to a temporary folder by a child process, so that making it costs this process nothing.
Before each stage the process's peak resident memory is reset (Linux: /proc/self/clear_refs),
so each line gives the stage's own peak (VmHWM) and the memory held after it (VmRSS).
Timings depend on the machine's load.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

CLICKS = [(0.30, 0.30, True), (0.30, 0.38, True), (0.22, 0.30, True), (0.30, 0.50, False),
          (0.38, 0.30, True)]  # (y, x) as fractions of the size: the disk of the scene


def write_scene(path: Path, size: int) -> None:
    """A plain background with a disk (the clicked object), a rectangle and a triangle."""
    image = np.full((size, size, 3), (60, 90, 70), np.uint8)
    cv2.circle(image, (int(0.3 * size), int(0.3 * size)), int(0.12 * size), (40, 200, 230), -1)
    cv2.rectangle(image, (int(0.6 * size), int(0.55 * size)), (int(0.9 * size), int(0.8 * size)),
                  (200, 60, 60), -1)
    triangle = (np.array([[0.2, 0.9], [0.45, 0.6], [0.5, 0.95]]) * size).astype(np.int32)
    cv2.fillPoly(image, [triangle], (230, 230, 230))
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise SystemExit(f"could not write {path}")


def memory() -> tuple[float, float]:
    """(peak, current) resident memory of this process in GiB since the last reset."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return (int(fields["VmHWM"].split()[0]) / 2 ** 20, int(fields["VmRSS"].split()[0]) / 2 ** 20)


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def report(stage: str, seconds: float, extra: str = "") -> None:
    peak, current = memory()
    print(f"{stage:<22} peak {peak:6.2f} GiB   held {current:6.2f} GiB   {seconds:7.2f} s"
          + (f"   {extra}" if extra else ""), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000, help="side of the square image")
    parser.add_argument("--screenshot", type=Path, help="save the window after the clicks")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.write is not None:
        write_scene(args.write, args.size)
        return 0

    from PySide6.QtCore import QCoreApplication

    from annotator.app import create_application
    from annotator.controller import SessionController
    from annotator.main_window import MainWindow
    from engine.imageio import load_image

    app = create_application()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"huge {args.size}.png"
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--size", str(args.size), "--write",
                        str(path)], check=True)
        print(f"{args.size}x{args.size} scene written ({path.stat().st_size / 2 ** 20:.1f} MiB "
              f"PNG) in {time.perf_counter() - started:.1f} s")
        reset_peak()
        report("start (Qt, torch)", 0.0)

        reset_peak()
        started = time.perf_counter()
        image = load_image(path)
        report("load_image", time.perf_counter() - started, f"{image.nbytes / 2 ** 30:.2f} GiB RGB")
        del image

        def wait(condition) -> None:
            while not condition():
                QCoreApplication.processEvents()
                time.sleep(0.005)

        reset_peak()
        started = time.perf_counter()
        window = MainWindow(SessionController())
        window.show_error = lambda text: print(f"error shown: {text}")
        window.resize(1400, 860)
        window.show()
        controller = window.controller
        window.open_folder(folder)
        wait(lambda: controller.session.image is not None and not controller.session.busy)
        app.processEvents()
        report("open in the GUI", time.perf_counter() - started,
               f"display copy {window.canvas.display_shape}")

        reset_peak()
        times = []
        for fy, fx, positive in CLICKS:
            started = time.perf_counter()
            controller.add_click(fy * args.size, fx * args.size, positive)
            wait(lambda: not controller.session.busy)
            app.processEvents()
            times.append(time.perf_counter() - started)
        stored = controller.session.queue.state.session.stored_map_bytes
        report("5 GrabCut clicks", sum(times),
               f"{sum(times) / len(times):.2f} s/click (each: "
               + ", ".join(f"{t:.2f}" for t in times)
               + f"); undo steps hold {stored / 2 ** 20:.1f} MiB")
        if args.screenshot is not None:
            window.grab().save(str(args.screenshot))

        reset_peak()
        started = time.perf_counter()
        controller.finish_object("disk")  # the controller saves the project after it
        wait(lambda: not controller.session.busy and bool(controller.rows.current_objects()))
        app.processEvents()
        area = controller.rows.current_objects()[0].mask.sum() / args.size ** 2
        report("finish (and save)", time.perf_counter() - started, f"object covers {area:.1%}")

        reset_peak()
        started = time.perf_counter()
        controller.rows.project.save()
        report("save again", time.perf_counter() - started,
               f"{controller.rows.project.path.stat().st_size / 1024:.0f} KiB project file")
        controller.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
