"""Speed at scale: COCO import of 300,000 annotations, and open / save / export of a project
of 100,000 objects with realistic masks, each with wall time, CPU time and peak memory.

    PYTHONPATH=. .venv/bin/python benchmarks/scale.py [--annotations 300000]
        [--import-images 3 3000] [--objects 100000] [--project-images 20000] [--quick]
        [--keep FOLDER]

Everything is synthetic and deterministic (seeded): 640x480 images, objects that are
blobs of a few % of the image (random smooth outlines, some with a hole, some in two
parts), traced by the export into polygons of tens to hundreds of points.

- **import**: a folder of ``N`` images (real JPEGs, sizes unknown to the project, as in a
  fresh folder) and a COCO file of ``--annotations`` instances spread evenly over them
  (polygons of 10-60 points, every tenth a compressed RLE); measured: ``Project.open_folder``,
  ``import_coco`` and the save after it, as ``clickmask import`` does.
- **project**: a project file of ``--objects`` objects over ``--project-images`` images
  (written directly in the project format, so every version of the code reads the same
  file); measured: ``Project.load``, ``Project.open_folder`` (load + folder listing), a save,
  and ``export_coco``.

Each measurement runs in a fresh child process (built data is written by other children
first), and each stage reports its own peak resident memory (RSS). CPU time is the
process's user+system time; on a shared machine it is the steadier number. The digests of the saved project and
of the export (without its creation date) let two versions of the code be compared:
run once with ``PYTHONPATH`` at each checkout (the benchmark file itself can be this one).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

HEIGHT, WIDTH = 480, 640
CATEGORIES = [f"category-{number}" for number in range(1, 81)]


# -- synthetic shapes ------------------------------------------------------------------------

def blob(rng: np.random.Generator, points: int, radius: float,
         centre: tuple[float, float]) -> np.ndarray:
    """``points`` x 2 (x, y) outline of a smooth random star-shaped blob."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    harmonics = np.arange(2, 6)
    amplitudes = rng.uniform(0, 0.25, harmonics.size) / harmonics
    phases = rng.uniform(0, 2 * np.pi, harmonics.size)
    radii = radius * (1 + (amplitudes * np.cos(np.outer(angles, harmonics) + phases)).sum(1))
    return np.column_stack((centre[0] + radii * np.cos(angles),
                            centre[1] + radii * np.sin(angles)))


def random_polygon(rng: np.random.Generator, points: int) -> list[float]:
    """A COCO polygon (flat, 2 decimals) of a blob covering about 0.5-5 % of the image."""
    radius = rng.uniform(15, 60)
    centre = (rng.uniform(radius, WIDTH - radius), rng.uniform(radius, HEIGHT - radius))
    return [round(float(v), 2) for v in blob(rng, points, radius, centre).ravel()]


