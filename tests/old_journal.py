"""Records of journals written before edits were values (``object``, ``delete``,
``category``, ``visible``), appended to a journal file as the old Clickmask wrote them, to
check that such journals still replay."""
from __future__ import annotations

import json

from engine.annotations import AnnotatedObject
from engine.journal import Journal


def append(journal: Journal, record: dict) -> None:
    with journal.path.open("a") as file:
        file.write(json.dumps(record, separators=(",", ":")) + "\n")


def record_object(journal: Journal, file_name: str, obj: AnnotatedObject, category: str,
                  replaces: bool = False) -> None:
    append(journal, {"t": "object", "file": file_name, "id": obj.id, "category": category,
                     "source": str(obj.source), "rle": obj.rle,
                     "clicks": [click.to_json() for click in obj.clicks],
                     "replaces": replaces})


def record_delete(journal: Journal, object_id: int) -> None:
    append(journal, {"t": "delete", "id": object_id})


def record_category(journal: Journal, object_id: int, category: str) -> None:
    append(journal, {"t": "category", "id": object_id, "category": category})


def record_visible(journal: Journal, object_id: int, visible: bool) -> None:
    append(journal, {"t": "visible", "id": object_id, "visible": visible})
