"""Clickmask's Qt front end: widgets, the session controller and its worker thread."""
from engine.version import __version__

__all__ = ["__version__"]
