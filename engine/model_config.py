"""What the constructor parameters stored in a checkpoint's config may be.

A config is data from a file. Passed to a constructor unchecked, ``width=10**9`` makes it
ask for terabytes, a NaN or a list fails deep inside torch, and either reaches the user as
a raw RuntimeError. Every parameter the networks take is checked here first: its type,
finite, and within a range that holds every released model with room to spare. Parameters
without a rule (training-only ones such as ``backbone_lr_mult``, which are dropped before
construction) are not checked.
"""
from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from engine.models.resnet import RESNET_LAYOUTS
from engine.models.segformer import MIT_VARIANTS

# A rule says what is wrong with a value, or None when it is acceptable.
Rule = Callable[[Any], "str | None"]


def _flag(value: Any) -> str | None:
    # The official configs store booleans; 0 and 1 mean the same.
    if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
        return None
    return f"must be true or false, not {_show(value)}"


def _whole(low: int, high: int) -> Rule:
    def rule(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number, not {_show(value)}"
        if not low <= value <= high:
            return f"is {_show(value)}, outside the range {low}..{high}"
        return None
    return rule


def _real(low: float, high: float, low_open: bool = False) -> Rule:
    def rule(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, not {_show(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, not {value}"
        if value < low or (low_open and value == low) or value > high:
            return (f"is {_show(value)}, outside the range {'(' if low_open else '['}{low}, "
                    f"{high}]")
        return None
    return rule


def _choice(*allowed: str) -> Rule:
    def rule(value: Any) -> str | None:
        if isinstance(value, str) and value in allowed:
            return None
        return f"is {_show(value)}; it must be one of {', '.join(map(repr, allowed))}"
    return rule


def _mean_std(value: Any) -> str | None:
    """``((mean R, G, B), (std R, G, B))``: finite, standard deviations above zero."""
    if (not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2
            or not all(isinstance(row, Sequence) and not isinstance(row, str)
                       and len(row) == 3 for row in value)):
        return f"must be two lists of three numbers (means, deviations), not {_show(value)}"
    mean_problem = next(filter(None, map(_real(-1e3, 1e3), value[0])), None)
    std_problem = next(filter(None, map(_real(0, 1e3, low_open=True), value[1])), None)
    if mean_problem or std_problem:
        return f"{'mean' if mean_problem else 'deviation'} {mean_problem or std_problem}"
    return None


def _show(value: Any) -> str:
    # A crafted value may be a list of a million items, or an int too long for repr().
    try:
        return reprlib.repr(value)
    except ValueError:
        return "a number too long to print"


# Parameters of RITM's ISModel, which every architecture here builds on.
_CLICK_ENCODING: dict[str, Rule] = {
    **{flag: _flag for flag in ("use_rgb_conv", "with_aux_output", "use_disks", "cpu_dist_maps",
                                "with_prev_mask", "use_leaky_relu", "binary_prev_mask",
                                "conv_extend")},
    "norm_radius": _real(0, 10_000, low_open=True),
    "norm_mean_std": _mean_std,
}
# Released: HRNet-18s/18/32 with OCR 48/64/128 (HRNet papers go up to W64).
_HRNET: dict[str, Rule] = {"width": _whole(8, 64), "ocr_width": _whole(0, 512), "small": _flag}
_DEEPLAB: dict[str, Rule] = {
    "backbone": _choice(*(f"resnet{depth}" for depth in RESNET_LAYOUTS)),
    "deeplab_ch": _whole(8, 1024),  # released: 128 and 256
    "aspp_dropout": _real(0, 1),
}
_PIPELINE: dict[str, Rule] = {"pipeline_version": _choice("s1", "s2")}

# (family, architecture) -> the rule of each parameter its network takes.
RULES: dict[tuple[str, str], dict[str, Rule]] = {
    ("ritm", "hrnet"): {**_CLICK_ENCODING, **_HRNET},
    ("fbrs", "hrnet"): {**_CLICK_ENCODING, **_HRNET},
    ("focalclick", "hrnet"): {**_CLICK_ENCODING, **_HRNET, **_PIPELINE,
                              "ocr_width": _whole(1, 512)},
    ("ritm", "deeplab"): {**_CLICK_ENCODING, **_DEEPLAB},
    ("fbrs", "deeplab"): {**_CLICK_ENCODING, **_DEEPLAB},
    ("focalclick", "segformer"): {**_CLICK_ENCODING, **_PIPELINE,
                                  "model_version": _choice(*MIT_VARIANTS)},
}


def config_problems(family: str, architecture: str, params: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``params`` for that kind of network, one line per parameter
    (empty when every parameter is acceptable)."""
    rules = RULES.get((family, architecture), {})
    problems = []
    for name, value in params.items():
        rule = rules.get(name)
        problem = rule(value) if rule is not None else None
        if problem:
            problems.append(f"parameter {name!r} {problem}")
    return problems
