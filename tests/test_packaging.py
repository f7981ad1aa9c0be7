"""Packaging: annotator.spec's inputs, the installed command, --self-test, the desktop entry
and the icons. The PyInstaller build itself takes minutes: scripts/build_app.sh runs it."""
from __future__ import annotations

import configparser
import importlib.metadata
import json
import shutil
import struct
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from annotator import __version__
from annotator.cli import SUBCOMMANDS
from resources import RESOURCES_DIR, SAMPLES_DIR

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "annotator.spec"
DESKTOP_ENTRY = RESOURCES_DIR / "clickmask.desktop"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)

# What PyInstaller's hooks would hand the spec, to see which entries it keeps.
HOOK_BINARIES = [("torch/lib/libtorch_cpu.so", "/x", "BINARY"),
                 ("torch/lib/libtorchbind_test.so", "/x", "BINARY"),
                 ("torch/bin/protoc", "/x", "BINARY"),
                 ("torch/bin/torch_shm_manager", "/x", "BINARY"),
                 ("libpango-1.0.so.0", "/x", "BINARY"),
                 ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "/x", "BINARY"),
                 ("cv2/cv2.abi3.so", "/x", "EXTENSION")]
HOOK_DATAS = [("torch/include/ATen/ATen.h", "/x", "DATA"),
              ("torch/_inductor/codegen/cpp_prefix.h", "/x", "DATA"),
              ("PySide6/Qt/translations/qtbase_de.qm", "/x", "DATA"),
              ("qtawesome/fonts/fontawesome5-solid-webfont.ttf", "/x", "DATA")]


def run_spec() -> SimpleNamespace:
    """Execute annotator.spec with recorders in place of PyInstaller's build classes."""
    calls: dict[str, tuple[tuple, dict]] = {}

    def recorder(kind: str):
        def record(*args, **kwargs):
            calls[kind] = (args, kwargs)
            return SimpleNamespace(binaries=list(HOOK_BINARIES), datas=list(HOOK_DATAS),
                                   pure=[], scripts=[])
        return record

    namespace = {"SPECPATH": str(ROOT), "__file__": str(SPEC),
                 **{kind: recorder(kind) for kind in ("Analysis", "PYZ", "EXE", "COLLECT")}}
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), namespace)
    return SimpleNamespace(calls=calls, namespace=namespace)


@pytest.fixture(scope="module")
def spec() -> SimpleNamespace:
    return run_spec()


def test_spec_builds_the_cli_entry_point_as_clickmask(spec: SimpleNamespace) -> None:
    (scripts,), _ = spec.calls["Analysis"]
    assert [Path(s) for s in scripts] == [ROOT / "annotator" / "__main__.py"]
    assert "from annotator.cli import main" in Path(scripts[0]).read_text()
    assert spec.calls["EXE"][1]["name"] == spec.calls["COLLECT"][1]["name"] == "clickmask"


def test_spec_bundles_resources_and_qtawesome_fonts(spec: SimpleNamespace) -> None:
    _, kwargs = spec.calls["Analysis"]
    bundled = {(Path(source).name, dest) for source, dest in kwargs["datas"]}
    for sample in SAMPLES_DIR.glob("*.jpg"):
        assert (sample.name, "resources/samples") in bundled
    assert ("clickmask.desktop", "resources") in bundled
    for size in ICON_SIZES:
        assert ("clickmask.png", f"resources/icons/hicolor/{size}x{size}/apps") in bundled
    assert ("fonts", "qtawesome/fonts") in bundled
    assert all(Path(source).exists() for source, _ in kwargs["datas"])
    assert not any(name.endswith(".py") for name, _ in bundled)


