"""Side panels: the folder's image list and the objects of the current image."""
from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QListWidget, QListWidgetItem, QPushButton,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from engine.annotations import AnnotatedObject
from engine.review import ReviewCounts
from annotator.colors import object_color


def color_icon(rgb: tuple[int, int, int]) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class ImageListPanel(QListWidget):
    """The images of the open folder; unreadable ones are marked with the reason."""

    image_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # The canvas keeps the keyboard: Space, Enter and the letter keys are annotation keys.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setUniformItemSizes(True)
        self.currentRowChanged.connect(self._on_row_changed)
        self._updating = False

    def set_files(self, files: list[str]) -> None:
        self._updating = True
        self.clear()
        for name in files:
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.addItem(item)
        self._updating = False

    def update_file(self, row: int, objects: int, error: str | None,
                    review: ReviewCounts | None = None) -> None:
        """Show the image's object count, or why it cannot be opened; ``review`` counts the
        outcomes of its imported objects ("3/5 reviewed")."""
        item = self.item(row)
        if item is None:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        if error:
            item.setText(name)
            item.setIcon(qta.icon("fa5s.exclamation-triangle", color="#d9534f"))
            item.setToolTip(f"Cannot open this image:\n{error}")
        else:
            item.setText(f"{name}  ({objects})" if objects else name)
            item.setIcon(qta.icon("fa5s.check", color="#3c9a5f") if objects else QIcon())
            item.setToolTip(f"{objects} object(s)")
            if review is not None:
                item.setText(f"{item.text()}  {review.reviewed}/{review.total} reviewed")
                item.setToolTip(f"{item.toolTip()}\nimported: {review.summary()}")

    def select_row(self, row: int) -> None:
        self._updating = True
        self.setCurrentRow(row)
        self._updating = False

    def _on_row_changed(self, row: int) -> None:
        if not self._updating and row >= 0:
            self.image_activated.emit(row)


class ObjectsPanel(QWidget):
    """Objects of the current image: visibility, category, source; correct/rename/delete."""

    visibility_toggled = Signal(int, bool)
    correct_requested = Signal(int)
    rename_requested = Signal(int)
    delete_requested = Signal(int)

    COLUMNS = ("Object", "Category", "Source")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space must finish, not tick a box
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(
            lambda item, column: self.rename_requested.emit(self._id(item)))
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.correct_button = QPushButton(qta.icon("fa5s.magic"), "Correct (E)")
        self.rename_button = QPushButton(qta.icon("fa5s.tag"), "Category…")
        self.delete_button = QPushButton(qta.icon("fa5s.trash-alt"), "Delete")
        self.correct_button.setToolTip("Correct the selected object's mask with clicks")
        for button, signal in ((self.correct_button, self.correct_requested),
                               (self.rename_button, self.rename_requested),
                               (self.delete_button, self.delete_requested)):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, s=signal: self._emit_for_selected(s))
        buttons = QHBoxLayout()
        for button in (self.correct_button, self.rename_button, self.delete_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self._filling = False
        self._update_buttons()

    def set_objects(self, objects: list[tuple[AnnotatedObject, str]], editing_id: int | None
                    ) -> None:
        selected = self.selected_id()
        self._filling = True
        self.tree.clear()
        for obj, category in objects:
            source = ("editing…" if obj.id == editing_id else obj.source if obj.review is None
                      else f"imported · {obj.review.outcome}")
            item = QTreeWidgetItem([f"#{obj.id}", category, source])
            item.setData(0, Qt.ItemDataRole.UserRole, obj.id)
            item.setIcon(0, color_icon(object_color(obj.id)))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if obj.visible else Qt.CheckState.Unchecked)
            item.setToolTip(0, "Tick to show, untick to hide")
            self.tree.addTopLevelItem(item)
            if obj.id == selected:
                self.tree.setCurrentItem(item)
        for column in range(len(self.COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self._filling = False
        self._update_buttons()

    def selected_id(self) -> int | None:
        item = self.tree.currentItem()
        return self._id(item) if item is not None else None

    def select(self, object_id: int) -> None:
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if self._id(item) == object_id:
                self.tree.setCurrentItem(item)

    @staticmethod
    def _id(item: QTreeWidgetItem) -> int:
        return int(item.data(0, Qt.ItemDataRole.UserRole))

    def _emit_for_selected(self, signal) -> None:
        object_id = self.selected_id()
        if object_id is not None:
            signal.emit(object_id)

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if not self._filling and column == 0:
            self.visibility_toggled.emit(self._id(item),
                                         item.checkState(0) == Qt.CheckState.Checked)

    def _update_buttons(self) -> None:
        enabled = self.tree.currentItem() is not None
        for button in (self.correct_button, self.rename_button, self.delete_button):
            button.setEnabled(enabled)