def object_rle(rng: np.random.Generator) -> dict:
    """A project object's compressed RLE: a pixel blob; every 20th has a hole, every 10th
    a second part (what clicking a real image gives, roughly)."""
    radius = rng.uniform(15, 60)
    centre = (rng.uniform(radius, WIDTH - radius), rng.uniform(radius, HEIGHT - radius))
    kind = rng.integers(20)
    if kind == 0:
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        cv2.fillPoly(mask, [np.round(blob(rng, 120, radius, centre)).astype(np.int32)], 1)
        cv2.circle(mask, (round(centre[0]), round(centre[1])), round(radius / 3), 0, -1)
        rle = mask_utils.encode(np.asfortranarray(mask))
    else:
        polygons = [blob(rng, 120, radius, centre).ravel()]
        if kind < 3:
            polygons.append(blob(rng, 60, radius / 3, (centre[0] + radius * 1.3, centre[1]))
                            .ravel())
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, HEIGHT, WIDTH))
    return {"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode("ascii")}


def write_images(folder: Path, count: int, seed: int) -> list[str]:
    """``count`` real 640x480 JPEGs (a few distinct ones, copied), natural names."""
    rng = np.random.default_rng(seed)
    variants = []
    for _ in range(4):
        image = rng.integers(0, 255, (HEIGHT // 16, WIDTH // 16, 3), dtype=np.uint8)
        image = cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
        variants.append(cv2.imencode(".jpg", image)[1].tobytes())
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"img{number:05d}.jpg" for number in range(1, count + 1)]
    for number, name in enumerate(names):
        (folder / name).write_bytes(variants[number % len(variants)])
    return names


# -- building the data (children, untimed) ---------------------------------------------------

def build_import(folder: Path, coco_path: Path, images: int, annotations: int) -> None:
    names = write_images(folder, images, seed=images)
    rng = np.random.default_rng(annotations + images)
    records = []
    for number in range(annotations):
        points = int(rng.integers(10, 61))
        polygon = random_polygon(rng, points)
        if number % 10 == 9:
            rle = mask_utils.merge(mask_utils.frPyObjects([polygon], HEIGHT, WIDTH))
            segmentation: object = {"size": [HEIGHT, WIDTH],
                                    "counts": rle["counts"].decode("ascii")}
        else:
            segmentation = [polygon]
        xs, ys = polygon[0::2], polygon[1::2]
        records.append({"id": number + 1, "image_id": number % images + 1,
                        "category_id": int(rng.integers(1, len(CATEGORIES) + 1)),
                        "segmentation": segmentation, "area": 0.0, "iscrowd": 0,
                        "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]})
    document = {"images": [{"id": index + 1, "file_name": name, "width": WIDTH,
                            "height": HEIGHT} for index, name in enumerate(names)],
                "annotations": records,
                "categories": [{"id": index + 1, "name": name}
                               for index, name in enumerate(CATEGORIES)]}
    coco_path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")


def build_project(folder: Path, images: int, objects: int) -> None:
    names = write_images(folder, images, seed=images)
    rng = np.random.default_rng(objects + images)
    entries = [{"id": index + 1, "file_name": name, "width": WIDTH, "height": HEIGHT,
                "objects": []} for index, name in enumerate(names)]
    for number in range(objects):
        imported = number % 2 == 0
        entries[number % images]["objects"].append({
            "id": number + 1, "category_id": int(rng.integers(1, len(CATEGORIES) + 1)),
            "source": "imported" if imported else "clicked", "rle": object_rle(rng),
            "clicks": [] if imported else [[float(rng.integers(HEIGHT)),
                                            float(rng.integers(WIDTH)), True]],
            "visible": True,
            **({"review": {"outcome": "pending", "original_rle": None,
                           "original_category_id": None}} if imported else {})})
    document = {"format": "clickmask-project", "version": 1, "root": str(folder),
                "categories": [{"id": index + 1, "name": name, "color": "#%02x%02x%02x"
                                % tuple(int(v) for v in rng.integers(0, 256, 3))}
                               for index, name in enumerate(CATEGORIES)],
                "images": entries}
    (folder / "clickmask-project.json").write_text(
        json.dumps(document, separators=(",", ":")), encoding="utf-8")


# -- measuring (children) --------------------------------------------------------------------

class Stages:
    """Wall time, CPU time and peak resident memory of named stages, printed as one JSON
    line. The peak is reset before each stage (Linux: /proc/self/clear_refs), so it is the
    stage's own; where that cannot be done it is the process's peak so far."""

    def __init__(self) -> None:
        self.results: dict[str, object] = {}

    def run(self, name: str, function):
        _reset_peak()
        wall, cpu = time.perf_counter(), time.process_time()
        value = function()
        self.results[name] = {"wall_s": round(time.perf_counter() - wall, 2),
                              "cpu_s": round(time.process_time() - cpu, 2),
                              "peak_rss_mb": _peak_rss_mb()}
        return value

    def emit(self, **extra: object) -> None:
        print(json.dumps({**self.results, **extra}))


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mb() -> int:
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024)
    except (OSError, IndexError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure_import(folder: Path, coco_path: Path) -> None:
    from engine.annotations import Project
    from engine.coco import import_coco

    stages = Stages()
    project = stages.run("open", lambda: Project.open_folder(folder))
    report = stages.run("import", lambda: import_coco(project, coco_path))
    stages.run("save", project.save)
    stages.emit(added=report.added_total, skipped=report.skipped,
                project_sha256=_digest((folder / "clickmask-project.json").read_bytes()))


def measure_project(folder: Path) -> None:
    from engine.annotations import Project
    from engine.coco import export_coco

    stages = Stages()
    path = folder / "clickmask-project.json"
    stages.run("load", lambda: Project.load(path))
    project = stages.run("open", lambda: Project.open_folder(folder))
    stages.run("save", project.save)
    saved = _digest(path.read_bytes())
    out = folder.parent / "export.json"
    report = stages.run("export", lambda: export_coco(project, out))
    exported = out.read_bytes()
    stages.emit(objects=sum(len(e.objects) for e in project.images.values()),
                polygons=report.polygons, rles=report.rles, project_sha256=saved,
                # From the key after "info", which holds the date of the export.
                export_sha256=_digest(exported[exported.index(b',"licenses":'):]))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# -- driver ----------------------------------------------------------------------------------

def child(*arguments: object) -> dict:
    command = [sys.executable, __file__, "--child", *map(str, arguments)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=int, default=300_000)
    parser.add_argument("--import-images", type=int, nargs="*", default=[3, 3000])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--project-images", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of every size (import over 3 and 300 images)")
    parser.add_argument("--keep", type=Path, help="build the data here and keep it")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phase, *paths = args.child
        {"build-import": lambda: build_import(Path(paths[0]), Path(paths[1]),
                                              int(paths[2]), int(paths[3])),
         "build-project": lambda: build_project(Path(paths[0]), int(paths[1]), int(paths[2])),
         "import": lambda: measure_import(Path(paths[0]), Path(paths[1])),
         "project": lambda: measure_project(Path(paths[0]))}[phase]()
        return
    if args.quick:
        args.annotations //= 10
        args.objects //= 10
        args.project_images //= 10
        args.import_images = [n if n <= 3 else n // 10 for n in args.import_images]
    import engine
    print(f"engine: {Path(engine.__file__).parent}; machine load {os.getloadavg()[0]:.1f}; "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        for images in args.import_images:
            work = root / f"import-{images}"
            folder, coco = work / "images", work / "coco.json"
            if not coco.exists():
                child("build-import", folder, coco, images, args.annotations)
            (folder / "clickmask-project.json").unlink(missing_ok=True)
            result = child("import", folder, coco)
            print(f"import {args.annotations} annotations over {images} images: "
                  f"{json.dumps(result)}", flush=True)
        if args.objects:
            folder = root / "project" / "images"
            built = root / "project" / "built.json"  # each run starts from the same file
            if not built.exists():
                child("build-project", folder, args.project_images, args.objects)
                shutil.copyfile(folder / "clickmask-project.json", built)
            shutil.copyfile(built, folder / "clickmask-project.json")
            result = child("project", folder)
            print(f"project of {args.objects} objects over {args.project_images} images: "
                  f"{json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
