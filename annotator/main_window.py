"""The main window: canvas in the middle, image list left, objects right, menus on top."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QProgressDialog, QPushButton, QWidget)

from engine.annotations import ProjectError
from engine.coco import CocoFormatError, ExportCancelled, export_coco
from engine.journal import InProgress
from annotator import __version__
from annotator.busy_indicator import BusyIndicator
from annotator.canvas import ImageCanvas
from annotator.colors import object_color
from annotator.controller import SessionController
from annotator.jobs import BackgroundJob
from annotator.model_manager import ModelManagerDialog
from annotator.model_panel import ModelPanel
from annotator.panels import ImageListPanel, ObjectsPanel
from annotator.proposals_strip import ProposalsStrip
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
        self.image_list = ImageListPanel()
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

    def _action(self, text: str, slot, shortcuts=(), icon: str | None = None,
                tip: str | None = None) -> QAction:
        action = QAction(qta.icon(icon), text, self) if icon else QAction(text, self)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(slot)
        keys = ", ".join(shortcuts)
        action.setToolTip(f"{tip or text} ({keys})" if keys else (tip or text))
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open Folder…", self.choose_folder, ["Ctrl+O"],
                                        "fa5s.folder-open")
        self.import_action = self._action("&Import COCO…", self.choose_coco_import, ["Ctrl+I"],
                                          "fa5s.file-import")
        self.export_action = self._action("&Export COCO…", self.choose_coco_export,
                                          ["Ctrl+E"], "fa5s.file-export")
        self.save_as_action = self._action("Save Project &As…", self.choose_project_path,
                                           ["Ctrl+Shift+S"], "fa5s.save")
        self.quit_action = self._action("&Quit", self.close, ["Ctrl+Q"])
        self.undo_action = self._action("&Undo Click", self.controller.undo, ["Ctrl+Z"],
                                        "fa5s.undo")
        self.redo_action = self._action("&Redo Click", self.controller.redo,
                                        ["Ctrl+Shift+Z", "Ctrl+Y"], "fa5s.redo")
        self.reset_action = self._action("Reset &Object", self.controller.reset_object, ["Esc"],
                                         "fa5s.times-circle",
                                         "Drop the clicks of the current object")
        self.finish_action = self._action("&Finish Object", self.finish_object,
                                          ["Return", "Enter"], "fa5s.check-circle",
                                          "Finish the object (Space)")
        self.correct_action = self._action("&Correct with Clicks", self.correct_selected, ["E"],
                                           "fa5s.magic", "Correct the selected object's mask")
        self.delete_action = self._action("&Delete Object", self.delete_selected, ["Del"],
                                          "fa5s.trash-alt")
        self.reuse_category_action = QAction("Reuse Last Category Without Asking", self)
        self.reuse_category_action.setCheckable(True)
        self.prev_action = self._action("&Previous Image", self.previous_image, ["A"],
                                        "fa5s.arrow-left")
        self.next_action = self._action("&Next Image", self.next_image, ["D"],
                                        "fa5s.arrow-right")
        self.fit_action = self._action("&Fit to Window", self.canvas.fit, ["F"], "fa5s.expand")
        self.about_action = self._action("&About Clickmask", self.show_about)
        self.proposal_actions = [
            self._action(f"Pick Proposal &{i + 1}",
                         lambda _=False, i=i: self.controller.choose_proposal(i), [str(i + 1)],
                         tip=f"Continue from the first click's proposal {i + 1}")
            for i in range(3)]

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        for action in (self.open_action, self.import_action, self.export_action,
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
        edit_menu.addAction(self.reuse_category_action)
        view_menu = menus.addMenu("&View")
        for action in (self.prev_action, self.next_action, self.fit_action):
            view_menu.addAction(action)
        model_menu = menus.addMenu("&Model")
        self.model_panel_action = self.model_dock.toggleViewAction()
        self.model_panel_action.setText("Model &Panel")
        self.model_manager_action = self._action(
            "Model &Manager…", self.open_model_manager, icon="fa5s.download",
            tip="Download, verify or import model checkpoints")
        model_menu.addAction(self.model_panel_action)
        model_menu.addAction(self.model_manager_action)
        menus.addMenu("&Help").addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar-main")
        toolbar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for group in ((self.open_action, self.import_action, self.export_action),
                      (self.undo_action, self.redo_action, self.reset_action, self.finish_action),
                      (self.prev_action, self.next_action, self.fit_action)):
            for action in group:
                toolbar.addAction(action)
            toolbar.addSeparator()

    @property
    def has_neural_weights(self) -> bool:
        return any(entry.checkpoint and not entry.needs_download for entry in MODELS.values())

    def open_model_manager(self) -> ModelManagerDialog:
        """Show the (non-modal) model manager; downloads go on while annotating."""
        if self.model_manager is None:
            self.model_manager = ModelManagerDialog(self.controller.model_title, self)
            self.model_manager.weights_changed.connect(self._on_weights_changed)
            self.model_manager.use_requested.connect(self.model_panel.choose_model)
        else:
            self.model_manager.set_active_engine(self.controller.model_title)
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        self.model_manager.activateWindow()
        return self.model_manager

    def _on_weights_changed(self) -> None:
        self.model_panel.refresh_models()
        self.get_models_button.setVisible(not self.has_neural_weights)

    def _on_model_changed(self, name: str) -> None:
        self.engine_label.setText(f"Engine: {self.controller.model_title}")
        if self.model_manager is not None:
            self.model_manager.set_active_engine(self.controller.model_title)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # indeterminate: "the model is working"
        self.busy_bar.setMaximumWidth(90)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setVisible(False)
        self.timing_label = QLabel("")
        self.engine_label = QLabel(f"Engine: {self.controller.model_title}")
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
        predicting = busy and self.controller.predicting
        refining = predicting and self.controller.refines
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
        c.busy_changed.connect(self._on_busy_changed)
        c.model_changed.connect(self._on_model_changed)
        c.prediction_timed.connect(lambda s: self.timing_label.setText(f"last click {s:.2f} s"))
        c.proposals_changed.connect(self._refresh_proposals)
        self.proposals_strip.chosen.connect(c.choose_proposal)
        self.model_panel.manager_requested.connect(self.open_model_manager)
        self.view_panel.changed.connect(self.apply_view_settings)
        c.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        c.error.connect(self.show_error)
        self.canvas.clicked.connect(c.add_click)
        self.canvas.finish_requested.connect(self.finish_object)
        self.image_list.image_activated.connect(self.go_to)
        self.objects_panel.visibility_toggled.connect(c.set_object_visible)
        self.objects_panel.correct_requested.connect(self.correct_object)
        self.objects_panel.rename_requested.connect(self.rename_object)
        self.objects_panel.delete_requested.connect(self.delete_object)

    # -- questions to the user (tests replace these) -------------------------------------------
    def ask_category(self) -> str | None:
        """The category of the object being finished, or None if the user cancelled."""
        last = self.controller.last_category
        if last and self.reuse_category_action.isChecked():
            return last
        names = [c.name for c in self.controller.project.categories]
        if last in names:
            names.remove(last)
            names.insert(0, last)
        name, ok = QInputDialog.getItem(self, "Finish object", "Category:", names, 0, True)
        return name.strip() if ok and name.strip() else None

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
        answer = QMessageBox.question(
            self, "Restore unfinished work",
            f"Clickmask stopped unexpectedly while you were working on {what} in "
            f"{state.file_name} ({clicks} click{'s' if clicks != 1 else ''}). Restore it?",
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
        recovery = self.controller.recovery
        if recovery is not None and recovery.in_progress is not None:
            if self.ask_restore(recovery.in_progress):
                self.controller.restore_in_progress(recovery.in_progress)
            else:
                self.controller.discard_recovered()
        return True

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if folder and self._may_leave_image():
            self.open_folder(folder)

    def choose_project_path(self) -> None:
        if self.controller.project is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save project as",
                                              str(self.controller.project.path),
                                              "Clickmask project (*.json)")
        if path:
            self.controller.save_project_as(path)
            self.statusBar().showMessage(f"Project saved to {path}", 6000)

    def choose_coco_import(self) -> None:
        if self.controller.project is None:
            self.show_error("Open the folder of the images first, then import its COCO file.")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import COCO annotations",
                                              str(self.controller.project.root),
                                              "COCO JSON (*.json);;All files (*)")
        if path:
            self.import_coco(path)

    def import_coco(self, path: str | Path) -> None:
        try:
            report = self.controller.import_coco(path)
        except CocoFormatError as exc:
            self.show_error(str(exc))
            return
        text = report.summary()
        if report.warnings:
            QMessageBox.information(self, "COCO import", text + "\n\n" + "\n".join(
                report.warnings[:20]) + ("\n…" if len(report.warnings) > 20 else ""))
        self.statusBar().showMessage(text, 8000)
        self._refresh_image_list()

    def choose_coco_export(self) -> None:
        project = self.controller.project
        if project is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export COCO annotations",
                                              str(project.root / "annotations.json"),
                                              "COCO JSON (*.json)")
        if path:
            self.export_coco(path)

    def export_coco(self, path: str | Path) -> BackgroundJob:
        """Export on a background thread with a cancellable progress dialog."""
        snapshot = copy.deepcopy(self.controller.project)  # the user may keep annotating
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
        category = None if c.editing_object_id is not None else self.ask_category()
        if c.editing_object_id is None and not category:
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
        if self.controller.has_object_in_progress and not self._may_leave_object():
            return
        self.controller.correct_object(object_id)
        self.canvas.setFocus()

    def delete_selected(self) -> None:
        object_id = self.objects_panel.selected_id()
        if object_id is not None:
            self.delete_object(object_id)

    def delete_object(self, object_id: int) -> None:
        self.controller.delete_object(object_id)

    def rename_object(self, object_id: int) -> None:
        project = self.controller.project
        _, obj = project.find_object(object_id)
        names = [c.name for c in project.categories]
        current = project.category(obj.category_id).name
        name, ok = QInputDialog.getItem(self, "Object category", f"Category of object #{obj.id}:",
                                        names, names.index(current), True)
        if ok and name.strip():
            self.controller.rename_object(object_id, name.strip())

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
        return not self.controller.has_object_in_progress or self._may_leave_object()

    def _may_leave_object(self) -> bool:
        answer = self.ask_leave_object()
        if answer == "finish":
            return self.finish_object()
        if answer == "discard":
            self.controller.reset_object()
            return True
        return False

    # -- refresh on controller signals ---------------------------------------------------------
    def _on_project_opened(self) -> None:
        project = self.controller.project
        self.setWindowTitle(f"Clickmask — {project.root.name}")
        self.image_list.set_files(self.controller.files)
        self._refresh_image_list()
        self.statusBar().showMessage(f"Project file: {project.path}", 8000)

    def _on_image_loading(self, file_name: str) -> None:
        self.image_list.select_row(self.controller.current_index)
        self.canvas.show_placeholder(f"Loading {file_name}…")

    def _on_image_loaded(self, file_name: str, image: np.ndarray) -> None:
        self.canvas.set_image(image)
        self.canvas.setFocus()
        height, width = image.shape[:2]
        self.statusBar().showMessage(f"{file_name}  {width}×{height}", 4000)
        self._refresh_image_list()

    def _on_image_failed(self, file_name: str, message: str) -> None:
        self.canvas.show_placeholder(message)
        self._refresh_image_list()

    def _refresh_session(self) -> None:
        c = self.controller
        self.canvas.set_clicks(c.displayed_clicks)
        self.canvas.set_current_mask(c.view.mask, c.view.probability)
        self.undo_action.setEnabled(c.view.can_undo or c.busy)
        self.redo_action.setEnabled(c.view.can_redo or c.busy)

    def apply_view_settings(self, settings: ViewSettings) -> None:
        """Threshold the current mask and redraw masks and clicks as ``settings`` say."""
        self.canvas.set_display(settings.opacity, settings.marker_radius,
                                settings.boundary_only, settings.probability_map)
        if settings.threshold != self.controller.prob_thresh:
            self.controller.set_threshold(settings.threshold)  # redraws the current mask
        self._refresh_objects()

    def _refresh_proposals(self) -> None:
        c = self.controller
        self.proposals_strip.set_proposals(c.image, c.view.proposals, c.view.current_proposal)

    def _refresh_objects(self) -> None:
        c = self.controller
        objects = c.current_objects()
        self.objects_panel.set_objects([(o, c.category_name(o)) for o in objects],
                                       c.editing_object_id)
        if self.canvas.image_shape is not None:
            # An object whose image file changed size since cannot be drawn on it.
            shown = [(o.mask, object_color(o.id)) for o in objects
                     if o.visible and o.id != c.editing_object_id
                     and tuple(o.rle["size"]) == self.canvas.image_shape]
            self.canvas.set_objects_layer(self.canvas.masks_layer(shown) if shown else None)
        self._refresh_image_list()

    def _refresh_image_list(self) -> None:
        c = self.controller
        if c.project is None:
            return
        for row, name in enumerate(c.files):
            self.image_list.update_file(row, len(c.project.images[name].objects),
                                        c.unreadable.get(name))

    # -- lifetime ------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.has_object_in_progress and not self._may_leave_object():
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
