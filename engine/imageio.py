"""Reading image files: any path, EXIF orientation, every common pixel format as RGB.

:func:`load_image` returns what a photo viewer shows: ``H x W x 3`` uint8 RGB, upright.
Gray images get three equal channels, transparent pixels are laid over white, 16-bit
samples are scaled (not clipped) to 8 bits, palettes are expanded.

A file that cannot be shown raises :class:`ImageLoadError` naming the file and the reason.
Truncated JPEG, PNG and WebP files are refused: the decoders would either fail with a
vague error or (depending on the OpenCV version) fill the missing rows with gray, and an
object annotated on a half-gray picture is silently wrong. A JPEG that is complete but
damaged inside its compressed data still decodes, with libjpeg's own warning on stderr;
finding that would mean decoding twice.

Only regular files are read (a FIFO or a device behind an image's name is refused at once,
see ``engine.regular_file``), and only the formats whose header gives the image's size
(``engine.image_headers``): an image of more than :func:`max_image_pixels` pixels is
refused before it is decoded.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import cv2
import numpy as np

from engine.image_headers import ImageHeader, format_name, read_header
from engine.regular_file import NotRegularFile, read_regular_file

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

_TRUNCATED = ("the file is truncated: its data ends before the image does "
              "(it may have been cut off while copying or downloading)")

# For each EXIF orientation (transpose, flip rows, flip columns) that turns the stored
# pixels upright. Value 1 (and any unknown value) means as stored.
_ORIENTATION_FIX = {
    2: (False, False, True),   # mirrored left-right
    3: (False, True, True),    # rotated 180 degrees
    4: (False, True, False),   # mirrored top-bottom
    5: (True, False, False),   # transposed
    6: (True, False, True),    # shown after turning 90 degrees clockwise
    7: (True, True, True),     # transversed
    8: (True, True, False),    # shown after turning 90 degrees counter-clockwise
}

# The largest image opened unless CLICKMASK_MAX_IMAGE_PIXELS says otherwise: 500 million
# pixels (1.5 GB decoded as RGB) opens a 20000 x 20000 image (400 million), as the README
# promises, and refuses a 30000 x 30000 decompression bomb (900 million).
MAX_IMAGE_PIXELS_ENV = "CLICKMASK_MAX_IMAGE_PIXELS"
DEFAULT_MAX_IMAGE_PIXELS = 500_000_000

# Major brands of HEIF files that OpenCV has no decoder for (AVIF, also HEIF-based, it has).
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


class ImageLoadError(Exception):
    """An image file that cannot be loaded; ``str()`` names the file and says why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        # Both go to Exception so that the error pickles and copies like any other.
        super().__init__(Path(path), reason)
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"Cannot open image '{self.path.name}': {self.reason}"


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an upright ``H x W x 3`` uint8 RGB array (C-contiguous).

    Raises :class:`ImageLoadError` when the file is missing, unreadable, not a regular file,
    empty, truncated, damaged, not an image, of an unsupported kind or too large.
    """
    path = Path(path)
    data = _read_file(path)
    header = _checked_header(path, data)
    image = _decode(path, data)
    return _apply_orientation(_to_rgb(path, image), header.orientation)


def max_image_pixels() -> int:
    """The most pixels :func:`load_image` decodes: ``CLICKMASK_MAX_IMAGE_PIXELS`` if set,
    else :data:`DEFAULT_MAX_IMAGE_PIXELS`. Raises ``ValueError`` for a setting that is not
    a positive whole number."""
    setting = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip().replace("_", "")
    if not setting:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not setting.isdecimal() or int(setting) <= 0:
        raise ValueError(f"{MAX_IMAGE_PIXELS_ENV}={os.environ[MAX_IMAGE_PIXELS_ENV]!r} is not "
                         "a positive whole number of pixels")
    return int(setting)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder``, in natural order (``img2`` before ``img10``).

    Matches :data:`IMAGE_EXTENSIONS` in any case and skips hidden (dot) files and
    sub-folders. Ordering ignores case. Raises ``OSError`` if the folder cannot be listed.
    """
    # A directory entry knows whether it is a file (no stat per file, but for symlinks):
    # a folder of 50,000 images is listed in a fraction of a second.
    with os.scandir(folder) as entries:
        names = [entry.name for entry in entries
                 if not entry.name.startswith(".")
                 and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
                 and entry.is_file()]
    folder = Path(folder)
    return [folder / name for name in sorted(names, key=_natural_key)]


def _natural_key(name: str) -> tuple:
    # re.split with a group alternates text and digit runs, always starting with text, so
    # the same positions of two keys hold the same type. The name itself breaks ties
    # ("img01" and "img1") so that the order never depends on the listing order.
    parts = re.split(r"(\d+)", name.casefold())
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), name


def _read_file(path: Path) -> bytes:
    # Takes any path (non-ASCII, spaces) just as np.fromfile does, gives the bytes the
    # header checks need without a second copy, and never blocks on a FIFO.
    try:
        data = read_regular_file(path)
    except FileNotFoundError:
        raise ImageLoadError(
            path, "the file does not exist (it may have been moved or deleted)") from None
    except NotRegularFile as error:  # a folder, a FIFO, a device...
        raise ImageLoadError(path, error.strerror) from None
    except PermissionError:
        raise ImageLoadError(path, "permission denied: the file cannot be read") from None
    except MemoryError:
        raise ImageLoadError(path, "the file is too large to load into memory") from None
    except OSError as error:
        raise ImageLoadError(path, f"the file cannot be read ({error.strerror or error})") from None
    if not data:
        raise ImageLoadError(path, "the file is empty (0 bytes)")
    return data


