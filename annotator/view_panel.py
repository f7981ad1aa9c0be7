"""The View dock: prediction threshold, overlay opacity, click-marker size, outline-only
masks and the probability map, saved in the settings."""
from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QWidget

from engine.session import DEFAULT_PROB_THRESH
from annotator.canvas import MARKER_RADIUS, OVERLAY_OPACITY

MIN_RADIUS, MAX_RADIUS = 2, 20  # click-marker radius in screen px
_PERCENT = 100  # threshold and opacity sliders move in hundredths


@dataclass(frozen=True)
class ViewSettings:
    threshold: float = DEFAULT_PROB_THRESH  # mask = probability > threshold, in (0, 1)
    opacity: float = OVERLAY_OPACITY  # mask fill, 0-1
    marker_radius: int = MARKER_RADIUS
    boundary_only: bool = False
    probability_map: bool = False

    @classmethod
    def saved(cls) -> ViewSettings:
        """The settings of the previous run; a missing or unreadable value is the default."""
        settings, default = QSettings(), cls()
        values = {}
        for spec in fields(cls):
            value = settings.value(f"view/{spec.name}", getattr(default, spec.name))
            try:
                if spec.type == "bool":  # INI files give "true" / "false" strings back
                    values[spec.name] = value in (True, "true", "1", 1)
                else:
                    values[spec.name] = (int if spec.type == "int" else float)(value)
            except (TypeError, ValueError):
                values[spec.name] = getattr(default, spec.name)
        values["threshold"] = min(max(values["threshold"], 0.01), 0.99)
        values["opacity"] = min(max(values["opacity"], 0.0), 1.0)
        values["marker_radius"] = min(max(values["marker_radius"], MIN_RADIUS), MAX_RADIUS)
        return cls(**values)

    def save(self) -> None:
        settings = QSettings()
        for spec in fields(self):
            settings.setValue(f"view/{spec.name}", getattr(self, spec.name))


class ViewPanel(QWidget):
    """Emits ``changed`` with the new settings (already saved) on every change."""

    changed = Signal(object)  # ViewSettings

    def __init__(self, settings: ViewSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        form = QFormLayout(self)
        self.threshold_slider, self.threshold_label = self._slider(
            form, "Threshold", 1, 99, round(settings.threshold * _PERCENT),
            "Pixels whose probability is above this are in the mask (changes the mask "
            "without running the model again)")
        self.opacity_slider, self.opacity_label = self._slider(
            form, "Opacity", 0, 100, round(settings.opacity * _PERCENT),
            "How strongly masks cover the image")
        self.radius_slider, self.radius_label = self._slider(
            form, "Click size", MIN_RADIUS, MAX_RADIUS, settings.marker_radius,
            "Radius of the click markers in screen pixels")
        self.boundary_box = self._check(form, "Outlines only", settings.boundary_only,
                                        "Draw only the contour of each mask")
        self.probability_box = self._check(form, "Probability map", settings.probability_map,
                                           "Show the current object's probability as a heat "
                                           "map (blue low, red high) instead of its mask")
        self._show_values()

    def _slider(self, form: QFormLayout, title: str, low: int, high: int, value: int,
                tip: str) -> tuple[QSlider, QLabel]:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setValue(value)
        # The canvas keeps the keyboard: arrows and Space are annotation keys.
        slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        slider.setToolTip(tip)
        label = QLabel()
        label.setMinimumWidth(label.fontMetrics().horizontalAdvance("0.00 px"))
        row = QHBoxLayout()
        row.addWidget(slider, 1)
        row.addWidget(label)
        form.addRow(title, row)
        slider.valueChanged.connect(self._on_changed)
        return slider, label

    def _check(self, form: QFormLayout, title: str, checked: bool, tip: str) -> QCheckBox:
        box = QCheckBox(title)
        box.setChecked(checked)
        box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        box.setToolTip(tip)
        form.addRow(box)
        box.toggled.connect(self._on_changed)
        return box

    def _show_values(self) -> None:
        self.threshold_label.setText(f"{self.threshold_slider.value() / _PERCENT:.2f}")
        self.opacity_label.setText(f"{self.opacity_slider.value()} %")
        self.radius_label.setText(f"{self.radius_slider.value()} px")

    def _on_changed(self) -> None:
        self.settings = ViewSettings(
            threshold=self.threshold_slider.value() / _PERCENT,
            opacity=self.opacity_slider.value() / _PERCENT,
            marker_radius=self.radius_slider.value(),
            boundary_only=self.boundary_box.isChecked(),
            probability_map=self.probability_box.isChecked())
        self._show_values()
        self.settings.save()
        self.changed.emit(self.settings)
