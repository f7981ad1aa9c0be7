"""Where Clickmask keeps settings, downloaded weights and projects of read-only folders."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "clickmask"
HOME_ENV = "CLICKMASK_HOME"  # overrides both directories (tests and portable installs use it)


def config_dir() -> Path:
    home = os.environ.get(HOME_ENV)
    path = Path(home) / "config" if home else Path(platformdirs.user_config_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    home = os.environ.get(HOME_ENV)
    path = Path(home) / "data" if home else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path
