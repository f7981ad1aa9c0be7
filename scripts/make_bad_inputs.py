"""Write the bad-input corpus (tests/data/bad_inputs/): odd images and broken COCO files.

Every file is small and made here, deterministically (no randomness), with OpenCV and the
standard library only; running the script again gives the same bytes with the same
OpenCV. tests/test_bad_inputs.py opens each one through the engine, the CLI and the GUI.

    python scripts/make_bad_inputs.py [OUTPUT_FOLDER]

Layout (the images of one folder, so that the GUI opens them together):

- ``images/``: ``good.png`` (64 x 48, a red square at the top left) and every odd image:
  truncated JPEG and PNG, a zero-byte file, a text file named .png, 1 x 1, 16-bit,
  grayscale, CMYK JPEG, palette PNG, RGBA PNG, JPEGs with EXIF orientation 6 and 3, and a
  name with spaces and non-ASCII letters;
- ``dossier été/``: a folder whose name has a space and non-ASCII letters, with one image
  whose name has them too;
- ``coco/``: COCO files for ``images/``: wrong image ids, missing fields, polygons of fewer
  than 6 numbers, RLE of the wrong size, negative bbox, duplicate annotation ids, duplicate
  image ids, not JSON, JSON that is not an object, truncated JSON. Where a file has
  annotations, one of them is good, so that a test can see that the good ones still arrive.

OpenCV cannot write CMYK JPEGs or palette PNGs; both are assembled here from their parts
(OpenCV's own grayscale JPEG scans; zlib-compressed PNG chunks).
"""
from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "bad_inputs"
HEIGHT, WIDTH = 48, 64
RED_SQUARE = 16  # px: the top-left corner of every test picture, to see orientation
UNICODE_FOLDER = "dossier été"
UNICODE_IMAGE = "photo ü 1.png"


def picture() -> np.ndarray:
    """The test picture (RGB): gray, a red square at the top left, a blue bar at the right."""
    image = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    image[:RED_SQUARE, :RED_SQUARE] = (255, 0, 0)
    image[:, WIDTH - 8:] = (0, 0, 255)
    return image


def encode(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    """File bytes of ``image`` (RGB, RGBA, gray or 16-bit) in OpenCV's ``ext`` format."""
    if image.ndim == 3:
        code = cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        image = cv2.cvtColor(image, code)
    ok, data = cv2.imencode(ext, image, params or [])
    assert ok, ext
    return data.tobytes()


# -- JPEG parts -----------------------------------------------------------------------------

def _segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of a baseline JPEG up to its scan; the scan's payload is its
    header followed by the entropy-coded data (the end-of-image marker left out)."""
    segments, pos = [], 2
    while True:
        marker = jpeg[pos + 1]
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        if marker == 0xDA:
            segments.append((marker, jpeg[pos + 4:len(jpeg) - 2]))
            return segments
        segments.append((marker, jpeg[pos + 4:pos + 2 + length]))
        pos += 2 + length


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def cmyk_jpeg(cmyk: np.ndarray) -> bytes:
    """A CMYK JPEG (Adobe style: ink stored inverted, 255 = no ink) of an H x W x 4 array.

    Each ink plane is encoded by OpenCV as a grayscale JPEG, whose one scan is exactly a
    non-interleaved scan of one component; the four scans follow one 4-component frame
    header, each with its own Huffman tables, and an Adobe marker says the colours are CMYK.
    """
    height, width = cmyk.shape[:2]
    tables, scans = b"", b""
    for index in range(4):
        parts = _segments(encode(".jpg", np.ascontiguousarray(255 - cmyk[:, :, index]),
                                 [cv2.IMWRITE_JPEG_QUALITY, 95]))
        for marker, payload in parts:
            if marker == 0xDB:  # one 8-bit table, renumbered to this component's
                assert len(payload) == 65 and payload[0] == 0
                tables += _segment(0xDB, bytes((index,)) + payload[1:])
            elif marker == 0xC4:
                scans += _segment(0xC4, payload)
            elif marker == 0xDA:  # a 6-byte header (one component), then the data
                assert payload[0] == 1
                header = bytes((1, index + 1, 0x00, 0, 63, 0))
                scans += _segment(0xDA, header) + payload[6:]
            elif marker == 0xC0:
                assert payload[5] == 1, "OpenCV wrote a colour JPEG for a plane"
            elif marker != 0xE0:  # JFIF: not for CMYK
                raise AssertionError(f"unexpected JPEG marker {marker:#x}")
    adobe = _segment(0xEE, b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 0))  # 0: no transform
    frame = _segment(0xC0, struct.pack(">BHHB", 8, height, width, 4)
                     + b"".join(bytes((i + 1, 0x11, i)) for i in range(4)))
    return b"\xff\xd8" + adobe + tables + frame + scans + b"\xff\xd9"


def exif_jpeg(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG of ``image`` as stored, with an EXIF block saying ``orientation``."""
    # A little-endian TIFF header and an IFD0 holding only the Orientation tag (SHORT).
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0))
    jpeg = encode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return jpeg[:2] + _segment(0xE1, b"Exif\x00\x00" + tiff) + jpeg[2:]


