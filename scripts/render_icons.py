"""Render the application icon (resources/icons/clickmask.svg) to the PNG sizes desktops use.

The PNGs go to resources/icons/hicolor/<N>x<N>/apps/clickmask.png, the freedesktop icon
theme layout, so installing them is one copy into ~/.local/share/icons/. The window uses
them too (PNG needs no Qt image plugin). Run it again after editing the SVG:

    .venv/bin/python scripts/render_icons.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS_DIR = Path(__file__).resolve().parents[1] / "resources" / "icons"
SOURCE = ICONS_DIR / "clickmask.svg"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def render(size: int, target: Path) -> None:
    """Draw the SVG into a transparent ``size`` x ``size`` PNG at ``target``."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SOURCE} as SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target), "PNG"):
        raise SystemExit(f"cannot write {target}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (keeps Qt up)
    for size in SIZES:
        target = ICONS_DIR / "hicolor" / f"{size}x{size}" / "apps" / "clickmask.png"
        render(size, target)
        print(f"wrote {target.relative_to(ICONS_DIR.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
