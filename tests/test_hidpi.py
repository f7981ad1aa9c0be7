"""The canvas at a device pixel ratio of 2 (QT_SCALE_FACTOR=2, in a child process):
clicks between logical pixels land on the right image pixel, click markers keep their
size in logical pixels, icons are drawn at the device resolution."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

CHILD = Path(__file__).with_name("hidpi_child.py")


def test_canvas_at_device_pixel_ratio_2() -> None:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root),
                                                        os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, str(CHILD)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["dpr"] == 2.0
    assert [tuple(p) for p in report["received"]] == [tuple(p) for p in report["expected"]]
    # A 5 px (logical) marker is about 20 device pixels wide, less its white outline.
    radius = report["marker_radius"]
    assert 2 * radius * 2 - 4 <= report["marker_device_width"] <= 2 * radius * 2 + 2
    assert report["icon_size"] == [32, 32]
