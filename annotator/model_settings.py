"""What the Model dock chooses (model, device, inference options, first-click proposals),
saved in the settings and restored at the next start."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from PySide6.QtCore import QSettings

from engine.inference.options import BRS_MODES, InferenceOptions
from weights import DEFAULT_MODEL, MODELS, ModelEntry
from weights.registry import engine_unavailable_reason

DEVICES = ("auto", "cpu", "cuda")
ZOOM_SIZE_RANGE = (100, 1600)  # Zoom-In crop long side, px (the demo offers 100-800)
MAX_SIZE_RANGE = (200, 8000)  # LimitLongestSide, px
NET_CLICKS_RANGE = (1, 100)
LBFGS_RANGE = (1, 1000)  # the demo's range
TAIZ_CLICKS_RANGE = (1, 100)


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
        demo = default.options
        mode = str(store.value("inference/brs_mode", demo.brs_mode))
        blend_start = _int(store, "inference/taiz_blend_start", demo.taiz_config.blend_start,
                           TAIZ_CLICKS_RANGE)
        max_clicks = _int(store, "inference/taiz_max_clicks", demo.taiz_config.max_clicks,
                          TAIZ_CLICKS_RANGE)
        taiz_config = (replace(demo.taiz_config, blend_start=blend_start, max_clicks=max_clicks)
                       if blend_start <= max_clicks else demo.taiz_config)
        options = replace(
            demo,
            zoom_in=_bool(store, "inference/zoom_in", demo.zoom_in),
            zoom_target_size=_int(store, "inference/zoom_target_size", demo.zoom_target_size,
                                  ZOOM_SIZE_RANGE),
            max_size=_int(store, "inference/max_size", demo.max_size or 0, MAX_SIZE_RANGE,
                          zero_is_none=True),
            brs_mode=mode if mode in BRS_MODES else demo.brs_mode,
            net_clicks_limit=_int(store, "inference/net_clicks_limit", 0, NET_CLICKS_RANGE,
                                  zero_is_none=True),
            lbfgs_max_evals=_int(store, "inference/lbfgs_max_evals", demo.lbfgs_max_evals,
                                 LBFGS_RANGE),
            taiz=_bool(store, "inference/taiz", demo.taiz),
            taiz_config=taiz_config)
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
        store, options = QSettings(), self.options
        for key, value in (
                ("model/name", self.model), ("model/device", self.device),
                ("model/proposals", self.proposals),
                ("inference/zoom_in", options.zoom_in),
                ("inference/zoom_target_size", options.zoom_target_size),
                ("inference/max_size", options.max_size or 0),
                ("inference/brs_mode", options.brs_mode),
                ("inference/net_clicks_limit", options.net_clicks_limit or 0),
                ("inference/lbfgs_max_evals", options.lbfgs_max_evals),
                ("inference/taiz", options.taiz),
                ("inference/taiz_blend_start", options.taiz_config.blend_start),
                ("inference/taiz_max_clicks", options.taiz_config.max_clicks)):
            store.setValue(key, value)


def _bool(store: QSettings, key: str, default: bool) -> bool:
    value = store.value(key, default)
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value).lower(), default)  # INI gives strings


def _int(store: QSettings, key: str, default: int, bounds: tuple[int, int],
         zero_is_none: bool = False) -> int | None:
    """An integer within ``bounds``; with ``zero_is_none``, 0 stands for None ("off")."""
    try:
        value = int(store.value(key, default))
    except (TypeError, ValueError):
        value = default
    if zero_is_none and value == 0:
        return None
    low, high = bounds
    if low <= value <= high:
        return value
    return None if zero_is_none and default == 0 else default
