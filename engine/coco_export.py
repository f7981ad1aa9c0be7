"""COCO export of a project (:func:`export_coco`): masks as polygons, or as RLE where
polygons would lose them (:mod:`engine.coco_geometry` says how).

The masks are never decoded whole: the objects' RLE strings are decoded to runs a batch at
a time (:func:`engine.rle.runs_of_many`), and each mask is traced within its bounding box.
The JSON is what ``json.dumps`` writes, but the polygons' coordinates are formatted once
per distinct value (:class:`_FloatText`): 100,000 objects hold some 20 million of them,
and formatting each one took 6 s.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, NamedTuple, Protocol

from engine.annotations import AnnotatedObject, ImageEntry, Project
from engine.atomic import atomic_write_bytes
from engine.coco_geometry import HOLE_MODES, MIN_POLYGON_IOU, CocoGeometry, segmentations
from engine.collector import collector_paused
from engine.imageio import ImageLoadError, load_image
from engine.masks import run_mask
from engine.project_files import refuse_own_file
from engine.rle import RunMask, RunMaskBatch, runs_of_many

# Objects traced together (engine.coco_geometry.segmentations): enough to spread the cost
# of each vectorised step, few enough that the progress moves smoothly.
_TRACE_BATCH = 512

_SEPARATORS = (",", ":")
_MAX_FLOAT_TEXTS = 1 << 20


class ExportCancelled(Exception):
    """The export was cancelled; no file was written."""


class CancelToken(Protocol):
    """Anything with ``is_set()``, such as :class:`threading.Event`."""

    def is_set(self) -> bool: ...


ProgressCallback = Callable[[int, int], None]


class InstanceExport(NamedTuple):
    """How one object was written: ``kind`` "polygon" or "rle" and the IoU it keeps."""

    image_id: int
    kind: str
    iou: float


@dataclass
class ExportReport:
    """What :func:`export_coco` wrote; ``instances`` maps annotation id -> geometry and IoU."""

    path: Path
    images: int = 0
    instances: dict[int, InstanceExport] = field(default_factory=dict)
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def annotations(self) -> int:
        return len(self.instances)

    @property
    def polygons(self) -> int:
        return sum(1 for item in self.instances.values() if item.kind == "polygon")

    @property
    def rles(self) -> int:
        return sum(1 for item in self.instances.values() if item.kind == "rle")

    @property
    def min_iou(self) -> float | None:
        """Lowest IoU of any written instance; ``None`` when nothing was written."""
        return min((item.iou for item in self.instances.values()), default=None)

    def summary(self) -> str:
        """One line for people: "3 images, 5 instances (4 polygons, 1 RLE), minimum IoU 0.998"."""
        text = f"{plural(self.images, 'image')}, {plural(self.annotations, 'instance')}"
        if self.instances:
            # Rounded down, so that an export losing any pixel never reads as IoU 1.000.
            lowest = math.floor(self.min_iou * 1000) / 1000
            text += (f" ({plural(self.polygons, 'polygon')}, {self.rles} RLE), "
                     f"minimum IoU {lowest:.3f}")
        if self.skipped:
            text += f"; {plural(self.skipped, 'object')} skipped"
        return text


@collector_paused()
def export_coco(project: Project, out_path: str | os.PathLike, holes: str = "rle",
                progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                min_iou: float = MIN_POLYGON_IOU) -> ExportReport:
    """Write every image and object of ``project`` to a COCO instances JSON file.

    Image and annotation ids are the project's, so they stay the same from one export to
    the next. Images without objects are listed too; objects rejected in review
    (:mod:`engine.review`) are left out. ``holes`` and ``min_iou`` are passed
    to :func:`mask_to_segmentation`. Objects with an empty mask are skipped with a warning:
    an empty polygon list is not valid COCO and an area-0 instance means nothing to a
    reader. ``progress(done, total)`` is called after each image and each object (the
    objects come a batch at a time); when ``cancel.is_set()`` the export stops with
    :class:`ExportCancelled` and writes nothing. The file is replaced atomically. An
    ``out_path`` that is one of the project's own files (the project, its journal or lock,
    an image) raises ``ProjectError`` before anything is read.
    """
    if holes not in HOLE_MODES:
        raise ValueError(f"holes must be one of {HOLE_MODES}, not {holes!r}")
    out_path = Path(out_path)
    refuse_own_file(project, out_path)
    report = ExportReport(out_path)
    entries = list(project.images.values())
    total = len(entries) + sum(len(entry.objects) for entry in entries)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    category_ids = {category.id for category in project.categories}
    images: list[dict] = []
    queue = _ExportQueue(report, holes, min_iou, step)
    for entry in entries:
        _raise_if_cancelled(cancel)
        size, problem = _export_image_size(project, entry)
        step()
        if size is None:
            queue.warn(entry, problem)
            report.skipped += len(entry.objects)
            for _ in entry.objects:
                step()
            continue
        height, width = size
        images.append({"id": entry.id, "file_name": entry.file_name,
                       "width": width, "height": height})
        for obj in entry.objects:
            _raise_if_cancelled(cancel)
            if obj.rejected:  # kept in the project so the review can be undone
                step()
                continue
            queue.add(entry, obj, size, category_ids)
            if queue.full:
                queue.flush()
    queue.flush()
    _raise_if_cancelled(cancel)
    report.images = len(images)
    # json.dumps of the whole document (compact), its annotations' JSON spliced in.
    head = json.dumps({
        "info": {"description": f"Exported by Clickmask from {project.root.name}",
                 "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "licenses": [],
        "images": images,
    }, separators=_SEPARATORS)[:-1] + ',"annotations":['
    tail = "]," + json.dumps({"categories": [{"id": c.id, "name": c.name, "supercategory": ""}
                                             for c in project.categories]},
                             separators=_SEPARATORS)[1:]
    atomic_write_bytes(out_path, _joined(head.encode(), queue.annotations, tail.encode()))
    return report


def _joined(head: bytes, items: list[bytes], tail: bytes) -> bytes:
    """``head + b",".join(items) + tail`` in one join: the file's bytes are copied once,
    not once per concatenation."""
    if not items:
        return head + tail
    parts = [b","] * (2 * len(items) + 1)
    parts[0], parts[-1] = head, tail
    parts[1:-1:2] = items
    return b"".join(parts)


class _Pending(NamedTuple):
    """In an export's queue: an object to write (``warning`` None), an object skipped with
    ``warning``, or (``obj`` None) the warning of an image left out."""

    entry: ImageEntry
    obj: AnnotatedObject | None
    warning: str | None


class _ExportQueue:
    """The objects of an export, traced in batches (:func:`segmentations`); what the export
    reports about them (warnings, instances, progress) comes out in their order."""

    def __init__(self, report: ExportReport, holes: str, min_iou: float,
                 step: Callable[[], None]) -> None:
        self.report, self.holes, self.min_iou, self.step = report, holes, min_iou, step
        # Each annotation's JSON (ASCII): much smaller than the lists of floats.
        self.annotations: list[bytes] = []
        self._floats = _FloatText()
        self._pending: list[_Pending] = []
        self._objects = 0

    @property
    def full(self) -> bool:
        return self._objects >= _TRACE_BATCH

    def warn(self, entry: ImageEntry, warning: str) -> None:
        self._pending.append(_Pending(entry, None, warning))

    def add(self, entry: ImageEntry, obj: AnnotatedObject, size: tuple[int, int],
            category_ids: set[int]) -> None:
        height, width = obj.rle["size"]  # checked when the object was read or made
        warning = None
        if obj.category_id not in category_ids:
            warning = (f"object {obj.id} of {entry.file_name} skipped: its category id "
                       f"{obj.category_id} is not in the project")
        elif (height, width) != size:
            warning = (f"object {obj.id} of {entry.file_name} skipped: its mask is "
                       f"{width}x{height} but the image is {size[1]}x{size[0]}")
        else:
            self._objects += 1
        self._pending.append(_Pending(entry, obj, warning))

    def flush(self) -> None:
        objects = [item.obj for item in self._pending
                   if item.obj is not None and item.warning is None]
        masks = dict(zip(map(id, objects), _run_masks(objects)))
        traced = [mask for mask in masks.values() if not mask.empty]
        written: dict[int, tuple[CocoGeometry, tuple[int, int, int, int]]] = {}
        if traced:
            batch = RunMaskBatch(traced)
            written = dict(zip(map(id, traced), zip(
                segmentations(batch, self.holes, self.min_iou), batch.extents)))
        for entry, obj, warning in self._pending:
            if warning is None:
                mask = masks[id(obj)]
                if mask.empty:
                    warning = f"object {obj.id} of {entry.file_name} skipped: its mask is empty"
                else:
                    self._write(entry, obj, mask, *written[id(mask)])
            if warning is not None:
                self.report.warnings.append(warning)
            if obj is None:
                continue  # an image left out: its objects were counted and stepped with it
            if warning is not None:
                self.report.skipped += 1
            self.step()
        self._pending, self._objects = [], 0

    def _write(self, entry: ImageEntry, obj: AnnotatedObject, mask: RunMask,
               geometry: CocoGeometry, extent: tuple[int, int, int, int]) -> None:
        self.report.instances[obj.id] = InstanceExport(entry.id, geometry.kind, geometry.iou)
        self.annotations.append(_annotation_json(entry, obj, mask, extent,
                                                 geometry.segmentation, self._floats).encode())


def _annotation_json(entry: ImageEntry, obj: AnnotatedObject, mask: RunMask,
                     extent: tuple[int, int, int, int], segmentation: list[list[float]] | dict,
                     floats: _FloatText) -> str:
    """The annotation of an object as ``json.dumps`` writes it (compact), its polygons'
    numbers written through ``floats``; all other values are integers."""
    rmin, rmax, cmin, cmax = extent
    if isinstance(segmentation, dict):
        text = json.dumps(segmentation, separators=_SEPARATORS)
    else:
        text = "[" + ",".join("[" + ",".join(map(floats.__getitem__, polygon)) + "]"
                              for polygon in segmentation) + "]"
    return (f'{{"id":{int(obj.id)},"image_id":{int(entry.id)},'
            f'"category_id":{int(obj.category_id)},"segmentation":{text},'
            f'"area":{mask.area},"bbox":[{cmin},{rmin},{cmax - cmin + 1},{rmax - rmin + 1}],'
            f'"iscrowd":0}}')


class _FloatText(dict):
    """``repr`` of floats (what ``json.dumps`` writes), each distinct value formatted once:
    traced outlines hold a few thousand distinct coordinates in millions of places.

    Zero is never kept: 0.0 and -0.0 are one key but are written differently.
    """

    def __missing__(self, value: float) -> str:
        text = repr(value)
        if value != 0 and len(self) < _MAX_FLOAT_TEXTS:
            self[value] = text
        return text


def _run_masks(objects: list[AnnotatedObject]) -> list[RunMask]:
    """The objects' masks as runs; compressed RLE (all that the program writes) decoded
    together."""
    compressed = [obj for obj in objects if isinstance(obj.rle["counts"], str)]
    decoded = dict(zip(map(id, compressed), runs_of_many(
        [obj.rle["counts"] for obj in compressed],
        [obj.rle["size"][0] * obj.rle["size"][1] for obj in compressed])))
    masks = []
    for obj in objects:
        runs = decoded.get(id(obj))
        height, width = obj.rle["size"]
        # None: not compressed, or not valid (run_mask raises what decoding would).
        masks.append(run_mask(obj.rle) if runs is None
                     else RunMask.of_runs(runs, height, width, obj.rle["counts"]))
    return masks


def _export_image_size(project: Project, entry: ImageEntry
                       ) -> tuple[tuple[int, int] | None, str | None]:
    """(height, width) of an image, read from its file only when the project does not know
    it; or None and why the image is left out."""
    if entry.height and entry.width:
        return (entry.height, entry.width), None
    if entry.objects:
        # Every object's mask has the image's size; the RLE header says it without decoding.
        height, width = entry.objects[0].rle["size"]
        return (int(height), int(width)), None
    try:
        return read_image_size(project.image_path(entry.file_name)), None
    except ImageLoadError as exc:
        return None, (f"image {entry.file_name} left out: its size is unknown and the file "
                      f"cannot be read ({exc})")


def _raise_if_cancelled(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ExportCancelled("COCO export cancelled")


def read_image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image as the engine sees it (after EXIF orientation)."""
    # imageio has no header-only probe, and the size must be the upright (EXIF-rotated)
    # one that load_image gives, so decode; this runs only for images never opened before.
    height, width = load_image(path).shape[:2]
    return height, width


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


