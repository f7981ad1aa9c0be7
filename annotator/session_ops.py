"""The operations on the object in progress: each runs on the inference worker and is
applied on the GUI thread by its own methods (no dispatch on a kind string).

An operation's ``run`` is the only code that touches the predictor and the session (the
worker's :class:`WorkerState`); ``apply`` shows its result when it still belongs to the
image on screen; ``settle`` does what must happen whichever image is shown (a finished
object is stored, a changed model announced); ``replay`` says how it changes the clicks'
steps, so the GUI can show the steps before the worker has run it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np

from engine import Click, InteractiveSession, Predictor
from engine.inference.options import InferenceOptions
from engine.proposals import Proposal, ProposalGenerator
from engine.session import DEFAULT_PROB_THRESH
from weights import build_predictor

if TYPE_CHECKING:
    from annotator.object_session import ObjectSession

Steps = list[tuple[Click, ...]]  # the clicks of each undoable step ((): a step without)


@dataclass(frozen=True)
class SessionView:
    """What the GUI shows of the object in progress, produced on the worker thread."""

    clicks: list[Click] = field(default_factory=list)
    mask: np.ndarray | None = None  # probability > threshold
    can_undo: bool = False
    can_redo: bool = False
    proposals: tuple[Proposal, ...] = ()  # the first click's alternatives, while shown
    current_proposal: int | None = None  # the one the mask is
    probability: np.ndarray | None = None  # the map the mask is thresholded from
    threshold: float = DEFAULT_PROB_THRESH
    # The clicks of each undoable / redoable step ((): a proposal choice or a hand edit).
    step_clicks: tuple[tuple[Click, ...], ...] = ()
    redo_step_clicks: tuple[tuple[Click, ...], ...] = ()

    @classmethod
    def of(cls, session: InteractiveSession) -> SessionView:
        probability = session.probability
        return cls(clicks=session.clicks,
                   mask=session.mask if probability is not None else None,
                   can_undo=session.can_undo, can_redo=session.can_redo,
                   proposals=session.proposals, current_proposal=session.current_proposal,
                   probability=probability, threshold=session.prob_thresh,
                   step_clicks=tuple(session.step_clicks),
                   redo_step_clicks=tuple(session.redo_step_clicks))


@dataclass
class WorkerState:
    """Owned by the worker thread: only operations' ``run`` read or write it."""

    model_name: str
    options: InferenceOptions
    device: str
    predictor: Predictor | None = None
    session: InteractiveSession | None = None
    proposal_generator: ProposalGenerator = field(default_factory=ProposalGenerator)

    def rebuild(self) -> None:
        """A predictor for the current model, options and device; the image kept."""
        self.predictor = build_predictor(self.model_name, self.device, self.options)
        if self.session is not None:
            self.session = InteractiveSession(self.predictor, self.session.image,
                                              self.session.prob_thresh)


@dataclass(frozen=True)
class FinishRequest:
    file_name: str
    category: str | None  # None: a correction keeps the instance's category
    editing_object_id: int | None


@dataclass(frozen=True)
class Finished:
    mask: np.ndarray
    clicks: list[Click]


class Op:
    """One operation of the queue."""

    outlives_image: ClassVar[bool] = False  # still run when the user leaves the image
    label: ClassVar[str] = "The operation"  # names it when it fails

    def run(self, state: WorkerState, threshold: float) -> object:
        """On the worker thread; what it returns goes to :meth:`settle` and :meth:`apply`."""
        raise NotImplementedError

    def joined(self, later: Op) -> Op | None:
        """This operation and ``later``, queued right after it, as one (None: they stay
        two)."""
        return None

    def replay(self, steps: Steps, redo: Steps) -> None:
        """Change the steps shown as running this operation will."""

    def settle(self, host: ObjectSession, result: object) -> None:
        """On the GUI thread, whichever image is shown now."""

    def apply(self, host: ObjectSession, result: object) -> None:
        """On the GUI thread, when the result belongs to the image shown."""

    def fail(self, host: ObjectSession, exc: Exception, current: bool) -> None:
        if current:
            host.error.emit(f"{self.label} failed: {exc}")


