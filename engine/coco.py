"""COCO JSON in and out of a project: masks as polygons, or as RLE where polygons would lose them.

Export (:func:`export_coco`) writes polygons by default. Each polygon is traced from the
mask's pixels, rasterised back with pycocotools and compared with the mask; where that
would lose more than :data:`MIN_POLYGON_IOU` of the mask, or where the mask has holes
(COCO polygons are merged by union, so they cannot cut a hole), the instance is written as
compressed RLE instead, which is exact.

Import (:func:`import_coco`) reads COCO files written by any tool. pycocotools' C code
trusts its input (a bad RLE or a huge coordinate can crash the process), so every
segmentation is validated in Python before pycocotools sees it (polygons here, RLE by
:func:`engine.masks.decode_rle`). A file that is not a COCO
dataset at all raises :class:`CocoFormatError`; a single unusable annotation is skipped
with a warning in the :class:`ImportReport`, so the good instances of a file still arrive.
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, NamedTuple, Protocol

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon
from shapely.validation import make_valid

from engine.annotations import AnnotatedObject, ImageEntry, Project
from engine.atomic import atomic_write_text
from engine.imageio import ImageLoadError, load_image
from engine.project_files import refuse_own_file
from engine.masks import (
    InvalidRLE,
    decode_rle,
    encode_rle,
    json_int,
    mask_area,
    mask_bbox,
    mask_iou,
)
from engine.regular_file import read_regular_file

# The traced polygons reproduce a hole-free mask exactly in almost every case (pixel-corner
# outlines rasterise back pixel for pixel), so this threshold only bites where a polygon
# really loses pixels: holes closed by ``holes="fill"`` or pinch points where two diagonal
# pixels close a pocket of background. 0.95 lets "fill" close pinholes and speckle while a
# hole that is part of the object's shape (more than ~5 % of it, e.g. a ring) stays RLE.
MIN_POLYGON_IOU = 0.95

HOLE_MODES = ("rle", "fill")

# Polygon coordinates may stray a little outside the image (pycocotools clips them), but
# coordinates far outside overflow pycocotools' integer arithmetic and crash it; allow one
# image size of slack on every side.
_COORDINATE_SLACK = 1.0

_POLYGON_DECIMALS = 2  # 1/100 pixel: exact enough, and keeps the JSON small


class CocoFormatError(Exception):
    """A file that cannot be imported at all; the message names the file and the problem."""


class InvalidAnnotation(ValueError):
    """One segmentation or annotation that cannot be used; import skips it with a warning."""


class ExportCancelled(Exception):
    """The export was cancelled; no file was written."""


class CancelToken(Protocol):
    """Anything with ``is_set()``, such as :class:`threading.Event`."""

    def is_set(self) -> bool: ...


ProgressCallback = Callable[[int, int], None]


class CocoGeometry(NamedTuple):
    """A COCO ``segmentation`` value, its kind and how well it reproduces the mask."""

    segmentation: list[list[float]] | dict
    kind: str  # "polygon" or "rle"
    iou: float  # IoU of the segmentation rasterised by pycocotools with the mask


# -- mask -> COCO geometry -------------------------------------------------------------------

def mask_to_segmentation(mask: np.ndarray, holes: str = "rle",
                         min_iou: float = MIN_POLYGON_IOU) -> CocoGeometry:
    """COCO segmentation of a non-empty ``H x W`` mask: polygons where they keep the mask.

    Every 8-connected part of the mask becomes its own polygon (flat ``[x1, y1, ...]``
    lists of at least 6 numbers, pixel-corner coordinates). ``holes`` says what to do with
    a mask that has holes, which polygons cannot represent:

    - ``"rle"`` (default): write compressed RLE, which is exact;
    - ``"fill"``: write the outer boundaries only, which *fills the holes*.

    The polygons are rasterised back with pycocotools; below ``min_iou`` IoU with the mask
    (a large filled hole, for instance) the result is compressed RLE with IoU 1.0 instead,
    so the geometry never loses more than that. Raises ``ValueError`` for an empty mask,
    which has no geometry.
    """
    if holes not in HOLE_MODES:
        raise ValueError(f"holes must be one of {HOLE_MODES}, not {holes!r}")
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask is H x W, got shape {mask.shape}")
    if not mask.any():
        raise ValueError("an empty mask has no COCO geometry")
    if holes == "rle" and _has_holes(mask):
        return CocoGeometry(encode_rle(mask), "rle", 1.0)
    polygons = mask_to_polygons(mask)
    height, width = mask.shape
    iou = mask_iou(_rasterize_polygons(polygons, height, width), mask)
    if iou < min_iou:
        return CocoGeometry(encode_rle(mask), "rle", 1.0)
    return CocoGeometry(polygons, "polygon", iou)


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer boundaries of the mask's parts as COCO polygons; holes are filled.

    ``cv2.findContours`` gives outlines through pixel centres, which would cut every
    boundary pixel in half and collapse 1-pixel objects and 1-pixel-wide lines to points
    and segments. Buffering them by half a pixel with square caps and mitre joins moves the
    outline to the pixels' outer corners and gives such thin parts a real area.
    """
    contours, _ = cv2.findContours(np.asarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons: list[list[float]] = []
    for contour in contours:
        points = contour.reshape(-1, 2).astype(np.float64)
        if len(points) == 1:
            centre_line = Point(points[0])
        elif len(points) == 2:
            centre_line = LineString(points)
        else:
            # A contour that runs back along itself (a thin spur) is an invalid polygon;
            # make_valid keeps such collapsed parts as lines, which the buffer widens.
            centre_line = make_valid(Polygon(points))
        outline = centre_line.buffer(0.5, cap_style="square", join_style="mitre")
        # Pixel (x, y) covers [x, x+1] x [y, y+1] in COCO coordinates; its centre is x + 0.5.
        outline = affinity.translate(outline, 0.5, 0.5).simplify(0)
        for part in getattr(outline, "geoms", [outline]):
            if isinstance(part, Polygon) and not part.is_empty:
                polygons.append(_flat_ring(part))
    return polygons


def _flat_ring(polygon: Polygon) -> list[float]:
    # Interiors can only come from pinch points closing a pocket of background; filling
    # them is what "outer boundary" means, and the IoU check catches any real loss.
    xy = np.round(np.asarray(polygon.exterior.coords)[:-1], _POLYGON_DECIMALS)
    return [float(v) for v in xy.ravel()]


def _has_holes(mask: np.ndarray) -> bool:
    # With RETR_CCOMP, contours that have a parent are the boundaries of holes (background
    # regions that do not reach the image border), in OpenCV's 8-/4-connectivity.
    _, hierarchy = cv2.findContours(np.asarray(mask, dtype=np.uint8), cv2.RETR_CCOMP,
                                    cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())


def _rasterize_polygons(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    # The same steps as pycocotools' COCO.annToMask, so the check sees what readers will.
    rles = mask_utils.frPyObjects(polygons, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


# -- COCO geometry -> mask -------------------------------------------------------------------

def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """``H x W`` bool mask of a COCO segmentation: polygons, compressed or uncompressed RLE.

    The value is validated before pycocotools decodes it; anything malformed raises
    :class:`InvalidAnnotation` with a message saying what is wrong.
    """
    if isinstance(segmentation, list):
        _check_polygons(segmentation, height, width)
        return _rasterize_polygons(segmentation, height, width)
    if isinstance(segmentation, dict):
        try:
            return decode_rle(segmentation, (height, width))
        except InvalidRLE as exc:
            raise InvalidAnnotation(str(exc)) from exc
    raise InvalidAnnotation("segmentation must be a list of polygons or an RLE object, "
                            f"not {_type_name(segmentation)}")


def _check_polygons(polygons: list, height: int, width: int) -> None:
    if not polygons:
        raise InvalidAnnotation("segmentation is an empty list of polygons")
    for index, polygon in enumerate(polygons):
        where = f"polygon {index + 1} of {len(polygons)}"
        if not isinstance(polygon, list):
            raise InvalidAnnotation(f"{where} must be a list of numbers [x1, y1, x2, y2, ...], "
                                    f"not {_type_name(polygon)}")
        if len(polygon) < 6 or len(polygon) % 2:
            raise InvalidAnnotation(f"{where} has {len(polygon)} numbers; a polygon needs an "
                                    "even count of at least 6 (three x, y points)")
        if not all(_is_number(v) for v in polygon):
            raise InvalidAnnotation(f"{where} holds values that are not finite numbers")
        xs, ys = polygon[0::2], polygon[1::2]
        if (min(xs) < -_COORDINATE_SLACK * width or max(xs) > (1 + _COORDINATE_SLACK) * width
                or min(ys) < -_COORDINATE_SLACK * height
                or max(ys) > (1 + _COORDINATE_SLACK) * height):
            raise InvalidAnnotation(f"{where} lies far outside the {width}x{height} image")


# -- export ----------------------------------------------------------------------------------

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
        text = f"{_plural(self.images, 'image')}, {_plural(self.annotations, 'instance')}"
        if self.instances:
            # Rounded down, so that an export losing any pixel never reads as IoU 1.000.
            lowest = math.floor(self.min_iou * 1000) / 1000
            text += (f" ({_plural(self.polygons, 'polygon')}, {self.rles} RLE), "
                     f"minimum IoU {lowest:.3f}")
        if self.skipped:
            text += f"; {_plural(self.skipped, 'object')} skipped"
        return text


def export_coco(project: Project, out_path: str | os.PathLike, holes: str = "rle",
                progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                min_iou: float = MIN_POLYGON_IOU) -> ExportReport:
    """Write every image and object of ``project`` to a COCO instances JSON file.

    Image and annotation ids are the project's, so they stay the same from one export to
    the next. Images without objects are listed too; objects rejected in review
    (:mod:`engine.review`) are left out. ``holes`` and ``min_iou`` are passed
    to :func:`mask_to_segmentation`. Objects with an empty mask are skipped with a warning:
    an empty polygon list is not valid COCO and an area-0 instance means nothing to a
    reader. ``progress(done, total)`` is called after each image and each object;
    when ``cancel.is_set()`` the export stops with :class:`ExportCancelled` and writes
    nothing. The file is replaced atomically. An ``out_path`` that is one of the project's
    own files (the project, its journal or lock, an image) raises ``ProjectError`` before
    anything is read.
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
    images, annotations = [], []
    for entry in entries:
        _raise_if_cancelled(cancel)
        size = _export_image_size(project, entry, report)
        step()
        if size is None:
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
            annotation = _export_object(entry, obj, size, category_ids, holes, min_iou, report)
            if annotation is None:
                report.skipped += 1
            else:
                annotations.append(annotation)
            step()
    _raise_if_cancelled(cancel)
    report.images = len(images)
    document = {
        "info": {"description": f"Exported by Clickmask from {project.root.name}",
                 "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c.id, "name": c.name, "supercategory": ""}
                       for c in project.categories],
    }
    atomic_write_text(out_path, json.dumps(document, separators=(",", ":")))
    return report


def _export_object(entry: ImageEntry, obj: AnnotatedObject, size: tuple[int, int],
                   category_ids: set[int], holes: str, min_iou: float,
                   report: ExportReport) -> dict | None:
    where = f"object {obj.id} of {entry.file_name}"
    if obj.category_id not in category_ids:
        report.warnings.append(f"{where} skipped: its category id {obj.category_id} "
                               "is not in the project")
        return None
    mask = obj.mask
    if mask.shape != size:
        report.warnings.append(f"{where} skipped: its mask is {mask.shape[1]}x{mask.shape[0]} "
                               f"but the image is {size[1]}x{size[0]}")
        return None
    if not mask.any():
        report.warnings.append(f"{where} skipped: its mask is empty")
        return None
    geometry = mask_to_segmentation(mask, holes, min_iou)
    report.instances[obj.id] = InstanceExport(entry.id, geometry.kind, geometry.iou)
    return {"id": obj.id, "image_id": entry.id, "category_id": obj.category_id,
            "segmentation": geometry.segmentation, "area": mask_area(mask),
            "bbox": mask_bbox(mask), "iscrowd": 0}


def _export_image_size(project: Project, entry: ImageEntry,
                       report: ExportReport) -> tuple[int, int] | None:
    """(height, width) of an image, read from its file only when the project does not know it."""
    if entry.height and entry.width:
        return entry.height, entry.width
    if entry.objects:
        # Every object's mask has the image's size; the RLE header says it without decoding.
        height, width = entry.objects[0].rle["size"]
        return int(height), int(width)
    try:
        return _read_image_size(project.image_path(entry.file_name))
    except ImageLoadError as exc:
        report.warnings.append(f"image {entry.file_name} left out: its size is unknown and "
                               f"the file cannot be read ({exc})")
        return None


def _raise_if_cancelled(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ExportCancelled("COCO export cancelled")


# -- import ----------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What :func:`import_coco` did; ``added`` maps project file names to objects added."""

    path: Path
    added: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    duplicates: int = 0
    missing_images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def added_total(self) -> int:
        return sum(self.added.values())

    def summary(self) -> str:
        """One line for people, e.g. "Imported 12 instances into 3 images; 2 skipped"."""
        if self.added_total:
            text = (f"Imported {_plural(self.added_total, 'instance')} into "
                    f"{_plural(len(self.added), 'image')}")
        else:
            text = "Imported no instances"
        problems = []
        if self.skipped:
            problems.append(f"{self.skipped} skipped")
        if self.duplicates:
            problems.append(_plural(self.duplicates, "duplicate"))
        if self.missing_images:
            problems.append(f"{_plural(len(self.missing_images), 'image')} not in the folder")
        return text + ("; " + ", ".join(problems) if problems else "")


@dataclass
class _Target:
    """Where the annotations of one COCO image go, or why they cannot go anywhere."""

    coco_name: str
    entry: ImageEntry | None = None
    coco_size: tuple[int, int] | None = None  # (height, width) as the COCO file says
    size: tuple[int, int] | None = None  # (height, width) checked against the project/file
    problem: str | None = None
    skipped: int = 0


def import_coco(project: Project, coco_path: str | os.PathLike) -> ImportReport:
    """Add the instances of a COCO JSON file to the images of ``project``'s folder.

    COCO images are matched to project images by ``file_name``: the exact relative path,
    else a basename that only one image of the folder has; images not in the folder are
    listed in ``missing_images``. Categories are matched by name (created when new).
    Objects get ``source="imported"`` and keep the annotation id where it is free.
    An instance is a duplicate, and skipped, when its image already has an object of the
    same category with exactly the same mask, so importing a file twice adds nothing the
    second time, whatever ids the file or the project use.

    Raises :class:`CocoFormatError` (and changes nothing) for a file that is not a COCO
    dataset: unreadable, not JSON, no ``images`` / ``annotations`` / ``categories`` lists,
    or duplicate image or category ids. Problems of one image or annotation (a bad
    polygon, an RLE of the wrong size, an unknown image id...) skip it with a warning.
    The project is changed in memory; saving it is up to the caller.
    """
    path = Path(coco_path)
    data = _read_coco_json(path)
    report = ImportReport(path)
    category_names = _parse_categories(data["categories"], path, report)
    targets = _match_images(project, data["images"], path, report)
    repeated_ids = _repeated_annotation_ids(data["annotations"])
    if repeated_ids:
        report.warnings.append(
            f"annotation ids {_short_list(repeated_ids)} appear more than once; "
            "those instances were imported under new ids")
    crowd = 0
    for index, annotation in enumerate(data["annotations"]):
        try:
            decoded = _decode_annotation(project, annotation, targets, category_names)
        except InvalidAnnotation as exc:
            report.skipped += 1
            report.warnings.append(f"annotation {_annotation_label(annotation, index)} "
                                   f"skipped: {exc}")
            continue
        if decoded is None:
            continue  # counted with its image; one warning per image says why
        target, mask, category, annotation_id = decoded
        entry = target.entry
        existing_category = next((c.id for c in project.categories if c.name == category), None)
        if existing_category is not None and _is_duplicate(entry, mask, existing_category):
            report.duplicates += 1
            continue
        if annotation.get("iscrowd") == 1:
            crowd += 1
        # A repeated id cannot be kept by every instance that carries it; none keeps it,
        # so the project never suggests which of them the file "meant". Ids beyond int32
        # would trouble other COCO tools on the next export.
        keep_id = (annotation_id if annotation_id is not None
                   and 0 < annotation_id < 2 ** 31 and annotation_id not in repeated_ids
                   else None)
        project.add_object(entry.file_name, mask, category, source="imported",
                           object_id=keep_id)
        report.added[entry.file_name] = report.added.get(entry.file_name, 0) + 1
    for target in targets.values():
        if target.skipped:
            report.skipped += target.skipped
            report.warnings.append(f"{target.skipped} annotation(s) of image "
                                   f"{target.coco_name!r} skipped: {target.problem}")
    if crowd:
        report.warnings.append(f"{crowd} crowd region(s) (iscrowd=1) were imported as "
                               "ordinary objects")
    return report


def _read_coco_json(path: Path) -> dict:
    try:
        text = read_regular_file(path).decode("utf-8-sig")
    except OSError as exc:
        raise CocoFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CocoFormatError(f"{path} is not a text file (not UTF-8 JSON)") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if not text[exc.pos:].strip():
            raise CocoFormatError(f"{path} ends in the middle of its JSON (line {exc.lineno}):"
                                  " the file is truncated; it may have been cut off while "
                                  "saving, copying or downloading") from exc
        raise CocoFormatError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}") from exc
    except (ValueError, RecursionError) as exc:
        # Integers of thousands of digits and absurdly deep nesting: still not a dataset.
        raise CocoFormatError(f"{path} is not usable JSON: {exc}") from exc
    if isinstance(data, list):
        raise CocoFormatError(f"{path} holds a list, not a COCO dataset object; a list of "
                              "annotations (a detection results file) has no images or "
                              "categories to import them with")
    if not isinstance(data, dict):
        raise CocoFormatError(f"{path} holds {_type_name(data)}, not a COCO dataset object")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise CocoFormatError(f"{path} is not a COCO dataset: it has no {key!r} list")
        if not isinstance(data[key], list):
            raise CocoFormatError(f"{path}: {key!r} must be a list, not "
                                  f"{_type_name(data[key])}")
    return data


def _parse_categories(categories: list, path: Path, report: ImportReport) -> dict[int, str]:
    names: dict[int, str] = {}
    for index, category in enumerate(categories):
        if not isinstance(category, dict):
            report.warnings.append(f"categories[{index}] ignored: not an object")
            continue
        category_id, name = json_int(category.get("id")), category.get("name")
        if category_id is None or not isinstance(name, str) or not name.strip():
            report.warnings.append(f"categories[{index}] ignored: it needs an integer 'id' "
                                   "and a non-empty 'name'")
            continue
        name = name.strip()
        if names.get(category_id, name) != name:
            raise CocoFormatError(f"{path}: category id {category_id} is used for both "
                                  f"{names[category_id]!r} and {name!r}")
        names[category_id] = name
    return names


def _match_images(project: Project, images: list, path: Path,
                  report: ImportReport) -> dict[int, _Target]:
    """COCO image id -> where its annotations go (or why they are skipped)."""
    present = {entry.file_name: entry for entry in project.present_images()}
    by_basename: dict[str, list[ImageEntry]] = {}
    for entry in present.values():
        by_basename.setdefault(PurePosixPath(entry.file_name).name, []).append(entry)
    targets: dict[int, _Target] = {}
    claimed: dict[str, str] = {}  # project file name -> COCO file name that took it
    for index, image in enumerate(images):
        if not isinstance(image, dict) or json_int(image.get("id")) is None:
            report.warnings.append(f"images[{index}] ignored: not an object with an integer "
                                   "'id'")
            continue
        image_id = json_int(image["id"])
        if image_id in targets:
            raise CocoFormatError(f"{path}: image id {image_id} is used by more than one image")
        file_name = image.get("file_name")
        target = _Target(coco_name=file_name if isinstance(file_name, str) else f"id {image_id}")
        targets[image_id] = target
        if not isinstance(file_name, str) or not file_name.strip():
            target.problem = "the image has no 'file_name'"
            continue
        if "width" in image or "height" in image:
            width, height = json_int(image.get("width")), json_int(image.get("height"))
            if width is None or height is None or width <= 0 or height <= 0:
                target.problem = "its width and height must be positive integers"
                continue
            target.coco_size = (height, width)
        name = file_name.replace("\\", "/").removeprefix("./")
        entry = present.get(name)
        if entry is None:
            candidates = by_basename.get(PurePosixPath(name).name, [])
            if len(candidates) > 1:
                target.problem = ("its name matches several images of the folder: "
                                  + ", ".join(e.file_name for e in candidates))
                continue
            if not candidates:
                report.missing_images.append(file_name)
                target.problem = "the image is not in the folder"
                continue
            entry = candidates[0]
        if entry.file_name in claimed:
            target.problem = (f"{entry.file_name} already takes the annotations of "
                              f"{claimed[entry.file_name]!r}")
            continue
        claimed[entry.file_name] = file_name
        target.entry = entry
    return targets


def _check_target_size(project: Project, target: _Target) -> None:
    """Set ``target.size`` from the project or the image file, or ``target.problem``."""
    entry = target.entry
    if entry.height and entry.width:
        actual = (entry.height, entry.width)
    else:
        try:
            actual = _read_image_size(project.image_path(entry.file_name))
        except ImageLoadError as exc:
            target.problem = f"the image cannot be read ({exc})"
            return
        entry.height, entry.width = actual
    if target.coco_size is not None and target.coco_size != actual:
        target.problem = (f"the COCO file says it is {target.coco_size[1]}x{target.coco_size[0]}"
                          f" but {entry.file_name} is {actual[1]}x{actual[0]}")
        return
    target.size = actual


def _decode_annotation(project: Project, annotation: Any, targets: dict[int, _Target],
                       category_names: dict[int, str]
                       ) -> tuple[_Target, np.ndarray, str, int | None] | None:
    """(target, mask, category name, annotation id), or None when its image is skipped."""
    if not isinstance(annotation, dict):
        raise InvalidAnnotation(f"it is {_type_name(annotation)}, not an object")
    annotation_id = None
    if "id" in annotation:
        annotation_id = json_int(annotation["id"])
        if annotation_id is None:
            raise InvalidAnnotation(f"its id {annotation['id']!r} is not an integer")
    image_id = json_int(annotation.get("image_id"))
    if image_id is None:
        raise InvalidAnnotation("it has no integer 'image_id'")
    target = targets.get(image_id)
    if target is None:
        raise InvalidAnnotation(f"it refers to image id {image_id}, which the file does not "
                                "list")
    if target.problem is None and target.size is None:
        _check_target_size(project, target)
    if target.problem is not None:
        target.skipped += 1
        return None
    category_id = json_int(annotation.get("category_id"))
    if category_id is None:
        raise InvalidAnnotation("it has no integer 'category_id'")
    if category_id not in category_names:
        raise InvalidAnnotation(f"its category id {category_id} is not among the file's "
                                "categories")
    if "bbox" in annotation:
        _check_bbox(annotation["bbox"])
    if "segmentation" not in annotation:
        raise InvalidAnnotation("it has no 'segmentation'")
    mask = segmentation_to_mask(annotation["segmentation"], *target.size)
    if not mask.any():
        raise InvalidAnnotation("its segmentation covers no pixel of the image")
    return target, mask, category_names[category_id], annotation_id


def _check_bbox(bbox: Any) -> None:
    # The box is not used (it is recomputed from the mask), but a broken one marks a broken
    # annotation: better skipped than imported as something the file did not mean.
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise InvalidAnnotation("its bbox must be four numbers [x, y, width, height]")
    if bbox[2] < 0 or bbox[3] < 0:
        raise InvalidAnnotation(f"its bbox {bbox} has a negative width or height")


def _is_duplicate(entry: ImageEntry, mask: np.ndarray, category_id: int | None) -> bool:
    # encode_rle is canonical, so equal masks have equal RLE strings: no decoding needed.
    counts = encode_rle(mask)["counts"]
    return any(obj.category_id == category_id and obj.rle.get("counts") == counts
               for obj in entry.objects)


def _repeated_annotation_ids(annotations: list) -> set[int]:
    ids = Counter(json_int(a.get("id")) for a in annotations if isinstance(a, dict))
    return {i for i, n in ids.items() if i is not None and n > 1}


def _read_image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image as the engine sees it (after EXIF orientation)."""
    # imageio has no header-only probe, and the size must be the upright (EXIF-rotated)
    # one that load_image gives, so decode; this runs only for images never opened before.
    height, width = load_image(path).shape[:2]
    return height, width


def _annotation_label(annotation: Any, index: int) -> str:
    if isinstance(annotation, dict) and json_int(annotation.get("id")) is not None:
        return f"id {json_int(annotation['id'])}"
    return f"#{index + 1}"


def _is_number(value: Any) -> bool:
    """A finite JSON number. (JSON ints can be too big for a float; range checks catch those.)"""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _short_list(values: set[int], limit: int = 10) -> str:
    ordered = sorted(values)
    text = ", ".join(str(v) for v in ordered[:limit])
    return text + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")
