"""Who may import whom: ``weights`` never imports the Qt front end, and opening the main
window loads neither torch nor scipy (they come with the first neural model)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(package: str) -> dict[str, set[str]]:
    """Every module each file of ``package`` imports, at any depth (function-level too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_weights_never_imports_the_annotator() -> None:
    offenders = {path: sorted(n for n in names if n.split(".")[0] == "annotator")
                 for path, names in _imported_modules("weights").items()}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_version_is_written_once_in_engine() -> None:
    import annotator
    from engine.version import __version__
    from weights.download import USER_AGENT

    assert annotator.__version__ == __version__
    assert USER_AGENT == f"clickmask/{__version__}"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "engine.version.__version__" }' in pyproject


def test_the_main_window_opens_without_torch_or_scipy() -> None:
    code = ("import sys; import annotator.main_window; "
            "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