class SessionOp(Op):
    """An operation on the session of the image: its result comes with the new view."""

    journaled: ClassVar[bool] = True  # the clicks journaled once it is shown

    def run(self, state: WorkerState, threshold: float) -> object:
        session = state.session
        if session is None:  # the image failed to load: nothing to act on
            return None
        session.prob_thresh = threshold
        outcome = self.act(session, state)
        if outcome is _NOTHING:
            return None
        return outcome, SessionView.of(session)

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        raise NotImplementedError

    def apply(self, host: ObjectSession, result: object) -> None:
        if result is None:
            return
        assert isinstance(result, tuple)
        outcome, view = result
        host.show(view, self.journaled, lambda: self.shown(host, outcome))

    def shown(self, host: ObjectSession, outcome: object) -> None:
        """What else the GUI does once the view is shown."""


_NOTHING = object()  # an act that leaves nothing to show


@dataclass(frozen=True)
class AddClicks(SessionOp):
    label = "The prediction"
    clicks: tuple[Click, ...]

    def joined(self, later: Op) -> Op | None:
        # The one coalescing rule: clicks queued after queued clicks go into the same
        # prediction, and make one step.
        return AddClicks(self.clicks + later.clicks) if isinstance(later, AddClicks) else None

    def replay(self, steps: Steps, redo: Steps) -> None:
        steps.append(self.clicks)
        redo.clear()

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        started = time.perf_counter()
        session.add_clicks(list(self.clicks))
        return time.perf_counter() - started

    def shown(self, host: ObjectSession, outcome: object) -> None:
        assert isinstance(outcome, float)
        host.prediction_timed.emit(outcome)
        # After a first click, when proposals are on, propose alternatives to its mask.
        if (host.proposals_enabled and len(host.view.clicks) == 1
                and host.queue.nothing_queued and host.editing_object_id is None):
            host.queue.enqueue(Propose())


class Propose(SessionOp):
    label = "The proposals"
    journaled = False

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        started = time.perf_counter()
        session.propose(state.proposal_generator)
        return time.perf_counter() - started

    def shown(self, host: ObjectSession, outcome: object) -> None:
        count = len(host.view.proposals)
        if count:
            host.message.emit(f"{count} proposals in {outcome:.2f} s: press 1-{count} or "
                              "click one to continue from it" if count > 1 else
                              "No alternative to this mask among the proposals.")


@dataclass(frozen=True)
class ChooseProposal(SessionOp):
    label = "Choosing the proposal"
    index: int

    def replay(self, steps: Steps, redo: Steps) -> None:
        steps.append(())
        redo.clear()

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        if self.index < len(session.proposals):  # a later click may have ended the choice
            session.choose_proposal(self.index)
        return None


@dataclass(frozen=True)
class EditMask(SessionOp):
    label = "The mask edit"
    edit: Callable[[np.ndarray], np.ndarray]
    what: str | None  # names the edit when it changes nothing; None: no message

    def replay(self, steps: Steps, redo: Steps) -> None:
        steps.append(())
        redo.clear()

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        return session.edit_mask(self.edit(session.mask))

    def shown(self, host: ObjectSession, outcome: object) -> None:
        if not outcome and self.what:
            host.message.emit(f"{self.what}: the mask has nothing to change.")


class Undo(SessionOp):
    label = "Undo"
    def replay(self, steps: Steps, redo: Steps) -> None:
        if steps:
            redo.append(steps.pop())

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        return session.undo()


class Redo(SessionOp):
    label = "Redo"
    def replay(self, steps: Steps, redo: Steps) -> None:
        if redo:
            steps.append(redo.pop())

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        return session.redo()


class Reset(SessionOp):
    label = "Reset"
    def replay(self, steps: Steps, redo: Steps) -> None:
        steps.clear()
        redo.clear()

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        session.reset()
        return None


@dataclass(frozen=True)
class InitialMask(SessionOp):
    label = "Starting the correction"
    mask: np.ndarray

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        session.set_initial_mask(self.mask)
        return None


@dataclass(frozen=True)
class Finish(SessionOp):
    label = "Finishing the object"
    request: FinishRequest

    def replay(self, steps: Steps, redo: Steps) -> None:
        steps.clear()
        redo.clear()

    def act(self, session: InteractiveSession, state: WorkerState) -> object:
        mask = session.mask
        if not mask.any():
            return _NOTHING
        finished = Finished(mask, session.clicks)
        session.reset()
        return finished

    def settle(self, host: ObjectSession, result: object) -> None:
        if result is not None:  # the object belongs to its image, not to the view
            assert isinstance(result, tuple)
            host.finished.emit(self.request, result[0])

    def apply(self, host: ObjectSession, result: object) -> None:
        if result is None:
            host.message.emit("The mask is empty: nothing to finish.")
        super().apply(host, result)
