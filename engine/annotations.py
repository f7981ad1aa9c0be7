"""The project store: images of one folder, their objects and the categories.

A project lives in one JSON file (``clickmask-project.json`` beside the images, or a
chosen path). Masks are kept as compressed COCO RLE, in memory and on disk, so a project
with hundreds of objects stays small; :attr:`AnnotatedObject.mask` decodes on demand.
Every change is saved with :meth:`Project.save`, which replaces the file atomically. A
program that edits a project holds its lock while it is open (:mod:`engine.project_lock`).
"""
from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.atomic import atomic_write_text
from engine.clicks import Click
from engine.collector import collector_paused
from engine.imageio import list_images
from engine.masks import InvalidRLE, RleChecker, decode_rle, encode_rle, json_int
from engine.palette import PALETTE, RGB, color_to_hex, hex_to_color, palette_color
# Callers import the project's places (PROJECT_FILE_NAME, default_project_path...) from here.
from engine.project_files import (PROJECT_FILE_NAME, FileStamp, ProjectChanged, ProjectError,
                                  default_project_path, entry_name_problem,
                                  fallback_project_path, project_location,
                                  remove_stale_temporary_files, same_file_path,
                                  saved_project_paths)
from engine.project_lock import ProjectLock, lock_project_location
from engine.regular_file import open_regular

FORMAT_NAME = "clickmask-project"
FORMAT_VERSION = 1

class ObjectSource(StrEnum):
    """How an object was made (a StrEnum: it is its JSON string, and compares equal to it)."""

    CLICKED = "clicked"
    IMPORTED = "imported"
    CORRECTED = "corrected"


