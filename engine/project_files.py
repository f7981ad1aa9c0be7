"""The files of a project: where they are, and what may touch them.

A folder's project is saved beside its images, or in the user's data dir when the folder
cannot be written (:func:`project_location`). Beside the project file live its crash
journal, its lock and the note of who holds the lock (:mod:`engine.project_lock`). A
project reads only images inside its folder, so an image
entry must be a plain relative path (:func:`entry_name_problem`); an export must not
overwrite any of the project's files (:func:`refuse_own_file`); and a save replaces the
project file only when it is still the version the project read or wrote last
(:class:`FileStamp`).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import temporary_files
from engine.imageio import IMAGE_EXTENSIONS
from engine.paths import data_dir
from resources import RESOURCES_DIR

if TYPE_CHECKING:
    from engine.annotations import Project

PROJECT_FILE_NAME = "clickmask-project.json"

# A drive ("C:"), which makes a Windows path absolute or relative to another folder.
_DRIVE = re.compile(r"^[A-Za-z]:")


class ProjectError(Exception):
    """A project file that cannot be read or written; the message says why and where."""


class ProjectChanged(ProjectError):
    """The project file was replaced or changed by someone else since it was read."""


def default_project_path(folder: Path) -> Path:
    """``clickmask-project.json`` beside the images, or in the data dir if the folder is read-only."""
    if os.access(folder, os.W_OK) and not _is_bundled(folder):
        return folder / PROJECT_FILE_NAME
    return fallback_project_path(folder)


def saved_project_paths(folder: Path) -> list[Path]:
    """The project files of ``folder`` that exist where the GUI keeps them: beside the
    images and in the data dir (see :func:`fallback_project_path`)."""
    return [path for path in (folder / PROJECT_FILE_NAME, fallback_project_path(folder))
            if path.exists()]


def fallback_project_path(folder: Path) -> Path:
    """Where the project of ``folder`` is saved when it cannot be saved beside the images:
    the user's data dir, under a name unique to the folder."""
    digest = hashlib.sha1(str(folder).encode("utf-8")).hexdigest()[:16]
    return data_dir() / "projects" / f"{folder.name}-{digest}.json"


def _is_bundled(folder: Path) -> bool:
    # The bundled samples ship with the program; their annotations belong to the user.
    return RESOURCES_DIR in (folder, *folder.parents)


def project_location(folder: Path, project_path: str | os.PathLike | None
                     ) -> tuple[Path | None, Path]:
    """(the file to read the project of ``folder`` from, None for a new project; where to
    save it). By default, where the GUI keeps it: the last saved of the file beside the
    images and the one in the data dir (where it goes when the folder cannot be written), so
    work saved in either place is never left behind."""
    if project_path:
        path = Path(project_path)
        return (path if path.exists() else None), path
    path = default_project_path(folder)
    saved = saved_project_paths(folder)
    if not saved:
        return None, path
    newest = max(saved, key=lambda p: p.stat().st_mtime_ns)
    # A project beside images that cannot be written now (media, a share) is saved to the
    # data dir from now on; elsewhere it stays where it was saved last.
    return newest, (path if newest == folder / PROJECT_FILE_NAME else newest)


def journal_path(project_path: str | os.PathLike) -> Path:
    """The crash journal of the project saved at ``project_path``."""
    project_path = Path(project_path)
    return project_path.with_name(project_path.name + ".journal")


def lock_path(project_path: str | os.PathLike) -> Path:
    """The file the operating system locks while the project is open."""
    project_path = Path(project_path)
    return project_path.with_name(project_path.name + ".lock")


def holder_path(project_path: str | os.PathLike) -> Path:
    """Who holds the lock (host, process, since when), for the message of whoever is refused."""
    project_path = Path(project_path)
    return project_path.with_name(project_path.name + ".lock.info")


def companion_files(project_path: str | os.PathLike) -> dict[str, Path]:
    """The project file and the files kept beside it, by what they are."""
    return {"the project file": Path(project_path),
            "the project's crash journal": journal_path(project_path),
            "the project's lock file": lock_path(project_path),
            "the project's lock holder file": holder_path(project_path)}


def remove_stale_temporary_files(project_path: str | os.PathLike) -> list[Path]:
    """Remove what interrupted saves of the project's files left (their temporary files);
    the paths removed. Only the holder of the project's lock may call this: any other
    process's save would be in flight."""
    removed = []
    names = [path.name for path in companion_files(project_path).values()]
    for temporary in temporary_files(Path(project_path).parent, names):
        try:
            temporary.unlink()
        except OSError:
            continue  # gone already, or not ours to remove: it does no harm
        removed.append(temporary)
    return removed


def same_file_path(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """Whether two paths name the same file (links and relative parts resolved)."""
    return os.path.realpath(first) == os.path.realpath(second)


def entry_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be an image entry of a project (None: it can).

    An entry is a path relative to the project's folder, '/'-separated, that stays inside
    it: not absolute, no drive, no '..', '.' or empty part, no backslash (a separator on
    Windows), no NUL.
    """
    if not isinstance(name, str) or not name:
        return "an image entry must be a non-empty file name"
    if "\0" in name:
        return "it contains a NUL character"
    if "\\" in name:
        return "it contains a backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return "it is an absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "its '..' leads out of the folder"
    if any(part in ("", ".") for part in parts):
        return "it has an empty or '.' part"
    return None


def refuse_own_file(project: Project, output: str | os.PathLike) -> None:
    """Raise :class:`ProjectError` when writing ``output`` would overwrite the project file,
    a file kept beside it or one of its images (through any path, link or hard link)."""
    output = Path(output)
    target = Path(os.path.realpath(output))
    try:
        target_stat = target.stat()
    except OSError:
        target_stat = None  # a new file cannot be one of the project's
    for what, path in companion_files(project.path).items():
        if _same_file(target, target_stat, path):
            raise ProjectError(f"{output} is {what}: choose another file for the export")
    root = Path(os.path.realpath(project.root))
    inside = target.relative_to(root).as_posix() if target.is_relative_to(root) else None
    if inside in project.images:
        raise ProjectError(f"{output} is the image {inside} of the project: choose another "
                           "file for the export")
    if target_stat is None or target.suffix.lower() not in IMAGE_EXTENSIONS:
        return
    # An existing image file elsewhere: it may still be an image of the project (a link).
    for file_name in project.images:
        if _same_file(target, target_stat, project.image_path(file_name)):
            raise ProjectError(f"{output} is the image {file_name} of the project: choose "
                               "another file for the export")


def _same_file(target: Path, target_stat: os.stat_result | None, path: Path) -> bool:
    if same_file_path(target, path):
        return True
    if target_stat is None:
        return False
    try:
        other = path.stat()
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (target_stat.st_dev, target_stat.st_ino)


@dataclass(frozen=True)
class FileStamp:
    """Which version of a file was read or written: its inode, size and modification time.

    A save compares the stamp of the file it is about to replace with the stamp it
    recorded when it last read or wrote it; any other writer changes at least one of them
    (an atomic save makes a new inode, an in-place write changes the time).
    """

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileStamp | None:
        """The stamp of the file at ``path`` now; None when there is none."""
        try:
            return cls.of_stat(os.stat(path))
        except FileNotFoundError:
            return None

    @classmethod
    def of_stat(cls, stat: os.stat_result) -> FileStamp:
        return cls(stat.st_ino, stat.st_size, stat.st_mtime_ns)
