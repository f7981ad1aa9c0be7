"""What an image file's header says, read without decoding a pixel: its format, its size,
its EXIF orientation, and (JPEG, PNG, WebP) whether the file is complete.

The size is read before decoding so that a decompression bomb (a 1 MB PNG that decodes to
30000 x 30000 pixels) is refused before the decoder allocates gigabytes for it.
Only the formats Clickmask opens are read: JPEG, PNG, WebP, TIFF (and BigTIFF) and BMP.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageHeader:
    """``size`` is (width, height) as stored (before the orientation is applied), or None
    when the header does not say; ``complete`` is False when the data ends before the
    image does; ``orientation`` is the EXIF value 1-8 (1: as stored, also when unknown)."""

    kind: str
    size: tuple[int, int] | None
    complete: bool = True
    orientation: int = 1


def format_name(data: bytes) -> str | None:
    """The container format by its signature, for the formats whose headers are read."""
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


def read_header(data: bytes) -> ImageHeader | None:
    """The header of an image file's content, or None for a format not listed above.

    OpenCV's TIFF decoder applies the TIFF orientation tag itself, and BMP has none, so
    both report orientation 1.
    """
    kind = format_name(data)
    if kind == "JPEG":
        return _jpeg(data)
    if kind == "PNG":
        return _png(data)
    if kind == "WebP":
        return _webp(data)
    if kind == "TIFF":
        return ImageHeader(kind, _tiff_size(data))
    if kind == "BMP":
        return ImageHeader(kind, _bmp_size(data))
    return None


# Start-of-frame markers (every coding process; 0xC4, 0xC8 and 0xCC are other segments).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> ImageHeader:
    """Walks the marker segments up to the first scan, then looks for the end-of-image
    marker: inside compressed data every 0xFF byte is escaped, so 0xFFD9 after the scan
    start can only be the real end (an EXIF thumbnail's end marker lies before it).
    """
    orientation, size = 1, None
    pos = 2
    end_of_data = len(data)
    while pos + 4 <= end_of_data:
        if data[pos] != 0xFF:
            # Stray bytes between segments: the decoder skips them to the next marker too.
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            return ImageHeader("JPEG", size, True, orientation)
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:  # malformed: let the decoder judge it
            return ImageHeader("JPEG", size, True, orientation)
        end = pos + 2 + length
        if end > end_of_data:
            break
        if marker in _JPEG_FRAMES and length >= 7 and size is None:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            size = (width, height)
        if marker == 0xDA:
            complete = data.find(b"\xff\xd9", end) >= 0
            return ImageHeader("JPEG", size, complete, orientation)
        if marker == 0xE1 and orientation == 1 and data.startswith(b"Exif\x00", pos + 4):
            orientation = _exif_orientation(data[pos + 10:end])
        pos = end
    return ImageHeader("JPEG", size, False, orientation)


def _png(data: bytes) -> ImageHeader:
    """Size from IHDR (the first chunk), orientation from eXIf; complete when IEND is there."""
    size = (struct.unpack_from(">II", data, 16) if len(data) >= 24 and data[12:16] == b"IHDR"
            else None)
    orientation = 1
    pos = 8
    end_of_data = len(data)
    while pos + 8 <= end_of_data:
        length, chunk_type = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length  # length, type, data, CRC
        if end > end_of_data:
            break
        if chunk_type == b"IEND":
            return ImageHeader("PNG", size, True, orientation)
        if chunk_type == b"eXIf":
            orientation = _exif_orientation(data[pos + 8:pos + 8 + length])
        pos = end
    return ImageHeader("PNG", size, False, orientation)


def _webp(data: bytes) -> ImageHeader:
    """Size from the first chunk (VP8, VP8L or the extended VP8X canvas), orientation from
    the EXIF chunk; complete when the RIFF data is all there."""
    size = _webp_size(data)
    (riff_size,) = struct.unpack_from("<I", data, 4) if len(data) >= 8 else (len(data),)
    end = 8 + riff_size
    if len(data) < 12 or end > len(data):
        return ImageHeader("WebP", size, False)
    pos = 12
    while pos + 8 <= end:
        chunk_type, length = struct.unpack_from("<4sI", data, pos)
        if chunk_type == b"EXIF":
            payload = data[pos + 8:pos + 8 + length]
            # Some writers keep the JPEG-style "Exif\0\0" prefix in the chunk.
            if payload.startswith(b"Exif\x00\x00"):
                payload = payload[6:]
            return ImageHeader("WebP", size, True, _exif_orientation(payload))
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return ImageHeader("WebP", size)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF  # the top two bits are a scaling hint
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack_from("<HH", data, 18)
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # a negative height means rows stored top-down


# TIFF tags and field types read here.
_IMAGE_WIDTH, _IMAGE_LENGTH, _ORIENTATION = 0x0100, 0x0101, 0x0112
_NUMBER_FORMATS = {3: "H", 4: "I", 16: "Q"}  # SHORT, LONG, LONG8 (BigTIFF)


def _tiff_size(tiff: bytes) -> tuple[int, int] | None:
    """ImageWidth and ImageLength of the first image (the one OpenCV decodes)."""
    values = _ifd0_values(tiff)
    if _IMAGE_WIDTH in values and _IMAGE_LENGTH in values:
        return values[_IMAGE_WIDTH], values[_IMAGE_LENGTH]
    return None


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (1-8) of an EXIF block (a TIFF header and IFD0); 1 if absent or bad."""
    value = _ifd0_values(tiff).get(_ORIENTATION, 1)
    return value if 1 <= value <= 8 else 1


def _ifd0_values(tiff: bytes) -> dict[int, int]:
    """Single-number tags (SHORT, LONG, LONG8) of the first IFD of a TIFF or BigTIFF header;
    a tag of another type or count is left out, as is everything past the data's end."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return {}
    order = "<" if tiff[:2] == b"II" else ">"
    (magic,) = struct.unpack_from(order + "H", tiff, 2)
    if magic == 42:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        count_format, entry_format, entry_size = "H", "HHI", 12
    elif magic == 43 and len(tiff) >= 16:
        (ifd,) = struct.unpack_from(order + "Q", tiff, 8)
        count_format, entry_format, entry_size = "Q", "HHQ", 20
    else:
        return {}
    count_size = struct.calcsize(order + count_format)
    if ifd + count_size > len(tiff):
        return {}
    (count,) = struct.unpack_from(order + count_format, tiff, ifd)
    first = ifd + count_size
    last = min(first + entry_size * count, len(tiff) - entry_size + 1)
    header_size = struct.calcsize(order + entry_format)
    values = {}
    for entry in range(first, last, entry_size):
        tag, value_type, value_count = struct.unpack_from(order + entry_format, tiff, entry)
        if value_count != 1 or value_type not in _NUMBER_FORMATS:
            continue
        (value,) = struct.unpack_from(order + _NUMBER_FORMATS[value_type], tiff,
                                      entry + header_size)
        values.setdefault(tag, value)
    return values
