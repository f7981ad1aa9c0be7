"""Start the GUI: one QApplication, one controller, one main window."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from engine.paths import config_dir
from resources import RESOURCES_DIR
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from annotator.model_settings import ModelSettings
from annotator.theme import apply_theme, saved_theme
from weights import MODELS


def create_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Clickmask")
    app.setOrganizationName("Clickmask")
    app.setWindowIcon(application_icon())
    # Wayland shows the icon of the desktop entry with this name (resources/clickmask.desktop).
    app.setDesktopFileName("clickmask")
    # Settings live beside the rest of Clickmask's user files (CLICKMASK_HOME honoured).
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(config_dir()))
    apply_theme(saved_theme())
    return app


def application_icon() -> QIcon:
    """Clickmask's icon at every size rendered from the SVG (scripts/render_icons.py)."""
    icon = QIcon()
    for png in sorted((RESOURCES_DIR / "icons" / "hicolor").glob("*/apps/clickmask.png")):
        icon.addFile(str(png))
    return icon


def restored_controller(model: str | None = None, device: str | None = None
                        ) -> tuple[SessionController, str | None]:
    """A controller with the Model panel's saved choices (``model`` and ``device``, when
    given, win), and a message for the user about what could not be restored."""
    settings, note = ModelSettings.saved()
    notes = [note] if note else []
    if model is not None and model not in MODELS:
        notes.append(f"There is no model named {model!r} (known: "
                     f"{', '.join(sorted(MODELS))}); using {MODELS[settings.model].title}.")
        model = None
    settings = replace(settings, model=model or settings.model, device=device or settings.device)
    controller = SessionController(model=settings.model, device=settings.device,
                                   options=settings.options)
    controller.set_proposals_enabled(settings.proposals)
    return controller, " ".join(notes) or None


def run_gui(folder: str | Path | None, project: str | Path | None = None,
            model: str | None = None, device: str | None = None) -> int:
    """Open the main window on ``folder`` (the bundled samples when None) and run the app
    with ``model`` on ``device`` (None: the previous session's, restored)."""
    app = create_application()
    controller, note = restored_controller(model, device)
    window = MainWindow(controller)
    window.restore_geometry()
    window.show()
    if note:
        window.show_error(note)
    if folder is not None:
        window.open_folder(folder, project)
    return app.exec()
