"""SIGKILL a process annotating through session + project + journal, then reopen its work."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.annotations import Project
from engine.clicks import Click
from engine.journal import Journal

from journal_crash_child import IMAGE_NAME, plan, state_after

CHILD = Path(__file__).with_name("journal_crash_child.py")
ROUNDS = 6

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def _scene(folder: Path) -> None:
    image = np.full((90, 120, 3), 40, np.uint8)
    cv2.rectangle(image, (20, 15), (60, 50), (220, 200, 40), -1)
    cv2.circle(image, (90, 65), 18, (30, 180, 230), -1)
    cv2.imwrite(str(folder / IMAGE_NAME), image)


def _run_and_kill(folder: Path, seed: int, delay: float, script: Path = CHILD) -> list[str]:
    """Start the child ``script``, SIGKILL it ``delay`` seconds after it is ready; its
    stdout lines."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    child = subprocess.Popen([sys.executable, str(script), str(folder), str(seed)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("ready"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), f"the child did not start: {child.stderr.read()}"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
        reader.join(10)
    assert child.returncode == -signal.SIGKILL, (
        f"the child ended by itself ({child.returncode}): {child.stderr.read()}")
    return lines


def test_sigkill_at_random_moments_loses_no_finished_object_and_no_click(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    _scene(folder)
    rng = random.Random(20261121)
    objects_before = 0
    for seed in range(ROUNDS):
        lines = _run_and_kill(folder, seed, rng.uniform(0.05, 0.8))
        steps = plan(seed)
        reported = max([int(line.split()[1]) for line in lines if line.startswith("step")],
                       default=0)
        assert reported < len(steps), "the plan ran out before the kill: lengthen it"

        project = Project.open_folder(folder)
        journal, recovery = Journal.open(project)
        journal.close()
        # The kill may land after step N+1 was journaled but before "step N+1" was printed.
        candidates = [state_after(steps, count) for count in (reported, reported + 1)]
        count = len(list(project.iter_objects()))
        clicks = recovery.in_progress.clicks if recovery.in_progress else []
        found = (count - objects_before, clicks)
        expected = [(finished, [Click(*click) for click in state]) for state, finished in candidates]
        assert found in expected, f"round {seed}, step {reported}: {found}, expected one of {expected}"
        objects_before = count
    assert objects_before > 0, "no round finished an object: kill later"
