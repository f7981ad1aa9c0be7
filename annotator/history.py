"""Where Undo and Redo go: while an object is in progress they step through its clicks;
without one, Undo first puts back the object Esc dropped, then undoes project edits (the
workspace's history). An object in progress that a crash left is put back the same way."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
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

    def drop_correction(self, object_id: int, restorable: bool) -> None:
        """Object ``object_id`` is about to change: stop correcting it, if it is being
        corrected (``restorable``: Undo may put the correction back)."""
        if object_id == self._c.session.editing_object_id:
            self.discard_object()
            if not restorable:
                self.forget()

    def restore_in_progress(self, state: InProgress) -> None:
        """Make ``state`` (an object in progress a crash or Esc left) the object in progress
        again, on its image."""
        c = self._c
        if state.file_name not in c.files:
            c.message.emit(f"{state.file_name} is no longer in the folder: its unfinished "
                           "object cannot be restored.")
            return
        if state.file_name != c.session.current_file:
            c.go_to(c.files.index(state.file_name))
        if state.editing_object_id is not None:
            with suppress(KeyError):  # the object was deleted: its clicks make a new one
                c.correct_object(state.editing_object_id)
        c.session.restore(state)

    def discard_recovered(self) -> None:
        """The user declined to restore the object a crash left: stop offering it."""
        self._c.session.journal_progress([])

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
            self.restore_in_progress(state)
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
