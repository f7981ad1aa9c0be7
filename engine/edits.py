"""Edits as values: one immutable record per kind of change to a project.

Every change the annotator makes to a project (an object added, deleted, corrected,
relabelled, hidden, a review decision, a category added / renamed / recoloured / re-id'd /
removed, a whole import) is one of these. Each carries the full state before and after it, so

- ``apply(project)`` checks that the project is in the state the edit was made from and that
  the result is a sound project, and raises :class:`EditError` (a message for the user)
  with nothing changed otherwise;
- ``inverse()`` is exact without reading the project: applying an edit and then its inverse
  gives back the identical project;
- ``to_json()`` / :func:`edit_from_json` are the journal's record of it, so that replay after
  a crash runs the very code the live path ran (engine/workspace.py).

Edits are made from what the user asked by engine/edit_builders.py.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from engine.annotations import Category, Project
from engine.journal_records import BadRecord, shown
from engine.object_state import (CategoryState, ObjectState, bounded, color, identifier,
                                 name)
from engine.palette import RGB, color_to_hex

_MAX_BATCH = 10_000_000


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
            obj = found.get(change.object_id)
            if obj is None:
                raise EditError(f"object {change.object_id} is not in {change.file_name}")
            if obj.visible != change.before:
                raise EditError(f"object {change.object_id} was "
                                f"{'shown' if obj.visible else 'hidden'} already")
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


# -- categories -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AddCategory(Edit):
    kind = EditKind.ADD_CATEGORY
    state: CategoryState

    def apply(self, project: Project) -> None:
        state = self.state
        if any(c.id == state.id for c in project.categories):
            raise EditError(f"category id {state.id} is taken")
        _check_free_name(project, state.name)
        if state.position > len(project.categories):
            raise EditError(f"category {state.name!r} cannot go to place {state.position}")
        project.categories.insert(state.position, state.build())

    def inverse(self) -> Edit:
        return RemoveCategory(self.state)

    def describe(self) -> str:
        return f"Add category {self.state.name!r}"

    def touched(self) -> Touched:
        return Touched(categories=True)

    def fields(self) -> dict:
        return {"category": self.state.to_json()}


@dataclass(frozen=True)
class RemoveCategory(Edit):
    kind = EditKind.REMOVE_CATEGORY
    state: CategoryState

    def apply(self, project: Project) -> None:
        if _category_state(project, self.state.id) != self.state:
            raise EditError(f"category {self.state.name!r} changed since")
        used = sum(obj.category_id == self.state.id
                   or (obj.review is not None and obj.review.original_category_id == self.state.id)
                   for _, obj in project.iter_objects())
        if used:
            raise EditError(f"category {self.state.name!r} is used by {used} object"
                            f"{'s' if used != 1 else ''}: give them another category or "
                            "delete them first")
        del project.categories[self.state.position]

    def inverse(self) -> Edit:
        return AddCategory(self.state)

    def describe(self) -> str:
        return f"Remove category {self.state.name!r}"

    def touched(self) -> Touched:
        return Touched(categories=True)

    def fields(self) -> dict:
        return {"category": self.state.to_json()}


@dataclass(frozen=True)
class RenameCategory(Edit):
    kind = EditKind.RENAME_CATEGORY
    category_id: int
    before: str
    after: str

    def apply(self, project: Project) -> None:
        category = _category(project, self.category_id)
        if category.name != self.before:
            raise EditError(f"category {self.category_id} is no longer called {self.before!r}")
        _check_free_name(project, self.after)
        category.name = self.after

    def inverse(self) -> Edit:
        return RenameCategory(self.category_id, self.after, self.before)

    def describe(self) -> str:
        return f"Rename category {self.before!r} to {self.after!r}"

    def touched(self) -> Touched:
        return Touched(None, categories=True)  # drawn with every object of it

    def fields(self) -> dict:
        return {"id": self.category_id, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class RecolorCategory(Edit):
    kind = EditKind.RECOLOR_CATEGORY
    category_id: int
    before: RGB
    after: RGB

    def apply(self, project: Project) -> None:
        category = _category(project, self.category_id)
        if category.color != self.before:
            raise EditError(f"category {category.name!r} changed colour since")
        category.color = self.after

    def inverse(self) -> Edit:
        return RecolorCategory(self.category_id, self.after, self.before)

    def describe(self) -> str:
        return f"Recolour category {self.category_id}"

    def touched(self) -> Touched:
        return Touched(None, categories=True)

    def fields(self) -> dict:
        return {"id": self.category_id, "before": color_to_hex(self.before),
                "after": color_to_hex(self.after)}


@dataclass(frozen=True)
class ChangeCategoryId(Edit):
    """A category takes another COCO id; its objects (and imported categories kept by the
    review) follow it."""

    kind = EditKind.CHANGE_CATEGORY_ID
    before: int
    after: int

    def apply(self, project: Project) -> None:
        category = _category(project, self.before)
        clash = next((c for c in project.categories if c.id == self.after), None)
        if clash is not None:
            raise EditError(f"id {self.after} is already the id of category {clash.name!r}")
        category.id = self.after
        for _, obj in project.iter_objects():
            if obj.category_id == self.before:
                obj.category_id = self.after
            if obj.review is not None and obj.review.original_category_id == self.before:
                obj.review.original_category_id = self.after

    def inverse(self) -> Edit:
        return ChangeCategoryId(self.after, self.before)

    def describe(self) -> str:
        return f"Change category id {self.before} to {self.after}"

    def touched(self) -> Touched:
        return Touched(None, categories=True)

    def fields(self) -> dict:
        return {"before": self.before, "after": self.after}


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


def edit_from_json(raw: Any) -> Edit:
    """The edit ``raw`` (a journal record's ``edit``) records; raises nothing but
    :class:`~engine.journal_records.BadRecord` saying what is wrong. Whether it fits the
    project is for :meth:`Edit.apply` to check."""
    if not isinstance(raw, dict):
        raise BadRecord(f"{shown(raw)} is not an edit")
    try:
        kind = EditKind(raw.get("kind"))
    except ValueError:
        raise BadRecord(f"unknown edit {shown(raw.get('kind'))}") from None
    return _READERS[kind](raw)


def _batch(raw: dict) -> Batch:
    edits = raw.get("edits")
    if not isinstance(edits, list) or len(edits) > _MAX_BATCH:
        raise BadRecord(f"'edits' {shown(edits)} is not a list of edits")
    label = raw.get("label")
    if not isinstance(label, str) or len(label) > 1000:
        raise BadRecord(f"'label' {shown(label)} is not a description")
    return Batch(tuple(edit_from_json(edit) for edit in edits), label)


def _visibility(raw: Any) -> Visibility:
    if (not isinstance(raw, list) or len(raw) != 4 or not isinstance(raw[0], str)
            or not isinstance(raw[2], bool) or not isinstance(raw[3], bool)):
        raise BadRecord(f"{shown(raw)} is not [image, object id, before, after]")
    return Visibility(raw[0], identifier(raw[1], "object id"), raw[2], raw[3])


def _visibilities(raw: dict) -> SetVisibility:
    changes = raw.get("changes")
    if not isinstance(changes, list) or not changes or len(changes) > _MAX_BATCH:
        raise BadRecord(f"'changes' {shown(changes)} is not a list of visibility changes")
    return SetVisibility(tuple(_visibility(change) for change in changes))


def _change(raw: dict) -> ChangeObject:
    try:
        change = ObjectChange(raw.get("change"))
    except ValueError:
        raise BadRecord(f"unknown change {shown(raw.get('change'))}") from None
    return ChangeObject(ObjectState.from_json(raw.get("before")),
                        ObjectState.from_json(raw.get("after")), change)


_READERS = {
    EditKind.ADD_OBJECT: lambda raw: AddObject(ObjectState.from_json(raw.get("object"))),
    EditKind.DELETE_OBJECT: lambda raw: DeleteObject(ObjectState.from_json(raw.get("object"))),
    EditKind.CHANGE_OBJECT: _change,
    EditKind.SET_VISIBILITY: _visibilities,
    EditKind.ADD_CATEGORY: lambda raw: AddCategory(CategoryState.from_json(raw.get("category"))),
    EditKind.REMOVE_CATEGORY:
        lambda raw: RemoveCategory(CategoryState.from_json(raw.get("category"))),
    EditKind.RENAME_CATEGORY: lambda raw: RenameCategory(
        identifier(raw.get("id"), "'id'"), name(raw.get("before")), name(raw.get("after"))),
    EditKind.RECOLOR_CATEGORY: lambda raw: RecolorCategory(
        identifier(raw.get("id"), "'id'"), color(raw.get("before")), color(raw.get("after"))),
    EditKind.CHANGE_CATEGORY_ID: lambda raw: ChangeCategoryId(
        identifier(raw.get("before"), "'before'"), bounded(raw.get("after"), "'after'", 1,
                                                           2 ** 63 - 1)),
    EditKind.BATCH: _batch,
}


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


def _category(project: Project, category_id: int) -> Category:
    try:
        return project.category(category_id)
    except KeyError:
        raise EditError(f"there is no category {category_id}") from None


def _category_state(project: Project, category_id: int) -> CategoryState | None:
    try:
        return CategoryState.of(project, category_id)
    except KeyError:
        return None


def _check_free_name(project: Project, category_name: str) -> None:
    if category_name != category_name.strip() or not category_name:
        raise EditError(f"{category_name!r} is not a category name")
    if any(c.name == category_name for c in project.categories):
        raise EditError(f"there is already a category called {category_name!r}")
