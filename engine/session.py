"""One object being segmented with clicks: click history, undo/redo, previous mask."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from engine.clicks import Click
from engine.compact_map import CompactMap
from engine.predictor import Predictor

if TYPE_CHECKING:
    from engine.proposals import Proposal, ProposalGenerator

DEFAULT_PROB_THRESH = 0.49  # the official evaluation threshold


@dataclass(frozen=True)
class _Step:
    """The session after one prediction: the clicks it added and everything to restore it.

    A step without clicks is the choice of a first-click proposal (``chosen``) or a hand
    edit of the mask (``chosen`` None); both keep the predictor's state. Its map is given
    as an array and kept compact (see :class:`CompactMap`): memory per step is the box
    where the map is not constant, not the image.
    """

    clicks: tuple[Click, ...]
    probability: CompactMap
    predictor_state: Any
    proposals: tuple[Proposal, ...] = ()
    chosen: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.probability, np.ndarray):
            object.__setattr__(self, "probability", CompactMap.of(self.probability))


class InteractiveSession:
    """Segments one object at a time on one image with a predictor.

    Every prediction is a step holding its probability map (compact) and the predictor's
    state, so undo and redo restore a step without running the model again. Only the
    current step's map is kept whole. Clicks submitted together (``add_clicks``) form one
    step: they were predicted together, so they are undone together.

    After a first positive click, ``propose`` adds alternative masks (part / whole / group);
    ``choose_proposal`` makes one of them the mask the next clicks continue from, as a step
    of its own, undone and redone like a click. A hand edit of the mask (``edit_mask``: a
    brush stroke, keep the largest part...) is one more such step.
    """

    def __init__(
        self,
        predictor: Predictor,
        image: np.ndarray,
        prob_thresh: float = DEFAULT_PROB_THRESH,
    ) -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 image, got {image.shape} {image.dtype}")
        self.predictor = predictor
        self.image = image
        self.prob_thresh = prob_thresh
        predictor.set_image(image)
        self._initial_state = predictor.get_state()
        self._initial_probability: np.ndarray | None = None
        self._steps: list[_Step] = []
        self._redo: list[_Step] = []
        # The last step and its whole map; maps are never changed in place (the GUI thread
        # may be drawing one), so a step's map is expanded once while it is the last.
        self._whole: tuple[_Step, np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]

    @property
    def clicks(self) -> list[Click]:
        return [click for step in self._steps for click in step.clicks]

    @property
    def step_clicks(self) -> list[tuple[Click, ...]]:
        """The clicks of each step, oldest first (``()`` for a proposal choice or an edit):
        what each ``undo`` would take away."""
        return [step.clicks for step in self._steps]

    @property
    def redo_step_clicks(self) -> list[tuple[Click, ...]]:
        """The clicks of each undone step, the next ``redo`` last."""
        return [step.clicks for step in self._redo]

    @property
    def probability(self) -> np.ndarray | None:
        """The current probability map, or None before any click and initial mask."""
        if not self._steps:
            return self._initial_probability
        step = self._steps[-1]
        if self._whole is None or self._whole[0] is not step:
            self._whole = (step, step.probability.expand())
        return self._whole[1]

    @property
    def mask(self) -> np.ndarray:
        """The current object mask (H x W bool): probability above the threshold."""
        probability = self.probability
        if probability is None:
            return np.zeros(self.shape, dtype=bool)
        return probability > self.prob_thresh

    @property
    def has_initial_mask(self) -> bool:
        return self._initial_probability is not None

    @property
    def proposals(self) -> tuple[Proposal, ...]:
        """The first click's proposals while every later step chose one of them, else ()
        (a later click or hand edit ends the choice)."""
        if self._steps and all(step.chosen is not None for step in self._steps[1:]):
            return self._steps[0].proposals
        return ()

    @property
    def current_proposal(self) -> int | None:
        """Index in ``proposals`` of the one the current mask is (the plain one until a
        choice), or None without proposals."""
        proposals = self.proposals
        if not proposals:
            return None
        if self._steps[-1].chosen is not None:
            return self._steps[-1].chosen
        return next((i for i, p in enumerate(proposals) if p.plain), None)

    @property
    def can_undo(self) -> bool:
        return bool(self._steps)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def stored_map_bytes(self) -> int:
        """Memory the compact maps of the undo and redo steps take."""
        return sum(step.probability.nbytes for step in (*self._steps, *self._redo))

    def set_initial_mask(self, mask: np.ndarray) -> None:
        """Start from an existing mask (e.g. an imported instance) that clicks then correct.

        Only allowed before the first click; the mask is the previous mask of the first click.
        """
        if self._steps:
            raise RuntimeError("the initial mask can only be set before the first click")
        if mask.shape != self.shape:
            raise ValueError(f"initial mask is {mask.shape[:2]}, image is {self.shape}")
        self._initial_probability = mask.astype(np.float32)
        self._redo.clear()

    def add_click(self, click: Click) -> np.ndarray:
        """Add one click, run the predictor and return the new probability map."""
        return self.add_clicks([click])

    def add_clicks(self, clicks: Sequence[Click]) -> np.ndarray:
        """Add clicks that arrived together and predict once for all of them."""
        if not clicks:
            raise ValueError("add_clicks needs at least one click")
        height, width = self.shape
        for click in clicks:
            if not (0 <= click.y < height and 0 <= click.x < width):
                raise ValueError(f"click {click} is outside the {width}x{height} image")
        all_clicks = self.clicks + list(clicks)
        probability = self.predictor.predict(all_clicks, self.probability)
        if probability.shape != self.shape:
            raise RuntimeError(
                f"{self.predictor.name} returned a {probability.shape} map for a {self.shape} image"
            )
        probability = probability.astype(np.float32, copy=False)
        step = _Step(tuple(clicks), probability, self.predictor.get_state())
        self._steps.append(step)
        self._whole = (step, probability)
        self._redo.clear()
        return probability

    def propose(self, generator: ProposalGenerator) -> tuple[Proposal, ...]:
        """Compute the first click's proposals (kept with the first step) and return them.

        Only right after a single positive first click, with no initial mask; otherwise
        (and when the generator finds nothing) returns () and changes nothing.
        """
        if (len(self._steps) != 1 or self.has_initial_mask
                or len(self._steps[0].clicks) != 1 or not self._steps[0].clicks[0].is_positive):
            return ()
        first = self._steps[0]
        if not first.proposals:
            proposals = tuple(generator.generate(self.predictor, self.image, first.clicks[0],
                                                 self.probability, self.prob_thresh))
            self._steps[0] = replace(first, proposals=proposals)
            self._restore_predictor()
        return self._steps[0].proposals

    def choose_proposal(self, index: int) -> np.ndarray:
        """Continue from proposal ``index``: its probability becomes the current one (and
        the next click's previous mask). A step of its own: undo returns to the previous."""
        proposals = self.proposals
        if not 0 <= index < len(proposals):
            raise IndexError(f"there are {len(proposals)} proposals, no proposal {index}")
        if index != self.current_proposal:
            self._steps.append(_Step((), proposals[index].probability,
                                     self._steps[-1].predictor_state, chosen=index))
            self._redo.clear()
        return self.probability

    def edit_mask(self, mask: np.ndarray) -> bool:
        """Make ``mask`` (H x W bool, edited by hand) the current mask, as a step of its own
        whose probability is 1 inside and 0 outside: the next click continues from it.

        Also starts an object from nothing. Returns False, adding no step, when ``mask``
        is the current mask.
        """
        if mask.shape != self.shape:
            raise ValueError(f"the edited mask is {mask.shape[:2]}, the image {self.shape}")
        mask = mask.astype(bool)
        if np.array_equal(mask, self.mask):  # before any click: an empty mask
            return False
        state = self._steps[-1].predictor_state if self._steps else self._initial_state
        self._steps.append(_Step((), mask.astype(np.float32), state))
        self._redo.clear()
        return True

    def undo(self) -> bool:
        """Remove the last step; returns False when there is nothing to undo."""
        if not self._steps:
            return False
        self._redo.append(self._steps.pop())
        self._restore_predictor()
        return True

    def redo(self) -> bool:
        """Re-apply the last undone step without predicting again."""
        if not self._redo:
            return False
        self._steps.append(self._redo.pop())
        self._restore_predictor()
        return True

    def reset(self) -> None:
        """Drop every click and the initial mask: start the object again."""
        self._steps.clear()
        self._redo.clear()
        self._whole = None
        self._initial_probability = None
        self.predictor.set_state(self._initial_state)

    def finish(self) -> np.ndarray:
        """Return the object's mask and start a new object on the same image."""
        mask = self.mask
        self.reset()
        return mask

    def _restore_predictor(self) -> None:
        self.predictor.set_state(self._steps[-1].predictor_state if self._steps
                                 else self._initial_state)
