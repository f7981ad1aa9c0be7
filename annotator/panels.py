"""Side panels: the folder's image list and the objects of the current image."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import qtawesome as qta
from PySide6.QtCore import (QAbstractListModel, QModelIndex, QObject, QRect, QRectF, QSize, Qt,
                            Signal)
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QHBoxLayout, QListView,
                               QPushButton, QStyle, QStyledItemDelegate, QStyleOptionViewItem,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from engine.views import ObjectRow
from engine.review import ReviewCounts
from annotator.colors import object_color

SWATCH_SIZE = 14  # logical px


def color_icon(rgb: tuple[int, int, int]) -> QIcon:
    """A colour swatch, outlined so that a pale colour shows on a pale list; drawn for
    device pixel ratios 1 to 3, so its outline stays one crisp pixel on HiDPI screens."""
    icon = QIcon()
    for scale in (1, 2, 3):
        side = SWATCH_SIZE * scale
        pixmap = QPixmap(side, side)
        pixmap.fill(QColor(*rgb))
        painter = QPainter(pixmap)
        painter.setPen(QPen(QColor(*rgb).darker(160), scale))
        painter.drawRect(QRectF(scale / 2, scale / 2, side - scale, side - scale))
        painter.end()
        icon.addPixmap(pixmap)
    return icon


STATUS_ROLE = Qt.ItemDataRole.UserRole + 1  # an image's ImageStatus


@dataclass(frozen=True)
class ImageStatus:
    """What the image list shows of one image beside its name."""

    objects: int = 0
    review: ReviewCounts | None = None  # its imported objects' outcomes; None: none imported
    error: str | None = None  # why the image cannot be opened

    def summary(self) -> str:
        if self.error:
            return "unreadable"
        text = f"{self.objects} object{'s' if self.objects != 1 else ''}" if self.objects else ""
        if self.review is not None and self.review.total:
            text += f"{', ' if text else ''}{self.review.reviewed}/{self.review.total} reviewed"
        return text


class ImageListModel(QAbstractListModel):
    """The images of the open folder, one row each. A row's status is asked of ``status_of``
    each time a view shows the row, never kept: a folder of 50,000 images costs one list of
    names, and a change of status costs nothing until its row is drawn."""

    def __init__(self, status_of: Callable[[str], ImageStatus],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._status_of = status_of
        self._files: list[str] = []
        # Made once: a new qtawesome icon per row drawn would cost more than the row.
        self._unreadable_icon = qta.icon("fa5s.exclamation-triangle", color="#d9534f",
                                         color_selected="white")
        self._annotated_icon = qta.icon("fa5s.check", color="#3c9a5f", color_selected="white")

    def set_files(self, files: list[str]) -> None:
        self.beginResetModel()
        self._files = list(files)
        self.endResetModel()

    def status(self, row: int) -> ImageStatus:
        return self._status_of(self._files[row])

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._files)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._files):
            return None
        name = self._files[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return name
        if role == STATUS_ROLE:
            return self._status_of(name)
        if role == Qt.ItemDataRole.DecorationRole:
            status = self._status_of(name)
            return (self._unreadable_icon if status.error else
                    self._annotated_icon if status.objects else None)
        if role == Qt.ItemDataRole.ToolTipRole:
            status = self._status_of(name)
            if status.error:
                return f"{name}\nCannot open this image:\n{status.error}"
            tip = f"{name}\n{status.summary() or 'no objects yet'}"
            return f"{tip}\nimported: {status.review.summary()}" if status.review else tip
        return None


class ImageListPanel(QListView):
    """The images of the open folder: a status icon, the name and the object count;
    ``status_of`` gives an image's status by its file name."""

    image_activated = Signal(int)

    def __init__(self, status_of: Callable[[str], ImageStatus],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # The canvas keeps the keyboard: Space, Enter and the letter keys are annotation keys.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(16, 16))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setItemDelegate(_ImageItemDelegate(self))
        self.images = ImageListModel(status_of, self)
        self.setModel(self.images)
        self.selectionModel().currentRowChanged.connect(self._on_row_changed)
        self._updating = False

    def set_files(self, files: list[str]) -> None:
        self._updating = True
        self.images.set_files(files)
        self._updating = False

    def refresh(self) -> None:
        """The statuses of the images changed (any of them): draw them again. Only the rows
        in view are asked (the view keeps nothing of the others), where a dataChanged over
        every row would cost two calls into Python per row."""
        self.viewport().update()

    def status(self, row: int) -> ImageStatus:
        return self.images.status(row)

    def select_row(self, row: int) -> None:
        self._updating = True
        self.setCurrentIndex(self.images.index(row))
        self._updating = False

    def _on_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not self._updating and current.isValid():
            self.image_activated.emit(current.row())


class _ImageItemDelegate(QStyledItemDelegate):
    """Icon in a slot of its own (names stay aligned whether or not a row has one), the
    name elided in the middle (the extension stays), the status right-aligned and muted."""

    MARGIN = 4

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        icon, name = QIcon(opt.icon), opt.text  # copies: opt's own are cleared next
        opt.text, opt.icon = "", QIcon()
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = opt.rect.adjusted(self.MARGIN, 0, -self.MARGIN, 0)
        side = opt.decorationSize.height()
        icon_rect = QRect(rect.left(), rect.center().y() - side // 2 + 1, side, side)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        if not icon.isNull():  # white on the selection colour, where green would vanish
            icon.paint(painter, icon_rect, mode=QIcon.Mode.Selected if selected
                       else QIcon.Mode.Normal)
        group = QPalette.ColorGroup.Normal
        text_color = opt.palette.color(group, QPalette.ColorRole.HighlightedText if selected
                                       else QPalette.ColorRole.Text)
        status: ImageStatus | None = index.data(STATUS_ROLE)
        summary = status.summary() if status is not None else ""
        metrics = opt.fontMetrics
        summary_width = metrics.horizontalAdvance(summary) if summary else 0
        text_rect = rect.adjusted(side + self.MARGIN, 0, 0, 0)
        name_rect = text_rect.adjusted(0, 0, -(summary_width + 2 * self.MARGIN), 0)
        painter.save()
        painter.setPen(text_color)
        align = Qt.AlignmentFlag.AlignVCenter
        painter.drawText(name_rect, align | Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(name, Qt.TextElideMode.ElideMiddle,
                                            name_rect.width()))
        if summary:
            muted = QColor(text_color)
            muted.setAlphaF(0.65)
            painter.setPen(muted)
            painter.drawText(text_rect, align | Qt.AlignmentFlag.AlignRight, summary)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), option.decorationSize.height() + 4))


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

    def set_objects(self, objects: Sequence[ObjectRow], editing_id: int | None,
                    colors: dict[int, tuple[int, int, int]] | None = None) -> None:
        """List ``objects``; ``colors`` maps object ids to the colour they are drawn in
        (default: each object its own)."""
        selected = self.selected_id()
        self._filling = True
        self.tree.clear()
        for obj in objects:
            source = ("editing…" if obj.id == editing_id else obj.source if obj.review is None
                      else f"imported · {obj.review}")
            item = QTreeWidgetItem([f"#{obj.id}", obj.category, source])
            item.setData(0, Qt.ItemDataRole.UserRole, obj.id)
            item.setIcon(0, color_icon((colors or {}).get(obj.id) or object_color(obj.id)))
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
