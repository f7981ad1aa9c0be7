"""Clickmask's Qt front end: widgets, the session controller and its worker thread."""
__version__ = "0.1.0"
