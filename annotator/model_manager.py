"""The model manager dialog: which checkpoints are on disk and verified, download them with
progress and cancel, verify them, and import a local file identified by its content."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QFileDialog,
                               QHBoxLayout, QHeaderView, QInputDialog, QLabel, QMessageBox,
                               QProgressBar, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from annotator.jobs import BackgroundJob
from weights.download import DownloadCancelled
from weights.manager import (AmbiguousImport, EntryStatus, State, downloadable_entries,
                             entry_status, fetch_entry, import_file, verify_entry)
from weights.registry import FAMILY_TITLES, ModelEntry, engine_unavailable_reason, weights_dir

COLUMNS = ("Model", "Method", "Size", "Status", "Details")
_STATE_COLORS = {State.VERIFIED: "#1b7f3b", State.TRUSTED: "#1b7f3b",
                 State.CHANGED: "#b00020", State.WRONG_FILE: "#b00020",
                 State.PARTIAL: "#a15c00"}
_GREY = QColor("#8a8a8a")


class ModelManagerDialog(QDialog):
    """Lists every registered checkpoint; one background job (download, verify, import) at
    a time. Non-modal: annotation can go on while a file downloads."""

    weights_changed = Signal()  # a checkpoint was downloaded or imported
    use_requested = Signal(str)  # the registry name of the model to annotate with

    def __init__(self, active_engine: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model manager")
        self.resize(1180, 600)
        self._entries: list[ModelEntry] = []
        self._job: BackgroundJob | None = None
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.intro.setOpenExternalLinks(True)
        self.set_active_engine(active_engine)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # one line per model; tooltips hold the full text
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.download_button = QPushButton("Download")
        self.verify_button = QPushButton("Verify")
        self.import_button = QPushButton("Import file…")
        self.cancel_button = QPushButton("Cancel download")
        self.use_button = QPushButton("Use this model")
        self.download_button.clicked.connect(self.download_selected)
        self.verify_button.clicked.connect(self.verify_selected)
        self.import_button.clicked.connect(self.choose_import)
        self.cancel_button.clicked.connect(self.cancel_job)
        self.use_button.clicked.connect(self._use_selected)
        self.table.doubleClicked.connect(self._use_selected)
        self.import_button.setToolTip("Add a checkpoint you downloaded yourself: Clickmask "
                                      "identifies it from its content and copies it in")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel(f"Weights folder: {weights_dir()}")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_button, self.verify_button,
                       self.import_button, self.use_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.refresh()

    # -- questions to the user (tests replace these) -------------------------------------------
    def ask_import_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a checkpoint", str(Path.home()),
                                              "PyTorch checkpoints (*.pth *.pt *.pth.xz);;"
                                              "All files (*)")
        return path or None

    def ask_entry(self, text: str, candidates: list[ModelEntry]) -> ModelEntry | None:
        """Which of ``candidates`` an imported file is (its content cannot tell)."""
        titles = [entry.title for entry in candidates]
        title, ok = QInputDialog.getItem(self, "Which model is this?", text, titles, 0, False)
        return candidates[titles.index(title)] if ok else None

    def show_error(self, text: str) -> None:
        QMessageBox.warning(self, "Model manager", text)

    # -- state -----------------------------------------------------------------------------
    def set_active_engine(self, title: str) -> None:
        self.intro.setText(
            f"<b>Active engine: {title}.</b> The embedded GrabCut engine works without any "
            "download. The neural models below segment better; each needs its released "
            "checkpoint file. Files are checked before use: five by the git blob id of a "
            "public copy (<i>verified</i>); for the others no published checksum exists, so "
            "the SHA-256 seen on first download or import is recorded and shown, and later "
            "checks prove the file unchanged since then (<i>trust on first use</i>), not that "
            "it is genuine.")

    def refresh(self) -> None:
        """Reread what is on disk (cheap: unchanged files are not rehashed)."""
        selected = self.selected_entry()
        self._entries = downloadable_entries()
        self.table.setRowCount(len(self._entries))
        for row, entry in enumerate(self._entries):
            self._fill_row(row, entry_status(entry), engine_unavailable_reason(entry))
        if selected is not None:
            self.select(selected.name)
        self._update_buttons()

    def _fill_row(self, row: int, status: EntryStatus, unavailable: str | None) -> None:
        entry = status.entry
        details = _short_detail(status)
        if unavailable:
            details = f"Cannot run yet: {unavailable}. {details}"
        cells = (entry.title, FAMILY_TITLES[entry.family], f"{entry.size_mb:g} MB",
                 status.state.value, details)
        tip = f"{entry.name}: {entry.description}\n{status.detail}"
        if unavailable:
            tip += f"\nCannot run yet: {unavailable}."
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            if unavailable:
                item.setForeground(QBrush(_GREY))
            elif column == 3 and status.state in _STATE_COLORS:
                item.setForeground(QBrush(QColor(_STATE_COLORS[status.state])))
            self.table.setItem(row, column, item)

    def selected_entry(self) -> ModelEntry | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self._entries[rows[0].row()] if rows else None

    def select(self, name: str) -> None:
        for row, entry in enumerate(self._entries):
            if entry.name == name:
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, 0))

    @property
    def busy(self) -> bool:
        return self._job is not None

    def _update_buttons(self) -> None:
        entry = self.selected_entry()
        idle = not self.busy
        self.download_button.setEnabled(idle and entry is not None and entry.needs_download
                                        and entry.download_url is not None)
        self.verify_button.setEnabled(idle and entry is not None and not entry.needs_download)
        self.import_button.setEnabled(idle)
        self.use_button.setEnabled(entry is not None and not entry.needs_download
                                   and engine_unavailable_reason(entry) is None)
        self.cancel_button.setVisible(self.busy)
        if entry is not None and entry.needs_download and entry.download_url is None:
            self.download_button.setToolTip(f"Published only in {entry.url}: download it in "
                                             "a browser, then Import file…")
        else:
            self.download_button.setToolTip("Download the selected checkpoint (an "
                                            "interrupted download resumes)")

    # -- jobs ------------------------------------------------------------------------------
    def download_selected(self) -> BackgroundJob | None:
        entry = self.selected_entry()
        if entry is None or self.busy:
            return None
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.message.setText(f"Downloading {entry.checkpoint} from {entry.download_url}…")
        job = self._start(lambda progress, cancel: fetch_entry(entry, progress, cancel),
                          self._download_done)
        job.progressed.connect(self._show_progress)
        return job

    def verify_selected(self) -> BackgroundJob | None:
        entry = self.selected_entry()
        if entry is None or self.busy:
            return None
        self.message.setText(f"Hashing {entry.checkpoint}…")
        return self._start(lambda progress, cancel: verify_entry(entry), self._verify_done)

    def choose_import(self) -> BackgroundJob | None:
        path = self.ask_import_path()
        return self.import_path(path) if path else None

    def import_path(self, path: str | Path, name: str | None = None) -> BackgroundJob | None:
        if self.busy:
            return None
        self.message.setText(f"Reading {Path(path).name}…")
        return self._start(lambda progress, cancel: import_file(path, name),
                           self._import_done, lambda exc: self._import_failed(exc, path))

    def _use_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None and self.use_button.isEnabled():
            self.use_requested.emit(entry.name)

    def cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.message.setText("Cancelling…")

    def _start(self, work, done, failed=None) -> BackgroundJob:
        job = BackgroundJob(work, self)
        job.succeeded.connect(done)
        job.failed.connect(failed or self._job_failed)
        job.finished.connect(lambda: self._job_finished(job))
        job.finished.connect(job.deleteLater)
        self._job = job
        self._update_buttons()
        job.start()
        return job

    def _job_finished(self, job: BackgroundJob) -> None:
        if self._job is job:  # not when a follow-up job (an import's second try) started
            self._job = None
            self.progress.setVisible(False)
        self.refresh()

    def _show_progress(self, done: int, total: int) -> None:
        if total:
            # in KiB so that the bar's int range holds any file
            self.progress.setRange(0, total // 1024)
            self.progress.setValue(done // 1024)
            self.progress.setFormat(f"{done / 1e6:.1f} of {total / 1e6:.1f} MB (%p%)")
        else:
            self.progress.setFormat(f"{done / 1e6:.1f} MB")

    def _download_done(self, status: EntryStatus) -> None:
        self.message.setText(f"{status.entry.title}: {status.state.value}. {status.detail}")
        self.weights_changed.emit()

    def _verify_done(self, status: EntryStatus) -> None:
        self.message.setText(f"{status.entry.title}: {status.state.value}. {status.detail}")
        if status.state in (State.CHANGED, State.WRONG_FILE):
            self.show_error(f"{status.entry.checkpoint} failed verification: {status.detail}")

    def _import_done(self, result) -> None:
        done = "was already present" if result.already_present else "was copied in"
        self.message.setText(f"The file is a {result.title} checkpoint: "
                             f"{result.entry.title} {done}. {result.status.detail}")
        self.select(result.entry.name)
        self.weights_changed.emit()

    def _import_failed(self, exc: Exception, path: str | Path) -> None:
        if isinstance(exc, AmbiguousImport):
            entry = self.ask_entry(str(exc), exc.candidates)
            self._job = None  # this job is over; its finished signal comes after this slot
            if entry is not None:
                self.import_path(path, entry.name)
                return
            self.message.setText("Import cancelled.")
            return
        self.message.setText("Import refused.")
        self.show_error(f"Cannot import {Path(path).name}: {exc}")

    def _job_failed(self, exc: Exception) -> None:
        if isinstance(exc, DownloadCancelled):
            self.message.setText(str(exc).capitalize())
            return
        self.message.setText(f"Failed: {exc}")
        self.show_error(str(exc))

    def reject(self) -> None:
        """Closing the dialog stops a download (its part is kept for a resume)."""
        self.cancel_job()
        super().reject()

    def stop(self) -> None:
        """Cancel the running job and wait for its thread (the application is closing).
        A download stalled on a silent server ends at its read timeout."""
        if self._job is not None:
            self._job.cancel()
            self._job.wait()


def _short_detail(status: EntryStatus) -> str:
    """One line for the table (the tooltip has the long form)."""
    entry = status.entry
    if status.state is State.NOT_DOWNLOADED:
        if entry.download_url is None:
            return "No direct link: download it from the authors' folder, then Import file…"
        if entry.from_mirror:
            return f"From a third-party mirror ({_site(entry.download_url)}), checked by content"
        return f"From the authors' release ({_site(entry.download_url)})"
    return status.detail


def _site(url: str) -> str:
    """Host and owner (``github.com/saic-vul``): who serves the file."""
    parts = urlsplit(url)
    return parts.netloc + "/" + parts.path.strip("/").split("/")[0]
