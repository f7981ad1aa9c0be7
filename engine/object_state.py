"""Immutable snapshots of what an edit changes: a finished object (where it sits included)
and a category, with their JSON form for the journal.

An edit (engine/edits.py) carries the snapshots before and after it, so that its inverse is
exact without reading the project. Reading a snapshot from JSON checks every field's type and
range and raises nothing but :class:`~engine.journal_records.BadRecord`; whether it fits the
project (the image, the ids, the mask's size) is checked when the edit is applied.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.annotations import (AnnotatedObject, Category, ObjectSource, Project, Review,
                                ReviewOutcome, is_click_json)
from engine.clicks import Click
from engine.journal_records import BadRecord, shown
from engine.masks import InvalidRLE, check_rle, json_int
from engine.palette import RGB, color_to_hex, hex_to_color

_MAX_ID = 2 ** 63 - 1  # ids are stored as 64-bit integers by COCO readers
_MAX_POSITION = 2 ** 31


@dataclass(frozen=True)
class ReviewState:
    outcome: ReviewOutcome
    original_rle: Mapping[str, Any] | None = None
    original_category_id: int | None = None


@dataclass(frozen=True)
class ObjectState:
    """A finished object as it is (or was) at ``position`` in image ``file_name``'s list.

    ``rle`` is never changed: :meth:`build` gives the object a copy.
    """

    file_name: str
    position: int
    id: int
    category_id: int
    rle: Mapping[str, Any]
    source: ObjectSource
    clicks: tuple[Click, ...]
    visible: bool
    review: ReviewState | None

    @classmethod
    def of(cls, project: Project, object_id: int) -> ObjectState:
        """The object ``object_id`` of ``project``; KeyError when there is none."""
        entry, obj = project.find_object(object_id)
        position = next(i for i, other in enumerate(entry.objects) if other is obj)
        return cls.of_object(entry.file_name, position, obj)

    @classmethod
    def of_object(cls, file_name: str, position: int, obj: AnnotatedObject) -> ObjectState:
        review = obj.review
        return cls(file_name, position, obj.id, obj.category_id, dict(obj.rle),
                   ObjectSource(obj.source), tuple(obj.clicks), obj.visible,
                   None if review is None else ReviewState(
                       ReviewOutcome(review.outcome),
                       None if review.original_rle is None else dict(review.original_rle),
                       review.original_category_id))

    def build(self) -> AnnotatedObject:
        """A new project object of this state."""
        review = None if self.review is None else Review(
            self.review.outcome,
            None if self.review.original_rle is None else dict(self.review.original_rle),
            self.review.original_category_id)
        obj = AnnotatedObject(self.id, self.category_id, dict(self.rle), self.source,
                              list(self.clicks), self.visible, review)
        obj.review = review  # AnnotatedObject makes a Review for an imported one without
        return obj

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.rle["size"]
        return height, width

    def to_json(self) -> dict:
        review = self.review
        return {"file": self.file_name, "position": self.position, "id": self.id,
                "category_id": self.category_id, "rle": dict(self.rle),
                "source": self.source.value, "clicks": [c.to_json() for c in self.clicks],
                "visible": self.visible,
                "review": None if review is None else {
                    "outcome": review.outcome.value,
                    "original_rle": None if review.original_rle is None
                    else dict(review.original_rle),
                    "original_category_id": review.original_category_id}}

    @classmethod
    def from_json(cls, raw: Any) -> ObjectState:
        record = _mapping(raw, "an object")
        if not isinstance(record.get("file"), str):
            raise BadRecord(f"'file' {shown(record.get('file'))} is not an image's name")
        rle = _rle(record.get("rle"), "'rle'")
        clicks = record.get("clicks")
        if not isinstance(clicks, list) or not all(is_click_json(c) for c in clicks):
            raise BadRecord(f"'clicks' {shown(clicks)} is not a list of [y, x, is_positive]")
        if not isinstance(record.get("visible"), bool):
            raise BadRecord(f"'visible' {shown(record.get('visible'))} is not true or false")
        return cls(record["file"], bounded(record.get("position"), "'position'", 0,
                                           _MAX_POSITION),
                   identifier(record.get("id"), "'id'"),
                   identifier(record.get("category_id"), "'category_id'"), rle,
                   _member(ObjectSource, record.get("source"), "source"),
                   tuple(Click.from_json(c) for c in clicks), record["visible"],
                   _review(record.get("review")))


@dataclass(frozen=True)
class CategoryState:
    """A category as it is (or was) at ``position`` in the project's list."""

    position: int
    id: int
    name: str
    color: RGB

    @classmethod
    def of(cls, project: Project, category_id: int) -> CategoryState:
        """Category ``category_id`` of ``project``; KeyError when there is none."""
        for position, category in enumerate(project.categories):
            if category.id == category_id:
                assert category.color is not None  # set by Category itself
                return cls(position, category.id, category.name, category.color)
        raise KeyError(f"no category with id {category_id}")

    def build(self) -> Category:
        return Category(self.id, self.name, self.color)

    def to_json(self) -> dict:
        return {"position": self.position, "id": self.id, "name": self.name,
                "color": color_to_hex(self.color)}

    @classmethod
    def from_json(cls, raw: Any) -> CategoryState:
        record = _mapping(raw, "a category")
        return cls(bounded(record.get("position"), "'position'", 0, _MAX_POSITION),
                   identifier(record.get("id"), "'id'"), name(record.get("name")),
                   color(record.get("color")))


def identifier(value: Any, what: str) -> int:
    return bounded(value, what, 1, _MAX_ID)


def bounded(value: Any, what: str, low: int, high: int) -> int:
    number = json_int(value)
    if number is None or not low <= number <= high:
        raise BadRecord(f"{what} {shown(value)} is not a whole number from {low} to {high}")
    return number


def name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 1000:
        raise BadRecord(f"{shown(value)} is not a category's name")
    return value


def color(value: Any) -> RGB:
    try:
        return hex_to_color(value)
    except (ValueError, TypeError, AttributeError):
        raise BadRecord(f"{shown(value)} is not a colour (#rrggbb)") from None


def _mapping(raw: Any, what: str) -> dict:
    if not isinstance(raw, dict):
        raise BadRecord(f"{shown(raw)} is not {what}")
    return raw


def _member(enum: Any, value: Any, what: str) -> Any:
    try:
        return enum(value)
    except (ValueError, TypeError):
        raise BadRecord(f"unknown {what} {shown(value)}") from None


def _rle(value: Any, what: str) -> dict:
    try:
        height, width = check_rle(value)
    except InvalidRLE as exc:
        raise BadRecord(f"{what}: {exc}") from exc
    return {"size": [height, width], "counts": value["counts"]}


def _review(value: Any) -> ReviewState | None:
    if value is None:
        return None
    record = _mapping(value, "a review")
    original_rle = record.get("original_rle")
    original_category = record.get("original_category_id")
    return ReviewState(_member(ReviewOutcome, record.get("outcome"), "review outcome"),
                       None if original_rle is None else _rle(original_rle, "'original_rle'"),
                       None if original_category is None
                       else identifier(original_category, "'original_category_id'"))
