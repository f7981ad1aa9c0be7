"""Readers for the interactive segmentation benchmarks, in their standard layouts.

Every reader gives samples of one object each: an ``H x W x 3`` uint8 RGB image and a label
map (int8: 1 object, 0 background, -1 ignored). The official evaluation code's semantics:

===========  ==========================================  ===================================
kind         layout                                      ground truth
===========  ==========================================  ===================================
GrabCut      ``data_GT/`` images, ``boundary_GT/`` masks  channel 0: 128 ignored, >128 object
Berkeley     ``images/``, ``masks/``                      as GrabCut
DAVIS        ``img/``, ``gt/``                            any channel > 0 is object
COCO_MVal    ``img/``, ``gt/``                            as DAVIS
SBD          ``img/<id>.jpg``, ``inst/<id>.mat``,         one sample per instance of the
             ``val.txt``                                  ``GTinst`` label map
PascalVOC    ``JPEGImages/<id>.jpg``,                     mask read as colour, converted to
             ``SegmentationObject/<id>.png``,             gray: 220 (the void colour) ignored,
             ``ImageSets/Segmentation/val.txt``           one sample per other gray level > 0
COCO JSON    a COCO instances file; images beside it,    one sample per non-crowd instance
             in ``images/``, or COCO's ``<split>/``
===========  ==========================================  ===================================

Images and masks are matched by file stem; samples are in sorted file-name order. The
official PascalVOC evaluation takes its instance list from a pickle it does not ship; here
every instance of the ``val`` split is a sample (pickles are never loaded: they can run code).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from engine.evaluation.clicker import IGNORE_LABEL
from engine.imageio import IMAGE_EXTENSIONS, ImageLoadError, load_image
from engine.regular_file import read_regular_file

GRABCUT_IGNORE = 128
VOC_IGNORE = 220  # gray level of VOC's void colour (224, 224, 192)


class DatasetError(Exception):
    """A dataset that cannot be read; the message says what is missing or wrong."""


@dataclass(frozen=True)
class Sample:
    """One object to segment: ``name`` identifies it in reports."""

    name: str
    image: np.ndarray
    gt: np.ndarray


class Dataset:
    """A list of samples read lazily: ``len(dataset)``, ``dataset[i]``, ``dataset.names``."""

    def __init__(self, kind: str, root: Path, names: Sequence[str],
                 load: Callable[[int], Sample]) -> None:
        self.kind = kind
        self.root = root
        self.names = list(names)
        self._load = load

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Sample:
        return self._load(index)


# -- readers ---------------------------------------------------------------------------------

def grabcut(root: str | Path) -> Dataset:
    """GrabCut: ``data_GT/`` + ``boundary_GT/``, 128 marks the ignored band."""
    return _paired_folders("GrabCut", Path(root), "data_GT", "boundary_GT", _gray_band_mask)


def berkeley(root: str | Path) -> Dataset:
    """Berkeley: ``images/`` + ``masks/``, read as GrabCut masks."""
    return _paired_folders("Berkeley", Path(root), "images", "masks", _gray_band_mask)


def davis(root: str | Path) -> Dataset:
    """DAVIS (the 345-frame interactive benchmark): ``img/`` + ``gt/``."""
    return _paired_folders("DAVIS", Path(root), "img", "gt", _any_channel_mask)


def coco_mval(root: str | Path) -> Dataset:
    """COCO_MVal (800 COCO val instances): ``img/`` + ``gt/``, read as DAVIS."""
    return _paired_folders("COCO_MVal", Path(root), "img", "gt", _any_channel_mask)


def sbd(root: str | Path) -> Dataset:
    """SBD validation split: each instance of each ``val.txt`` image is a sample."""
    root = Path(root)
    _require(root, "SBD", ["img", "inst", "val.txt"])
    ids = _read_ids(root / "val.txt")
    items: list[tuple[str, int]] = []
    for image_id in ids:
        labels = _sbd_instances(root / "inst" / f"{image_id}.mat")
        items += [(image_id, int(label)) for label in np.unique(labels) if label != 0]

    def load(index: int) -> Sample:
        image_id, label = items[index]
        labels = _sbd_instances(root / "inst" / f"{image_id}.mat")
        image = _image(root / "img" / f"{image_id}.jpg")
        return Sample(f"{image_id}#{label}", image, _check_size(image, labels == label, image_id))

    return Dataset("SBD", root, [f"{i}#{label}" for i, label in items], load)


def pascal_voc(root: str | Path) -> Dataset:
    """PascalVOC ``val`` split: each instance of each image is a sample, void ignored."""
    root = Path(root)
    split = Path("ImageSets") / "Segmentation" / "val.txt"
    _require(root, "PascalVOC", ["JPEGImages", "SegmentationObject", str(split)])
    items: list[tuple[str, int]] = []
    for image_id in _read_ids(root / split):
        gray = _voc_gray(root / "SegmentationObject" / f"{image_id}.png")
        items += [(image_id, int(level)) for level in np.unique(gray)
                  if level not in (0, VOC_IGNORE)]

    def load(index: int) -> Sample:
        image_id, level = items[index]
        gray = _voc_gray(root / "SegmentationObject" / f"{image_id}.png")
        gt = (gray == level).astype(np.int8)
        gt[gray == VOC_IGNORE] = IGNORE_LABEL
        image = _image(root / "JPEGImages" / f"{image_id}.jpg")
        return Sample(f"{image_id}#{level}", image, _check_size(image, gt, image_id))

    return Dataset("PascalVOC", root, [f"{i}#{level}" for i, level in items], load)


def coco_json(path: str | Path) -> Dataset:
    """Any COCO instances file: one sample per non-crowd instance with a segmentation."""
    from engine.coco import InvalidAnnotation, segmentation_to_mask  # pycocotools on demand

    path = Path(path)
    try:
        data = json.loads(read_regular_file(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read the COCO file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise DatasetError(f"{path} is not a COCO instances file (no 'images' and "
                           "'annotations' lists)")
    images = {entry.get("id"): entry for entry in data["images"] if isinstance(entry, dict)}
    annotations = sorted(
        (a for a in data["annotations"] if isinstance(a, dict) and not a.get("iscrowd")
         and a.get("segmentation") and a.get("image_id") in images),
        key=lambda a: (str(images[a["image_id"]].get("file_name")), str(a.get("id"))))
    image_root = _coco_image_root(path, [images[a["image_id"]] for a in annotations])

    def load(index: int) -> Sample:
        annotation = annotations[index]
        entry = images[annotation["image_id"]]
        image = _image(image_root / str(entry["file_name"]))
        try:
            mask = segmentation_to_mask(annotation["segmentation"], *image.shape[:2])
        except InvalidAnnotation as exc:
            raise DatasetError(f"{path}: annotation {annotation.get('id')}: {exc}") from None
        return Sample(_coco_name(annotation, entry), image, mask.astype(np.int8))

    names = [_coco_name(a, images[a["image_id"]]) for a in annotations]
    return Dataset("COCO", path, names, load)


READERS: dict[str, Callable[[Path], Dataset]] = {
    "GrabCut": grabcut,
    "Berkeley": berkeley,
    "DAVIS": davis,
    "COCO_MVal": coco_mval,
    "SBD": sbd,
    "PascalVOC": pascal_voc,
    "COCO": coco_json,
}

# Folders (or files) that identify each layout, checked in this order.
_LAYOUT_MARKERS = [
    ("GrabCut", ["data_GT", "boundary_GT"]),
    ("Berkeley", ["images", "masks"]),
    ("SBD", ["img", "inst", "val.txt"]),
    ("DAVIS", ["img", "gt"]),
    ("PascalVOC", ["JPEGImages", "SegmentationObject"]),
]


def open_dataset(name: str, path: str | Path) -> Dataset:
    """The dataset at ``path``, read as the benchmark ``name`` names (case-insensitive:
    GrabCut, Berkeley, DAVIS, COCO_MVal, SBD, PascalVOC, COCO). Any other name reads
    ``path`` by its layout: a ``.json`` file as COCO, a folder by the folders it holds."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset {name}: {path} does not exist")
    kind = {k.casefold(): k for k in READERS}.get(name.casefold()) or detect_kind(path)
    return READERS[kind](path)


