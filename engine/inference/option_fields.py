"""What an options field declares besides its default: the bounds of the integers a user
sets, and whether the GUI keeps it between runs. The model panel builds its spin boxes from
these and the settings derive their keys from them, so a new option is declared once."""
from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Bounds:
    """The values a user may give an integer option; with ``off`` set, None ("off", "all")
    is allowed too and written as 0 (in the GUI's spin boxes and in saved settings)."""

    low: int
    high: int
    off: bool = False

    def __contains__(self, value: object) -> bool:
        return (value is None and self.off) or (type(value) is int
                                                and self.low <= value <= self.high)


def option(default: Any, bounds: Bounds | None = None, saved: bool = True) -> Any:
    """A field of an options class: ``bounds`` for integers the user sets, ``saved`` for
    what the GUI keeps between runs (the evaluation-only options are not)."""
    return field(default=default, metadata={"bounds": bounds, "saved": saved})


def bounds_of(options: type, name: str) -> Bounds:
    """The bounds the options class ``options`` declares for its field ``name``."""
    bounds = {f.name: f.metadata.get("bounds") for f in fields(options)}.get(name)
    if bounds is None:
        raise KeyError(f"{options.__name__}.{name} declares no bounds")
    return bounds


def saved_fields(options: type) -> list[Field]:
    """The fields of ``options`` kept in the settings, in declaration order."""
    return [f for f in fields(options) if f.metadata.get("saved", False)]
