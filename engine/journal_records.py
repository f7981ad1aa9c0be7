"""The records of a crash journal, checked against the project before anything in them is
decoded or applied.

Clickmask writes its journal, but reads it after a crash, from a disk that may have damaged
it, and anyone who can write the folder can craft one. So every record is checked first:
its kind; ids (positive integers); the image it names (one of the project's); a category
name; click coordinates (finite, inside the image); masks, whose size must be the image's,
checked on the RLE itself before it is decoded. Whatever a record holds, reading it raises
nothing but :class:`BadRecord`, and replay (:mod:`engine.journal`) then sets the journal
aside as damaged.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from engine.annotations import SOURCES, is_click_json
from engine.clicks import Click
from engine.imageio import ImageLoadError, load_image
from engine.masks import InvalidRLE, check_rle, json_int

if TYPE_CHECKING:
    from engine.annotations import Project

# Ids are stored as 64-bit integers by COCO readers (pycocotools, numpy).
_MAX_ID = 2 ** 63 - 1


class BadRecord(ValueError):
    """A journal record that cannot be applied to the project; the message says why."""


class RecordKind(Enum):
    OBJECT = "object"  # a finished object, or the correction of one
    PROGRESS = "progress"  # the object in progress
    DELETE = "delete"  # edits of a finished object:
    CATEGORY = "category"
    VISIBLE = "visible"


@dataclass(frozen=True)
class InProgress:
    """The object being clicked when the journal was last written."""

    file_name: str
    clicks: list[Click]
    editing_object_id: int | None = None  # set when it was the correction of that object
    # The mask a step without clicks made (RLE), after the first ``mask_clicks`` clicks;
    # None when the clicks alone make the mask.
    mask_rle: dict | None = None
    mask_clicks: int = 0


@dataclass(frozen=True)
class ObjectRecord:
    """A finished object, or (``replaces``) the correction of an existing one."""

    file_name: str
    object_id: int
    category: str
    source: str
    rle: dict  # its size is the image's
    clicks: list[Click]
    replaces: bool


@dataclass(frozen=True)
class EditRecord:
    """A finished object deleted, moved to another category, or hidden / shown."""

    kind: RecordKind  # DELETE, CATEGORY or VISIBLE
    object_id: int
    value: str | bool | None  # the category's name, the visibility; None for a delete


Record = ObjectRecord | EditRecord | InProgress


def read_record(raw: Any, project: Project) -> Record:
    """The record ``raw`` (a parsed JSON line) checked against ``project``; raises
    :class:`BadRecord` saying what is wrong."""
    if not isinstance(raw, dict):
        raise BadRecord("a record must be a JSON object")
    try:
        kind = RecordKind(raw.get("t"))
    except ValueError:
        raise BadRecord(f"unknown record {shown(raw.get('t'))}") from None
    if kind is RecordKind.OBJECT:
        return _object_record(raw, project)
    if kind is RecordKind.PROGRESS:
        return _progress_record(raw, project)
    object_id = _object_id(raw.get("id"), "'id'")
    if kind is RecordKind.DELETE:
        return EditRecord(kind, object_id, None)
    if kind is RecordKind.CATEGORY:
        return EditRecord(kind, object_id, _category(raw.get("category")))
    if not isinstance(raw.get("visible"), bool):
        raise BadRecord(f"'visible' must be true or false, not {shown(raw.get('visible'))}")
    return EditRecord(kind, object_id, raw["visible"])


def _object_record(raw: dict, project: Project) -> ObjectRecord:
    file_name = _image(raw.get("file"), project)
    size = _image_size(project, file_name)
    source = raw.get("source")
    if not isinstance(source, str) or source not in SOURCES:
        raise BadRecord(f"unknown source {shown(source)} (expected one of "
                        f"{', '.join(SOURCES)})")
    replaces = raw.get("replaces", False)
    if not isinstance(replaces, bool):
        raise BadRecord(f"'replaces' must be true or false, not {shown(replaces)}")
    return ObjectRecord(file_name, _object_id(raw.get("id"), "'id'"),
                        _category(raw.get("category")), source,
                        _mask(raw.get("rle"), size, "'rle'"), _clicks(raw.get("clicks"), size),
                        replaces)


def _progress_record(raw: dict, project: Project) -> InProgress:
    file_name = _image(raw.get("file"), project)
    size = _image_size(project, file_name)
    clicks = _clicks(raw.get("clicks"), size)
    editing = raw.get("editing")
    if editing is not None:
        editing = _object_id(editing, "'editing'")
    mask = raw.get("mask")
    if mask is None:
        return InProgress(file_name, clicks, editing)
    mask_clicks = json_int(raw.get("mask_clicks", 0))
    if mask_clicks is None or not 0 <= mask_clicks <= len(clicks):
        raise BadRecord(f"'mask_clicks' {shown(raw.get('mask_clicks'))} is not a number of its "
                        f"{len(clicks)} clicks")
    return InProgress(file_name, clicks, editing, _mask(mask, size, "'mask'"), mask_clicks)


def _object_id(value: Any, what: str) -> int:
    object_id = json_int(value)
    if object_id is None or not 1 <= object_id <= _MAX_ID:
        raise BadRecord(f"{what} {shown(value)} is not an object id (a positive integer)")
    return object_id


def _category(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"'category' must be a category's name, not {shown(value)}")
    return value


def _image(value: Any, project: Project) -> str:
    if not isinstance(value, str) or value not in project.images:
        raise BadRecord(f"'file' {shown(value)} is not an image of the project")
    return value


def _image_size(project: Project, file_name: str) -> tuple[int, int]:
    """(height, width) of an image: the project's, else read from the file and noted in the
    project (as opening the image in the GUI does)."""
    entry = project.images[file_name]
    if entry.height is None or entry.width is None:
        try:
            entry.height, entry.width = load_image(project.image_path(file_name)).shape[:2]
        except ImageLoadError as exc:
            raise BadRecord(f"the size of {file_name} is not known and the image cannot be "
                            f"read to check the record's mask: {exc}") from exc
    return entry.height, entry.width


def _mask(value: Any, size: tuple[int, int], what: str) -> dict:
    """A mask's RLE of the image's ``size``; only its size and counts are kept."""
    try:
        height, width = check_rle(value, size)
    except InvalidRLE as exc:
        raise BadRecord(f"{what}: {exc}") from exc
    return {"size": [height, width], "counts": value["counts"]}


def _clicks(value: Any, size: tuple[int, int]) -> list[Click]:
    if not isinstance(value, list):
        raise BadRecord("'clicks' must be a list of [y, x, is_positive]")
    height, width = size
    clicks = []
    for click in value:
        if not is_click_json(click):
            raise BadRecord(f"click {shown(click)} is not [y, x, is_positive]")
        y, x = float(click[0]), float(click[1])
        if not (0 <= y < height and 0 <= x < width):
            raise BadRecord(f"click {shown(click)} lies outside the {width}x{height} image")
        clicks.append(Click(y, x, click[2]))
    return clicks


def shown(value: Any, limit: int = 60) -> str:
    """``value`` as a message shows it: a crafted record may hold megabytes."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."
