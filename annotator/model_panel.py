"""The Model dock: the engine (registry models grouped by family; those that cannot run say
why), the device, Zoom-In, BRS refinement, TAIZ and first-click proposals. Changes apply
from the next object, as in the official demo, and are saved for the next start."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QFrame, QHBoxLayout,
                               QLabel, QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from engine.inference.option_fields import Bounds, bounds_of
from engine.inference.options import BRSMode, DEMO_MAX_SIZE, InferenceOptions
from engine.inference.taiz import TAIZConfig
from annotator.controller import SessionController
from annotator.model_settings import ModelSettings, model_unavailable_reason
from weights import MODELS
from weights.registry import FAMILY_TITLES

# The families in the order the model list shows them (None: the weights-free GrabCut).
FAMILIES = {None: "GrabCut", **FAMILY_TITLES}
BRS_FAMILIES = ("ritm", "fbrs")
BRS_DESCRIPTIONS = {
    BRSMode.NONE: "The network alone (fastest)",
    BRSMode.FBRS_A: "Optimise a scale and bias on early features so that every click is obeyed",
    BRSMode.FBRS_B: "Scale and bias before the decoder (the f-BRS paper's default)",
    BRSMode.FBRS_C: "Scale and bias before the last layers (cheapest refinement)",
    BRSMode.RGB: "Optimise a correction of the image itself (slow: the whole network per step)",
    BRSMode.DISTMAP: "Optimise a correction of the click maps (slow: the whole network per "
                     "step)",
}
DEVICE_TITLES = {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA"}
_NAME = Qt.ItemDataRole.UserRole


def _bounds(name: str) -> Bounds:
    return bounds_of(InferenceOptions, name)


def clicks_limit(options: InferenceOptions) -> int:
    """The network-clicks limit a BRS mode runs with (its official default when unset)."""
    return (options.net_clicks_limit
            or options.brs_mode.default_net_clicks_limit)


class ModelPanel(QWidget):
    """Widgets that talk to ``controller``; ``may_drop_object`` asks the user before a
    change drops the object in progress (True: go on). Every choice is saved."""

    manager_requested = Signal()

    def __init__(self, controller: SessionController, may_drop_object: Callable[[], bool],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.may_drop_object = may_drop_object
        self._cuda_reason: str | None = None  # asked of torch once a neural model is chosen
        self._cuda_known = False

        self.model_combo = self._combo()
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(16)  # long titles are elided, not the dock
        self.model_combo.activated.connect(
            lambda row: self.choose_model(self.model_combo.itemData(row, _NAME)))
        self.device_combo = self._combo()
        for device, title in DEVICE_TITLES.items():
            self.device_combo.addItem(title, device)
        self.device_combo.activated.connect(
            lambda row: self.choose_device(self.device_combo.itemData(row)))
        self.models_label = QLabel()
        self.models_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.models_label.setEnabled(False)  # a quiet count beside the heading
        self.manager_button = QPushButton("Model Manager…")
        self.manager_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.manager_button.setToolTip("Download, verify or import model checkpoints")
        self.manager_button.clicked.connect(self.manager_requested)

        self.zoom_box = self._check("Zoom-In", lambda on: self._edit(zoom_in=on))
        self.zoom_size_spin = self._spin(_bounds("zoom_target_size"), " px",
                                         lambda v: self._edit(zoom_target_size=v), step=50,
                                         prefix="crop ")
        self.limit_box = self._check("Longest side", lambda on: self._edit(
            max_size=self.limit_spin.value() if on else None))
        self.limit_spin = self._spin(_bounds("max_size"), " px", lambda v: self._edit(max_size=v),
                                     step=100, value=DEMO_MAX_SIZE)

        self.brs_combo = self._combo()
        for mode in BRSMode:
            self.brs_combo.addItem(str(mode), str(mode))
            self.brs_combo.setItemData(self.brs_combo.count() - 1, BRS_DESCRIPTIONS[mode],
                                       Qt.ItemDataRole.ToolTipRole)
        self.brs_combo.activated.connect(lambda row: self._edit(
            brs_mode=BRSMode(self.brs_combo.itemData(row)), net_clicks_limit=None))
        self.net_clicks_spin = self._spin(_bounds("net_clicks_limit"), "",
                                          lambda v: self._edit(net_clicks_limit=v),
                                          zero_is_off=True)
        self.net_clicks_spin.setSpecialValueText("all")  # 0, shown for NoBRS only
        self.lbfgs_spin = self._spin(_bounds("lbfgs_max_evals"), "", lambda v: self._edit(lbfgs_max_evals=v),
                                     prefix="L-BFGS ")

        self.taiz_box = self._check("TAIZ", lambda on: self._edit(taiz=on))
        self.taiz_start_spin = self._spin(bounds_of(TAIZConfig, "blend_start"), "",
                                          self._edit_taiz_start,
                                          prefix="from click ")
        self.taiz_full_spin = self._spin(bounds_of(TAIZConfig, "max_clicks"), "",
                                         self._edit_taiz_full,
                                         prefix="to ")
        self.proposals_box = self._check("First-click proposals", self._toggle_proposals)
        self.proposals_box.setToolTip("After the first click, offer the part, the whole and "
                                      "the group as alternatives (keys 1-3)")

        self._layout()
        controller.model_changed.connect(self._on_model_changed)
        self.refresh_models()

    # -- construction -----------------------------------------------------------------------
    @staticmethod
    def _combo() -> QComboBox:
        combo = QComboBox()
        combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the canvas keeps the annotation keys
        return combo

    @staticmethod
    def _check(text: str, slot: Callable[[bool], None]) -> QCheckBox:
        box = QCheckBox(text)
        box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        box.toggled.connect(slot)
        return box

    @staticmethod
    def _spin(bounds: Bounds, suffix: str, slot: Callable[[int], None], step: int = 1,
              value: int | None = None, prefix: str = "", zero_is_off: bool = False
              ) -> QSpinBox:
        """A spin box over ``bounds``; with ``zero_is_off``, 0 stands for the option's None
        (else "off" is a check box beside it)."""
        # A prefix instead of a label beside it: it greys out with the number.
        spin = QSpinBox()
        spin.setPrefix(prefix)
        spin.setRange(0 if zero_is_off else bounds.low, bounds.high)
        if value is not None:
            spin.setValue(value)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        # Each change rebuilds the predictor: apply typed numbers on Enter, not per digit.
        spin.setKeyboardTracking(False)
        spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        spin.valueChanged.connect(slot)
        return spin

    def _layout(self) -> None:
        # Compact rows: the dock shares its column with the Objects panel at 1280x800.
        form = QFormLayout()
        form.setVerticalSpacing(4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(_row(_heading("Engine"), self.models_label))
        form.addRow("Model", self.model_combo)
        form.addRow("Device", _row(self.device_combo, self.manager_button))
        form.addRow(_heading("Zoom-In"))
        form.addRow(self.zoom_box, self.zoom_size_spin)
        form.addRow(self.limit_box, self.limit_spin)
        form.addRow(_heading("Refinement (BRS)"))
        form.addRow("Mode", self.brs_combo)
        form.addRow("Net clicks", _row(self.net_clicks_spin, self.lbfgs_spin))
        form.addRow(_heading("TAIZ and proposals"))
        form.addRow(self.taiz_box, _row(self.taiz_start_spin, self.taiz_full_spin))
        form.addRow(self.proposals_box)
        self.note = QLabel("Changes apply from the next object.")
        self.note.setWordWrap(True)
        self.note.setEnabled(False)  # a quiet hint
        form.addRow(self.note)
        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(6, 2, 6, 2)
        column.addLayout(form)
        column.addStretch(1)
        scroll = QScrollArea()
        # Never narrower than the rows: the dock widens rather than cutting them off.
        scroll.setMinimumWidth(content.minimumSizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width())
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # -- showing the controller's state -------------------------------------------------------
    def refresh_models(self) -> None:
        """List the registry again (a checkpoint was downloaded or imported), then refresh."""
        model = QStandardItemModel(self.model_combo)
        ready = 0
        for family, family_title in FAMILIES.items():
            entries = [e for e in MODELS.values() if e.family == family]
            if not entries:
                continue
            header = QStandardItem(family_title)
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading (in black), not a choice
            font = QFont(self.font())
            font.setBold(True)
            header.setFont(font)
            model.appendRow(header)
            for entry in entries:
                reason = model_unavailable_reason(entry)
                item = QStandardItem(entry.title if reason is None
                                     else f"{entry.title} — {reason}")
                item.setData(entry.name, _NAME)
                item.setToolTip(entry.description if reason is None else
                                f"{entry.title}: {reason}. The Model Manager downloads or "
                                "imports checkpoints.")
                item.setEnabled(reason is None)
                ready += reason is None
                model.appendRow(item)
        self.model_combo.setModel(model)
        view = self.model_combo.view()
        view.setMinimumWidth(view.sizeHintForColumn(0) + 24)  # the popup shows whole titles
        self.models_label.setText(f"{ready} of {len(MODELS)} ready")
        self.models_label.setToolTip("The others need a download or import (Model Manager), "
                                     "or an engine this version does not have")
        self.refresh()

    def model_item(self, name: str) -> QStandardItem:
        """The model list's entry for registry model ``name``."""
        return self.model_combo.model().item(self.model_combo.findData(name, _NAME))

    def refresh(self) -> None:
        """Show the model, device and options the controller runs with; disable (and say why)
        what does not apply to the model's family."""
        c = self.controller
        options, family = c.options, c.current_family
        entry = MODELS[c.model_name]
        widgets = (self.model_combo, self.device_combo, self.zoom_box, self.zoom_size_spin,
                   self.limit_box, self.limit_spin, self.brs_combo, self.net_clicks_spin,
                   self.lbfgs_spin, self.taiz_box, self.taiz_start_spin, self.taiz_full_spin,
                   self.proposals_box)
        for widget in widgets:
            widget.blockSignals(True)
        self.model_combo.setCurrentIndex(self.model_combo.findData(c.model_name, _NAME))
        self.model_combo.setToolTip(f"{entry.title}: {entry.description}")
        self._show_devices(c.device, neural=family is not None)
        self.zoom_box.setChecked(options.zoom_in)
        self.zoom_size_spin.setValue(options.zoom_target_size)
        self.limit_box.setChecked(options.max_size is not None)
        self.limit_spin.setValue(options.max_size or self.limit_spin.value())
        self.brs_combo.setCurrentIndex(self.brs_combo.findData(str(options.brs_mode)))
        refining = options.brs_mode.refines
        self.net_clicks_spin.setMinimum(_bounds("net_clicks_limit").low if refining else 0)
        self.net_clicks_spin.setValue(clicks_limit(options) if refining else 0)
        self.lbfgs_spin.setValue(options.lbfgs_max_evals)
        self.taiz_box.setChecked(options.taiz)
        self.taiz_full_spin.setValue(options.taiz_config.max_clicks)
        self.taiz_start_spin.setValue(options.taiz_config.blend_start)
        self.proposals_box.setChecked(c.proposals_enabled)
        for widget in widgets:
            widget.blockSignals(False)

        title = FAMILIES[family]
        neural = None if family is not None else \
            "GrabCut works on a crop around the clicks by itself: this is for neural models"
        brs = None if family in BRS_FAMILIES else \
            f"{title} models have no BRS refinement (RITM and f-BRS models only)"
        _enable(self.device_combo, None if family is not None else
                "GrabCut runs on the CPU: the device is for neural models",
                "Auto: CUDA when PyTorch sees a GPU, else the CPU")
        _enable(self.zoom_box, neural,
                "Crop the network input around the object from the second click on"
                if family != "focalclick" else "FocalClick's target crop around the object")
        _enable(self.zoom_size_spin, neural or (
            "FocalClick's crops have fixed sizes" if family == "focalclick" else None) or (
            None if options.zoom_in else "Switch Zoom-In on first"),
            "Long side of the zoomed crop the network sees")
        limit = None if family in BRS_FAMILIES else \
            f"{title} models do not use LimitLongestSide (RITM and f-BRS models only)"
        _enable(self.limit_box, limit, "Run the network on the image shrunk to this long "
                "side (the official demo: 800 px; saves gigabytes on large images)")
        _enable(self.limit_spin, limit or (None if options.max_size is not None
                                           else "Tick the box to limit the size"),
                "Longest side of the image the network sees")
        _enable(self.brs_combo, brs, "How clicks refine the prediction (see each mode's tip)")
        _enable(self.net_clicks_spin, brs or (None if refining else
                                              "NoBRS sends every click to the network"),
                "Only the first N clicks reach the network; later ones act through the "
                "refinement")
        _enable(self.lbfgs_spin, brs or (None if refining else "NoBRS does not optimise"),
                "At most this many refinement steps per click")
        _enable(self.taiz_box, None, "From a late click on, blend in a second pass on an "
                "image warped to magnify the object")
        taiz_off = None if options.taiz else "Switch TAIZ on first"
        _enable(self.taiz_start_spin, taiz_off,
                "The first click whose result blends in the zoomed pass (weight click / T)")
        _enable(self.taiz_full_spin, taiz_off,
                "T: the click at which the zoomed pass has all the weight")

    def _show_devices(self, current: str, neural: bool) -> None:
        if neural and not self._cuda_known:
            # Asking torch about CUDA loads it: not before a neural model needs it (for
            # GrabCut the device choice is disabled altogether).
            from engine.device import cuda_unavailable_reason

            self._cuda_reason, self._cuda_known = cuda_unavailable_reason(), True
        cuda = self.device_combo.findData("cuda")
        item = self.device_combo.model().item(cuda)
        item.setEnabled(self._cuda_reason is None)
        item.setToolTip(f"CUDA: {self._cuda_reason}" if self._cuda_reason else
                        "Run neural models on the GPU")
        self.device_combo.setCurrentIndex(self.device_combo.findData(current))

    # -- the user's changes -------------------------------------------------------------------
    def choose_model(self, name: str | None) -> bool:
        """Switch to registry model ``name`` from the next object; False if the user kept
        the object in progress (or ``name`` is the model in use)."""
        if name is None or name == self.controller.model_name:
            self.refresh()
            return False
        go = self._may_rebuild()
        if go:
            self.controller.set_model(name)
            self.model_combo.setCurrentIndex(self.model_combo.findData(name, _NAME))
        else:
            self.refresh()
        return go

    def choose_device(self, device: str) -> bool:
        """Run on ``device`` ("auto", "cpu", "cuda") from the next object."""
        if device == self.controller.device:
            return False
        go = self._may_rebuild()
        if go:
            self.controller.set_device(device)
            self._save()
        self.refresh()
        return go

    def apply_options(self, options: InferenceOptions) -> bool:
        """Run with ``options`` from the next object (True), unless the user kept the
        object in progress or nothing changed (False)."""
        if options == self.controller.options:
            return False
        go = self._may_rebuild()
        if go:
            self.controller.set_options(options)
            self._save()
        self.refresh()
        return go

    def _edit(self, **changes) -> None:
        self.apply_options(replace(self.controller.options, **changes))

    def _edit_taiz_start(self, start: int) -> None:
        config = self.controller.options.taiz_config
        # The schedule needs blend start <= T: the other end follows.
        self._edit(taiz_config=replace(config, blend_start=start,
                                       max_clicks=max(config.max_clicks, start)))

    def _edit_taiz_full(self, max_clicks: int) -> None:
        config = self.controller.options.taiz_config
        self._edit(taiz_config=replace(config, max_clicks=max_clicks,
                                       blend_start=min(config.blend_start, max_clicks)))

    def _toggle_proposals(self, on: bool) -> None:
        self.controller.set_proposals_enabled(on)  # from the next first click: nothing dropped
        self._save()

    def _may_rebuild(self) -> bool:
        return not self.controller.has_object_in_progress or self.may_drop_object()

    def _on_model_changed(self) -> None:
        self.refresh()
        self._save()  # what runs now: a failed change was rolled back

    def _save(self) -> None:
        c = self.controller
        ModelSettings(c.model_name, c.device, c.options, c.proposals_enabled).save()


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _row(*widgets: QWidget) -> QHBoxLayout:
    """``widgets`` side by side, sharing the width."""
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget, 1)
    row.setSpacing(6)
    return row


def _enable(widget: QWidget, reason: str | None, tip: str) -> None:
    """Enable ``widget`` with its ``tip``, or disable it saying ``reason``."""
    widget.setEnabled(reason is None)
    widget.setToolTip(tip if reason is None else reason)