class ReviewOutcome(StrEnum):
    """How the review of an imported object ended (engine/review.py steps through them)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    CORRECTED = "corrected"
    RELABELLED = "relabelled"
    REJECTED = "rejected"


SOURCES = tuple(source.value for source in ObjectSource)
REVIEW_OUTCOMES = tuple(outcome.value for outcome in ReviewOutcome)


@dataclass
class Category:
    """A category: its COCO id (from 1), its name and the colour it is drawn in."""

    id: int
    name: str
    color: RGB | None = None  # None: the palette colour of the id, set at creation

    def __post_init__(self) -> None:
        if self.color is None:
            self.color = palette_color(self.id)


@dataclass
class AnnotatedObject:
    """One instance mask with its category and how it was made.

    Imported objects carry a :class:`Review` (made here, so imports, old project files and
    journal replays all get one); other objects have none.
    """

    id: int
    category_id: int
    rle: dict
    source: str = "clicked"
    clicks: list[Click] = field(default_factory=list)
    visible: bool = True
    review: Review | None = None

    def __post_init__(self) -> None:
        if self.review is None and self.source == "imported":
            self.review = Review()

    @property
    def mask(self) -> np.ndarray:
        return decode_rle(self.rle)

    @property
    def rejected(self) -> bool:
        """Rejected in review: kept in the project (the decision can be undone), never exported."""
        return self.review is not None and self.review.outcome == "rejected"

    def set_mask(self, mask: np.ndarray) -> None:
        """Replace the mask; the first change of an imported mask keeps it as the original."""
        if self.review is not None:
            if self.review.original_rle is None:
                self.review.original_rle = self.rle
            self.review.outcome = "corrected"
        self.rle = encode_rle(mask)


@dataclass
class Review:
    """The review of an imported object: the decision, and what the import gave where the
    reviewer changed it (so the original can be shown, counted and restored)."""

    outcome: str = "pending"  # one of REVIEW_OUTCOMES
    original_rle: dict | None = None  # the imported mask, once the mask was corrected
    original_category_id: int | None = None  # the imported category, once relabelled

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "original_rle": self.original_rle,
                "original_category_id": self.original_category_id}


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
        self._object_ids: set[int] = set()  # kept by add/remove/load: O(1) "is this id taken"
        self._present: list[str] = []  # file names in the folder's order, see sync_with_folder
        # The serial number of the last journaled edit this project holds (engine/workspace.py):
        # saved with it, so that a replay skips the edits the file already has.
        self.edit_serial = 0
        self.lock: ProjectLock | None = None  # held while open for editing, see open_folder
        self._editing = False  # open for editing: hold the lock of wherever it is saved
        # The project file at a path as this project last read or wrote it (None: there was
        # none), so that a save never replaces changes it did not read.
        self._on_disk: tuple[Path, FileStamp | None] | None = None

    # -- opening and saving -------------------------------------------------------------
    @classmethod
    def open_folder(cls, folder: str | os.PathLike, project_path: str | os.PathLike | None = None,
                    lock: bool = False) -> Project:
        """Open the project of ``folder`` (created empty if there is none yet).

        The images found in the folder are added (with new ids) to those already known.
        ``lock``: hold the project's lock until :meth:`release_lock`, as a program that
        edits the project must (a reader, such as an export, need not); raises
        :class:`ProjectLocked`, naming the holder, when another has it. The temporary files
        that interrupted saves left are removed then. A project in a place that cannot be
        locked (nor written) takes the lock where it is first saved.
        """
        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise ProjectError(f"{folder} is not a folder")
        held = None
        if lock:
            read_from, path, held = lock_project_location(folder, project_path)
            if held is not None:
                remove_stale_temporary_files(path)
        else:
            read_from, path = project_location(folder, project_path)
        try:
            if read_from is None:
                project = cls(folder, path)
                project._on_disk = (path, None)  # a file appearing there is someone else's
            else:
                project = cls.load(read_from)
                if read_from != path:  # saved elsewhere from now on, see project_location
                    project.path = path
                    project._on_disk = (path, FileStamp.of(path))
            project.root = folder
            project.lock, project._editing = held, lock
            try:
                project.sync_with_folder()
            except OSError as exc:
                raise ProjectError(f"cannot list the images in {folder}: {exc}") from exc
        except BaseException:
            if held is not None:
                held.release()
            raise
        return project

    @classmethod
    @collector_paused()
    def load(cls, path: str | os.PathLike) -> Project:
        """Read a project file, checking everything in it.

        A damaged file raises :class:`ProjectError` naming the file and the image or object,
        rather than failing later in the annotator or the export. RLEs are checked without
        being decoded, so opening a large project stays quick.
        """
        path = Path(path)
        try:
            with open_regular(path) as file:
                stamp = FileStamp.of_stat(os.fstat(file.fileno()))  # of the version read
                data = json.loads(file.read().decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            # ValueError: JSON syntax, or integers of thousands of digits.
            raise ProjectError(f"cannot read project file {path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ProjectError(f"{path} is not a Clickmask project file")
        try:
            version = json_int(data.get("version", 0))
            if version is None:
                raise _Damaged("its 'version' is not an integer")
            if version > FORMAT_VERSION:
                raise ProjectError(f"{path} was written by a newer Clickmask "
                                   f"(format {version}); please update")
            if not isinstance(data.get("root"), str):
                raise _Damaged("it has no 'root' folder")
            project = cls(Path(data["root"]), path)
            serial = json_int(data.get("edit_serial", 0))
            if serial is None or serial < 0:
                raise _Damaged("its 'edit_serial' is not a whole number")
            project.edit_serial = serial
            project.categories = _read_categories(data.get("categories"))
            category_ids = {category.id for category in project.categories}
            images = data.get("images")
            if not isinstance(images, list):
                raise _Damaged("'images' must be a list")
            image_ids: set[int] = set()
            rles = RleChecker(_rles_in(images))
            for index, record in enumerate(images):
                entry = _read_image(record, index, category_ids, project._object_ids, rles)
                if entry.file_name in project.images:
                    raise _Damaged(f"image {entry.file_name!r} is listed twice")
                if entry.id in image_ids:
                    raise _Damaged(f"image {entry.file_name!r}: image id {entry.id} is used "
                                   "by another image")
                image_ids.add(entry.id)
                project.images[entry.file_name] = entry
        except _Damaged as exc:
            raise ProjectError(f"project file {path} is damaged: {exc}") from exc
        project._next_image_id = max(image_ids, default=0) + 1
        project._next_object_id = max(project._object_ids, default=0) + 1
        project._on_disk = (path, stamp)
        return project

    def to_json(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "root": str(self.root),
            # Only once there were edits: files of projects never edited stay as they were.
            **({"edit_serial": self.edit_serial} if self.edit_serial else {}),
            "categories": [{"id": c.id, "name": c.name, "color": color_to_hex(c.color)}
                           for c in self.categories],
            "images": [
                {"id": e.id, "file_name": e.file_name, "width": e.width, "height": e.height,
                 "objects": [{"id": o.id, "category_id": o.category_id, "source": o.source,
                              "rle": o.rle, "clicks": [c.to_json() for c in o.clicks],
                              "visible": o.visible,
                              **({"review": o.review.to_json()} if o.review else {})}
                             for o in e.objects]}
                for e in self.images.values()
            ],
        }

    def save(self) -> None:
        """Write the project atomically (temp file, fsync, rename).

        A save never replaces changes it did not read: it raises :class:`ProjectChanged`
        when someone else changed the file since this project read or wrote it, and
        :class:`ProjectLocked` when another process has the project open; nothing is
        written then. Saved to a new path (Save As), the project takes its lock along.
        """
        with self._holding_lock():
            self._check_unchanged()
            with collector_paused():
                text = json.dumps(self.to_json(), separators=(",", ":"))
            atomic_write_text(self.path, text)
            self._on_disk = (self.path, FileStamp.of(self.path))

    def hold_lock(self) -> None:
        """Hold the project's lock from now on, as :meth:`open_folder` with ``lock``; raises
        :class:`ProjectLocked` (its saves are refused then, until it is free again)."""
        self._editing = True
        if self.lock is None:
            self.lock = ProjectLock.acquire(self.path)

    def release_lock(self) -> None:
        """Let other programs open the project for editing."""
        self._editing = False
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @contextmanager
    def _holding_lock(self) -> Iterator[None]:
        """Hold the lock of the file about to be written: a project open for editing takes
        it along to a new path (and keeps it); one opened without it holds it for this save."""
        if self.lock is not None and same_file_path(self.lock.project_path, self.path):
            yield
            return
        taken = ProjectLock.acquire(self.path)
        try:
            yield
        except BaseException:
            taken.release()
            raise
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if self._editing:
            self.lock = taken
        else:
            taken.release()

    def _check_unchanged(self) -> None:
        if self._on_disk is None or not same_file_path(self._on_disk[0], self.path):
            return  # a new place (Save As): nothing there was read
        if FileStamp.of(self.path) != self._on_disk[1]:
            raise ProjectChanged(f"The project file {self.path} was changed by another program "
                                 "since Clickmask read it, so it was not overwritten")

    def sync_with_folder(self) -> None:
        """Add images that appeared in the folder and note which images it holds, in order.

        Images that vanished keep their objects. :meth:`present_images` answers from this
        listing, so it costs no file system access.
        """
        self._present = []
        for image_path in list_images(self.root):
            file_name = image_path.name  # listed directly in the folder
            if file_name not in self.images:
                self.images[file_name] = ImageEntry(self._next_image_id, file_name)
                self._next_image_id += 1
            self._present.append(file_name)

    # -- queries ------------------------------------------------------------------------
    def image_path(self, file_name: str) -> Path:
        return self.root / file_name

    def present_images(self) -> list[ImageEntry]:
        """Images in the folder at the last :meth:`sync_with_folder`, in its natural order."""
        return [self.images[file_name] for file_name in self._present]

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
        return self.add_category(name).id

    # -- categories as an import adds them (the annotator's edits: engine/edits.py) -------
    def add_category(self, name: str, color: RGB | None = None) -> Category:
        """Add :meth:`next_category`."""
        category = self.next_category(name, color)
        self.categories.append(category)
        return category

    def next_category(self, name: str, color: RGB | None = None) -> Category:
        """The category a new one called ``name`` would be (not added): the next free id,
        and a colour no category has yet, as long as the palette has one. ValueError for a
        name that is empty or taken."""
        name = self.free_category_name(name)
        category_id = max((c.id for c in self.categories), default=0) + 1
        if color is None:
            taken = {c.color for c in self.categories}
            color = next((c for c in _palette_from(category_id) if c not in taken),
                         palette_color(category_id))
        return Category(category_id, name, (color[0], color[1], color[2]))

    def free_category_name(self, name: str) -> str:
        """``name`` stripped; ValueError when it is empty or a category already has it."""
        name = name.strip()
        if not name:
            raise ValueError("a category needs a name")
        if any(c.name == name for c in self.categories):
            raise ValueError(f"there is already a category called {name!r}")
        return name

    # -- changes ------------------------------------------------------------------------
    def add_object(self, file_name: str, mask: np.ndarray, category: str,
                   source: str = "clicked", clicks: list[Click] | None = None,
                   object_id: int | None = None) -> AnnotatedObject:
        """Add an object; ``object_id`` keeps an imported annotation's id when it is free.

        An id that is taken, or below 1, is replaced by a new one. Raises ``ValueError``
        when the mask's size is not the image's (as far as the project knows it).
        """
        entry = self._entry_for(file_name, mask.shape, source)
        return self._add(entry, encode_rle(mask), self.category_id(category), source, clicks,
                         object_id)

    def add_encoded_object(self, file_name: str, rle: dict, category_id: int,
                           source: str = "clicked", clicks: list[Click] | None = None,
                           object_id: int | None = None) -> AnnotatedObject:
        """:meth:`add_object` of a mask given as its compressed RLE, as
        :func:`~engine.masks.encode_rle` writes it, in category ``category_id`` (one of the
        project's): an import adds many objects so, without decoding and encoding their
        masks or looking up their category by name each time."""
        entry = self._entry_for(file_name, rle["size"], source)
        return self._add(entry, rle, category_id, source, clicks, object_id)

    def _entry_for(self, file_name: str, shape: tuple[int, int] | list[int], source: str
                   ) -> ImageEntry:
        """The image a new object of this mask size and source may go to."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        entry = self.images[file_name]
        height, width = shape
        if entry.height and entry.width and (entry.height, entry.width) != (height, width):
            raise ValueError(f"the mask is {width}x{height} but {file_name} is "
                             f"{entry.width}x{entry.height}")
        return entry

    def _add(self, entry: ImageEntry, rle: dict, category_id: int, source: str,
             clicks: list[Click] | None, object_id: int | None) -> AnnotatedObject:
        entry.height, entry.width = rle["size"]
        if object_id is None or object_id < 1 or object_id in self._object_ids:
            object_id = self._next_object_id
        self._next_object_id = max(self._next_object_id, object_id + 1)
        obj = AnnotatedObject(object_id, category_id, rle, source, list(clicks or []))
        entry.objects.append(obj)
        self._object_ids.add(object_id)
        return obj

    def remove_object(self, object_id: int) -> None:
        entry, obj = self.find_object(object_id)
        entry.objects.remove(obj)
        self._object_ids.discard(object_id)

    def insert_object(self, file_name: str, position: int, obj: AnnotatedObject) -> None:
        """Put ``obj`` (its id free, checked by the caller: see engine/edits.py) at
        ``position`` in image ``file_name``'s objects; the image takes its mask's size."""
        entry = self.images[file_name]
        entry.height, entry.width = obj.rle["size"]
        entry.objects.insert(position, obj)
        self._object_ids.add(obj.id)
        self._next_object_id = max(self._next_object_id, obj.id + 1)

    def note_image_size(self, file_name: str, height: int, width: int) -> None:
        """The image was read and has this size (a fact of the file, not an edit)."""
        entry = self.images[file_name]
        entry.height, entry.width = height, width

    def has_object(self, object_id: int) -> bool:
        return object_id in self._object_ids

    def new_object_id(self) -> int:
        """The id the next new object gets (not reserved: an edit made now takes it)."""
        return self._next_object_id


class _Damaged(Exception):
    """Something in a project file that cannot be used; the message says where and what."""


def _read_categories(records: Any) -> list[Category]:
    if not isinstance(records, list):
        raise _Damaged("'categories' must be a list")
    categories: list[Category] = []
    for index, record in enumerate(records):
        category_id = json_int(record.get("id")) if isinstance(record, dict) else None
        if category_id is None or not isinstance(record.get("name"), str):
            raise _Damaged(f"category #{index + 1} needs an integer 'id' and a 'name'")
        if any(category.id == category_id for category in categories):
            raise _Damaged(f"category id {category_id} is used twice")
        color = record.get("color")  # files written before categories had colours lack it
        if color is not None:
            try:
                color = hex_to_color(color)
            except ValueError as exc:
                raise _Damaged(f"category {record['name']!r}: {exc}") from exc
        categories.append(Category(category_id, record["name"], color))
    return categories


def _palette_from(number: int) -> list[RGB]:
    """The palette, starting at ``number``'s colour."""
    start = (number - 1) % len(PALETTE)
    return list(PALETTE[start:] + PALETTE[:start])


def _rles_in(images: list) -> Iterator[Any]:
    """The RLEs of a project file's objects, as far as its structure is sound (the rest is
    checked object by object)."""
    for image in images:
        objects = image.get("objects") if isinstance(image, dict) else None
        for record in objects if isinstance(objects, list) else ():
            if isinstance(record, dict):
                yield record.get("rle")
                review = record.get("review")
                if isinstance(review, dict):
                    yield review.get("original_rle")


def _read_image(record: Any, index: int, category_ids: set[int],
                object_ids: set[int], rles: RleChecker) -> ImageEntry:
    """One image of a project file; its objects' ids are added to ``object_ids``."""
    if not isinstance(record, dict) or not isinstance(record.get("file_name"), str):
        raise _Damaged(f"image #{index + 1} has no 'file_name'")
    where = f"image {record['file_name']!r}"
    problem = entry_name_problem(record["file_name"])
    if problem:
        raise _Damaged(f"{where} is not a file name inside the folder: {problem}")
    image_id = json_int(record.get("id"))
    if image_id is None:
        raise _Damaged(f"{where} has no integer 'id'")
    width, height = (_read_side(record, key, where) for key in ("width", "height"))
    if not isinstance(record.get("objects"), list):
        raise _Damaged(f"{where} has no 'objects' list")
    entry = ImageEntry(image_id, record["file_name"], width, height)
    for number, item in enumerate(record["objects"], start=1):
        obj = _read_object(item, where, number, category_ids, rles)
        if obj.id in object_ids:
            raise _Damaged(f"{where}: object id {obj.id} is used by another object")
        object_ids.add(obj.id)
        entry.objects.append(obj)
    return entry


def _read_side(record: dict, key: str, where: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    side = json_int(value)
    if side is None or side <= 0:
        raise _Damaged(f"{where}: {key} {value!r} is not a positive integer")
    return side


def _read_object(record: Any, image: str, number: int, category_ids: set[int],
                 rles: RleChecker) -> AnnotatedObject:
    """Object ``number`` (from 1) of the image that ``image`` names in messages."""
    object_id = json_int(record.get("id")) if isinstance(record, dict) else None
    if object_id is None or object_id < 1:
        raise _Damaged(f"{image}, object #{number} has no positive integer 'id'")
    where = f"{image}, object {object_id}"
    category_id = json_int(record.get("category_id"))
    if category_id not in category_ids:
        raise _Damaged(f"{where}: category id {record.get('category_id')!r} is not one of "
                       "the project's categories")
    source = record.get("source", "clicked")
    if source not in SOURCES:
        raise _Damaged(f"{where}: unknown source {source!r} (expected one of "
                       f"{', '.join(SOURCES)})")
    try:
        # Not checked against the image's size: projects written before add_object refused
        # a mask of another size may hold such objects, and the export skips them anyway.
        height, width = rles.check(record.get("rle"))
    except InvalidRLE as exc:
        raise _Damaged(f"{where}: {exc}") from exc
    visible = record.get("visible", True)
    if not isinstance(visible, bool):
        raise _Damaged(f"{where}: 'visible' must be true or false")
    clicks = record.get("clicks", [])
    if not isinstance(clicks, list) or not all(is_click_json(click) for click in clicks):
        raise _Damaged(f"{where}: 'clicks' must be a list of [y, x, is_positive]")
    # The RLE is rebuilt from its checked parts, so extra keys or a size written as 3.0
    # never reach the rest of the program.
    rle = {"size": [height, width], "counts": record["rle"]["counts"]}
    # Files written before the review existed have no 'review': their imported objects
    # start pending (AnnotatedObject gives them a Review).
    review = (_read_review(record["review"], where, category_ids, rles)
              if record.get("review") is not None else None)
    return AnnotatedObject(object_id, category_id, rle, source,
                           [Click.from_json(click) for click in clicks], visible, review)


def _read_review(record: Any, where: str, category_ids: set[int], rles: RleChecker
                 ) -> Review:
    if not isinstance(record, dict):
        raise _Damaged(f"{where}: 'review' must be an object")
    outcome = record.get("outcome")
    if outcome not in REVIEW_OUTCOMES:
        raise _Damaged(f"{where}: unknown review outcome {outcome!r} (expected one of "
                       f"{', '.join(REVIEW_OUTCOMES)})")
    original_rle = record.get("original_rle")
    if original_rle is not None:
        try:
            height, width = rles.check(original_rle)
        except InvalidRLE as exc:
            raise _Damaged(f"{where}: its original (imported) mask: {exc}") from exc
        original_rle = {"size": [height, width], "counts": original_rle["counts"]}
    original_category_id = record.get("original_category_id")
    if original_category_id is not None:
        original_category_id = json_int(original_category_id)
        if original_category_id not in category_ids:
            raise _Damaged(f"{where}: original category id "
                           f"{record.get('original_category_id')!r} is not one of the "
                           "project's categories")
    return Review(outcome, original_rle, original_category_id)


def is_click_json(value: Any) -> bool:
    """Whether ``value`` is a click as JSON stores it: [y, x, is_positive], finite numbers."""
    return (isinstance(value, list) and len(value) == 3 and _is_coordinate(value[0])
            and _is_coordinate(value[1]) and isinstance(value[2], bool))


def _is_coordinate(value: Any) -> bool:
    # A finite JSON number; bool is an int in Python, and an int too big for a float
    # (JSON allows it) is no coordinate either.
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2 ** 53
