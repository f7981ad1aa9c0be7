"""The project store: images of one folder, their objects and the categories.

A project lives in one JSON file (``clickmask-project.json`` beside the images, or a
chosen path). Masks are kept as compressed COCO RLE, in memory and on disk, so a project
with hundreds of objects stays small; :attr:`AnnotatedObject.mask` decodes on demand.
Every change is saved with :meth:`Project.save`, which replaces the file atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.atomic import atomic_write_text
from engine.clicks import Click
from engine.imageio import list_images
from engine.masks import decode_rle, encode_rle
from engine.paths import data_dir
from resources import RESOURCES_DIR

PROJECT_FILE_NAME = "clickmask-project.json"
FORMAT_NAME = "clickmask-project"
FORMAT_VERSION = 1

SOURCES = ("clicked", "imported", "corrected")


class ProjectError(Exception):
    """A project file that cannot be read; the message says why and where."""


@dataclass
class Category:
    id: int
    name: str


@dataclass
class AnnotatedObject:
    """One instance mask with its category and how it was made."""

    id: int
    category_id: int
    rle: dict
    source: str = "clicked"
    clicks: list[Click] = field(default_factory=list)
    visible: bool = True

    @property
    def mask(self) -> np.ndarray:
        return decode_rle(self.rle)

    def set_mask(self, mask: np.ndarray) -> None:
        self.rle = encode_rle(mask)


@dataclass
class ImageEntry:
    """One image of the folder, addressed by its path relative to the folder (POSIX style)."""

    id: int
    file_name: str
    width: int | None = None
    height: int | None = None
    objects: list[AnnotatedObject] = field(default_factory=list)


class Project:
    """Images, objects and categories of one folder, saved to one file."""

    def __init__(self, root: Path, path: Path) -> None:
        self.root = Path(root)
        self.path = Path(path)
        self.images: dict[str, ImageEntry] = {}
        self.categories: list[Category] = []
        self._next_image_id = 1
        self._next_object_id = 1

    # -- opening and saving -------------------------------------------------------------
    @classmethod
    def open_folder(cls, folder: str | os.PathLike, project_path: str | os.PathLike | None = None
                    ) -> Project:
        """Open the project of ``folder`` (created empty if there is none yet).

        The images found in the folder are added (with new ids) to those already known.
        """
        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise ProjectError(f"{folder} is not a folder")
        path = Path(project_path) if project_path else default_project_path(folder)
        project = cls.load(path) if path.exists() else cls(folder, path)
        project.root = folder
        project.sync_with_folder()
        return project

    @classmethod
    def load(cls, path: str | os.PathLike) -> Project:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProjectError(f"cannot read project file {path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ProjectError(f"{path} is not a Clickmask project file")
        if data.get("version", 0) > FORMAT_VERSION:
            raise ProjectError(f"{path} was written by a newer Clickmask "
                               f"(format {data['version']}); please update")
        try:
            project = cls(Path(data["root"]), path)
            project.categories = [Category(int(c["id"]), str(c["name"]))
                                  for c in data["categories"]]
            for img in data["images"]:
                entry = ImageEntry(int(img["id"]), str(img["file_name"]),
                                   img.get("width"), img.get("height"))
                entry.objects = [
                    AnnotatedObject(int(o["id"]), int(o["category_id"]), dict(o["rle"]),
                                    str(o.get("source", "clicked")),
                                    [Click.from_json(c) for c in o.get("clicks", [])],
                                    bool(o.get("visible", True)))
                    for o in img["objects"]
                ]
                project.images[entry.file_name] = entry
        except (KeyError, TypeError, ValueError) as exc:
            raise ProjectError(f"project file {path} is damaged: {exc!r}") from exc
        project._next_image_id = max((e.id for e in project.images.values()), default=0) + 1
        project._next_object_id = max((o.id for _, o in project.iter_objects()), default=0) + 1
        return project

    def to_json(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "root": str(self.root),
            "categories": [{"id": c.id, "name": c.name} for c in self.categories],
            "images": [
                {"id": e.id, "file_name": e.file_name, "width": e.width, "height": e.height,
                 "objects": [{"id": o.id, "category_id": o.category_id, "source": o.source,
                              "rle": o.rle, "clicks": [c.to_json() for c in o.clicks],
                              "visible": o.visible} for o in e.objects]}
                for e in self.images.values()
            ],
        }

    def save(self) -> None:
        """Write the project atomically (temp file, fsync, rename)."""
        atomic_write_text(self.path, json.dumps(self.to_json(), separators=(",", ":")))

    def sync_with_folder(self) -> None:
        """Add images that appeared in the folder; images that vanished keep their objects."""
        for image_path in list_images(self.root):
            file_name = image_path.relative_to(self.root).as_posix()
            if file_name not in self.images:
                self.images[file_name] = ImageEntry(self._next_image_id, file_name)
                self._next_image_id += 1

    # -- queries ------------------------------------------------------------------------
    def image_path(self, file_name: str) -> Path:
        return self.root / file_name

    def present_images(self) -> list[ImageEntry]:
        """Images whose file is in the folder, in the folder's order."""
        return [e for e in self.images.values() if self.image_path(e.file_name).exists()]

    def iter_objects(self) -> Iterator[tuple[ImageEntry, AnnotatedObject]]:
        for entry in self.images.values():
            for obj in entry.objects:
                yield entry, obj

    def find_object(self, object_id: int) -> tuple[ImageEntry, AnnotatedObject]:
        for entry, obj in self.iter_objects():
            if obj.id == object_id:
                return entry, obj
        raise KeyError(f"no object with id {object_id}")

    def category(self, category_id: int) -> Category:
        for category in self.categories:
            if category.id == category_id:
                return category
        raise KeyError(f"no category with id {category_id}")

    def category_id(self, name: str) -> int:
        """Id of the category called ``name``, created if new."""
        name = name.strip()
        if not name:
            raise ValueError("a category needs a name")
        for category in self.categories:
            if category.name == name:
                return category.id
        new = Category(max((c.id for c in self.categories), default=0) + 1, name)
        self.categories.append(new)
        return new.id

    # -- changes ------------------------------------------------------------------------
    def add_object(self, file_name: str, mask: np.ndarray, category: str,
                   source: str = "clicked", clicks: list[Click] | None = None,
                   object_id: int | None = None) -> AnnotatedObject:
        """Add an object; ``object_id`` keeps an imported annotation's id when it is free."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        entry = self.images[file_name]
        entry.height, entry.width = mask.shape
        if object_id is None or self._object_id_taken(object_id):
            object_id = self._next_object_id
        self._next_object_id = max(self._next_object_id, object_id + 1)
        obj = AnnotatedObject(object_id, self.category_id(category), encode_rle(mask), source,
                              list(clicks or []))
        entry.objects.append(obj)
        return obj

    def replace_mask(self, object_id: int, mask: np.ndarray, clicks: list[Click]) -> AnnotatedObject:
        """Replace an object's mask after a correction; it keeps its id and category."""
        _, obj = self.find_object(object_id)
        obj.set_mask(mask)
        obj.clicks = list(clicks)
        obj.source = "corrected"
        return obj

    def remove_object(self, object_id: int) -> None:
        entry, obj = self.find_object(object_id)
        entry.objects.remove(obj)

    def set_category(self, object_id: int, category: str) -> None:
        _, obj = self.find_object(object_id)
        obj.category_id = self.category_id(category)

    def _object_id_taken(self, object_id: int) -> bool:
        return any(obj.id == object_id for _, obj in self.iter_objects())


def default_project_path(folder: Path) -> Path:
    """``clickmask-project.json`` beside the images, or in the data dir if the folder is read-only."""
    if os.access(folder, os.W_OK) and not _is_bundled(folder):
        return folder / PROJECT_FILE_NAME
    digest = hashlib.sha1(str(folder).encode("utf-8")).hexdigest()[:16]
    return data_dir() / "projects" / f"{folder.name}-{digest}.json"


def _is_bundled(folder: Path) -> bool:
    # The bundled samples ship with the program; their annotations belong to the user.
    return RESOURCES_DIR in (folder, *folder.parents)
