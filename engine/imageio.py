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
"""
from __future__ import annotations

import os
import re
import struct
import threading
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

_TRUNCATED = ("the file is truncated: its data ends before the image does "
              "(it may have been cut off while copying or downloading)")

# The EXIF Orientation tag, and for each of its values (transpose, flip rows, flip columns)
# that turns the stored pixels upright. Value 1 (and any unknown value) means as stored.
_ORIENTATION_TAG = 0x0112
_ORIENTATION_FIX = {
    2: (False, False, True),   # mirrored left-right
    3: (False, True, True),    # rotated 180 degrees
    4: (False, True, False),   # mirrored top-bottom
    5: (True, False, False),   # transposed
    6: (True, False, True),    # shown after turning 90 degrees clockwise
    7: (True, True, True),     # transversed
    8: (True, True, False),    # shown after turning 90 degrees counter-clockwise
}

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

    Raises :class:`ImageLoadError` when the file is missing, unreadable, empty,
    truncated, damaged, not an image, of an unsupported kind or too large.
    """
    path = Path(path)
    data = _read_file(path)
    orientation = _inspect(path, data)
    image = _decode(path, data)
    return _apply_orientation(_to_rgb(path, image), orientation)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder``, in natural order (``img2`` before ``img10``).

    Matches :data:`IMAGE_EXTENSIONS` in any case and skips hidden (dot) files and
    sub-folders. Ordering ignores case. Raises ``OSError`` if the folder cannot be listed.
    """
    folder = Path(folder)
    images = [entry for entry in folder.iterdir()
              if not entry.name.startswith(".")
              and entry.suffix.lower() in IMAGE_EXTENSIONS
              and entry.is_file()]
    return sorted(images, key=_natural_key)


def _natural_key(path: Path) -> tuple:
    # re.split with a group alternates text and digit runs, always starting with text, so
    # the same positions of two keys hold the same type. The name itself breaks ties
    # ("img01" and "img1") so that the order never depends on the listing order.
    parts = re.split(r"(\d+)", path.name.casefold())
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), path.name


def _read_file(path: Path) -> bytes:
    # Python's own file reading takes any path (non-ASCII, spaces) just as np.fromfile
    # does, and gives the bytes the header checks need without a second copy.
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageLoadError(
            path, "the file does not exist (it may have been moved or deleted)") from None
    except IsADirectoryError:
        raise ImageLoadError(path, "it is a folder, not an image file") from None
    except PermissionError:
        raise ImageLoadError(path, "permission denied: the file cannot be read") from None
    except MemoryError:
        raise ImageLoadError(path, "the file is too large to load into memory") from None
    except OSError as error:
        raise ImageLoadError(path, f"the file cannot be read ({error.strerror or error})") from None
    if not data:
        raise ImageLoadError(path, "the file is empty (0 bytes)")
    return data


def _format_name(data: bytes) -> str | None:
    """The container format by its signature, for the formats whose headers are checked."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data.startswith(b"BM"):
        return "BMP"
    return None


def _inspect(path: Path, data: bytes) -> int:
    """Check that a JPEG, PNG or WebP file is complete and return its EXIF orientation.

    Other formats give 1: OpenCV's TIFF decoder applies the TIFF orientation tag itself,
    and BMP has none.
    """
    kind = _format_name(data)
    if kind == "JPEG":
        orientation = _inspect_jpeg(data)
    elif kind == "PNG":
        orientation = _inspect_png(data)
    elif kind == "WebP":
        orientation = _inspect_webp(data)
    else:
        return 1
    if orientation is None:
        raise ImageLoadError(path, _TRUNCATED)
    return orientation


def _inspect_jpeg(data: bytes) -> int | None:
    """Orientation of a JPEG, or None when the file ends early.

    Walks the marker segments up to the first scan, then looks for the end-of-image
    marker: inside compressed data every 0xFF byte is escaped, so 0xFFD9 after the scan
    start can only be the real end (an EXIF thumbnail's end marker lies before it).
    """
    orientation = 1
    pos = 2
    size = len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return orientation  # malformed: let the decoder judge it
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            return orientation
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            return orientation
        end = pos + 2 + length
        if end > size:
            return None
        if marker == 0xDA:
            return orientation if data.find(b"\xff\xd9", end) >= 0 else None
        if marker == 0xE1 and orientation == 1 and data.startswith(b"Exif\x00", pos + 4):
            orientation = _exif_orientation(data[pos + 10:end])
        pos = end
    return None


def _inspect_png(data: bytes) -> int | None:
    """Orientation of a PNG (its eXIf chunk), or None when the chunks stop before IEND."""
    orientation = 1
    pos = 8
    size = len(data)
    while pos + 8 <= size:
        length, chunk_type = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length  # length, type, data, CRC
        if end > size:
            return None
        if chunk_type == b"IEND":
            return orientation
        if chunk_type == b"eXIf":
            orientation = _exif_orientation(data[pos + 8:pos + 8 + length])
        pos = end
    return None


def _inspect_webp(data: bytes) -> int | None:
    """Orientation of a WebP (its EXIF chunk), or None when the RIFF data ends early."""
    if len(data) < 12:
        return None
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    if end > len(data):
        return None
    pos = 12
    while pos + 8 <= end:
        chunk_type, length = struct.unpack_from("<4sI", data, pos)
        if chunk_type == b"EXIF":
            payload = data[pos + 8:pos + 8 + length]
            # Some writers keep the JPEG-style "Exif\0\0" prefix in the chunk.
            if payload.startswith(b"Exif\x00\x00"):
                payload = payload[6:]
            return _exif_orientation(payload)
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return 1


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (1-8) of an EXIF block (a TIFF header and IFD0); 1 if absent or bad."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    magic, ifd = struct.unpack_from(order + "HI", tiff, 2)
    if magic != 42 or ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        tag, value_type, value_count = struct.unpack_from(order + "HHI", tiff, entry)
        if tag != _ORIENTATION_TAG:
            continue
        # SHORT per the specification; some writers use LONG.
        if value_count != 1 or value_type not in (3, 4):
            return 1
        (value,) = struct.unpack_from(order + ("H" if value_type == 3 else "I"), tiff, entry + 8)
        return value if 1 <= value <= 8 else 1
    return 1


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
    kind = _format_name(data)
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
