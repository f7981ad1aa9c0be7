"""Edits as values: one immutable record per kind of change to a project.

Every change the annotator makes to a project (an object added, deleted, corrected,
relabelled, hidden, a review decision, a category added / renamed / recoloured / re-id'd /
removed, a whole import) is one of these. Each carries the full state before and after it, so

- ``apply(project)`` checks that the project is in the state the edit was made from and that
  the result is a sound project, and raises :class:`EditError` (a message for the user)
  with nothing changed otherwise;
- ``inverse()`` is exact without reading the project: applying an edit and then its inverse
  gives back the identical project;
- ``to_json()`` / :func:`engine.edit_json.edit_from_json` are the journal's record of it, so
  that replay after a crash runs the very code the live path ran (engine/workspace.py).

This module holds the edits of finished objects and :class:`Batch`; engine/category_edits.py
those of categories. Edits are made from what the user asked by engine/edit_builders.py.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from engine.annotations import Project
from engine.journal_records import BadRecord
from engine.object_state import ObjectState


class EditError(ValueError):
    """An edit that does not fit the project; nothing was changed. The message says why."""


class EditKind(StrEnum):
    ADD_OBJECT = "add_object"
    DELETE_OBJECT = "delete_object"
    CHANGE_OBJECT = "change_object"
    SET_VISIBILITY = "set_visibility"
    ADD_CATEGORY = "add_category"
    REMOVE_CATEGORY = "remove_category"
    RENAME_CATEGORY = "rename_category"
    RECOLOR_CATEGORY = "recolor_category"
    CHANGE_CATEGORY_ID = "change_category_id"
    BATCH = "batch"


class ObjectChange(StrEnum):
    """What changed a finished object (all are :class:`ChangeObject` edits)."""

    CORRECT = "correct"  # its mask, with clicks
    EDIT_MASK = "edit_mask"  # a clean-up of its mask (fill holes, largest part...)
    RELABEL = "relabel"
    ACCEPT = "accept"  # review decisions
    REJECT = "reject"
    REVERT_REVIEW = "revert_review"


_CHANGE_VERBS = {ObjectChange.CORRECT: "Correct object {}",
                 ObjectChange.EDIT_MASK: "Change the mask of object {}",
                 ObjectChange.RELABEL: "Relabel object {}",
                 ObjectChange.ACCEPT: "Accept object {}",
                 ObjectChange.REJECT: "Reject object {}",
                 ObjectChange.REVERT_REVIEW: "Undo the review of object {}"}


@dataclass(frozen=True)
class Touched:
    """What an edit changed, for listeners: images (None: any image), objects, categories."""

    images: frozenset[str] | None = frozenset()
    objects: frozenset[int] = frozenset()
    categories: bool = False

    def __or__(self, other: Touched) -> Touched:
        images = (None if self.images is None or other.images is None
                  else self.images | other.images)
        return Touched(images, self.objects | other.objects,
                       self.categories or other.categories)


class Edit(ABC):
    """One change to a project."""

    kind: ClassVar[EditKind]

    @abstractmethod
    def apply(self, project: Project) -> None:
        """Make the change; :class:`EditError` (nothing changed) when it does not fit."""

    @abstractmethod
    def inverse(self) -> Edit: ...

    @abstractmethod
    def describe(self) -> str:
        """What it does, for the Edit menu and the status bar: "Delete object 12"."""

    @abstractmethod
    def touched(self) -> Touched: ...

    @abstractmethod
    def fields(self) -> dict: ...

    def to_json(self) -> dict:
        return {"kind": self.kind.value, **self.fields()}


# -- finished objects ---------------------------------------------------------------------

@dataclass(frozen=True)
class AddObject(Edit):
    kind = EditKind.ADD_OBJECT
    state: ObjectState

    def apply(self, project: Project) -> None:
        state = self.state
        _check_fits(project, state)
        if project.has_object(state.id):
            raise EditError(f"object id {state.id} is taken")
        if state.position > len(project.images[state.file_name].objects):
            raise EditError(f"object {state.id} cannot go to place {state.position} of "
                            f"{state.file_name}")
        project.insert_object(state.file_name, state.position, state.build())

    def inverse(self) -> Edit:
        return DeleteObject(self.state)

    def describe(self) -> str:
        return f"Add object {self.state.id}"

    def touched(self) -> Touched:
        return Touched(frozenset([self.state.file_name]), frozenset([self.state.id]))

    def fields(self) -> dict:
        return {"object": self.state.to_json()}


@dataclass(frozen=True)
class DeleteObject(Edit):
    kind = EditKind.DELETE_OBJECT
    state: ObjectState

    def apply(self, project: Project) -> None:
        _check_current(project, self.state)
        project.remove_object(self.state.id)

    def inverse(self) -> Edit:
        return AddObject(self.state)

    def describe(self) -> str:
        return f"Delete object {self.state.id}"

    def touched(self) -> Touched:
        return Touched(frozenset([self.state.file_name]), frozenset([self.state.id]))

    def fields(self) -> dict:
        return {"object": self.state.to_json()}


@dataclass(frozen=True)
class ChangeObject(Edit):
    """A finished object changed in place: its mask, category, review... (``change`` says
    which, for people)."""

    kind = EditKind.CHANGE_OBJECT
    before: ObjectState
    after: ObjectState
    change: ObjectChange

    def __post_init__(self) -> None:
        place = (self.before.file_name, self.before.position, self.before.id)
        if place != (self.after.file_name, self.after.position, self.after.id):
            raise BadRecord("a change of an object keeps its image, place and id")

    def apply(self, project: Project) -> None:
        _check_current(project, self.before)
        _check_fits(project, self.after)
        entry = project.images[self.after.file_name]
        entry.objects[self.after.position] = self.after.build()

    def inverse(self) -> Edit:
        return ChangeObject(self.after, self.before, self.change)

    def describe(self) -> str:
        return _CHANGE_VERBS[self.change].format(self.before.id)

    def touched(self) -> Touched:
        return Touched(frozenset([self.before.file_name]), frozenset([self.before.id]))

    def fields(self) -> dict:
        return {"before": self.before.to_json(), "after": self.after.to_json(),
                "change": self.change.value}


@dataclass(frozen=True)
class Visibility:
    """One object shown or hidden."""

    file_name: str
    object_id: int
    before: bool
    after: bool


@dataclass(frozen=True)
class SetVisibility(Edit):
    kind = EditKind.SET_VISIBILITY
    changes: tuple[Visibility, ...]

    def apply(self, project: Project) -> None:
        wanted = {change.object_id: change for change in self.changes}
        found = {}
        for file_name in {change.file_name for change in self.changes}:
            entry = project.images.get(file_name)
            for obj in entry.objects if entry is not None else ():
                if obj.id in wanted and wanted[obj.id].file_name == file_name:
                    found[obj.id] = obj
        for change in self.changes:
            if change.object_id not in found:
                raise EditError(f"object {change.object_id} is not in {change.file_name}")
            if found[change.object_id].visible != change.before:
                raise EditError(f"object {change.object_id} was "
                                f"{'shown' if change.after else 'hidden'} already")
        for change in self.changes:
            found[change.object_id].visible = change.after

    def inverse(self) -> Edit:
        return SetVisibility(tuple(Visibility(c.file_name, c.object_id, c.after, c.before)
                                   for c in self.changes))

    def describe(self) -> str:
        shown_after = {change.after for change in self.changes}
        verb = ("Change the visibility of" if len(shown_after) > 1
                else "Show" if True in shown_after else "Hide")
        if len(self.changes) == 1:
            return f"{verb} object {self.changes[0].object_id}"
        return f"{verb} {len(self.changes)} objects"

    def touched(self) -> Touched:
        return Touched(frozenset(c.file_name for c in self.changes),
                       frozenset(c.object_id for c in self.changes))

    def fields(self) -> dict:
        return {"changes": [[c.file_name, c.object_id, c.before, c.after]
                            for c in self.changes]}


# -- several at once ------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch(Edit):
    """Edits made as one (an import, hiding all objects, a relabel into a new category):
    applied, undone and journaled together."""

    kind = EditKind.BATCH
    edits: tuple[Edit, ...]
    label: str

    def apply(self, project: Project) -> None:
        done: list[Edit] = []
        try:
            for edit in self.edits:
                edit.apply(project)
                done.append(edit)
        except EditError:
            for edit in reversed(done):  # nothing changed when it raises
                edit.inverse().apply(project)
            raise

    def inverse(self) -> Edit:
        return Batch(tuple(edit.inverse() for edit in reversed(self.edits)), self.label)

    def describe(self) -> str:
        return self.label

    def touched(self) -> Touched:
        touched = Touched()
        for edit in self.edits:
            touched |= edit.touched()
        return touched

    def fields(self) -> dict:
        return {"label": self.label, "edits": [edit.to_json() for edit in self.edits]}


# -- checks ---------------------------------------------------------------------------------

def _check_current(project: Project, state: ObjectState) -> None:
    """The object is exactly ``state`` now (so that the edit's inverse is exact)."""
    try:
        current = ObjectState.of(project, state.id)
    except KeyError:
        raise EditError(f"there is no object {state.id}") from None
    if current != state:
        raise EditError(f"object {state.id} has changed since")


def _check_fits(project: Project, state: ObjectState) -> None:
    """An object of ``state`` would be sound in ``project``: its image, category, mask size
    and clicks."""
    entry = project.images.get(state.file_name)
    if entry is None:
        raise EditError(f"{state.file_name!r} is not an image of the project")
    ids = {category.id for category in project.categories}
    if state.category_id not in ids:
        raise EditError(f"object {state.id}: there is no category {state.category_id}")
    height, width = state.size
    if entry.height and entry.width and (entry.height, entry.width) != (height, width):
        raise EditError(f"the mask is {width}x{height} but {state.file_name} is "
                        f"{entry.width}x{entry.height}")
    if not all(0 <= click.y < height and 0 <= click.x < width for click in state.clicks):
        raise EditError(f"object {state.id}: a click lies outside the {width}x{height} image")
    review = state.review
    if review is not None:
        if review.original_category_id not in (None, *ids):
            raise EditError(f"object {state.id}: there is no category "
                            f"{review.original_category_id}")
        if review.original_rle is not None and tuple(review.original_rle["size"]) != (
                height, width):
            raise EditError(f"object {state.id}: its imported mask is of another size")
