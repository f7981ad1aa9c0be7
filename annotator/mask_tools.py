"""Hand editing of masks: the click / brush / eraser tools, the brush size, and the
"keep largest part" and "fill holes" clean-ups, as actions for the menu and a toolbar."""
from __future__ import annotations

from typing import Callable

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QSpinBox, QToolBar

from engine.brush import MAX_RADIUS
from engine.masks import fill_holes, keep_largest_component
from annotator.canvas import ImageCanvas
from annotator.controller import SessionController

BRUSH_STEP = 1.25  # [ and ] scale the radius by this (at least one pixel)
# (tool, menu text, shortcut, icon, tip). The keys of image editors where free: V the
# pointer, B the brush, Shift+E GIMP's eraser (E corrects an object, C and X review).
_TOOLS = (
    ("click", "C&lick Tool", "V", "fa5s.mouse-pointer",
     "Left click: object, right click: background"),
    ("brush", "&Brush", "B", "fa5s.paint-brush",
     "Left drag paints the mask, right drag erases; [ and ] change the size"),
    ("eraser", "E&raser", "Shift+E", "fa5s.eraser",
     "Left drag erases the mask, right drag paints; [ and ] change the size"),
)


class MaskTools(QObject):
    """The hand-editing actions of ``window``: they edit the object in progress (one
    undoable step each) or, with none in progress, the object selected in the objects
    panel (``selected_object``)."""

    def __init__(self, window: QMainWindow, canvas: ImageCanvas, controller: SessionController,
                 selected_object: Callable[[], int | None]) -> None:
        super().__init__(window)
        self._window = window
        self._canvas = canvas
        self._controller = controller
        self._selected_object = selected_object
        group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for tool, text, key, icon, tip in _TOOLS:
            action = self._action(text, lambda _=False, t=tool: self.set_tool(t), key, icon, tip)
            action.setCheckable(True)
            action.setActionGroup(group)
            self.tool_actions[tool] = action
        self.tool_actions["click"].setChecked(True)
        self.smaller_action = self._action("&Smaller Brush", lambda: self.resize_brush(-1), "[")
        self.larger_action = self._action("&Larger Brush", lambda: self.resize_brush(1), "]")
        self.keep_largest_action = self._action(
            "&Keep Largest Part", lambda: self.clean_up(keep_largest_component,
                                                        "Keep largest part"),
            icon="fa5s.object-ungroup",
            tip="Keep only the largest connected part of the mask (parts touching at a "
                "corner count as one): the object in progress, else the selected object")
        self.fill_holes_action = self._action(
            "Fill &Holes", lambda: self.clean_up(fill_holes, "Fill holes"), icon="fa5s.fill-drip",
            tip="Fill the holes of the mask (a gap open to the image border is not a hole): "
                "the object in progress, else the selected object")
        self.radius_box = QSpinBox()
        self.radius_box.setRange(1, MAX_RADIUS)
        self.radius_box.setSuffix(" px")
        self.radius_box.setValue(canvas.brush_radius)
        self.radius_box.setToolTip("Brush radius in image pixels ([ and ])")
        # The canvas keeps the keyboard: Space, Enter and the letter keys are annotation keys.
        self.radius_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.radius_box.valueChanged.connect(canvas.set_brush_radius)
        self.toolbar = QToolBar("Mask Tools")
        self.toolbar.setObjectName("toolbar-mask-tools")
        self.toolbar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for action in self.tool_actions.values():
            self.toolbar.addAction(action)
        self.toolbar.addWidget(self.radius_box)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.keep_largest_action)
        self.toolbar.addAction(self.fill_holes_action)
        # A stroke over what is painted already is common: no message when nothing changes.
        canvas.stroked.connect(lambda stroke: controller.session.edit_mask(stroke.apply))
        # A stroke's preview stays until the worker has applied it, so it never blinks out.
        controller.busy_changed.connect(lambda busy: busy or canvas.clear_strokes())

    def add_to_menu(self, menu: QMenu) -> None:
        for action in (*self.tool_actions.values(), self.smaller_action, self.larger_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.keep_largest_action)
        menu.addAction(self.fill_holes_action)

    def set_tool(self, tool: str) -> None:
        """Make ``tool`` ("click", "brush" or "eraser") what the mouse buttons do."""
        self._canvas.set_tool(tool)
        self.tool_actions[tool].setChecked(True)

    def resize_brush(self, steps: int) -> None:
        """Scale the brush by ``BRUSH_STEP ** steps``, by one pixel at least."""
        radius = self._canvas.brush_radius
        scaled = round(radius * BRUSH_STEP ** steps)
        if scaled == radius:
            scaled += 1 if steps > 0 else -1
        self.radius_box.setValue(scaled)  # clamps, and tells the canvas
        self._window.statusBar().showMessage(f"Brush radius {self._canvas.brush_radius} px",
                                             2000)

    def clean_up(self, edit: Callable[[np.ndarray], np.ndarray], what: str) -> None:
        """Apply ``edit`` to the object in progress, else to the selected object."""
        controller = self._controller
        if controller.session.image is None:
            return
        if controller.has_object_in_progress:
            controller.session.edit_mask(edit, what)
            return
        object_id = self._selected_object()
        if object_id is None:
            self._window.statusBar().showMessage(
                f"{what}: segment an object or select one in the Objects panel first.", 4000)
        else:
            controller.edits.edit_object(object_id, edit, what)

    def _action(self, text: str, slot, key: str | None = None, icon: str | None = None,
                tip: str | None = None) -> QAction:
        action = QAction(qta.icon(icon), text, self) if icon else QAction(text, self)
        if key:
            action.setShortcut(QKeySequence(key))
        action.setToolTip(f"{tip or text.replace('&', '')}" + (f" ({key})" if key else ""))
        action.triggered.connect(slot)
        self._window.addAction(action)  # shortcuts work wherever the focus is in the window
        return action
