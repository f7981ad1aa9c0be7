"""What a drag-and-drop onto the window holds: a folder to open, a COCO file to import,
or something Clickmask cannot use (with the reason)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMimeData


@dataclass(frozen=True)
class Dropped:
    kind: str  # "folder" | "coco" | "unusable"
    path: Path | None = None
    reason: str = ""  # why an unusable drop cannot be used, for the user


def dropped(mime: QMimeData) -> Dropped:
    """Read a drop: exactly one local folder or one ``.json`` file is usable."""
    urls = mime.urls() if mime.hasUrls() else []
    if not urls:
        return Dropped("unusable", reason="Drop a folder of images to open it, or a COCO "
                                          ".json file to import it.")
    if len(urls) > 1:
        return Dropped("unusable", reason=f"{len(urls)} items were dropped: drop one folder "
                                          "or one COCO .json file at a time.")
    url = urls[0]
    if not url.isLocalFile():
        return Dropped("unusable", reason=f"{url.toString()} is not a file on this computer.")
    path = Path(url.toLocalFile())
    if path.is_dir():
        return Dropped("folder", path)
    if path.suffix.lower() == ".json" and path.is_file():
        return Dropped("coco", path)
    if not path.exists():
        return Dropped("unusable", reason=f"{path} does not exist.")
    return Dropped("unusable", reason=f"{path.name} is neither a folder nor a COCO .json "
                                      "file. Drop a folder of images to open it, or a COCO "
                                      "file to import its annotations.")
