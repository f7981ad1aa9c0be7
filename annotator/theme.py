"""View > Theme: follow the system's colours, or Clickmask's own light or dark palette
(Fusion style), saved in the settings."""
from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QActionGroup, QColor, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QStyleFactory, QWidget

SETTINGS_KEY = "view/theme"
THEMES = {"system": "&System", "light": "&Light", "dark": "&Dark"}
_SYSTEM = "clickmask_system_theme"  # application property: the style and palette at start


def saved_theme() -> str:
    name = QSettings().value(SETTINGS_KEY, "system")
    return name if name in THEMES else "system"


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style: light text on grey, blue selection."""
    palette = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    for r, color in ((role.Window, (45, 45, 48)), (role.WindowText, (225, 225, 225)),
                     (role.Base, (30, 30, 32)), (role.AlternateBase, (45, 45, 48)),
                     (role.ToolTipBase, (60, 60, 64)), (role.ToolTipText, (235, 235, 235)),
                     (role.PlaceholderText, (140, 140, 140)), (role.Text, (225, 225, 225)),
                     (role.Button, (53, 53, 56)), (role.ButtonText, (225, 225, 225)),
                     (role.BrightText, (255, 80, 80)), (role.Link, (90, 160, 255)),
                     (role.Highlight, (42, 110, 200)), (role.HighlightedText, (255, 255, 255)),
                     (role.Light, (75, 75, 78)), (role.Midlight, (62, 62, 65)),
                     (role.Mid, (40, 40, 42)), (role.Dark, (25, 25, 27)),
                     (role.Shadow, (10, 10, 10))):
        palette.setColor(r, QColor(*color))
    for r in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, r, QColor(120, 120, 120))
    palette.setColor(group.Disabled, role.Highlight, QColor(70, 70, 74))
    return palette


def apply_theme(name: str) -> None:
    """Make the application ``name`` ("system", "light" or "dark")."""
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r}; expected one of {', '.join(THEMES)}")
    app = QApplication.instance()
    if app.property(_SYSTEM) is None:
        app.setProperty(_SYSTEM, (app.style().name(), QPalette(app.palette())))
    style_name, system_palette = app.property(_SYSTEM)
    if name == "system":
        app.setStyle(QStyleFactory.create(style_name))
        app.setPalette(system_palette)
        return
    app.setStyle(QStyleFactory.create("Fusion"))
    app.setPalette(dark_palette() if name == "dark" else app.style().standardPalette())


class ThemeMenu(QMenu):
    """One choice per theme; choosing applies it at once and saves it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("&Theme", parent)
        group = QActionGroup(self)
        current = saved_theme()
        self.theme_actions = {}
        for name, title in THEMES.items():
            action = self.addAction(title)
            action.setObjectName(f"theme:{name}")
            action.setCheckable(True)
            action.setChecked(name == current)
            action.setActionGroup(group)
            action.triggered.connect(lambda _=False, n=name: self.choose(n))
            self.theme_actions[name] = action

    def choose(self, name: str) -> None:
        apply_theme(name)
        QSettings().setValue(SETTINGS_KEY, name)
        self.theme_actions[name].setChecked(True)
