"""Where Undo and Redo go: while an object is in progress they step through its clicks;
without one, Undo first puts back the object Esc dropped, then undoes project edits (the
workspace's history)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.edits import Edit, EditError
from engine.journal import InProgress
from annotator import session_ops as ops

if TYPE_CHECKING:
    from annotator.controller import SessionController


class History:
    def __init__(self, controller: SessionController) -> None:
        self._c = controller
        # The object in progress that Esc dropped, until Undo puts it back (or other work
        # makes that undo meaningless): in the journal's terms, as a crash would leave it.
        self._discarded: InProgress | None = None

    def discard_object(self) -> None:
        """Drop the object in progress (Undo puts it back); a correction is cancelled, its
        instance unchanged."""
        c = self._c
        editing = c.session.editing_object_id is not None
        dropped = c.session.discard()
        if editing:
            c.objects_changed.emit()
        if dropped is not None:
            self._discarded = dropped
            c.message.emit("Object discarded — Ctrl+Z to undo")
        c.history_changed.emit()

    def forget(self) -> None:
        """Undo means something else now (a new object, a project edit, another folder)."""
        self._discarded = None

    def undo(self) -> None:
        """Undo a step of the object in progress; without one, put back the object Esc
        dropped, else undo the last project edit (going to its image)."""
        c = self._c
        if c.has_object_in_progress:
            c.session.step(ops.Undo())
        elif self._discarded is not None:
            state, self._discarded = self._discarded, None
            c.restore_in_progress(state)
            c.message.emit("The discarded object is back.")
            c.history_changed.emit()
        elif c.workspace is not None:
            c.session.queue.store_requested_finishes()  # a finish asked for is the last edit
            self._step(c.workspace.undo, "Undid")

    def redo(self) -> None:
        """Redo a step of the object in progress (also one undone down to no click);
        otherwise the last project edit undone."""
        c = self._c
        if self._session_redoes:
            c.session.step(ops.Redo())
        elif c.workspace is not None:
            self._step(c.workspace.redo, "Redid")

    @property
    def can_undo(self) -> bool:
        c = self._c
        return (c.session.view.can_undo or c.session.busy or self._discarded is not None
                or (not c.has_object_in_progress and c.workspace is not None
                    and c.workspace.can_undo))

    @property
    def can_redo(self) -> bool:
        c = self._c
        if self._session_redoes:
            return c.session.view.can_redo or c.session.busy
        return c.workspace is not None and c.workspace.can_redo

    @property
    def undo_text(self) -> str | None:
        """What Undo would undo, for the Edit menu; None for a click step or nothing."""
        c = self._c
        if c.has_object_in_progress or c.workspace is None:
            return None
        if self._discarded is not None:
            return "Discard object"
        return c.workspace.undo_text

    @property
    def redo_text(self) -> str | None:
        c = self._c
        if self._session_redoes or c.workspace is None:
            return None
        return c.workspace.redo_text

    @property
    def _session_redoes(self) -> bool:
        """Redo acts on the object in progress: one is there, or has steps to redo."""
        c = self._c
        return (c.has_object_in_progress or c.workspace is None
                or bool(c.session.displayed_history()[1]))

    def _step(self, step: Callable[[], Edit | None], done: str) -> None:
        try:
            edit = step()
        except EditError as exc:  # only if the project changed behind the workspace's back
            self._c.error.emit(f"Cannot undo or redo: {exc}")
            return
        if edit is not None:
            self._c.message.emit(f"{done}: {edit.describe()}")
