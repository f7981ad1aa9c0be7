"""Whether the installed Qt binding keeps Python's count of references to None.

PySide6-Essentials 6.12.0 on Python 3.10 and 3.11 loses one reference to None on every call
of a Qt method that returns nothing (``setText``, ``setEnabled``, ``setData``...). When the
count reaches zero Python aborts (``Fatal Python error: none_dealloc``): a real session dies
after about 20 objects, and opening a folder of 50,000 images dies at once. From Python 3.12
on None is immortal: its count never changes, so such a binding does no harm there (and the
loss cannot be seen).
"""
from __future__ import annotations

import sys
from collections.abc import Callable

# Calls of the short run made first: a leaking binding loses only this many references before
# it is caught, so the long run never drives the count to zero (and Python to an abort).
PROBE_CALLS = 100
CHECK_CALLS = 10_000


def none_is_immortal() -> bool:
    """True on Pythons whose None cannot be deallocated (3.12 on)."""
    return sys.version_info >= (3, 12)


def none_references_lost(call: Callable[[], object], calls: int) -> int:
    """How many references to None ``calls`` calls of ``call`` lost (0 for a sound binding)."""
    before = sys.getrefcount(None)
    for _ in range(calls):
        call()
    return before - sys.getrefcount(None)


def none_refcount_fault(call: Callable[[], object] | None = None,
                        calls: int = CHECK_CALLS) -> str | None:
    """Why the binding is unsafe on this Python (for a person), or None when it keeps None's
    count over ``calls`` calls of ``call`` (default: a void method of a QObject).

    Runs :data:`PROBE_CALLS` calls first and the long run only when those lost nothing.
    """
    if none_is_immortal():
        return None
    call = call or _void_qt_call()
    for run in (PROBE_CALLS, calls):
        lost = none_references_lost(call, run)
        # A sound binding loses exactly nothing; the slack is for another Python thread
        # that happens to drop references to None while the calls run.
        if lost > run // 100:
            return (f"PySide6 {_pyside_version()} on Python {sys.version.split()[0]} leaks "
                    f"references to None ({lost} lost in {run} calls of a Qt method that "
                    "returns nothing); Python aborts when none are left. Install "
                    "PySide6-Essentials<6.12 (6.12.0 is known to leak), or use Python 3.12 "
                    "or newer.")
    return None


def _void_qt_call() -> Callable[[], None]:
    """A call of a Qt method that returns nothing (no QApplication needed)."""
    from PySide6.QtCore import QObject

    probe = QObject()
    return lambda: probe.setObjectName("probe")


def _pyside_version() -> str:
    import PySide6

    return PySide6.__version__
