"""Model > Refinement: the official demo's "BRS options" for RITM and f-BRS models (the BRS
mode, how many clicks reach the network, the L-BFGS budget), saved in the settings."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from engine.inference.brs import brs_predictor_class
from engine.inference.options import BRS_MODES
from engine.inference.options import InferenceOptions
from annotator.controller import SessionController

_DESCRIPTIONS = {
    "NoBRS": "The network alone (fastest)",
    "f-BRS-A": "Optimise a scale and bias on early features so that every click is obeyed",
    "f-BRS-B": "Scale and bias before the decoder (the f-BRS paper's default)",
    "f-BRS-C": "Scale and bias before the last layers (cheapest refinement)",
    "RGB-BRS": "Optimise a correction of the image itself (slow: the whole network per step)",
    "DistMap-BRS": "Optimise a correction of the click maps (slow: the whole network per step)",
}

def saved_options() -> InferenceOptions:
    """The refinement options saved by a previous run (the defaults on a first run)."""
    settings = QSettings()
    mode = str(settings.value("inference/brs_mode", "NoBRS"))
    limit = int(settings.value("inference/net_clicks_limit", 0) or 0)
    evaluations = int(settings.value("inference/lbfgs_max_evals", 20) or 20)
    return InferenceOptions(brs_mode=mode if mode in BRS_MODES else "NoBRS",
                            net_clicks_limit=limit or None, lbfgs_max_evals=evaluations)


def _save(options: InferenceOptions) -> None:
    settings = QSettings()
    settings.setValue("inference/brs_mode", options.brs_mode)
    settings.setValue("inference/net_clicks_limit", options.net_clicks_limit or 0)
    settings.setValue("inference/lbfgs_max_evals", options.lbfgs_max_evals)


def _clicks_limit(options: InferenceOptions) -> int:
    """The network-clicks limit a BRS mode runs with (its official default when unset)."""
    return (options.net_clicks_limit
            or brs_predictor_class(options.brs_mode).default_net_clicks_limit)


class RefinementMenu(QMenu):
    """Changes apply from the next object; ``may_drop_object`` asks the user before an
    object in progress is dropped (True: go on)."""

    def __init__(self, controller: SessionController, may_drop_object: Callable[[], bool],
                 parent: QWidget | None = None) -> None:
        super().__init__("&Refinement (BRS)", parent)
        self.controller = controller
        self.may_drop_object = may_drop_object
        self.setToolTipsVisible(True)
        group = QActionGroup(self)
        self.mode_actions: dict[str, QAction] = {}
        for mode in BRS_MODES:
            action = QAction(mode, self, checkable=True)
            action.setToolTip(_DESCRIPTIONS[mode])
            action.setActionGroup(group)
            action.triggered.connect(lambda _=False, m=mode: self.choose_mode(m))
            self.addAction(action)
            self.mode_actions[mode] = action
        self.addSeparator()
        self.limit_action = self.addAction("Network &Clicks…", self.choose_limit)
        self.limit_action.setToolTip("Only the first N clicks reach the network; later ones "
                                     "act through the refinement")
        self.evaluations_action = self.addAction("L-BFGS &Evaluations…",
                                                 self.choose_evaluations)
        self.evaluations_action.setToolTip("At most this many refinement steps per click")
        controller.model_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        options = self.controller.options
        self.mode_actions[options.brs_mode].setChecked(True)
        refining = options.brs_mode != "NoBRS"
        limit = _clicks_limit(options) if refining else "all"
        self.limit_action.setText(f"Network &Clicks: {limit}…")
        self.limit_action.setEnabled(refining)
        self.evaluations_action.setText(f"L-BFGS &Evaluations: {options.lbfgs_max_evals}…")
        self.evaluations_action.setEnabled(refining)
        family = self.controller.current_family
        self.setEnabled(family in ("ritm", "fbrs"))
        self.menuAction().setToolTip("" if self.isEnabled() else
                                     "Refinement runs with RITM and f-BRS models only")

    def choose_mode(self, mode: str) -> None:
        self._apply(replace(self.controller.options, brs_mode=mode, net_clicks_limit=None))

    def choose_limit(self) -> None:
        options = self.controller.options
        value = self.ask_int("Network clicks", "Clicks that reach the network:",
                             _clicks_limit(options), 1, 100)
        if value is not None:
            self._apply(replace(options, net_clicks_limit=value))

    def choose_evaluations(self) -> None:
        value = self.ask_int("L-BFGS evaluations", "Refinement steps per click at most:",
                             self.controller.options.lbfgs_max_evals, 1, 1000)
        if value is not None:
            self._apply(replace(self.controller.options, lbfgs_max_evals=value))

    def ask_int(self, title: str, label: str, value: int, low: int, high: int) -> int | None:
        """A number from the user, or None if cancelled (tests replace this)."""
        number, ok = QInputDialog.getInt(self.parentWidget(), title, label, value, low, high)
        return number if ok else None

    def _apply(self, options: InferenceOptions) -> None:
        if options != self.controller.options and self.may_drop_object():
            self.controller.set_options(options)
            _save(options)
        self.refresh()
