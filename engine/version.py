"""Clickmask's version, written once: pyproject reads it (``tool.setuptools.dynamic``), the
GUI shows it, and weight downloads send it. Here, not in ``annotator``, because ``weights``
and ``engine`` must not import the Qt front end."""
__version__ = "0.1.0"
