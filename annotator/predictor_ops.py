"""The operations that (re)make the session of the image shown: loading an image, and
changing the model, its options or its device (see annotator/session_ops.py for how an
operation runs). A change of predictor outlives a change of image, and a failed one keeps
the old predictor; both are told whichever image is shown."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine import InteractiveSession
from engine.imageio import load_image
from engine.inference.options import InferenceOptions
from annotator.overlays import display_copy
from annotator.session_ops import Op, SessionView, Steps, WorkerState
from weights import MODELS

if TYPE_CHECKING:
    from annotator.object_session import ObjectSession


@dataclass(frozen=True)
class Load(Op):
    label = "Loading the image"
    path: str

    def run(self, state: WorkerState, threshold: float) -> object:
        image = load_image(self.path)
        if state.predictor is None:
            state.rebuild()
        assert state.predictor is not None
        state.session = InteractiveSession(state.predictor, image, threshold)
        return image, display_copy(image)

    def replay(self, steps: Steps, redo: Steps) -> None:
        steps.clear()
        redo.clear()

    def apply(self, host: ObjectSession, result: object) -> None:
        assert isinstance(result, tuple) and host.current_file is not None
        host.image, host.display_image = result
        host.image_loaded.emit(host.current_file, host.image)
        host.session_changed.emit()

    def fail(self, host: ObjectSession, exc: Exception, current: bool) -> None:
        if current:
            assert host.current_file is not None
            host.queue.state.session = None  # the worker is past the load: nothing runs
            host.image_failed.emit(host.current_file, str(exc))


class _Setup(Op):
    """A change of the predictor: it outlives a change of image; a failure keeps the old
    predictor, and is told whichever image is shown."""

    outlives_image = True

    def run(self, state: WorkerState, threshold: float) -> object:
        previous = (state.model_name, state.options, state.device)
        self.change(state)
        try:
            state.rebuild()
        except Exception:
            state.model_name, state.options, state.device = previous
            raise
        return None

    def change(self, state: WorkerState) -> None:
        raise NotImplementedError

    def settle(self, host: ObjectSession, result: object) -> None:
        host.model_changed.emit(host.model_name)

    def apply(self, host: ObjectSession, result: object) -> None:
        host.show(SessionView(), journaled=False)  # the new predictor starts afresh


@dataclass(frozen=True)
class ChangeModel(_Setup):
    name: str

    def change(self, state: WorkerState) -> None:
        state.model_name = self.name

    def settle(self, host: ObjectSession, result: object) -> None:
        host.model_name = self.name
        host.model_changed.emit(host.model_name)

    def fail(self, host: ObjectSession, exc: Exception, current: bool) -> None:
        host.error.emit(f"Could not switch to {MODELS[self.name].title}: {exc}. "
                        f"Still using {host.model_title}.")
        host.model_changed.emit(host.model_name)


@dataclass(frozen=True)
class ChangeOptions(_Setup):
    options: InferenceOptions

    def change(self, state: WorkerState) -> None:
        state.options = self.options

    def fail(self, host: ObjectSession, exc: Exception, current: bool) -> None:
        host.options = host.queue.state.options  # the predictor still runs with these
        host.error.emit(f"Could not apply the inference options: {exc}")
        host.model_changed.emit(host.model_name)


@dataclass(frozen=True)
class ChangeDevice(_Setup):
    device: str

    def change(self, state: WorkerState) -> None:
        state.device = self.device

    def fail(self, host: ObjectSession, exc: Exception, current: bool) -> None:
        host.device = host.queue.state.device
        host.error.emit(f"Could not run {host.model_title} on {self.device}: {exc}. "
                        f"Still on {host.device}.")
        host.model_changed.emit(host.model_name)
