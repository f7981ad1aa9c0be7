"""Reviewing imported instances: the queue to step through, the decisions, their counts.

Objects imported from another model's COCO file carry a :class:`~engine.annotations.Review`
whose outcome is one of :data:`~engine.annotations.REVIEW_OUTCOMES`:

- ``pending``: not decided yet (every imported object starts here);
- ``accepted``: kept as imported;
- ``corrected``: its mask was changed (with clicks); the imported mask is kept beside it;
- ``relabelled``: only its category was changed; the imported category is kept;
- ``rejected``: a wrong detection. It stays in the project, so the decision can be
  undone (:func:`revert`) and counted, but it is never exported and not drawn as a mask.

A corrected object that is also relabelled stays ``corrected`` (the bigger change); its
original category is still kept. :class:`ReviewQueue` is an immutable snapshot of the
imported objects of one image or of the whole folder, in image order (the folder's order)
and then object id, with next / previous that can skip the objects already decided.
Every function here changes the project in memory only; saving it is up to the caller.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from engine.annotations import REVIEW_OUTCOMES, AnnotatedObject, Project, Review, ReviewOutcome

DONE_OUTCOMES = tuple(outcome for outcome in REVIEW_OUTCOMES if outcome != "pending")


class ReviewItem(NamedTuple):
    """One imported object as the queue saw it."""

    file_name: str
    object_id: int
    outcome: str
    category: str

    @property
    def done(self) -> bool:
        return self.outcome != "pending"


@dataclass(frozen=True)
class ReviewCounts:
    """How many imported objects ended with each outcome."""

    by_outcome: tuple[tuple[str, int], ...]  # every outcome of REVIEW_OUTCOMES, in order

    @classmethod
    def of(cls, items: list[ReviewItem] | tuple[ReviewItem, ...]) -> ReviewCounts:
        return cls._counted(item.outcome for item in items)

    @classmethod
    def of_objects(cls, objects: Iterable[AnnotatedObject]) -> ReviewCounts | None:
        """The outcomes of the imported objects among ``objects`` (an image's); None when
        none of them was imported."""
        outcomes = [obj.review.outcome for obj in objects if obj.review is not None]
        return cls._counted(outcomes) if outcomes else None

    @classmethod
    def _counted(cls, outcomes: Iterable[str]) -> ReviewCounts:
        counted = Counter(outcomes)
        return cls(tuple((outcome, counted[outcome]) for outcome in REVIEW_OUTCOMES))

    def __getitem__(self, outcome: str) -> int:
        return dict(self.by_outcome)[outcome]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.by_outcome)

    @property
    def reviewed(self) -> int:
        return self.total - self["pending"]

    def summary(self) -> str:
        """One line for people: "3/5 reviewed: 1 accepted, 1 corrected, 1 rejected"."""
        decided = ", ".join(f"{count} {outcome}" for outcome, count in self.by_outcome
                            if count and outcome != "pending")
        return f"{self.reviewed}/{self.total} reviewed" + (f": {decided}" if decided else "")


class ReviewQueue:
    """The imported objects of a project (or of one of its images), in review order."""

    def __init__(self, items: list[ReviewItem]) -> None:
        self.items = tuple(items)
        self._index = {item.object_id: i for i, item in enumerate(self.items)}

    @classmethod
    def from_project(cls, project: Project) -> ReviewQueue:
        """The queue of every image in the folder (:meth:`only` narrows it to one image).

        Images that left the folder are not in it: their objects cannot be shown.
        """
        names = {category.id: category.name for category in project.categories}
        items = []
        for entry in project.present_images():
            for obj in sorted(entry.objects, key=lambda o: o.id):
                if obj.review is not None:
                    items.append(ReviewItem(entry.file_name, obj.id, obj.review.outcome,
                                            names[obj.category_id]))
        return cls(items)

    def only(self, file_name: str) -> ReviewQueue:
        """The queue of image ``file_name`` alone."""
        return ReviewQueue([item for item in self.items if item.file_name == file_name])

    def __len__(self) -> int:
        return len(self.items)

    def item(self, object_id: int) -> ReviewItem | None:
        index = self._index.get(object_id)
        return None if index is None else self.items[index]

    def position(self, object_id: int) -> int | None:
        """Index of the object in the queue (0-based), None when it is not in it."""
        return self._index.get(object_id)

    def first(self, skip_done: bool = True) -> ReviewItem | None:
        """The first item (the first pending one with ``skip_done``), None if there is none."""
        return next((item for item in self.items if not (skip_done and item.done)), None)

    def next(self, object_id: int | None, skip_done: bool = True) -> ReviewItem | None:
        """The item after ``object_id`` (None: from the start).

        With ``skip_done`` it is the next pending item, wrapping around to pending items
        skipped earlier; without, the next item, None at the end.
        """
        start = self._index.get(object_id, -1) if object_id is not None else -1
        return self._step(start, +1, skip_done, object_id)

    def previous(self, object_id: int | None, skip_done: bool = True) -> ReviewItem | None:
        """The item before ``object_id`` (None: from the end); see :meth:`next`."""
        start = self._index.get(object_id, len(self.items)) if object_id is not None \
            else len(self.items)
        return self._step(start, -1, skip_done, object_id)

    def _step(self, start: int, step: int, skip_done: bool,
              current: int | None) -> ReviewItem | None:
        count = len(self.items)
        for offset in range(1, count + 1):
            index = start + step * offset
            if skip_done:
                index %= count
            elif not 0 <= index < count:
                return None
            item = self.items[index]
            if item.object_id == current:
                return None  # went all the way round
            if not (skip_done and item.done):
                return item
        return None

    def counts(self, file_name: str | None = None) -> ReviewCounts:
        """Counts of the whole queue, or of the items of image ``file_name``."""
        return ReviewCounts.of([item for item in self.items
                                if file_name is None or item.file_name == file_name])


# -- decisions -------------------------------------------------------------------------------
# Each ``*_object`` function changes one object (the edits of engine/edits.py apply them to a
# copy, to know the object after the decision); the project-level functions find it first.

def _review_of(obj: AnnotatedObject) -> Review:
    if obj.review is None:
        raise ValueError(f"object {obj.id} was not imported: there is nothing to review")
    return obj.review


def _changed_outcome(review: Review, unchanged: str) -> str:
    if review.original_rle is not None:
        return ReviewOutcome.CORRECTED
    if review.original_category_id is not None:
        return ReviewOutcome.RELABELLED
    return unchanged


def accept_object(obj: AnnotatedObject) -> None:
    """Keep the object: ``accepted``, or ``corrected`` / ``relabelled`` if it was changed."""
    review = _review_of(obj)
    review.outcome = _changed_outcome(review, ReviewOutcome.ACCEPTED)


def reject_object(obj: AnnotatedObject) -> None:
    """A wrong detection: left out of the export and the canvas, kept to be undone."""
    _review_of(obj).outcome = ReviewOutcome.REJECTED


def relabel_object(obj: AnnotatedObject, category_id: int) -> None:
    """Give the object category ``category_id``. An imported object keeps its imported
    category and becomes ``relabelled`` (``corrected`` if its mask was changed too); giving
    it its imported category back undoes the relabelling."""
    before, obj.category_id = obj.category_id, category_id
    review = obj.review
    if review is None or category_id == before:
        return
    if review.original_category_id is None:
        review.original_category_id = before
    elif review.original_category_id == category_id:
        review.original_category_id = None
    review.outcome = _changed_outcome(review, ReviewOutcome.PENDING
                                      if review.outcome == ReviewOutcome.RELABELLED
                                      else review.outcome)


def revert_object(obj: AnnotatedObject) -> None:
    """Undo the review of the object: the imported mask and category again, ``pending``."""
    review = _review_of(obj)
    if review.original_rle is not None:
        obj.rle = review.original_rle
    if review.original_category_id is not None:
        obj.category_id = review.original_category_id
    obj.review = Review()


def accept(project: Project, object_id: int) -> None:
    accept_object(project.find_object(object_id)[1])


def reject(project: Project, object_id: int) -> None:
    reject_object(project.find_object(object_id)[1])


def relabel(project: Project, object_id: int, category: str) -> None:
    """:func:`relabel_object` to ``category`` (by name, created if new)."""
    relabel_object(project.find_object(object_id)[1], project.category_id(category))


def revert(project: Project, object_id: int) -> None:
    revert_object(project.find_object(object_id)[1])


def imported_rle(obj: AnnotatedObject) -> dict | None:
    """The mask the import gave the object (its RLE), None for an object not imported."""
    if obj.review is None:
        return None
    return obj.review.original_rle or obj.rle