def test_spec_drops_unused_torch_and_qt_parts_only(spec: SimpleNamespace) -> None:
    analysis = spec.namespace["a"]
    assert [e[0] for e in analysis.binaries] == [
        "torch/lib/libtorch_cpu.so", "torch/bin/torch_shm_manager",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so", "cv2/cv2.abi3.so"]
    assert [e[0] for e in analysis.datas] == ["qtawesome/fonts/fontawesome5-solid-webfont.ttf"]


def required_distributions(name: str, seen: set[str]) -> set[str]:
    """``name`` and what it requires on this platform (no extras), recursively, normalised."""
    key = canonicalize_name(name)
    if key in seen:
        return seen
    seen.add(key)
    for line in importlib.metadata.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            required_distributions(requirement.name, seen)
    return seen


def test_spec_excludes_nothing_a_dependency_needs(spec: SimpleNamespace) -> None:
    # torch is the one exception, by design: it requires the compiler stack's packages
    # (sympy, networkx) but only torch.compile imports them.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    needed: set[str] = set()
    for line in declared:
        if Requirement(line).name != "torch":
            required_distributions(Requirement(line).name, needed)
    owners = importlib.metadata.packages_distributions()
    excluded = [m for m in spec.namespace["EXCLUDED_MODULES"] if "." not in m]
    assert not {m: owners[m] for m in excluded
                if any(canonicalize_name(d) in needed for d in owners.get(m, []))}


def test_spec_refuses_the_opencv_gui_build(monkeypatch) -> None:
    real = importlib.metadata.distribution

    def distribution(name: str):
        return SimpleNamespace(name=name) if name == "opencv-python" else real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    with pytest.raises(SystemExit, match="opencv-python is installed.*headless"):
        run_spec()


def test_self_test_passes_from_source_without_excluded_modules(spec: SimpleNamespace,
                                                              tmp_path: Path) -> None:
    # `python -m annotator --self-test`, reporting the modules it loaded at exit.
    code = ("import atexit, json, runpy, sys\n"
            "atexit.register(lambda: print('MODULES', json.dumps(sorted(sys.modules))))\n"
            "sys.argv = ['clickmask', '--self-test']\n"
            "runpy.run_module('annotator', run_name='__main__', alter_sys=True)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "clickmask self-test passed" in result.stdout
    assert "1 click with GrabCut" in result.stdout and "torch" in result.stdout
    loaded = json.loads(result.stdout.rsplit("MODULES ", 1)[1])
    excluded = spec.namespace["EXCLUDED_MODULES"]
    assert not [m for m in loaded if any(m == e or m.startswith(e + ".") for e in excluded)]


@pytest.mark.gui
def test_self_test_fails_with_a_message_on_a_folder_without_images(qapp, tmp_path: Path,
                                                                   capsys) -> None:
    from annotator.selftest import run_self_test

    assert run_self_test(tmp_path, timeout=30) == 1
    assert f"clickmask self-test FAILED: no images found in {tmp_path}" in capsys.readouterr().err


def installed_command() -> Path:
    command = Path(sys.executable).parent / "clickmask"
    assert command.exists(), "the clickmask command is not installed (pip install -e .)"
    return command


def test_installed_command_version_and_help() -> None:
    version = subprocess.run([installed_command(), "--version"], capture_output=True,
                             text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"clickmask {__version__}"
    help_text = subprocess.run([installed_command(), "--help"], capture_output=True, text=True,
                               timeout=60)
    assert help_text.returncode == 0
    for name in SUBCOMMANDS:
        assert f"\n    {name} " in help_text.stdout, f"{name} missing from --help"
    assert "--self-test" in help_text.stdout


def read_desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(DESKTOP_ENTRY.read_text(encoding="utf-8"))
    assert parser.sections() == ["Desktop Entry"]
    return parser["Desktop Entry"]


def test_desktop_entry_is_valid_and_launches_clickmask_with_its_icon() -> None:
    validator = shutil.which("desktop-file-validate")
    if validator:  # the freedesktop reference checker, where installed
        result = subprocess.run([validator, DESKTOP_ENTRY], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout
    entry = read_desktop_entry()
    assert entry["Type"] == "Application" and entry["Name"] == "Clickmask"
    assert entry["Terminal"] == "false" and entry["Categories"].endswith(";")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry["Exec"].split()[0] in scripts
    assert entry["Icon"] == entry["StartupWMClass"] == "clickmask"


def test_icons_are_rendered_at_every_desktop_size() -> None:
    for size in ICON_SIZES:
        png = RESOURCES_DIR / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "clickmask.png"
        header = png.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", png
        assert struct.unpack(">II", header[16:24]) == (size, size), png


@pytest.mark.gui
def test_window_icon_has_every_size(qapp) -> None:
    from annotator.app import create_application

    sizes = {s.width() for s in create_application().windowIcon().availableSizes()}
    assert sizes == set(ICON_SIZES)
