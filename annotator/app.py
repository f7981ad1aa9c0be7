"""Start the GUI: one QApplication, one controller, one main window."""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from engine.paths import config_dir
from resources import RESOURCES_DIR
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from annotator.refinement_menu import saved_options
from annotator.theme import apply_theme, saved_theme
from weights import DEFAULT_MODEL


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


def run_gui(folder: str | Path | None, project: str | Path | None = None,
            model: str = DEFAULT_MODEL, device: str = "auto") -> int:
    """Open the main window on ``folder`` (the bundled samples when None) and run the app."""
    app = create_application()
    window = MainWindow(SessionController(model=model, device=device, options=saved_options()))
    window.restore_geometry()
    window.show()
    if folder is not None:
        window.open_folder(folder, project)
    return app.exec()