def detect_kind(path: Path) -> str:
    """The reader for a dataset at ``path`` judged by its layout."""
    if path.is_file() and path.suffix.lower() == ".json":
        return "COCO"
    for kind, markers in _LAYOUT_MARKERS:
        if all((path / marker).exists() for marker in markers):
            return kind
    expected = "; ".join(f"{kind}: {', '.join(markers)}" for kind, markers in _LAYOUT_MARKERS)
    raise DatasetError(f"{path} has no known dataset layout (expected a COCO .json file or a "
                       f"folder holding {expected})")


# -- helpers ---------------------------------------------------------------------------------

def _paired_folders(kind: str, root: Path, images_dir: str, masks_dir: str,
                    read_mask: Callable[[Path], np.ndarray]) -> Dataset:
    _require(root, kind, [images_dir, masks_dir])
    images = sorted(p for p in (root / images_dir).iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    masks = {p.stem: p for p in (root / masks_dir).iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS}
    if not images:
        raise DatasetError(f"{kind} dataset {root}: no images in {images_dir}/")
    missing = [p.name for p in images if p.stem not in masks]
    if missing:
        raise DatasetError(f"{kind} dataset {root}: no mask in {masks_dir}/ for "
                           f"{len(missing)} image(s): {', '.join(missing[:5])}")

    def load(index: int) -> Sample:
        path = images[index]
        image = _image(path)
        return Sample(path.stem, image,
                      _check_size(image, read_mask(masks[path.stem]), path.stem))

    return Dataset(kind, root, [p.stem for p in images], load)


def _require(root: Path, kind: str, entries: list[str]) -> None:
    missing = [entry for entry in entries if not (root / entry).exists()]
    if missing:
        raise DatasetError(f"{root} is not a {kind} dataset: missing {', '.join(missing)} "
                           f"(expected {', '.join(entries)})")


def _image(path: Path) -> np.ndarray:
    try:
        return load_image(path)
    except ImageLoadError as exc:
        raise DatasetError(str(exc)) from None


def _read_color(path: Path) -> np.ndarray:
    """A mask file as OpenCV reads it for the official code: BGR, palettes expanded."""
    try:
        data = np.frombuffer(read_regular_file(path), dtype=np.uint8)
    except OSError:
        data = None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise DatasetError(f"cannot read the mask {path}")
    return image


def _gray_band_mask(path: Path) -> np.ndarray:
    channel = _read_color(path)[:, :, 0]
    gt = (channel > GRABCUT_IGNORE).astype(np.int8)
    gt[channel == GRABCUT_IGNORE] = IGNORE_LABEL
    return gt


def _any_channel_mask(path: Path) -> np.ndarray:
    return (_read_color(path).max(axis=2) > 0).astype(np.int8)


def _voc_gray(path: Path) -> np.ndarray:
    return cv2.cvtColor(_read_color(path), cv2.COLOR_BGR2GRAY)


def _sbd_instances(path: Path) -> np.ndarray:
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DatasetError("reading SBD's .mat files needs scipy (pip install scipy)") from None
    try:
        return np.asarray(loadmat(str(path))["GTinst"][0][0][0], dtype=np.int32)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise DatasetError(f"cannot read the SBD instance map {path}: {exc}") from None


def _read_ids(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _check_size(image: np.ndarray, gt: np.ndarray, name: str) -> np.ndarray:
    if gt.shape != image.shape[:2]:
        raise DatasetError(f"{name}: the mask is {gt.shape[1]}x{gt.shape[0]} but the image is "
                           f"{image.shape[1]}x{image.shape[0]}")
    return gt.astype(np.int8, copy=False)


def _coco_name(annotation: dict, image: dict) -> str:
    return f"{Path(str(image.get('file_name'))).stem}#{annotation.get('id')}"


def _coco_image_root(path: Path, entries: list[dict]) -> Path:
    """Where the images of a COCO file are: beside it, in ``images/``, or (for COCO's own
    ``annotations/instances_<split>.json``) in ``../<split>/``."""
    candidates = [path.parent, path.parent / "images"]
    if path.stem.startswith("instances_"):
        candidates.append(path.parent.parent / path.stem.removeprefix("instances_"))
    if not entries:
        return candidates[0]
    probe = str(entries[0].get("file_name"))
    for folder in candidates:
        if (folder / probe).is_file():
            return folder
    raise DatasetError(f"{path}: image {probe} not found in "
                       f"{', '.join(str(c) for c in candidates)}")
