"""Keyboard shortcuts: the sheet of every action of the window with its keys (read from
the actions themselves), the mouse gestures, and shortcuts the user edits, kept in the
settings and applied when the window is built."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout,
                               QKeySequenceEdit, QLabel, QLineEdit, QMainWindow, QMessageBox,
                               QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

SETTINGS_GROUP = "shortcuts"
DYNAMIC_MENU = "dynamicMenu"  # a menu property: its entries are rebuilt, not fixed actions
_PORTABLE = QKeySequence.SequenceFormat.PortableText
_NATIVE = QKeySequence.SequenceFormat.NativeText

# What the canvas does with the mouse and Space (annotator/canvas.py): not actions, so
# listed here; keep in step with ImageCanvas.
MOUSE_GESTURES = (
    ("Left click", "Add a positive click (the object)"),
    ("Right click", "Add a negative click (the background)"),
    ("Wheel", "Zoom in or out about the cursor"),
    ("Middle-button drag", "Pan"),
    ("Space + left drag", "Pan"),
    ("Space (press and release)", "Finish the object"),
    ("Double-click an object in the list", "Change its category"),
)
# Keys the canvas reads itself: an action on them would never fire.
RESERVED = {QKeySequence("Space").toString(_PORTABLE): "finishes the object and pans with a "
                                                       "drag on the canvas"}


def action_id(action: QAction) -> str:
    """The name an action's shortcut is saved under: its objectName, else its text."""
    return action.objectName() or action.text().replace("&", "").replace("…", "").strip()


def keys_text(sequences: list[QKeySequence]) -> str:
    """Shortcuts as the user reads them, e.g. ``Ctrl+Shift+Z, Ctrl+Y``."""
    return ", ".join(s.toString(_NATIVE) for s in sequences)


def window_actions(window: QMainWindow) -> list[tuple[str, QAction]]:
    """(menu path, action) of every action of the window's menus, in menu order, then the
    window's actions that are in no menu. Menus whose entries come and go (File > Open
    Recent) say so with the DYNAMIC_MENU property and are left out."""
    found: list[tuple[str, QAction]] = []
    seen: set[int] = set()

    def walk(menu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                if not action.menu().property(DYNAMIC_MENU):
                    walk(action.menu(), f"{path} > {_clean(action.text())}")
            elif not action.isSeparator() and id(action) not in seen:
                seen.add(id(action))
                found.append((path, action))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), _clean(top.text()))
    for action in window.actions():
        if id(action) not in seen and not action.isSeparator() and action.text():
            seen.add(id(action))
            found.append(("Other", action))
    return found


def _clean(text: str) -> str:
    return text.replace("&", "").replace("…", "").strip()


class ShortcutMap:
    """The window's actions with their default and current shortcuts. Shortcuts the user
    changed are saved (only those that differ from the defaults) and applied by
    :meth:`apply_saved`."""

    def __init__(self, window: QMainWindow) -> None:
        self.entries = window_actions(window)
        self.defaults = {action_id(a): list(a.shortcuts()) for _, a in self.entries}

    def apply_saved(self) -> list[str]:
        """Give the actions the shortcuts saved in the settings; returns the problems
        (a saved shortcut that clashes with another action's), for the user."""
        settings = QSettings()
        settings.beginGroup(SETTINGS_GROUP)
        saved = {key: settings.value(key) for key in settings.childKeys()}
        settings.endGroup()
        changed = [a for _, a in self.entries if action_id(a) in saved]
        for action in changed:  # first free the keys they had: shortcuts may have swapped
            action.setShortcuts([])
        problems = []
        for action in changed:
            text = str(saved[action_id(action)] or "")
            sequences = QKeySequence.listFromString(text, _PORTABLE) if text else []
            try:
                self.set(action, sequences, save=False)
            except ValueError as exc:
                problems.append(f"{_clean(action.text())}: {exc}; it has no shortcut now")
        return problems

    def conflict(self, action: QAction, sequences: list[QKeySequence]) -> str | None:
        """Why ``action`` cannot have ``sequences``, or None when it can."""
        for sequence in sequences:
            portable = sequence.toString(_PORTABLE)
            if portable in RESERVED:
                return f"{sequence.toString(_NATIVE)} {RESERVED[portable]}"
            for path, other in self.entries:
                if other is not action and sequence in other.shortcuts():
                    return (f"{sequence.toString(_NATIVE)} is already the shortcut of "
                            f"{path} > {_clean(other.text())}")
        return None

    def set(self, action: QAction, sequences: list[QKeySequence], save: bool = True) -> None:
        """Give ``action`` ``sequences`` (none: no shortcut); ``ValueError`` on a clash."""
        sequences = [s for s in sequences if not s.isEmpty()]
        problem = self.conflict(action, sequences)
        if problem is not None:
            raise ValueError(problem)
        old = keys_text(action.shortcuts())
        action.setShortcuts(sequences)
        _retip(action, old, keys_text(sequences))
        if save:
            settings, key = QSettings(), f"{SETTINGS_GROUP}/{action_id(action)}"
            if sequences == self.defaults[action_id(action)]:
                settings.remove(key)
            else:
                settings.setValue(key, QKeySequence.listToString(sequences, _PORTABLE))

    def reset(self, action: QAction) -> None:
        """Back to the default shortcut; ``ValueError`` if another action took it since."""
        self.set(action, self.defaults[action_id(action)])

    def reset_all(self) -> None:
        """Every action back to its default, and nothing saved."""
        QSettings().remove(SETTINGS_GROUP)
        for _, action in self.entries:
            old = keys_text(action.shortcuts())
            action.setShortcuts(self.defaults[action_id(action)])
            _retip(action, old, keys_text(action.shortcuts()))


