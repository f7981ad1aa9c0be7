"""Edits of the project's categories (see engine/edits.py): add, remove, rename, recolour,
give another id. Each checks the project is as the edit was made from, and its inverse is
exact."""
from __future__ import annotations

from dataclasses import dataclass

from engine.annotations import Category, Project
from engine.edits import Edit, EditError, EditKind, Touched
from engine.object_state import CategoryState
from engine.palette import RGB, color_to_hex


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


def free_name(project: Project, category_name: str) -> str:
    """``category_name`` stripped; EditError when it is empty or taken."""
    try:
        return project.free_category_name(category_name)
    except ValueError as exc:
        raise EditError(str(exc)) from None


def _check_free_name(project: Project, category_name: str) -> None:
    """A journaled name must be one the builders could have made: stripped and free."""
    if free_name(project, category_name) != category_name:
        raise EditError(f"{category_name!r} is not a category name")