def _checked_header(path: Path, data: bytes) -> ImageHeader:
    """The header of a file complete, of a known format and not too large to decode."""
    header = read_header(data)
    if header is None:
        raise ImageLoadError(path, _undecodable_reason(data))
    if not header.complete:
        raise ImageLoadError(path, _TRUNCATED)
    if header.size is None:
        raise ImageLoadError(path, _undecodable_reason(data))
    try:
        limit = max_image_pixels()
    except ValueError as error:
        raise ImageLoadError(path, f"the image size limit is not set right: {error}") from None
    width, height = header.size
    if width * height > limit:
        raise ImageLoadError(
            path, f"the image is {width} x {height} = {_count(width * height)} pixels, more "
                  f"than the {_count(limit)} Clickmask opens; it may be a decompression bomb "
                  f"(set {MAX_IMAGE_PIXELS_ENV} to open larger images)")
    return header


def _count(pixels: int) -> str:
    return f"{pixels / 1e6:,.0f} million" if pixels >= 10**7 else f"{pixels:,}"


class _QuietOpenCV:
    """Mutes OpenCV's logger while any thread decodes; the last one out restores the level.

    A decoding failure becomes an ImageLoadError message, so OpenCV's own warning about it
    on stderr is noise. (libpng and libjpeg print some messages directly; those remain.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved_level = cv2.utils.logging.LOG_LEVEL_WARNING

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved_level = cv2.utils.logging.getLogLevel()
                cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
            self._users += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                cv2.utils.logging.setLogLevel(self._saved_level)


_quiet_opencv = _QuietOpenCV()


def _decode(path: Path, data: bytes) -> np.ndarray:
    # IMREAD_UNCHANGED keeps alpha and 16-bit samples, but it also skips the EXIF
    # orientation, which load_image applies itself.
    try:
        with _quiet_opencv:
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except MemoryError:
        raise ImageLoadError(path, "the image is too large to fit in memory") from None
    except cv2.error as error:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(error):
            raise ImageLoadError(path, "the image is too large (more than 2^30 pixels)") from None
        if error.code == cv2.Error.StsNoMem:
            raise ImageLoadError(path, "the image is too large to fit in memory") from None
        raise ImageLoadError(path, "the image data is damaged and could not be decoded") from None
    if image is None or image.size == 0:
        raise ImageLoadError(path, _undecodable_reason(data))
    return image


def _undecodable_reason(data: bytes) -> str:
    kind = format_name(data)
    if kind is not None:
        return f"the {kind} data is damaged and could not be decoded"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIC/HEIF images are not supported; convert it to JPEG or PNG"
    return ("its content is not an image in a supported format (JPEG, PNG, BMP, TIFF, "
            "WebP); the file may be damaged or not an image despite its name")


def _to_rgb(path: Path, image: np.ndarray) -> np.ndarray:
    """Gray / gray+alpha / BGR / BGRA of any supported depth -> H x W x 3 uint8 RGB."""
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    channels = image.shape[2] if image.ndim == 3 else 0
    if channels not in (1, 2, 3, 4):
        raise ImageLoadError(path, f"images with {channels} channels are not supported")
    image = _to_uint8(path, image)
    if channels in (2, 4):
        image = _over_white(image)
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return _bgr_to_rgb_in_place(image)


def _bgr_to_rgb_in_place(image: np.ndarray, rows: int = 1024) -> np.ndarray:
    # The decoded array is ours to change. cvtColor copies its source when asked to work in
    # place, so it is given bands of rows: a 20000 x 20000 image needs 60 MB more, not 1.2 GB.
    for top in range(0, image.shape[0], rows):
        band = image[top:top + rows]
        cv2.cvtColor(band, cv2.COLOR_BGR2RGB, dst=band)
    return image


def _to_uint8(path: Path, image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # x / 257 maps 0..65535 onto 0..255 exactly; convertScaleAbs rounds and saturates.
        return _scale_to_uint8(image, 1.0 / 257.0)
    if image.dtype in (np.float32, np.float64):
        # Float images (HDR TIFF) are taken as 0..1; brighter values are clipped to white.
        return _scale_to_uint8(np.clip(np.nan_to_num(image), 0.0, 1.0), 255.0)
    raise ImageLoadError(path, f"images with {image.dtype} samples are not supported")


def _scale_to_uint8(image: np.ndarray, scale: float) -> np.ndarray:
    shape = image.shape
    # convertScaleAbs drops a trailing channel axis of 1 and only takes 2-D or channel-last input.
    return cv2.convertScaleAbs(image, alpha=scale).reshape(shape)


def _over_white(image: np.ndarray) -> np.ndarray:
    """Composite uint8 color+alpha (last channel) over white, rounding to nearest."""
    color = image[:, :, :-1].astype(np.uint16)
    alpha = image[:, :, -1:].astype(np.uint16)
    # At most 255 * 255 + 127, so uint16 holds every intermediate.
    blended = (color * alpha + 255 * (255 - alpha) + 127) // 255
    return blended.astype(np.uint8)


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    fix = _ORIENTATION_FIX.get(orientation)
    if fix is not None:
        transpose, flip_rows, flip_columns = fix
        if transpose:
            image = image.transpose(1, 0, 2)
        if flip_rows:
            image = image[::-1]
        if flip_columns:
            image = image[:, ::-1]
    return np.ascontiguousarray(image)
