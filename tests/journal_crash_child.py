"""Scripted annotation through session + project + journal, run in a process that gets killed.

``python journal_crash_child.py FOLDER SEED`` works through :func:`plan` (SEED's steps) on
FOLDER's image with the GrabCut predictor and prints ``step N`` once step N is journaled,
the way the GUI shows a result only after its record is on disk. The test reading these
lines (test_journal_crash.py) shares :func:`plan` and :func:`state_after` with it.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

IMAGE_NAME = "scene.png"
CATEGORIES = ("box", "disc")


def plan(seed: int, length: int = 400) -> list[tuple]:
    """Steps: ("click", y, x, positive), ("undo",), ("reset",), ("finish", category), ("save",)."""
    rng = random.Random(seed)
    steps: list[tuple] = []
    clicks = 0
    while len(steps) < length:
        roll = rng.random()
        if clicks and roll < 0.15:
            steps.append(("undo",))
            clicks -= 1
        elif clicks and roll < 0.2:
            steps.append(("reset",))
            clicks = 0
        elif clicks >= 2 and roll < 0.45:
            steps.append(("finish", rng.choice(CATEGORIES)))
            clicks = 0
            if rng.random() < 0.3:
                steps.append(("save",))
        else:
            steps.append(("click", rng.randrange(10, 80), rng.randrange(10, 110),
                          rng.random() < 0.8))
            clicks += 1
    return steps


def state_after(steps: list[tuple], count: int) -> tuple[list[tuple], int]:
    """(clicks in progress as (y, x, positive), objects finished) after the first ``count``."""
    clicks: list[tuple] = []
    finished = 0
    for step in steps[:count]:
        if step[0] == "click":
            clicks.append(step[1:])
        elif step[0] == "undo":
            clicks.pop()
        elif step[0] in ("reset", "finish"):
            clicks = []
            finished += step[0] == "finish"
    return clicks, finished


def main(folder: Path, seed: int) -> None:
    from engine import Click, InteractiveSession
    from engine import edit_builders as build
    from engine.imageio import load_image
    from engine.inference.grabcut import GrabCutPredictor
    from engine.workspace import Workspace

    workspace, _ = Workspace.open(folder)
    session = InteractiveSession(GrabCutPredictor(), load_image(folder / IMAGE_NAME))
    print("ready", flush=True)
    for number, step in enumerate(plan(seed), start=1):
        if step[0] == "click":
            session.add_click(Click(*step[1:]))
        elif step[0] == "undo":
            session.undo()
        elif step[0] == "reset":
            session.reset()
        elif step[0] == "finish":
            workspace.apply(build.add_object(workspace.project, IMAGE_NAME, session.mask,
                                             step[1], session.clicks), finishes=True)
            session.reset()
        else:
            workspace.save()
        if step[0] in ("click", "undo", "reset"):
            workspace.record_progress(IMAGE_NAME, session.clicks, None, None)
        print(f"step {number}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
