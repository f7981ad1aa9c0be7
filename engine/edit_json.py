"""The journal's form of an edit read back: :func:`edit_from_json` checks every field's type
and range and raises nothing but :class:`~engine.journal_records.BadRecord`; whether the
edit fits the project is for :meth:`~engine.edits.Edit.apply` to check."""
from __future__ import annotations

from typing import Any

from engine.category_edits import (AddCategory, ChangeCategoryId, RecolorCategory,
                                   RemoveCategory, RenameCategory)
from engine.edits import (AddObject, Batch, ChangeObject, DeleteObject, Edit, EditKind,
                          ObjectChange, SetVisibility, Visibility)
from engine.journal_records import BadRecord, shown
from engine.object_state import CategoryState, ObjectState, bounded, color, identifier, name

_MAX_BATCH = 10_000_000


def edit_from_json(raw: Any) -> Edit:
    """The edit ``raw`` (a journal record's ``edit``) records; raises nothing but
    :class:`~engine.journal_records.BadRecord` saying what is wrong."""
    if not isinstance(raw, dict):
        raise BadRecord(f"{shown(raw)} is not an edit")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in set(EditKind):  # members equal their strings
        raise BadRecord(f"unknown edit {shown(kind)}")
    return _READERS[EditKind(kind)](raw)


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
    change = raw.get("change")
    if not isinstance(change, str) or change not in set(ObjectChange):
        raise BadRecord(f"unknown change {shown(change)}")
    return ChangeObject(ObjectState.from_json(raw.get("before")),
                        ObjectState.from_json(raw.get("after")), ObjectChange(change))


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
