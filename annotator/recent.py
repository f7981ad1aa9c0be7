"""File > Open Recent: the last folders opened, newest first, kept in the settings."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from annotator.shortcuts import DYNAMIC_MENU

SETTINGS_KEY = "recent/folders"
MAX_RECENT = 8


def recent_folders() -> list[Path]:
    """The folders opened last, newest first (at most MAX_RECENT)."""
    value = QSettings().value(SETTINGS_KEY, [])
    if isinstance(value, str):  # an INI file gives a one-item list back as a string
        value = [value]
    return [Path(text) for text in value if isinstance(text, str) and text][:MAX_RECENT]


def remember_folder(folder: str | Path) -> None:
    """Put ``folder`` first in the recent folders."""
    folder = Path(folder).resolve()
    folders = [folder] + [f for f in recent_folders() if f != folder]
    _save(folders[:MAX_RECENT])


def forget_folder(folder: str | Path) -> None:
    _save([f for f in recent_folders() if f != Path(folder)])


def _save(folders: list[Path]) -> None:
    QSettings().setValue(SETTINGS_KEY, [str(f) for f in folders])


class RecentFoldersMenu(QMenu):
    """The recent folders (missing ones greyed, saying so) and Clear. ``open_folder``
    is called with the folder the user picks."""

    def __init__(self, open_folder: Callable[[Path], None], parent: QWidget | None = None
                 ) -> None:
        super().__init__("Open &Recent", parent)
        self._open_folder = open_folder
        self.setToolTipsVisible(True)
        self.setProperty(DYNAMIC_MENU, True)  # no shortcuts for entries that come and go
        self.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        self.clear()
        folders = recent_folders()
        for number, folder in enumerate(folders, start=1):
            action = QAction(f"&{number} {folder.name or folder}", self)
            if folder.is_dir():
                action.setToolTip(str(folder))
                action.triggered.connect(lambda _=False, f=folder: self._open_folder(f))
            else:
                action.setText(f"{folder.name or folder} (missing)")
                action.setToolTip(f"{folder} no longer exists")
                action.setEnabled(False)
            self.addAction(action)
        if not folders:
            empty = self.addAction("No recent folders")
            empty.setEnabled(False)
        self.addSeparator()
        clear = self.addAction("&Clear Menu")
        clear.setEnabled(bool(folders))
        clear.triggered.connect(self.clear_recent)

    def clear_recent(self) -> None:
        _save([])
        self.rebuild()
