"""Read-only rows of a project for a GUI: what a list shows of an image, an object, a
category. Rows are immutable snapshots, so a widget never holds (or changes) the project;
it asks for new rows when told the project changed (engine/workspace.py's listeners).
Masks are not in the rows: they are decoded on demand (see the controller's cache)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from engine.annotations import ObjectSource, Project, ReviewOutcome
from engine.palette import RGB
from engine.review import ReviewCounts


@dataclass(frozen=True)
class CategoryRow:
    id: int
    name: str
    color: RGB
    objects: int  # how many objects, in all images, are of it


@dataclass(frozen=True)
class ObjectRow:
    id: int
    file_name: str
    category_id: int
    category: str
    category_color: RGB
    source: ObjectSource
    visible: bool
    review: ReviewOutcome | None  # None: not imported
    size: tuple[int, int]  # (height, width) of its mask

    @property
    def rejected(self) -> bool:
        return self.review is ReviewOutcome.REJECTED


@dataclass(frozen=True)
class ImageRow:
    file_name: str
    objects: int  # not counting those rejected in review
    review: ReviewCounts | None  # None: no imported object


def category_rows(project: Project) -> tuple[CategoryRow, ...]:
    counts = Counter(obj.category_id for _, obj in project.iter_objects())
    return tuple(CategoryRow(c.id, c.name, _rgb(c.color), counts[c.id])
                 for c in project.categories)


def object_rows(project: Project, file_name: str) -> tuple[ObjectRow, ...]:
    """The objects of image ``file_name``, in the project's order."""
    categories = {c.id: c for c in project.categories}
    rows = []
    for obj in project.images[file_name].objects:
        category = categories[obj.category_id]
        height, width = obj.rle["size"]
        rows.append(ObjectRow(obj.id, file_name, obj.category_id, category.name,
                              _rgb(category.color), ObjectSource(obj.source), obj.visible,
                              None if obj.review is None else ReviewOutcome(obj.review.outcome),
                              (height, width)))
    return tuple(rows)


def image_row(project: Project, file_name: str) -> ImageRow:
    objects = project.images[file_name].objects
    return ImageRow(file_name, sum(not obj.rejected for obj in objects),
                    ReviewCounts.of_objects(objects))


def _rgb(color: RGB | None) -> RGB:
    assert color is not None  # a Category sets its colour when it is made
    return color
