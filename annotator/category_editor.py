"""The category editor (id, name, colour; add, rename, recolour, re-id, delete) and the
category chooser that finishing or relabelling an object asks with."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QColorDialog, QComboBox, QDialog,
                               QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView,
                               QInputDialog, QLabel, QMessageBox, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from engine.edits import EditError
from engine.views import CategoryRow
from annotator.controller import SessionController
from annotator.panels import color_icon

MAX_CATEGORY_ID = 2 ** 31 - 1  # COCO readers keep ids in 32-bit integers


class CategoryEditor(QDialog):
    """Lists the project's categories; every change goes through the controller and is
    saved at once. Refusals (a taken name or id, a category still in use) are explained."""

    COLUMNS = ("Colour", "Id", "Name", "Objects")

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Categories")
        self.resize(460, 360)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Stretch)  # the name takes the room
        self.table.cellDoubleClicked.connect(self._on_double_click)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.add_button = QPushButton("&Add…")
        self.rename_button = QPushButton("&Rename…")
        self.color_button = QPushButton("&Colour…")
        self.id_button = QPushButton("Change &Id…")
        self.delete_button = QPushButton("&Delete")
        buttons = QVBoxLayout()
        for button, slot in ((self.add_button, self.add_category),
                             (self.rename_button, self.rename_selected),
                             (self.color_button, self.recolor_selected),
                             (self.id_button, self.change_selected_id),
                             (self.delete_button, self.delete_selected)):
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.table, 1)
        row.addLayout(buttons)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The ids are the COCO category ids of the export. "
                                "Double-click a colour or a name to change it."))
        layout.addLayout(row)
        layout.addWidget(close)
        for signal in (controller.categories_changed, controller.objects_changed,
                       controller.project_opened):  # names, counts, another project
            signal.connect(self.refresh)
        self.refresh()

    # -- questions to the user (tests replace these) ------------------------------------
    def ask_name(self, title: str, current: str = "") -> str | None:
        name, ok = QInputDialog.getText(self, title, "Name:", text=current)
        return name if ok else None

    def ask_color(self, current: tuple[int, int, int]) -> tuple[int, int, int] | None:
        color = QColorDialog.getColor(QColor(*current), self, "Category colour")
        return (color.red(), color.green(), color.blue()) if color.isValid() else None

    def ask_id(self, current: int) -> int | None:
        value, ok = QInputDialog.getInt(self, "Category id", "COCO id (a positive number):",
                                        current, 1, MAX_CATEGORY_ID)
        return value if ok else None

    def show_error(self, text: str) -> None:
        QMessageBox.warning(self, "Categories", text)

    # -- the list -----------------------------------------------------------------------
    def refresh(self) -> None:
        selected = self.selected_id()
        categories = self.controller.rows.category_rows()
        self.table.setRowCount(len(categories))
        for row, category in enumerate(categories):
            swatch = QTableWidgetItem(color_icon(category.color), "")
            swatch.setToolTip(QColor(*category.color).name())
            name = QTableWidgetItem(category.name)
            name.setData(Qt.ItemDataRole.UserRole, category.id)
            count = QTableWidgetItem(str(category.objects))
            ident = QTableWidgetItem(str(category.id))
            for item in (ident, count):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                      | Qt.AlignmentFlag.AlignVCenter)
            for column, item in enumerate((swatch, ident, name, count)):
                self.table.setItem(row, column, item)
            if category.id == selected:
                self.table.selectRow(row)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return int(self.table.item(rows[0].row(), 2).data(Qt.ItemDataRole.UserRole))

    def select(self, category_id: int) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 2).data(Qt.ItemDataRole.UserRole) == category_id:
                self.table.selectRow(row)

    # -- commands -----------------------------------------------------------------------
    def add_category(self) -> None:
        if self.controller.rows.folder is None:
            self.show_error("Open a folder first: categories belong to its project.")
            return
        name = self.ask_name("New category")
        if name is not None and self._try(self.controller.edits.add_category, name):
            self.select(self.controller.rows.category_rows()[-1].id)

    def rename_selected(self) -> None:
        category = self._selected()
        if category is not None:
            name = self.ask_name("Rename category", category.name)
            if name is not None:
                self._try(self.controller.edits.rename_category, category.id, name)

    def recolor_selected(self) -> None:
        category = self._selected()
        if category is not None:
            color = self.ask_color(category.color)
            if color is not None:
                self._try(self.controller.edits.recolor_category, category.id, color)

    def change_selected_id(self) -> None:
        category = self._selected()
        if category is not None:
            new_id = self.ask_id(category.id)
            if new_id is not None and self._try(self.controller.edits.change_category_id,
                                                category.id, new_id):
                self.select(new_id)

    def delete_selected(self) -> None:
        category = self._selected()
        if category is not None:
            self._try(self.controller.edits.delete_category, category.id)

    def _selected(self) -> CategoryRow | None:
        category_id = self.selected_id()
        return next((row for row in self.controller.rows.category_rows() if row.id == category_id),
                    None)

    def _try(self, change, *args) -> bool:
        try:
            change(*args)
        except EditError as exc:
            self.show_error(str(exc)[:1].upper() + str(exc)[1:] + ".")
            return False
        return True

    def _on_double_click(self, row: int, column: int) -> None:
        self.table.selectRow(row)
        if column == 0:
            self.recolor_selected()
        elif column == 1:
            self.change_selected_id()
        else:
            self.rename_selected()

    def _update_buttons(self) -> None:
        has = self.selected_id() is not None
        for button in (self.rename_button, self.color_button, self.id_button,
                       self.delete_button):
            button.setEnabled(has)
        self.add_button.setEnabled(self.controller.rows.folder is not None)


def choose_category(parent: QWidget, title: str, label: str, categories: Sequence[CategoryRow],
                    current: str | None) -> str | None:
    """Ask for a category among ``categories`` (shown with their colours) or a new name
    typed in; ``current`` comes first. None if the user cancelled or gave no name."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    combo = QComboBox(dialog)
    combo.setEditable(True)
    combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    ordered = sorted(categories, key=lambda c: c.name != current)  # stable: current first
    for category in ordered:
        combo.addItem(color_icon(category.color), category.name)
    combo.setMinimumWidth(220)
    if current is None or not ordered:
        combo.setEditText("")
    form = QFormLayout(dialog)
    form.addRow(label, combo)
    form.addRow(QLabel("Type a new name to create a category."))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    combo.setFocus()
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return combo.currentText().strip() or None
