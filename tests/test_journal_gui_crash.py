"""SIGKILL the real annotator (offscreen, scripted) at random moments, then reopen its work
in a window here: every finished object is there and the clicks in progress are offered
back and restored."""
from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from engine.annotations import Project
from engine.clicks import Click
from engine.journal import InProgress
from annotator.controller import SessionController

from journal_crash_child import IMAGE_NAME, state_after
from journal_gui_crash_child import gui_plan
from test_journal_crash import _run_and_kill, _scene

CHILD = Path(__file__).with_name("journal_gui_crash_child.py")
ROUNDS = 3

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")]


def test_sigkill_of_the_gui_loses_no_finished_object_and_no_click(tmp_path, qtbot, open_window,
                                                                   monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    _scene(folder)
    rng = random.Random(20261122)
    objects_before = 0
    for seed in range(ROUNDS):
        lines = _run_and_kill(folder, seed, rng.uniform(0.3, 2.0), CHILD)
        steps = gui_plan(seed)
        reported = max([int(line.split()[1]) for line in lines if line.startswith("step")],
                       default=0)
        assert reported < len(steps), "the plan ran out before the kill: lengthen it"
        # The kill may land after step N+1 was journaled but before "step N+1" was printed.
        expected = [(finished, [Click(*click) for click in clicks])
                    for clicks, finished in (state_after(steps, count)
                                             for count in (reported, reported + 1))]

        win = open_window(SessionController())
        asked: list[InProgress] = []
        monkeypatch.setattr(win, "ask_restore", lambda state: asked.append(state) or True)
        assert win.open_folder(folder)
        qtbot.waitUntil(lambda: win.controller.session.image is not None
                        and not win.controller.session.busy, timeout=20000)
        count = len(win.controller.rows.current_objects())
        offered = asked[0].clicks if asked else []
        found = (count - objects_before, offered)
        assert found in expected, f"round {seed}, step {reported}: {found}, expected one of {expected}"
        assert len(asked) == (1 if offered else 0)
        if offered:
            assert asked[0].file_name == IMAGE_NAME
            qtbot.waitUntil(lambda: not win.controller.session.busy, timeout=20000)
            assert win.controller.session.view.clicks == offered  # restored, and predicted again
        assert win.errors == []
        assert len(Project.load(win.controller.rows.project.path).images[IMAGE_NAME].objects) == count
        win.controller.shutdown()  # the next round's process takes the journal over
        win.close()
        objects_before = count
    assert objects_before > 0, "no round finished an object: kill later"
