"""Edits made from what the user asked ("delete object 12", "relabel it as dog"...).

Each function reads the project as it is now and returns the :mod:`engine.edits` value that
does the change (or None when there is nothing to change); none changes the project. Bad
input (an empty name, a taken id, an unknown object) raises :class:`~engine.edits.EditError`
with a message for the user.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
import numpy as np

from engine.annotations import AnnotatedObject, ObjectSource, Project, ReviewOutcome
from engine.clicks import Click
from engine.category_edits import (AddCategory, ChangeCategoryId, RecolorCategory,
                                   RemoveCategory, RenameCategory, free_name)
from engine.edits import (AddObject, Batch, ChangeObject, DeleteObject, Edit, EditError,
                          ObjectChange, SetVisibility, Visibility)
from engine.masks import encode_rle
from engine.object_state import CategoryState, ObjectState, ReviewState
from engine.palette import RGB
from engine.review import accept_object, reject_object, relabel_object, revert_object


def _object(project: Project, object_id: int) -> ObjectState:
    try:
        return ObjectState.of(project, object_id)
    except KeyError:
        raise EditError(f"there is no object {object_id}") from None


def _changed(before: ObjectState, change: Callable[[AnnotatedObject], None]) -> ObjectState:
    """``before`` after ``change`` (one of engine/review.py's) made to a copy of it."""
    obj = before.build()
    change(obj)
    return ObjectState.of_object(before.file_name, before.position, obj)


def _category_for(project: Project, category: str) -> tuple[int, AddCategory | None]:
    """The id of the category called ``category``, and the edit that adds it when new."""
    category = category.strip()
    for existing in project.categories:
        if existing.name == category:
            return existing.id, None
    added = add_category(project, category)
    return added.state.id, added


def _as_json(clicks: Iterable[Click]) -> tuple[Click, ...]:
    """The clicks as the journal and the project file give them back (float coordinates)."""
    return tuple(Click(float(c.y), float(c.x), c.is_positive) for c in clicks)


def _with_category(add: AddCategory | None, edit: Edit) -> Edit:
    return edit if add is None else Batch((add, edit), edit.describe())


# -- objects --------------------------------------------------------------------------------

def add_object(project: Project, file_name: str, mask: np.ndarray, category: str,
               clicks: Iterable[Click] = (), source: ObjectSource = ObjectSource.CLICKED,
               object_id: int | None = None) -> Edit:
    """A new object of ``mask`` in ``category`` (by name, added when new), at the end of
    its image's objects; ``object_id`` is kept when it is free."""
    if file_name not in project.images:
        raise EditError(f"{file_name!r} is not an image of the project")
    category_id, add = _category_for(project, category)
    position = len(project.images[file_name].objects)
    if object_id is None or object_id < 1 or project.has_object(object_id):
        object_id = project.new_object_id()
    source = ObjectSource(source)
    review = ReviewState(ReviewOutcome.PENDING) if source is ObjectSource.IMPORTED else None
    state = ObjectState(file_name, position, object_id, category_id, encode_rle(mask),
                        source, _as_json(clicks), True, review)
    return _with_category(add, AddObject(state))


def delete_object(project: Project, object_id: int) -> Edit:
    return DeleteObject(_object(project, object_id))


def replace_mask(project: Project, object_id: int, mask: np.ndarray,
                 clicks: Iterable[Click] | None, change: ObjectChange) -> Edit | None:
    """The object's mask becomes ``mask`` (its source "corrected"): a correction with
    ``clicks``, or a clean-up (``clicks`` None: they stay). An imported object keeps its
    imported mask for the review. None when the mask is the same."""
    before = _object(project, object_id)
    if not mask.any():
        raise EditError(f"object {object_id} would be empty")

    def set_mask(obj: AnnotatedObject) -> None:
        obj.set_mask(mask)
        obj.source = ObjectSource.CORRECTED
        if clicks is not None:
            obj.clicks = list(_as_json(clicks))
    after = _changed(before, set_mask)
    return None if after == before else ChangeObject(before, after, change)


def relabel(project: Project, object_id: int, category: str) -> Edit | None:
    """The object goes to ``category`` (by name, added when new); None when it is in it."""
    before = _object(project, object_id)
    category_id, add = _category_for(project, category)
    after = _changed(before, lambda obj: relabel_object(obj, category_id))
    if after == before:
        return None
    return _with_category(add, ChangeObject(before, after, ObjectChange.RELABEL))


_DECISIONS = {ObjectChange.ACCEPT: accept_object, ObjectChange.REJECT: reject_object,
              ObjectChange.REVERT_REVIEW: revert_object}


def review_decision(project: Project, object_id: int, decision: ObjectChange) -> Edit | None:
    """Accept, reject or revert the review of an imported object; None if it changes nothing."""
    before = _object(project, object_id)
    if before.review is None:
        raise EditError(f"object {object_id} was not imported: there is nothing to review")
    after = _changed(before, _DECISIONS[decision])
    return None if after == before else ChangeObject(before, after, decision)


def set_visibility(project: Project, object_ids: Iterable[int], visible: bool) -> Edit | None:
    """Show or hide the objects; None when all of them already are."""
    changes = []
    for object_id in object_ids:
        state = _object(project, object_id)
        if state.visible != visible:
            changes.append(Visibility(state.file_name, object_id, state.visible, visible))
    return SetVisibility(tuple(changes)) if changes else None


# -- categories -----------------------------------------------------------------------------

def _state(project: Project, category_id: int) -> CategoryState:
    try:
        return CategoryState.of(project, category_id)
    except KeyError:
        raise EditError(f"there is no category {category_id}") from None


def add_category(project: Project, category_name: str, color: RGB | None = None) -> AddCategory:
    """A new category with the next free id; its colour is one no category has yet, as long
    as the palette has one."""
    try:
        category = project.next_category(category_name, None if color is None else _rgb(color))
    except ValueError as exc:
        raise EditError(str(exc)) from None
    return AddCategory(CategoryState(len(project.categories), category.id, category.name,
                                     _rgb(category.color or (0, 0, 0))))


def rename_category(project: Project, category_id: int, category_name: str) -> Edit | None:
    state = _state(project, category_id)
    if category_name.strip() == state.name:
        return None
    return RenameCategory(category_id, state.name, free_name(project, category_name))


def recolor_category(project: Project, category_id: int, color: RGB) -> Edit | None:
    state = _state(project, category_id)
    color = _rgb(color)
    return None if color == state.color else RecolorCategory(category_id, state.color, color)


def change_category_id(project: Project, category_id: int, new_id: int) -> Edit | None:
    _state(project, category_id)
    if new_id == category_id:
        return None
    if isinstance(new_id, bool) or not isinstance(new_id, int) or not 1 <= new_id < 2 ** 63:
        raise EditError(f"a category id must be a positive whole number, not {new_id!r}")
    clash = next((c for c in project.categories if c.id == new_id), None)
    if clash is not None:
        raise EditError(f"id {new_id} is already the id of category {clash.name!r}")
    return ChangeCategoryId(category_id, new_id)


def remove_category(project: Project, category_id: int) -> Edit:
    """Remove a category no object uses (applying it says so when one does)."""
    return RemoveCategory(_state(project, category_id))


def _rgb(color: RGB) -> RGB:
    if len(color) != 3 or not all(isinstance(v, int) and not isinstance(v, bool)
                                  and 0 <= v <= 255 for v in color):
        raise EditError(f"{color!r} is not an RGB colour")
    return (color[0], color[1], color[2])


def import_batch(project: Project, added_categories: list[int], added_objects: list[int],
                 label: str) -> Batch:
    """The import that just added these categories and objects to ``project``, as one edit
    (see engine/workspace.py's import: it is taken back out and applied as this)."""
    categories = sorted((_state(project, category_id) for category_id in added_categories),
                        key=lambda state: state.position)
    objects = sorted((_object(project, object_id) for object_id in added_objects),
                     key=lambda state: (state.file_name, state.position))
    return Batch((*map(AddCategory, categories), *map(AddObject, objects)), label)

