"""Pausing Python's cyclic garbage collector while a large acyclic structure is built.

CPython runs a full collection, which visits every tracked object, each time the objects
that survived earlier collections grow by a quarter. Reading a project of 100,000 objects
(millions of lists, dicts and strings from the JSON, then the objects made from them)
triggered so many that they took 60 % of :meth:`~engine.annotations.Project.load`; none
of that data holds a reference cycle, so nothing is lost by collecting once, afterwards.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside the block (re-enabled after it, if it was enabled)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