# -- PNG parts ------------------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def palette_png(indices: np.ndarray, palette: list[tuple[int, int, int]]) -> bytes:
    """An 8-bit palette PNG (colour type 3) of an H x W array of palette indices."""
    height, width = indices.shape
    rows = b"".join(b"\x00" + row.astype(np.uint8).tobytes() for row in indices)
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
            + _chunk(b"PLTE", b"".join(bytes(color) for color in palette))
            + _chunk(b"IDAT", zlib.compress(rows, 9))
            + _chunk(b"IEND", b""))


# -- the images ------------------------------------------------------------------------------

def images() -> dict[str, bytes]:
    """File name -> bytes of every image of ``images/``."""
    rgb = picture()
    png = encode(".png", rgb)
    jpeg = encode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 95])
    rgba = np.dstack([rgb, np.full((HEIGHT, WIDTH), 255, np.uint8)])
    rgba[HEIGHT // 2:, :, 3] = 0  # the bottom half transparent: shown over white
    # 16-bit: a horizontal ramp over the whole 0..65535 range, red channel only.
    deep = np.zeros((HEIGHT, WIDTH, 3), np.uint16)
    deep[:, :, 0] = np.linspace(0, 65535, WIDTH).round().astype(np.uint16)
    indices = np.zeros((HEIGHT, WIDTH), np.uint8)
    indices[:RED_SQUARE, :RED_SQUARE] = 1
    indices[:, WIDTH - 8:] = 2
    # Ink: red is magenta + yellow; the gray background is 50 % black.
    cmyk = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    cmyk[:, :, 3] = 128
    cmyk[:RED_SQUARE, :RED_SQUARE] = (0, 255, 255, 0)
    return {
        "good.png": png,
        "truncated.jpg": jpeg[:len(jpeg) // 2],
        "truncated.png": png[:len(png) // 2],
        "empty.png": b"",
        "text.png": b"This is a text file, not a PNG image.\n",
        "one_pixel.png": encode(".png", np.array([[[10, 200, 30]]], np.uint8)),
        "sixteen_bit.png": encode(".png", deep),
        "grayscale.jpg": encode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)),
        "cmyk.jpg": cmyk_jpeg(cmyk),
        "palette.png": palette_png(indices, [(128, 128, 128), (255, 0, 0), (0, 0, 255)]),
        "rgba.png": encode(".png", rgba),
        "exif_orientation_6.jpg": exif_jpeg(rgb, 6),
        "exif_orientation_3.jpg": exif_jpeg(rgb, 3),
        "a name with spaces é ü 中.png": png,
    }


# -- the COCO files ------------------------------------------------------------------------

GOOD_POLYGON = [8.0, 8.0, 40.0, 8.0, 40.0, 30.0, 8.0, 30.0]  # a 32 x 22 box on good.png


def _dataset(annotations: list[dict], images: list[dict] | None = None,
             categories: list[dict] | None = None) -> dict:
    return {
        "images": images if images is not None else [
            {"id": 1, "file_name": "good.png", "width": WIDTH, "height": HEIGHT}],
        "annotations": annotations,
        "categories": categories if categories is not None else [{"id": 1, "name": "box"}],
    }


def _annotation(annotation_id: int, **fields: object) -> dict:
    annotation = {"id": annotation_id, "image_id": 1, "category_id": 1,
                  "segmentation": [GOOD_POLYGON], "bbox": [8, 8, 32, 22], "iscrowd": 0}
    annotation.update(fields)
    return annotation


def _shifted(annotation_id: int, dx: float, **fields: object) -> dict:
    # A different mask from the good one, so that duplicates are not skipped as repeats.
    polygon = [v + dx if i % 2 == 0 else v for i, v in enumerate(GOOD_POLYGON)]
    return _annotation(annotation_id, segmentation=[polygon], **fields)


def coco_files() -> dict[str, str]:
    """File name -> text of every file of ``coco/``."""
    good = _annotation(1)
    missing = [
        {k: v for k, v in _shifted(2, 4).items() if k != "segmentation"},
        {k: v for k, v in _shifted(3, 6).items() if k != "category_id"},
        {k: v for k, v in _shifted(4, 8).items() if k != "image_id"},
    ]
    datasets = {
        "good.json": _dataset([good]),
        "wrong_image_ids.json": _dataset([good, _shifted(2, 4, image_id=99)]),
        "missing_fields.json": _dataset([good, *missing, _shifted(5, 4, image_id=2)], images=[
            {"id": 1, "file_name": "good.png", "width": WIDTH, "height": HEIGHT},
            {"id": 2, "width": WIDTH, "height": HEIGHT}]),
        "missing_categories.json": {k: v for k, v in _dataset([good]).items()
                                    if k != "categories"},
        "short_polygon.json": _dataset([good, _annotation(2, segmentation=[[8, 8, 40, 8]])]),
        "rle_wrong_size.json": _dataset([good, _annotation(
            2, segmentation={"size": [10, 10], "counts": [0, 100]})]),
        "negative_bbox.json": _dataset([good, _shifted(2, 4, bbox=[8, 8, -32, 22])]),
        "duplicate_annotation_ids.json": _dataset([good, _shifted(1, 4)]),
        "duplicate_image_ids.json": _dataset([good], images=[
            {"id": 1, "file_name": "good.png", "width": WIDTH, "height": HEIGHT},
            {"id": 1, "file_name": "one_pixel.png", "width": 1, "height": 1}]),
    }
    files = {name: json.dumps(data, indent=1) + "\n" for name, data in datasets.items()}
    files["not_json.json"] = "images: good.png\nannotations: none\n"
    files["json_list.json"] = json.dumps([good]) + "\n"
    files["json_string.json"] = '"a COCO dataset"\n'
    files["truncated.json"] = files["good.json"][:len(files["good.json"]) // 2]
    return files


def write_corpus(out: Path) -> list[Path]:
    """Write the whole corpus under ``out``; returns the files written."""
    written = []
    folders = {"images": images(),
               UNICODE_FOLDER: {UNICODE_IMAGE: encode(".png", picture())},
               "coco": {name: text.encode("utf-8") for name, text in coco_files().items()}}
    for folder, files in folders.items():
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = out / folder / name
            path.write_bytes(data)
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    written = write_corpus(out)
    total = sum(path.stat().st_size for path in written)
    print(f"Wrote {len(written)} files ({total / 1024:.1f} KiB) under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
