"""The Review dock: step through imported objects and accept, correct, relabel or reject them.

The queue is the controller's snapshot (:class:`engine.review.ReviewQueue`) of this image's
or the whole folder's imported objects. The object under review is selected, zoomed to,
and its imported outline is drawn dashed on the canvas, so a correction is seen beside the
original. Decisions go to the controller. What belongs to the window around the panel (going
to another image, which asks before dropping an object in progress; finishing, correcting and
relabelling, which ask for a category; the canvas; the status bar) it reaches through the
narrow :class:`ReviewHost`, never the window's own parts.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QMenu, QScrollArea, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from engine.annotations import REVIEW_OUTCOMES
from engine.masks import mask_bbox
from engine.review import ReviewItem, ReviewQueue
from annotator.colors import ORIGINAL_OUTLINE

if TYPE_CHECKING:
    from annotator.canvas import ImageCanvas
    from annotator.controller import SessionController


class ReviewHost(Protocol):
    """What the review panel needs of the window around it (the main window is one): the
    questions and views that belong to the window, not to the review. Decisions go to the
    controller."""

    controller: SessionController
    canvas: ImageCanvas

    def make_action(self, text: str, slot: Callable, shortcuts: Sequence[str] = (),
                    icon: str | None = None, tip: str | None = None) -> QAction: ...

    def add_menu_before_help(self, title: str) -> QMenu: ...

    def go_to(self, index: int) -> None: ...

    def may_leave_object(self) -> bool: ...

    def finish_object(self) -> bool: ...

    def correct_object(self, object_id: int) -> None: ...

    def rename_object(self, object_id: int) -> None: ...

    def select_object(self, object_id: int) -> None: ...

    def show_status(self, text: str) -> None: ...

SCOPES = ("This image", "Whole folder")
OUTCOME_COLORS = {"pending": "#888888", "accepted": "#3c9a5f", "corrected": "#1e90ff",
                  "relabelled": "#b07d00", "rejected": "#d9534f"}


class ReviewPanel(QScrollArea):
    """The dock's widget; its actions are window shortcuts, so the canvas keeps the focus.
    It scrolls rather than squeezing its rows when the dock is short."""

    def __init__(self, window: ReviewHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.host = window
        self.controller = window.controller
        self.current: int | None = None  # id of the object under review
        self._queue = ReviewQueue([])  # the whole folder's, as of the last refresh
        self._zoom_when_loaded = False

        self.scope_box = QComboBox()
        self.scope_box.addItems(SCOPES)
        self.scope_box.setToolTip("Review the imported objects of this image or of every "
                                  "image of the folder")
        self.scope_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scope_box.currentIndexChanged.connect(lambda _: self.refresh())
        self.skip_box = QCheckBox("Skip reviewed")
        self.skip_box.setChecked(True)
        self.skip_box.setToolTip("Next and Previous go to objects not decided yet")
        self.skip_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.title_label = QLabel()
        self.title_label.setWordWrap(True)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self._build_actions()
        self.counts_box, self._count_labels = self._build_counts()
        legend = QLabel(f"<span style='color: rgb{ORIGINAL_OUTLINE}; font-weight: bold'>"
                        "- - -</span> imported outline")
        legend.setToolTip("The mask the object was imported with, drawn beside its "
                          "corrected mask")

        top = QHBoxLayout()
        top.addWidget(self.scope_box, 1)
        top.addWidget(self.skip_box)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.title_label)
        layout.addWidget(self.status_label)
        layout.addLayout(self._button_grid())
        layout.addWidget(self.counts_box)
        layout.addWidget(legend)
        layout.addStretch(1)
        self.setWidget(content)

        c = self.controller
        c.project_opened.connect(self._on_project_opened)
        c.objects_changed.connect(self.refresh)
        c.image_loaded.connect(self._on_image_loaded)
        self.refresh()

    # -- construction -----------------------------------------------------------------------
    def _build_actions(self) -> None:
        # Keys chosen away from the window's (A/D, E, F, Del, Esc, Return, Space, 1-3).
        action = self.host.make_action
        self.accept_action = action("&Accept", self.accept_current, ["G"], "fa5s.check",
                                    "Accept the imported object as it is (or confirm its "
                                    "correction) and go to the next")
        self.correct_action = action("&Correct with Clicks", self.correct_current, ["C"],
                                     "fa5s.magic", "Correct the object's mask with clicks; "
                                     "finishing (Space) marks it corrected")
        self.relabel_action = action("Re&label…", self.relabel_current, ["L"], "fa5s.tag",
                                     "Give the object another category")
        self.reject_action = action("&Reject", self.reject_current, ["X"], "fa5s.times",
                                    "Reject the object (a wrong detection): it is left out "
                                    "of the export, and kept to be undone")
        self.revert_action = action("&Undo Review", self.revert_current, ["U"], "fa5s.history",
                                    "Back to the imported mask and category, not reviewed")
        self.previous_action = action("&Previous in Queue", self.go_previous, ["P"],
                                      "fa5s.step-backward", "The previous object to review")
        self.next_action = action("&Next in Queue", self.go_next, ["N"], "fa5s.step-forward",
                                  "The next object to review")
        self.actions_in_order = (self.accept_action, self.reject_action, self.correct_action,
                                 self.relabel_action, self.previous_action, self.next_action,
                                 self.revert_action)
        menu = self.host.add_menu_before_help("&Review")
        for item in self.actions_in_order:
            menu.addAction(item)

    def _button_grid(self) -> QGridLayout:
        grid = QGridLayout()
        for index, item in enumerate(self.actions_in_order):
            button = QToolButton()
            button.setDefaultAction(item)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            # The button shows the icon text (the menu the text): name and key.
            name = item.text().replace("&", "").rstrip("…").removesuffix(" with Clicks")
            item.setIconText(f"{name.removesuffix(' in Queue')} ({item.shortcut().toString()})")
            grid.addWidget(button, index // 2, index % 2)
        return grid

    def _build_counts(self) -> tuple[QGroupBox, dict[tuple[str, str], QLabel]]:
        box = QGroupBox("Outcomes")
        grid = QGridLayout(box)
        grid.setVerticalSpacing(2)
        labels: dict[tuple[str, str], QLabel] = {}
        for column, title in enumerate(("", "Image", "Folder")):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, column)
        for row, outcome in enumerate(REVIEW_OUTCOMES, start=1):
            grid.addWidget(QLabel(f"<span style='color: {OUTCOME_COLORS[outcome]}'>●</span> "
                                  f"{outcome}"), row, 0)
            for column, scope in enumerate(("image", "folder"), start=1):
                label = QLabel("0")
                label.setAlignment(Qt.AlignmentFlag.AlignRight)
                grid.addWidget(label, row, column)
                labels[(outcome, scope)] = label
        return box, labels

    def minimumSizeHint(self) -> QSize:
        # As wide as the content needs (it never scrolls sideways); short docks scroll.
        width = (self.widget().minimumSizeHint().width()
                 + self.verticalScrollBar().sizeHint().width())
        return QSize(width, super().minimumSizeHint().height())

    # -- state ------------------------------------------------------------------------------
    @property
    def whole_folder(self) -> bool:
        return self.scope_box.currentIndex() == 1

    def queue(self) -> ReviewQueue:
        """The queue in the chosen scope."""
        file_name = self.controller.session.current_file
        if self.whole_folder:
            return self._queue
        return self._queue.only(file_name) if file_name else ReviewQueue([])

    def current_item(self) -> ReviewItem | None:
        return self._queue.item(self.current) if self.current is not None else None

    def refresh(self) -> None:
        """Re-read the queue; keep the object under review, or pick one on this image."""
        had_items = len(self._queue) > 0
        self._queue = self.controller.rows.review_queue()
        if len(self._queue) and not had_items and self.parentWidget() is not None:
            self.parentWidget().raise_()  # the dock's tab: imported objects arrived
        file_name = self.controller.session.current_file
        item = self.current_item()
        if item is None or (item.file_name != file_name and self._queue.only(file_name or "")):
            here = self._queue.only(file_name) if file_name else ReviewQueue([])
            item = here.first() or here.first(skip_done=False)
            self.current = item.object_id if item else None
        self._show_state(item)
        self._draw_outline(item)

    def _show_state(self, item: ReviewItem | None) -> None:
        queue = self.queue()
        if item is None:
            self.title_label.setText("<b>No imported objects</b>" if not len(self._queue) else
                                     "<b>No imported object on this image</b>")
            self.status_label.setText(
                "Import another model's masks with File > Import COCO…" if not len(self._queue)
                else "Press N for the next one." if self.whole_folder
                else "Choose Whole folder to review the other images.")
        else:
            self.title_label.setText(f"<b>Object #{item.object_id}</b> · {item.category}"
                                     f" — {item.file_name}")
            where = queue.position(item.object_id)
            place = (f"{where + 1} of {len(queue)} in the "
                     f"{'folder' if self.whole_folder else 'image'}" if where is not None
                     else "not in this scope")
            editing = (" · <i>correcting: click, then Space or G to finish</i>"
                       if item.object_id == self.controller.session.editing_object_id else "")
            self.status_label.setText(
                f"<span style='color: {OUTCOME_COLORS[item.outcome]}'><b>{item.outcome}"
                f"</b></span> · {place}{editing}")
        on_image = item is not None and item.file_name == self.controller.session.current_file
        for action in (self.accept_action, self.correct_action, self.relabel_action,
                       self.reject_action):
            action.setEnabled(item is not None)
        self.revert_action.setEnabled(on_image and item.done)  # undo what is seen only
        for action in (self.previous_action, self.next_action):
            action.setEnabled(len(queue) > 0)
        image = self._queue.counts(self.controller.session.current_file or "")
        folder = self._queue.counts()
        for outcome in REVIEW_OUTCOMES:
            self._count_labels[(outcome, "image")].setText(str(image[outcome]))
            self._count_labels[(outcome, "folder")].setText(str(folder[outcome]))
        self.counts_box.setTitle(f"Outcomes — image {image.reviewed}/{image.total}, "
                                 f"folder {folder.reviewed}/{folder.total} reviewed")

    def _draw_outline(self, item: ReviewItem | None) -> None:
        c = self.controller
        shown = (item is not None and item.file_name == c.session.current_file
                 and c.session.image is not None)
        self.host.canvas.set_original_outline(
            c.rows.imported_mask(item.object_id) if shown else None)

    # -- stepping ---------------------------------------------------------------------------
    def go_next(self) -> None:
        self._go(self.queue().next(self.current, self.skip_box.isChecked()))

    def go_previous(self) -> None:
        self._go(self.queue().previous(self.current, self.skip_box.isChecked()))

    def _go(self, item: ReviewItem | None) -> None:
        if item is None:
            counts = self.queue().counts()
            self._say(f"Nothing more to review in the {'folder' if self.whole_folder else 'image'}"
                      f" ({counts.summary()}).")
            return
        self.show_item(item)

    def show_item(self, item: ReviewItem) -> bool:
        """Make ``item`` the object under review: its image, selected, zoomed to.
        False when the user chose to stay with an unfinished object on another image."""
        c = self.controller
        if item.file_name != c.session.current_file:
            self.host.go_to(c.files.index(item.file_name))
            if c.session.current_file != item.file_name:
                return False
        elif c.session.editing_object_id not in (None, item.object_id):
            # Moving on from a correction in progress: finish, discard or stay, as on leaving.
            if not self.host.may_leave_object():
                return False
        self.current = item.object_id
        self.host.select_object(item.object_id)
        self.refresh()
        if c.session.image is None:
            self._zoom_when_loaded = True  # the canvas fits the image once it arrives
        else:
            self._zoom_to_current()
        return True

    def _zoom_to_current(self) -> None:
        if self.current is None:
            return
        imported = self.controller.rows.imported_mask(self.current)
        on_image = {row.id for row in self.controller.rows.object_rows()}
        now = self.controller.rows.object_mask(self.current) if self.current in on_image else None
        if imported is None:
            return
        both = imported | now if now is not None and now.shape == imported.shape else imported
        if both.any():
            self.host.canvas.zoom_to_box(mask_bbox(both))

    # -- decisions --------------------------------------------------------------------------
    def _target(self) -> int | None:
        """The object to decide on; one on another image is shown first, not decided blind."""
        item = self.current_item()
        if item is None:
            self._say("No imported object to review here.")
            return None
        if item.file_name != self.controller.session.current_file:
            self.show_item(item)
            return None
        return item.object_id

    def accept_current(self) -> None:
        object_id = self._target()
        if object_id is None:
            return
        if self.controller.session.editing_object_id == object_id:
            # Accepting the correction in progress: finishing marks it corrected.
            if not self.host.finish_object():
                return
        else:
            self.controller.edits.set_review_outcome(object_id, "accepted")
        self._advance()

    def reject_current(self) -> None:
        object_id = self._target()
        if object_id is not None:
            self.controller.edits.set_review_outcome(object_id, "rejected")
            self._advance()

    def revert_current(self) -> None:
        object_id = self._target()
        if object_id is not None:
            self.controller.edits.set_review_outcome(object_id, "pending")

    def correct_current(self) -> None:
        object_id = self._target()
        if object_id is not None and object_id != self.controller.session.editing_object_id:
            self.host.correct_object(object_id)

    def relabel_current(self) -> None:
        object_id = self._target()
        if object_id is None:
            return
        before = self.current_item()
        self.host.rename_object(object_id)
        after = self.current_item()
        if after is not None and after.category != before.category:
            self._advance()

    def _advance(self) -> None:
        item = self.queue().next(self.current, self.skip_box.isChecked())
        if item is None:
            self._say(f"All reviewed: {self.queue().counts().summary()}.")
        else:
            self.show_item(item)

    # -- controller signals -----------------------------------------------------------------
    def _on_project_opened(self) -> None:
        self.current = None
        self.refresh()

    def _on_image_loaded(self, file_name: str, image: np.ndarray) -> None:
        if self._zoom_when_loaded:
            self._zoom_when_loaded = False
            self._zoom_to_current()

    def _say(self, text: str) -> None:
        self.host.show_status(text)
