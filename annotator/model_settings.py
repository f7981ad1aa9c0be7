"""What the Model dock chooses (model, device, inference options, first-click proposals),
saved in the settings and restored at the next start."""
from __future__ import annotations

from dataclasses import Field, dataclass, field, replace
from typing import Any

from PySide6.QtCore import QSettings

from engine.inference.option_fields import Bounds, saved_fields
from engine.inference.options import BRSMode, InferenceOptions
from engine.inference.taiz import TAIZConfig
from weights import DEFAULT_MODEL, MODELS, ModelEntry
from weights.registry import engine_unavailable_reason

DEVICES = ("auto", "cpu", "cuda")


def model_unavailable_reason(entry: ModelEntry) -> str | None:
    """Why ``entry`` cannot be chosen now ("not downloaded", no engine for it...), or None."""
    if entry.needs_download:
        return "not downloaded"
    return engine_unavailable_reason(entry)


@dataclass(frozen=True)
class ModelSettings:
    model: str = DEFAULT_MODEL
    device: str = "auto"
    options: InferenceOptions = field(default_factory=InferenceOptions.demo)
    proposals: bool = False

    @classmethod
    def saved(cls) -> tuple[ModelSettings, str | None]:
        """The previous run's settings, and a message for the user when some of them could
        not be restored (the model is gone, CUDA is missing): those fall back to the defaults.
        A missing or unreadable value is the default."""
        store, default = QSettings(), cls()
        options = _read_options(store, default.options)
        notes = []
        model = str(store.value("model/name", default.model))
        entry = MODELS.get(model)
        reason = "not in this version of Clickmask" if entry is None else \
            model_unavailable_reason(entry)
        if reason is not None:
            notes.append(f"The model of the last session, {entry.title if entry else model}, "
                         f"is {reason}: using {MODELS[default.model].title} (get it back with "
                         "Model > Model Manager…).")
            model = default.model
        device = str(store.value("model/device", default.device))
        if device not in DEVICES:
            device = default.device
        elif device == "cuda":
            from engine.device import cuda_unavailable_reason  # torch: only when CUDA was saved

            cuda_reason = cuda_unavailable_reason()
            if cuda_reason is not None:
                notes.append(f"The last session ran on CUDA, but {cuda_reason}: using the "
                             "device 'auto' (the CPU).")
                device = default.device
        settings = cls(model, device, options,
                       _bool(store, "model/proposals", default.proposals))
        return settings, " ".join(notes) or None

    def save(self) -> None:
        store = QSettings()
        store.setValue("model/name", self.model)
        store.setValue("model/device", self.device)
        store.setValue("model/proposals", self.proposals)
        for key, value in _option_values(self.options):
            store.setValue(key, value)


# Keys are derived from the options classes: "inference/<field>", and "inference/taiz_<field>"
# for TAIZ's schedule (the keys earlier versions wrote by hand, so their settings still load).
def _option_keys() -> list[tuple[str, Field, Field | None]]:
    """(key, options field, TAIZConfig field or None) of every saved option."""
    keys = []
    for option in saved_fields(InferenceOptions):
        if option.name == "taiz_config":
            keys += [(f"inference/taiz_{inner.name}", option, inner)
                     for inner in saved_fields(TAIZConfig)]
        else:
            keys.append((f"inference/{option.name}", option, None))
    return keys


def _option_values(options: InferenceOptions) -> list[tuple[str, Any]]:
    values = []
    for key, option, inner in _option_keys():
        value = getattr(options, option.name)
        target = inner or option
        value = getattr(value, inner.name) if inner else value
        if target.metadata.get("bounds") is not None and value is None:
            value = 0  # "off"
        values.append((key, str(value) if isinstance(value, BRSMode) else value))
    return values


def _read_options(store: QSettings, demo: InferenceOptions) -> InferenceOptions:
    """The saved options; a missing, unreadable or out-of-bounds value is the demo's."""
    changes: dict[str, Any] = {}
    schedule: dict[str, Any] = {}
    for key, option, inner in _option_keys():
        target = inner or option
        default = getattr(demo.taiz_config, inner.name) if inner else getattr(demo, option.name)
        (schedule if inner else changes)[target.name] = _read(store, key, target, default)
    config = demo.taiz_config
    if schedule["blend_start"] <= schedule["max_clicks"]:  # else: the default schedule
        config = replace(config, **schedule)
    return replace(demo, **changes, taiz_config=config)


def _read(store: QSettings, key: str, option: Field, default: Any) -> Any:
    bounds = option.metadata.get("bounds")
    if bounds is not None:
        return _int(store, key, default, bounds)
    if isinstance(default, BRSMode):
        value = str(store.value(key, default))
        return BRSMode(value) if value in {str(m) for m in BRSMode} else default
    return _bool(store, key, default)


def _bool(store: QSettings, key: str, default: bool) -> bool:
    value = store.value(key, default)
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value).lower(), default)  # INI gives strings


def _int(store: QSettings, key: str, default: int | None, bounds: Bounds) -> int | None:
    """An integer within ``bounds``; where they allow "off", 0 stands for None."""
    try:
        value: int | None = int(store.value(key, 0 if default is None else default))
    except (TypeError, ValueError):
        value = default
    if bounds.off and value == 0:
        value = None
    return value if value in bounds else default
