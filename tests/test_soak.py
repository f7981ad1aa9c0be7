"""A small soak (benchmarks/soak.py): the structure after every object, memory bounded by
what the project stores. Structure only: no timings."""
from __future__ import annotations

import numpy as np

from benchmarks.soak import SoakResult, run_soak
from engine import InteractiveSession
from engine.annotations import AnnotatedObject, Project
from engine.inference.grabcut import GrabCutPredictor

OBJECTS, CLICKS = 20, 5
# First predictions allocate once (OpenCV, numpy and json internals, the journal file...).
ONE_TIME_SLACK = 512 * 1024


def memory_bounded(result: SoakResult) -> bool:
    """Python's allocations grew by no more than a generous multiple of the stored objects
    (RLE masks, clicks and the objects themselves) plus one-time allocations. One leaked
    probability map per click (a step kept after its object was finished) is H x W x 4
    bytes, 128 KiB on the test image: a hundred of them break the bound many times over."""
    return result.traced_growth <= 4 * result.samples[-1].stored_bytes + ONE_TIME_SLACK


def _check_finish(session: InteractiveSession, project: Project,
                  finished: list[AnnotatedObject]) -> None:
    assert session.clicks == [] and session.probability is None
    assert not session.can_undo and not session.can_redo and not session.has_initial_mask
    stored = [obj for _, obj in project.iter_objects()]
    assert [obj.id for obj in stored] == [obj.id for obj in finished]
    assert len({obj.id for obj in stored}) == len(stored)
    assert len(finished[-1].clicks) == CLICKS and finished[-1].mask.any()


def test_a_small_soak_keeps_the_structure_and_bounded_memory(tmp_path) -> None:
    result = run_soak(tmp_path, OBJECTS, CLICKS, undo_every=4, sample_every=5,
                      on_finish=_check_finish)
    assert [s.objects for s in result.samples] == [0, 5, 10, 15, 20]
    assert [s.clicks for s in result.samples] == [0, 25, 50, 75, 100]
    assert result.undos == OBJECTS // 4
    last = result.samples[-1]
    assert 0 < last.rle_bytes < last.stored_bytes
    assert memory_bounded(result), (
        f"Python allocations grew {result.traced_growth} bytes for {last.stored_bytes} "
        "bytes of stored objects")
    reopened = Project.open_folder(tmp_path)
    assert len(list(reopened.iter_objects())) == OBJECTS
    assert result.journal_file_bytes < 300  # the header alone after the last save


class LeakyPredictor(GrabCutPredictor):
    """GrabCut that keeps every map it returns: the leak the bound must catch."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[np.ndarray] = []

    def predict(self, clicks, prev_mask):
        self.kept.append(super().predict(clicks, prev_mask))
        return self.kept[-1]


def test_the_memory_bound_catches_a_leak_of_one_map_per_click(tmp_path) -> None:
    result = run_soak(tmp_path, OBJECTS // 2, CLICKS, undo_every=4, sample_every=OBJECTS,
                      predictor=LeakyPredictor())
    assert not memory_bounded(result)