def _retip(action: QAction, old: str, new: str) -> None:
    """Keep the keys a tooltip ends with, "Open Folder (Ctrl+O)", in step."""
    tip = action.toolTip()
    if old and tip.endswith(f" ({old})"):
        tip = tip[: -len(f" ({old})")]
    action.setToolTip(f"{tip} ({new})" if new else tip)


class ShortcutsDialog(QDialog):
    """Help > Keyboard Shortcuts: every action with its keys, editable, and the mouse."""

    COLUMNS = ("Action", "Shortcut", "Menu")

    def __init__(self, shortcuts: ShortcutMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shortcuts = shortcuts
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(640, 600)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search actions or keys…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.editor = QKeySequenceEdit()
        self.editor.setMaximumSequenceLength(1)
        self.editor.setClearButtonEnabled(True)
        self.assign_button = QPushButton("&Assign")
        self.clear_button = QPushButton("&Clear")
        self.reset_button = QPushButton("&Default")
        self.reset_all_button = QPushButton("Reset &All")
        self.assign_button.clicked.connect(self.assign)
        self.clear_button.clicked.connect(self.clear)
        self.reset_button.clicked.connect(self.reset)
        self.reset_all_button.clicked.connect(self.reset_all)
        edit_row = QHBoxLayout()
        edit_row.addWidget(QLabel("New shortcut:"))
        edit_row.addWidget(self.editor, 1)
        for button in (self.assign_button, self.clear_button, self.reset_button,
                       self.reset_all_button):
            edit_row.addWidget(button)
        self.mouse_label = QLabel(_mouse_table())
        self.mouse_label.setTextFormat(Qt.TextFormat.RichText)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addLayout(edit_row)
        layout.addWidget(QLabel("<b>Mouse</b>"))
        layout.addWidget(self.mouse_label)
        layout.addWidget(close)
        self._fill()
        self._on_current_changed(None)

    def show_error(self, text: str) -> None:
        QMessageBox.warning(self, "Keyboard Shortcuts", text)

    def rows(self) -> list[tuple[str, str, str]]:
        """(action, shortcut, menu) as listed, for tests and for reading aloud."""
        return [tuple(self.tree.topLevelItem(i).text(c) for c in range(3))
                for i in range(self.tree.topLevelItemCount())]

    def select(self, action: QAction) -> None:
        for i in range(self.tree.topLevelItemCount()):
            if self._action(self.tree.topLevelItem(i)) is action:
                self.tree.setCurrentItem(self.tree.topLevelItem(i))

    def assign(self) -> None:
        self._change(lambda action: self.shortcuts.set(action, [self.editor.keySequence()]))

    def clear(self) -> None:
        self._change(lambda action: self.shortcuts.set(action, []))

    def reset(self) -> None:
        self._change(self.shortcuts.reset)

    def reset_all(self) -> None:
        self.shortcuts.reset_all()
        self._fill()

    def _change(self, change) -> None:
        item = self.tree.currentItem()
        if item is None:
            return
        try:
            change(self._action(item))
        except ValueError as exc:
            self.show_error(f"{exc}. Clear it there first, or choose other keys.")
            return
        self._fill()

    def _fill(self) -> None:
        current = self.tree.currentItem()
        current_action = self._action(current) if current is not None else None
        self.tree.clear()
        for path, action in self.shortcuts.entries:
            item = QTreeWidgetItem([_clean(action.text()), keys_text(action.shortcuts()),
                                    path])
            item.setData(0, Qt.ItemDataRole.UserRole, action)
            if not action.icon().isNull():
                item.setIcon(0, action.icon())
            default = self.shortcuts.defaults[action_id(action)]
            changed = action.shortcuts() != default
            font = item.font(1)
            font.setBold(changed)
            item.setFont(1, font)
            if changed:
                item.setToolTip(1, f"Changed; the default is {keys_text(default) or 'none'}")
            self.tree.addTopLevelItem(item)
            if action is current_action:
                self.tree.setCurrentItem(item)
        for column in range(len(self.COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self._filter(self.search.text())

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            haystack = " ".join(item.text(c) for c in range(3)).lower()
            item.setHidden(bool(needle) and needle not in haystack)

    def _on_current_changed(self, item) -> None:
        for widget in (self.editor, self.assign_button, self.clear_button, self.reset_button):
            widget.setEnabled(item is not None)
        if item is not None:
            shortcuts = self._action(item).shortcuts()
            self.editor.setKeySequence(shortcuts[0] if shortcuts else QKeySequence())

    @staticmethod
    def _action(item: QTreeWidgetItem) -> QAction:
        return item.data(0, Qt.ItemDataRole.UserRole)


def _mouse_table() -> str:
    rows = "".join(f"<tr><td style='padding-right:16px'>{gesture}</td><td>{what}</td></tr>"
                   for gesture, what in MOUSE_GESTURES)
    return f"<table>{rows}</table>"
