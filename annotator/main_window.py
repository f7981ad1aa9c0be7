"""The main window: canvas in the middle, image list left, objects right, menus on top."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QMimeData, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMenu,
                               QMessageBox, QProgressBar, QProgressDialog, QPushButton, QWidget)

from engine.annotations import ProjectError
from engine.coco import CocoFormatError, ExportCancelled, export_coco
from engine.journal import InProgress
from annotator import __version__
from annotator.busy_indicator import BusyIndicator
from annotator.canvas import ImageCanvas
from annotator.category_editor import CategoryEditor, choose_category
from annotator.colors import display_color
from annotator.controller import SessionController
from annotator.drop import dropped
from annotator.jobs import BackgroundJob
from annotator.mask_tools import MaskTools
from annotator.model_manager import ModelManagerDialog
from annotator.model_panel import ModelPanel
from annotator.panels import ImageListPanel, ImageStatus, ObjectsPanel
from annotator.recent import RecentFoldersMenu, forget_folder, recent_folders, remember_folder
from annotator.review_panel import ReviewPanel
from annotator.proposals_strip import ProposalsStrip
from annotator.shortcuts import ShortcutMap, ShortcutsDialog
from annotator.theme import ThemeMenu
from annotator.view_panel import ViewPanel, ViewSettings
from weights import MODELS


class MainWindow(QMainWindow):
    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Clickmask")
        self.resize(1280, 800)
        self.canvas = ImageCanvas()
        self.setCentralWidget(self.canvas)
        self.busy_indicator = BusyIndicator(self.canvas)
        self.image_list = ImageListPanel(self._image_status)
        self.objects_panel = ObjectsPanel()
        self._add_dock("Images", self.image_list, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("Objects", self.objects_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.proposals_strip = ProposalsStrip()
        self._add_dock("Proposals", self.proposals_strip, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.view_panel = ViewPanel(ViewSettings.saved())
        view_dock = self._add_dock("View", self.view_panel,
                                   Qt.DockWidgetArea.RightDockWidgetArea)
        self.model_panel = ModelPanel(controller, self._may_leave_image)
        self.model_dock = self._add_dock("Model", self.model_panel,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(view_dock, self.model_dock)
        view_dock.raise_()  # used while annotating; the model choices are restored at start
        # Model > Model Panel hides and shows it: Qt enables that only for closable docks.
        self.model_dock.setFeatures(self.model_dock.features()
                                    | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self._build_actions()
        self._build_status_bar()
        self._export_job: BackgroundJob | None = None
        self.model_manager: ModelManagerDialog | None = None
        self._connect()
        self.review_panel = ReviewPanel(self, self)  # after _connect: its slots run after the window's
        review_dock = self._add_dock("Review", self.review_panel,
                                     Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.model_dock, review_dock)
        view_dock.raise_()  # the Review tab comes forward when there is something to review
        self.setAcceptDrops(True)
        # A graphics scene accepts every drag it sees: drops are the window's to handle.
        self.canvas.setAcceptDrops(False)
        self.canvas.viewport().setAcceptDrops(False)
        self.shortcuts = ShortcutMap(self)  # after every action exists: these are the defaults
        problems = self.shortcuts.apply_saved()
        if problems:
            self.statusBar().showMessage("Saved shortcuts not applied: " + "; ".join(problems))
        self.apply_view_settings(self.view_panel.settings)
        self.canvas.show_placeholder("Open a folder of images (File > Open Folder…)")

    # -- construction -----------------------------------------------------------------------
    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def make_action(self, text: str, slot, shortcuts=(), icon: str | None = None,
                    tip: str | None = None) -> QAction:
        """A window action (its keys work wherever the focus is): every action of the
        window and its panels is made here, so the shortcut sheet finds them all."""
        action = QAction(qta.icon(icon), text, self) if icon else QAction(text, self)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(slot)
        keys = ", ".join(shortcuts)
        tip = tip or text.replace("&", "")
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.open_action = self.make_action("&Open Folder…", self.choose_folder, ["Ctrl+O"],
                                        "fa5s.folder-open")
        self.import_action = self.make_action("&Import COCO…", self.choose_coco_import, ["Ctrl+I"],
                                          "fa5s.file-import")
        self.export_action = self.make_action("&Export COCO…", self.choose_coco_export,
                                          ["Ctrl+E"], "fa5s.file-export")
        self.save_as_action = self.make_action("Save Project &As…", self.choose_project_path,
                                           ["Ctrl+Shift+S"], "fa5s.save")
        self.reopen_action = self.make_action("Reopen &Last Folder", self.reopen_last_folder,
                                          ["Ctrl+Shift+O"], "fa5s.history",
                                          "Open the folder you worked on before this one")
        self.recent_menu = RecentFoldersMenu(self.open_recent, self)
        self.quit_action = self.make_action("&Quit", self.close, ["Ctrl+Q"])
        self.categories_action = self.make_action("&Categories…", self.open_category_editor,
                                              ["Ctrl+K"], "fa5s.tags",
                                              "Add, rename, recolour or renumber categories")
        self.undo_action = self.make_action("&Undo", self.controller.history.undo, ["Ctrl+Z"],
                                        "fa5s.undo")
        self.redo_action = self.make_action("&Redo", self.controller.history.redo,
                                        ["Ctrl+Shift+Z", "Ctrl+Y"], "fa5s.redo")
        self.reset_action = self.make_action("Reset &Object",
                                             self.controller.history.discard_object, ["Esc"],
                                         "fa5s.times-circle",
                                         "Drop the clicks of the current object")
        self.finish_action = self.make_action("&Finish Object", self.finish_object,
                                          ["Return", "Enter"], "fa5s.check-circle",
                                          "Finish the object (Space)")
        self.correct_action = self.make_action("&Correct with Clicks", self.correct_selected, ["E"],
                                           "fa5s.magic", "Correct the selected object's mask")
        self.delete_action = self.make_action("&Delete Object", self.delete_selected, ["Del"],
                                          "fa5s.trash-alt")
        self.reuse_category_action = QAction("Reuse Last Category Without Asking", self)
        self.reuse_category_action.setCheckable(True)
        self.prev_action = self.make_action("&Previous Image", self.previous_image, ["A"],
                                        "fa5s.arrow-left")
        self.next_action = self.make_action("&Next Image", self.next_image, ["D"],
                                        "fa5s.arrow-right")
        self.fit_action = self.make_action("&Fit to Window", self.canvas.fit, ["F"], "fa5s.expand")
        self.show_all_action = self.make_action(
            "&Show All Objects", lambda: self.controller.edits.set_objects_visible(
                self.controller.session.current_file, True),
            ["Shift+H"], "fa5s.eye")
        self.hide_all_action = self.make_action(
            "&Hide All Objects", lambda: self.controller.edits.set_objects_visible(
                self.controller.session.current_file, False),
            ["H"], "fa5s.eye-slash")
        # Category colours by default, as labelme and CVAT draw; per object when touching
        # instances of one category must be told apart.
        self.color_by_category_action = QAction("Colour Objects by &Category", self,
                                                checkable=True)
        self.color_by_category_action.setChecked(
            QSettings().value("view/color_by_category", True) in (True, "true"))
        self.color_by_category_action.toggled.connect(self._on_color_by_category)
        self.about_action = self.make_action("&About Clickmask", self.show_about)
        self.shortcuts_action = self.make_action("&Keyboard Shortcuts…", self.show_shortcuts,
                                             ["F1"], "fa5s.keyboard",
                                             "Every action with its keys; change them here")
        self.proposal_actions = [
            self.make_action(f"Pick Proposal &{i + 1}",
                         lambda _=False, i=i: self.controller.session.choose_proposal(i),
                         [str(i + 1)],
                         tip=f"Continue from the first click's proposal {i + 1}")
            for i in range(3)]

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addMenu(self.recent_menu)
        for action in (self.reopen_action, self.import_action, self.export_action,
                       self.save_as_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menus.addMenu("&Edit")
        for action in (self.undo_action, self.redo_action, self.reset_action,
                       self.finish_action):
            edit_menu.addAction(action)
        edit_menu.addSeparator()
        for action in (self.correct_action, self.delete_action):
            edit_menu.addAction(action)
        edit_menu.addSeparator()
        for action in self.proposal_actions:
            edit_menu.addAction(action)
        edit_menu.addSeparator()
        self.mask_tools = MaskTools(self, self.canvas, self.controller,
                                    self.objects_panel.selected_id)
        self.mask_tools.add_to_menu(edit_menu)
        edit_menu.addSeparator()
        edit_menu.addAction(self.reuse_category_action)
        edit_menu.addAction(self.categories_action)
        view_menu = menus.addMenu("&View")
        for action in (self.prev_action, self.next_action, self.fit_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        for action in (self.show_all_action, self.hide_all_action,
                       self.color_by_category_action):
            view_menu.addAction(action)
        view_menu.addMenu(ThemeMenu(self))
        model_menu = menus.addMenu("&Model")
        self.model_panel_action = self.model_dock.toggleViewAction()
        self.model_panel_action.setText("Model &Panel")
        self.model_manager_action = self.make_action(
            "Model &Manager…", self.open_model_manager, icon="fa5s.download",
            tip="Download, verify or import model checkpoints")
        model_menu.addAction(self.model_panel_action)
        model_menu.addAction(self.model_manager_action)
        help_menu = menus.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar-main")
        toolbar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for group in ((self.open_action, self.reopen_action, self.import_action,
                       self.export_action),
                      (self.undo_action, self.redo_action, self.reset_action, self.finish_action),
                      (self.prev_action, self.next_action, self.fit_action)):
            for action in group:
                toolbar.addAction(action)
            toolbar.addSeparator()
        self.addToolBar(self.mask_tools.toolbar)

    @property
    def has_neural_weights(self) -> bool:
        return any(entry.checkpoint and not entry.needs_download for entry in MODELS.values())

    def open_model_manager(self) -> ModelManagerDialog:
        """Show the (non-modal) model manager; downloads go on while annotating."""
        if self.model_manager is None:
            self.model_manager = ModelManagerDialog(self.controller.session.model_title, self)
            self.model_manager.weights_changed.connect(self._on_weights_changed)
            self.model_manager.use_requested.connect(self.model_panel.choose_model)
        else:
            self.model_manager.set_active_engine(self.controller.session.model_title)
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        self.model_manager.activateWindow()
        return self.model_manager

    def _on_weights_changed(self) -> None:
        self.model_panel.refresh_models()
        self.get_models_button.setVisible(not self.has_neural_weights)

    def _on_model_changed(self, name: str) -> None:
        self.engine_label.setText(f"Engine: {self.controller.session.model_title}")
        if self.model_manager is not None:
            self.model_manager.set_active_engine(self.controller.session.model_title)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # indeterminate: "the model is working"
        self.busy_bar.setMaximumWidth(90)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setVisible(False)
        self.timing_label = QLabel("")
        self.engine_label = QLabel(f"Engine: {self.controller.session.model_title}")
        self.engine_label.setToolTip("The model that turns clicks into masks")
        # First run: GrabCut needs no download; the neural models are one click away.
        self.get_models_button = QPushButton(qta.icon("fa5s.download"), "Get neural models…")
        self.get_models_button.setFlat(True)
        self.get_models_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.get_models_button.setToolTip("No neural model is downloaded yet: the embedded "
                                          "GrabCut engine is in use. Open the model manager "
                                          "to download or import one.")
        self.get_models_button.clicked.connect(self.open_model_manager)
        self.get_models_button.setVisible(not self.has_neural_weights)
        status.addPermanentWidget(self.busy_bar)
        status.addPermanentWidget(self.timing_label)
        status.addPermanentWidget(self.engine_label)
        status.addPermanentWidget(self.get_models_button)

    def _on_busy_changed(self, busy: bool) -> None:
        self.busy_bar.setVisible(busy)
        # A BRS click takes seconds on a CPU: say what the wait is for.
        predicting = busy and self.controller.session.predicting
        refining = predicting and self.controller.session.refines
        if refining:
            self.timing_label.setText(f"refining with {self.controller.options.brs_mode}…")
        self.busy_indicator.set_busy(
            busy, f"Refining with {self.controller.options.brs_mode}…" if refining
            else "Predicting…" if predicting else "Working…")

    def _connect(self) -> None:
        c = self.controller
        c.project_opened.connect(self._on_project_opened)
        c.image_loading.connect(self._on_image_loading)
        c.image_loaded.connect(self._on_image_loaded)
        c.image_failed.connect(self._on_image_failed)
        c.session_changed.connect(self._refresh_session)
        c.objects_changed.connect(self._refresh_objects)
        c.history_changed.connect(self._refresh_history)
        c.busy_changed.connect(self._on_busy_changed)
        c.model_changed.connect(self._on_model_changed)
        c.prediction_timed.connect(lambda s: self.timing_label.setText(f"last click {s:.2f} s"))
        c.proposals_changed.connect(self._refresh_proposals)
        self.proposals_strip.chosen.connect(c.session.choose_proposal)
        self.model_panel.manager_requested.connect(self.open_model_manager)
        self.view_panel.changed.connect(self.apply_view_settings)
        c.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        c.error.connect(self.show_error)
        self.canvas.clicked.connect(c.add_click)
        self.canvas.finish_requested.connect(self.finish_object)
        self.image_list.image_activated.connect(self.go_to)
        self.objects_panel.visibility_toggled.connect(c.edits.set_object_visible)
        self.objects_panel.correct_requested.connect(self.correct_object)
        self.objects_panel.rename_requested.connect(self.rename_object)
        self.objects_panel.delete_requested.connect(self.delete_object)

    # -- questions to the user (tests replace these) -------------------------------------------
    def ask_category(self) -> str | None:
        """The category of the object being finished, or None if the user cancelled."""
        last = self.controller.edits.last_category
        if last and self.reuse_category_action.isChecked():
            return last
        return choose_category(self, "Finish object", "Category:",
                               self.controller.rows.category_rows(), last)

    def ask_leave_object(self) -> str:
        """'finish', 'discard' or 'stay' when leaving an image with an unfinished object."""
        box = QMessageBox(QMessageBox.Icon.Question, "Unfinished object",
                          "The current object is not finished.", parent=self)
        finish = box.addButton("Finish it", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard it", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "finish" if clicked is finish else "discard" if clicked is discard else "stay"

    def ask_restore(self, state: InProgress) -> bool:
        """True if the user wants back the object in progress that a crash interrupted."""
        clicks = len(state.clicks)
        what = (f"the correction of object {state.editing_object_id}"
                if state.editing_object_id is not None else "an unfinished object")
        done = f"{clicks} click{'s' if clicks != 1 else ''}" + (
            " and hand edits" if state.mask_rle is not None else "")
        answer = QMessageBox.question(
            self, "Restore unfinished work",
            f"Clickmask stopped unexpectedly while you were working on {what} in "
            f"{state.file_name} ({done}). Restore it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, text: str) -> None:
        QMessageBox.warning(self, "Clickmask", text)

    # -- commands ----------------------------------------------------------------------------
    def open_folder(self, folder: str | Path, project_path: str | Path | None = None) -> bool:
        try:
            self.controller.open_folder(folder, project_path)
        except ProjectError as exc:
            self.show_error(str(exc))
            return False
        remember_folder(self.controller.rows.folder)
        recovery = self.controller.recovery
        if recovery is not None and recovery.in_progress is not None:
            if self.ask_restore(recovery.in_progress):
                self.controller.history.restore_in_progress(recovery.in_progress)
            else:
                self.controller.history.discard_recovered()
        return True

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if folder and self._may_leave_image():
            self.open_folder(folder)

    def open_recent(self, folder: Path) -> None:
        """Open a recent folder (asking about an object in progress first)."""
        if not Path(folder).is_dir():
            forget_folder(folder)
            self.show_error(f"{folder} no longer exists; it was removed from the recent "
                            "folders.")
            return
        if self._may_leave_image():
            self.open_folder(folder)

    def reopen_last_folder(self) -> None:
        """Open the most recent folder other than the one open now."""
        current = self.controller.rows.folder
        folder = next((f for f in recent_folders() if f != current), None)
        if folder is None:
            self.statusBar().showMessage("No other folder was opened before.", 4000)
        else:
            self.open_recent(folder)

    def open_category_editor(self) -> CategoryEditor:
        """Show the (non-modal) category editor."""
        editor = CategoryEditor(self.controller, self)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.show()
        return editor

    def show_shortcuts(self) -> ShortcutsDialog:
        """Show the (non-modal) sheet of keyboard shortcuts, where they can be changed."""
        dialog = ShortcutsDialog(self.shortcuts, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        # After the drop returns: the questions and messages must not block the drag source.
        mime = QMimeData()
        mime.setUrls(event.mimeData().urls())
        QTimer.singleShot(0, lambda: self.open_dropped(mime))

    def open_dropped(self, mime: QMimeData) -> None:
        """Open a dropped folder or import a dropped COCO file; say why anything else
        cannot be used."""
        drop = dropped(mime)
        if drop.kind == "folder":
            if self._may_leave_image():
                self.open_folder(drop.path)
        elif drop.kind == "coco":
            if self.controller.rows.folder is None:
                self.show_error(f"Open the folder of the images first, then drop "
                                f"{drop.path.name} again to import its annotations.")
            else:
                self.import_coco(drop.path)
        else:
            self.show_error(drop.reason)

    def choose_project_path(self) -> None:
        if self.controller.rows.project_path is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save project as",
                                              str(self.controller.rows.project_path),
                                              "Clickmask project (*.json)")
        if path and self.controller.save_project_as(path):
            self.statusBar().showMessage(f"Project saved to {self.controller.rows.project_path}",
                                         6000)

    def choose_coco_import(self) -> None:
        if self.controller.rows.folder is None:
            self.show_error("Open the folder of the images first, then import its COCO file.")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import COCO annotations",
                                              str(self.controller.rows.folder),
                                              "COCO JSON (*.json);;All files (*)")
        if path:
            self.import_coco(path)

    def import_coco(self, path: str | Path) -> None:
        try:
            report = self.controller.edits.import_coco(path)
        except CocoFormatError as exc:
            self.show_error(str(exc))
            return
        text = report.summary()
        if report.warnings:
            QMessageBox.information(self, "COCO import", text + "\n\n" + "\n".join(
                report.warnings[:20]) + ("\n…" if len(report.warnings) > 20 else ""))
        self.statusBar().showMessage(text, 8000)

    def choose_coco_export(self) -> None:
        folder = self.controller.rows.folder
        if folder is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export COCO annotations",
                                              str(folder / "annotations.json"),
                                              "COCO JSON (*.json)")
        if path:
            self.export_coco(path)

    def export_coco(self, path: str | Path) -> BackgroundJob:
        """Export on a background thread with a cancellable progress dialog."""
        snapshot = self.controller.rows.export_snapshot()  # the user may keep annotating
        job = BackgroundJob(lambda progress, cancel: export_coco(
            snapshot, path, progress=progress, cancel=cancel), self)
        dialog = QProgressDialog("Exporting COCO annotations…", "Cancel", 0, 0, self)
        dialog.setWindowTitle("Export COCO")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        job.progressed.connect(lambda done, total: (dialog.setMaximum(total),
                                                    dialog.setValue(done)))
        dialog.canceled.connect(job.cancel)
        job.succeeded.connect(lambda report: self._export_done(report, path))
        job.failed.connect(self._export_failed)
        job.finished.connect(dialog.reset)
        job.finished.connect(job.deleteLater)
        self._export_job = job
        job.start()
        return job

    @property
    def export_in_progress(self) -> bool:
        return self._export_job is not None

    def _export_done(self, report, path) -> None:
        self._export_job = None
        self.statusBar().showMessage(f"Exported to {path}: {report.summary()}", 10000)

    def _export_failed(self, exc: Exception) -> None:
        self._export_job = None
        if isinstance(exc, ExportCancelled):
            self.statusBar().showMessage("Export cancelled; nothing was written.", 6000)
        else:
            self.show_error(f"Export failed: {exc}")

    def finish_object(self) -> bool:
        """Finish the object in progress; False if there was none or the user cancelled."""
        c = self.controller
        if not c.has_object_in_progress:
            self.statusBar().showMessage("Nothing to finish: click on an object first.", 4000)
            return False
        category = None if c.session.editing_object_id is not None else self.ask_category()
        if c.session.editing_object_id is None and not category:
            return False
        c.finish_object(category)
        return True

    def correct_selected(self) -> None:
        object_id = self.objects_panel.selected_id()
        if object_id is None:
            self.statusBar().showMessage("Select an object in the Objects panel first.", 4000)
        else:
            self.correct_object(object_id)

    def correct_object(self, object_id: int) -> None:
        if self.controller.has_object_in_progress and not self.may_leave_object():
            return
        self.controller.correct_object(object_id)
        self.canvas.setFocus()

    def select_object(self, object_id: int) -> None:
        """Select the object in the Objects panel (what Del, E and the mask tools act on)."""
        self.objects_panel.select(object_id)

    def add_menu_before_help(self, title: str) -> QMenu:
        bar = self.menuBar()
        menu = QMenu(title, bar)
        menu.setToolTipsVisible(True)
        bar.insertMenu(bar.actions()[-1], menu)  # Help stays the last menu
        return menu

    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 6000)

    def delete_selected(self) -> None:
        object_id = self.objects_panel.selected_id()
        if object_id is not None:
            self.delete_object(object_id)

    def delete_object(self, object_id: int) -> None:
        self.controller.edits.delete_object(object_id)

    def rename_object(self, object_id: int) -> None:
        row = self.controller.rows.object_row(object_id)
        name = choose_category(self, "Object category", f"Category of object #{row.id}:",
                               self.controller.rows.category_rows(), row.category)
        if name:
            self.controller.edits.rename_object(object_id, name)

    def go_to(self, index: int) -> None:
        if index != self.controller.current_index and self._may_leave_image():
            self.controller.go_to(index)
        self.image_list.select_row(self.controller.current_index)

    def next_image(self) -> None:
        self.go_to(min(self.controller.current_index + 1, len(self.controller.files) - 1))

    def previous_image(self) -> None:
        self.go_to(max(self.controller.current_index - 1, 0))

    def show_about(self) -> None:
        QMessageBox.about(self, "About Clickmask",
                          f"Clickmask {__version__}\nClick-based interactive segmentation.\n"
                          "Left click: object. Right click: background. Space: finish.")

    def _may_leave_image(self) -> bool:
        return not self.controller.has_object_in_progress or self.may_leave_object()

    def may_leave_object(self) -> bool:
        """Ask what becomes of the object in progress (finish, discard, stay); True when
        the user may go on."""
        answer = self.ask_leave_object()
        if answer == "finish":
            return self.finish_object()
        if answer == "discard":
            self.controller.history.discard_object()
            return True
        return False

    # -- refresh on controller signals ---------------------------------------------------------
    def _on_project_opened(self) -> None:
        c = self.controller
        self.setWindowTitle(f"Clickmask — {c.rows.folder.name if c.rows.folder else ''}")
        self.image_list.set_files(c.files)
        self.statusBar().showMessage(f"Project file: {c.rows.project_path}", 8000)

    def _on_image_loading(self, file_name: str) -> None:
        self.image_list.select_row(self.controller.current_index)
        self.canvas.show_placeholder(f"Loading {file_name}…")
        self.statusBar().clearMessage()  # the last image's size; news told after this stays

    def _on_image_loaded(self, file_name: str, image: np.ndarray) -> None:
        self.canvas.set_image(image, self.controller.session.display_image)
        self.canvas.setFocus()
        height, width = image.shape[:2]
        if not self.statusBar().currentMessage():  # news since loading began (an undo) stays
            self.statusBar().showMessage(f"{file_name}  {width}×{height}", 4000)
        self.image_list.refresh()

    def _on_image_failed(self, file_name: str, message: str) -> None:
        self.canvas.show_placeholder(message)
        self.image_list.refresh()

    def _refresh_session(self) -> None:
        c = self.controller
        self.canvas.set_clicks(c.session.displayed_clicks)
        self.canvas.set_current_mask(c.session.view.mask, c.session.view.probability)
        self._refresh_history()

    def _refresh_history(self) -> None:
        """Edit > Undo / Redo: the clicks of the object in progress, else project edits."""
        c = self.controller
        self.undo_action.setEnabled(c.history.can_undo)
        self.redo_action.setEnabled(c.history.can_redo)
        self.undo_action.setText(f"&Undo {c.history.undo_text}" if c.history.undo_text else "&Undo")
        self.redo_action.setText(f"&Redo {c.history.redo_text}" if c.history.redo_text else "&Redo")

    def apply_view_settings(self, settings: ViewSettings) -> None:
        """Threshold the current mask and redraw masks and clicks as ``settings`` say."""
        self.canvas.set_display(settings.opacity, settings.marker_radius,
                                settings.boundary_only, settings.probability_map)
        if settings.threshold != self.controller.session.prob_thresh:
            self.controller.session.set_threshold(settings.threshold)  # redraws the current mask
        self._refresh_objects()

    def _refresh_proposals(self) -> None:
        c = self.controller
        view = c.session.view
        self.proposals_strip.set_proposals(c.session.image, view.proposals, view.current_proposal)

    def _refresh_objects(self) -> None:
        c = self.controller
        rows = c.rows.object_rows()
        by_category = self.color_by_category_action.isChecked()
        colors = {row.id: display_color(row, by_category) for row in rows}
        self.objects_panel.set_objects(rows, c.session.editing_object_id, colors)
        if self.canvas.image_shape is not None:
            # An object whose image file changed size since cannot be drawn on it.
            shown = [(c.rows.object_mask(row.id), colors[row.id]) for row in rows
                     if row.visible and not row.rejected and row.id != c.session.editing_object_id
                     and row.size == self.canvas.image_shape]
            self.canvas.set_objects_layer(self.canvas.masks_layer(shown) if shown else None)
        self.image_list.refresh()

    def _on_color_by_category(self, on: bool) -> None:
        QSettings().setValue("view/color_by_category", on)
        self._refresh_objects()

    def _image_status(self, file_name: str) -> ImageStatus:
        """What the image list shows of ``file_name``, asked when its row is drawn."""
        row = self.controller.rows.image_row(file_name)
        return ImageStatus(row.objects, row.review, self.controller.unreadable.get(file_name))

    # -- lifetime ------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.has_object_in_progress and not self.may_leave_object():
            event.ignore()
            return
        if self._export_job is not None:
            self._export_job.cancel()
            self._export_job.wait()
        if self.model_manager is not None:
            self.model_manager.stop()
        self.controller.shutdown()
        QSettings().setValue("main_window/geometry", self.saveGeometry())
        event.accept()

    def restore_geometry(self) -> None:
        geometry = QSettings().value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
