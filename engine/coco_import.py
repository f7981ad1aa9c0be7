"""COCO import into a project (:func:`import_coco`), from files written by any tool.

A file that is not a COCO dataset at all raises :class:`CocoFormatError`; a single unusable
annotation is skipped with a warning in the :class:`ImportReport`, so the good instances of
a file still arrive. Every segmentation becomes the project's RLE without a mask being
decoded (:func:`engine.coco_geometry.segmentation_to_rle`), and duplicates are found by
their RLE in a set per image, so the import takes the same time per annotation however
many an image has.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from engine.annotations import ImageEntry, Project
from engine.coco_export import plural, read_image_size
from engine.coco_geometry import (
    InvalidAnnotation,
    is_json_number,
    json_type_name,
    segmentation_to_rle,
)
from engine.collector import collector_paused
from engine.imageio import ImageLoadError
from engine.masks import json_int
from engine.regular_file import read_regular_file


class CocoFormatError(Exception):
    """A file that cannot be imported at all; the message names the file and the problem."""


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
            text = (f"Imported {plural(self.added_total, 'instance')} into "
                    f"{plural(len(self.added), 'image')}")
        else:
            text = "Imported no instances"
        problems = []
        if self.skipped:
            problems.append(f"{self.skipped} skipped")
        if self.duplicates:
            problems.append(plural(self.duplicates, "duplicate"))
        if self.missing_images:
            problems.append(f"{plural(len(self.missing_images), 'image')} not in the folder")
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
    _masks: set[tuple[int, str]] | None = None

    def masks(self) -> set[tuple[int, str]]:
        """(category id, RLE counts) of every object of the image: what makes a duplicate.
        Kept up to date by the import as it adds objects (no other image's annotations
        reach this one)."""
        if self._masks is None:
            self._masks = {(obj.category_id, obj.rle["counts"]) for obj in self.entry.objects
                           if isinstance(obj.rle["counts"], str)}  # a list never equals one
        return self._masks


@collector_paused()
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
    category_ids: dict[str, int] = {}  # project category ids by name, once known
    annotations = data["annotations"]
    for index in range(len(annotations)):
        # Taken out of the file's data, so that its polygons are freed as the objects grow.
        annotation, annotations[index] = annotations[index], None
        try:
            decoded = _decode_annotation(project, annotation, targets, category_names)
        except InvalidAnnotation as exc:
            report.skipped += 1
            report.warnings.append(f"annotation {_annotation_label(annotation, index)} "
                                   f"skipped: {exc}")
            continue
        if decoded is None:
            continue  # counted with its image; one warning per image says why
        target, rle, category, annotation_id = decoded
        category_id = _project_category(project, category, category_ids)
        # encode_rle is canonical, so equal masks have equal RLE strings.
        if (category_id, rle["counts"]) in target.masks():
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
        if category_id is None:  # made with its first instance that is added
            category_id = category_ids[category] = project.category_id(category)
        project.add_encoded_object(target.entry.file_name, rle, category_id,
                                   source="imported", object_id=keep_id)
        target.masks().add((category_id, rle["counts"]))
        report.added[target.entry.file_name] = report.added.get(target.entry.file_name, 0) + 1
    for target in targets.values():
        if target.skipped:
            report.skipped += target.skipped
            report.warnings.append(f"{target.skipped} annotation(s) of image "
                                   f"{target.coco_name!r} skipped: {target.problem}")
    if crowd:
        report.warnings.append(f"{crowd} crowd region(s) (iscrowd=1) were imported as "
                               "ordinary objects")
    return report


def _project_category(project: Project, name: str, known: dict[str, int]) -> int | None:
    """The id of the project's category ``name`` (remembered in ``known``); None while the
    project has none."""
    if name not in known:
        found = next((c.id for c in project.categories if c.name == name), None)
        if found is None:
            return None
        known[name] = found
    return known[name]


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
        raise CocoFormatError(f"{path} holds {json_type_name(data)}, not a COCO dataset object")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise CocoFormatError(f"{path} is not a COCO dataset: it has no {key!r} list")
        if not isinstance(data[key], list):
            raise CocoFormatError(f"{path}: {key!r} must be a list, not "
                                  f"{json_type_name(data[key])}")
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
            actual = read_image_size(project.image_path(entry.file_name))
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
                       ) -> tuple[_Target, dict, str, int | None] | None:
    """(target, RLE, category name, annotation id), or None when its image is skipped."""
    if not isinstance(annotation, dict):
        raise InvalidAnnotation(f"it is {json_type_name(annotation)}, not an object")
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
    rle, area = segmentation_to_rle(annotation["segmentation"], *target.size)
    if not area:
        raise InvalidAnnotation("its segmentation covers no pixel of the image")
    return target, rle, category_names[category_id], annotation_id


def _check_bbox(bbox: Any) -> None:
    # The box is not used (it is recomputed from the mask), but a broken one marks a broken
    # annotation: better skipped than imported as something the file did not mean.
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(map(is_json_number, bbox)):
        raise InvalidAnnotation("its bbox must be four numbers [x, y, width, height]")
    if bbox[2] < 0 or bbox[3] < 0:
        raise InvalidAnnotation(f"its bbox {bbox} has a negative width or height")


def _repeated_annotation_ids(annotations: list) -> set[int]:
    ids = Counter(json_int(a.get("id")) for a in annotations if isinstance(a, dict))
    return {i for i, n in ids.items() if i is not None and n > 1}


def _annotation_label(annotation: Any, index: int) -> str:
    if isinstance(annotation, dict) and json_int(annotation.get("id")) is not None:
        return f"id {json_int(annotation['id'])}"
    return f"#{index + 1}"


def _short_list(values: set[int], limit: int = 10) -> str:
    ordered = sorted(values)
    text = ", ".join(str(v) for v in ordered[:limit])
    return text + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")
