"""engine.imageio: pixel formats, EXIF orientation, unreadable files, folder listing."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.imageio import IMAGE_EXTENSIONS, ImageLoadError, list_images, load_image


# -- file builders ---------------------------------------------------------------------
def _png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + chunk_type + payload
            + struct.pack(">I", zlib.crc32(chunk_type + payload)))


def _png(width: int, height: int, color_type: int, bit_depth: int, rows: list[bytes],
         extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A PNG written by hand, for the kinds OpenCV cannot write (palette, gray + alpha)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + b"".join(_png_chunk(t, d) for t, d in extra)
            + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))


def _exif_block(orientation: int, byte_order: str = "II") -> bytes:
    """A TIFF header and an IFD0 holding only the Orientation tag (0x0112, SHORT)."""
    order = "<" if byte_order == "II" else ">"
    return (byte_order.encode() + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", 1)
            + struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)
            + struct.pack(order + "I", 0))


def _with_app1_exif(jpeg: bytes, orientation: int, byte_order: str = "II") -> bytes:
    payload = b"Exif\x00\x00" + _exif_block(orientation, byte_order)
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]  # right after SOI


def _encode(ext: str, image: np.ndarray, *params: int) -> bytes:
    ok, buffer = cv2.imencode(ext, image, list(params))
    assert ok
    return buffer.tobytes()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _corner_image() -> np.ndarray:
    """RGB 40 x 64 with flat, distinct corner blocks so that every flip and turn is visible."""
    image = np.full((40, 64, 3), 128, np.uint8)
    image[:16, :16] = (255, 0, 0)
    image[:16, -16:] = (0, 255, 0)
    image[-16:, :16] = (0, 0, 255)
    return image


# -- pixel formats ---------------------------------------------------------------------
def test_color_png_is_rgb_contiguous_uint8(tmp_path):
    rgb = _corner_image()
    path = _write(tmp_path / "a.png", _encode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)))
    image = load_image(path)
    assert image.dtype == np.uint8 and image.flags.c_contiguous
    np.testing.assert_array_equal(image, rgb)


def test_gray_gets_three_equal_channels(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    image = load_image(_write(tmp_path / "g.png", _encode(".png", gray)))
    assert image.shape == (6, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(image[:, :, channel], gray)


def test_rgba_is_composited_over_white(tmp_path):
    bgra = np.zeros((1, 3, 4), np.uint8)
    bgra[0, 0] = (0, 0, 200, 0)      # fully transparent red -> white
    bgra[0, 1] = (0, 0, 200, 255)    # opaque red stays red
    bgra[0, 2] = (0, 0, 200, 128)    # half: 200 * 128/255 + 255 * 127/255
    image = load_image(_write(tmp_path / "rgba.png", _encode(".png", bgra)))
    np.testing.assert_array_equal(image[0, 0], (255, 255, 255))
    np.testing.assert_array_equal(image[0, 1], (200, 0, 0))
    np.testing.assert_array_equal(image[0, 2], (227, 127, 127))


def test_gray_alpha_png_is_composited_over_white(tmp_path):
    data = _png(2, 1, color_type=4, bit_depth=8, rows=[bytes([100, 0, 40, 255])])
    image = load_image(_write(tmp_path / "la.png", data))
    np.testing.assert_array_equal(image[0], [(255, 255, 255), (40, 40, 40)])


def test_16_bit_is_scaled_not_clipped(tmp_path):
    bgr16 = np.array([[[0, 257 * 100, 65535], [32768, 65535, 257]]], np.uint16)
    image = load_image(_write(tmp_path / "deep.png", _encode(".png", bgr16)))
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image[0], [(255, 100, 0), (1, 255, 128)])


def test_16_bit_gray_tiff(tmp_path):
    gray16 = np.array([[0, 65535, 257 * 7]], np.uint16)
    image = load_image(_write(tmp_path / "deep.tif", _encode(".tif", gray16)))
    np.testing.assert_array_equal(image[0, :, 0], (0, 255, 7))


def test_palette_png_with_transparency(tmp_path):
    palette = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])
    transparency = bytes([255, 0])  # entry 1 transparent, entry 2 (absent) opaque
    data = _png(3, 1, color_type=3, bit_depth=8, rows=[bytes([0, 1, 2])],
                extra=((b"PLTE", palette), (b"tRNS", transparency)))
    image = load_image(_write(tmp_path / "palette.png", data))
    np.testing.assert_array_equal(image[0], [(255, 0, 0), (255, 255, 255), (0, 0, 255)])


def test_4_bit_palette_png(tmp_path):
    palette = bytes([10, 20, 30, 40, 50, 60])
    data = _png(3, 1, color_type=3, bit_depth=4, rows=[bytes([0x01, 0x00])],
                extra=((b"PLTE", palette),))
    image = load_image(_write(tmp_path / "palette4.png", data))
    np.testing.assert_array_equal(image[0], [(10, 20, 30), (40, 50, 60), (10, 20, 30)])


# -- EXIF orientation ------------------------------------------------------------------
# What a photo viewer shows for each Orientation value, written with numpy's own turns.
_UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.rot90(np.fliplr(a), 1),
    6: lambda a: np.rot90(a, -1),   # the camera was turned: show it 90 degrees clockwise
    7: lambda a: np.rot90(np.fliplr(a), -1),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("byte_order", ["II", "MM"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation(tmp_path, orientation, byte_order):
    jpeg = _encode(".jpg", cv2.cvtColor(_corner_image(), cv2.COLOR_RGB2BGR),
                   cv2.IMWRITE_JPEG_QUALITY, 95)
    stored = load_image(_write(tmp_path / "plain.jpg", jpeg))
    path = _write(tmp_path / f"o{orientation}.jpg", _with_app1_exif(jpeg, orientation, byte_order))
    image = load_image(path)
    np.testing.assert_array_equal(image, _UPRIGHT[orientation](stored))
    assert image.flags.c_contiguous


def test_orientation_6_puts_top_left_corner_top_right(tmp_path):
    jpeg = _encode(".jpg", cv2.cvtColor(_corner_image(), cv2.COLOR_RGB2BGR))
    image = load_image(_write(tmp_path / "turned.jpg", _with_app1_exif(jpeg, 6)))
    assert image.shape == (64, 40, 3)
    red, green, blue = image[4, -4], image[-4, -4], image[4, 4]
    assert red[0] > 200 and green[1] > 200 and blue[2] > 200


def test_orientation_8_puts_top_left_corner_bottom_left(tmp_path):
    jpeg = _encode(".jpg", cv2.cvtColor(_corner_image(), cv2.COLOR_RGB2BGR))
    image = load_image(_write(tmp_path / "turned.jpg", _with_app1_exif(jpeg, 8)))
    assert image.shape == (64, 40, 3)
    red, green, blue = image[-4, 4], image[4, 4], image[-4, -4]
    assert red[0] > 200 and green[1] > 200 and blue[2] > 200


def test_png_exif_chunk_orientation(tmp_path):
    rgb = _corner_image()
    png = _encode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    end_of_ihdr = 8 + 8 + 13 + 4
    png = png[:end_of_ihdr] + _png_chunk(b"eXIf", _exif_block(6, "MM")) + png[end_of_ihdr:]
    np.testing.assert_array_equal(load_image(_write(tmp_path / "o6.png", png)), np.rot90(rgb, -1))


@pytest.mark.skipif(not hasattr(cv2, "imencodeWithMetadata"), reason="needs OpenCV >= 4.12")
def test_webp_exif_orientation(tmp_path):
    rgb = _corner_image()
    ok, buffer = cv2.imencodeWithMetadata(
        ".webp", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMAGE_METADATA_EXIF],
        [np.frombuffer(_exif_block(8), np.uint8)], [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok
    image = load_image(_write(tmp_path / "o8.webp", buffer.tobytes()))
    np.testing.assert_array_equal(image, np.rot90(rgb, 1))


def _gray_tiff(image: np.ndarray, orientation: int) -> bytes:
    """An uncompressed 8-bit gray TIFF with an Orientation tag in its only IFD."""
    height, width = image.shape
    entries = [(256, width), (257, height), (258, 8), (259, 1), (262, 1), (273, None),
               (274, orientation), (277, 1), (278, height), (279, width * height)]
    data_offset = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, value in entries:
        if tag in (273, 279):
            ifd += struct.pack("<HHII", tag, 4, 1, data_offset if value is None else value)
        else:
            ifd += struct.pack("<HHIHH", tag, 3, 1, value, 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + image.tobytes()


def test_tiff_orientation_is_applied_once(tmp_path):
    gray = np.zeros((4, 6), np.uint8)
    gray[0, 0] = 255
    image = load_image(_write(tmp_path / "o6.tif", _gray_tiff(gray, 6)))
    assert image.shape == (6, 4, 3)
    np.testing.assert_array_equal(np.argwhere(image[:, :, 0] == 255), [[0, 3]])


# -- paths and broken files ------------------------------------------------------------
def test_non_ascii_path_with_spaces(tmp_path):
    rgb = _corner_image()
    path = _write(tmp_path / "Fotos für Ünïcode" / "снимок 1 – été.png",
                  _encode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)))
    np.testing.assert_array_equal(load_image(str(path)), rgb)


def test_jpeg_with_trailing_bytes_loads(tmp_path):
    jpeg = _encode(".jpg", np.full((8, 8, 3), 90, np.uint8))
    image = load_image(_write(tmp_path / "tail.jpg", jpeg + b"\x00" * 100 + b"extra data"))
    assert image.shape == (8, 8, 3)


def _error_for(path: Path) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert path.name in message
    assert info.value.path == path
    return message


def test_missing_file(tmp_path):
    assert "does not exist" in _error_for(tmp_path / "gone.jpg")


def test_folder_instead_of_file(tmp_path):
    folder = tmp_path / "looks like.png"
    folder.mkdir()
    assert "folder" in _error_for(folder)


def test_zero_byte_file(tmp_path):
    assert "empty" in _error_for(_write(tmp_path / "empty.png", b""))


def test_text_file_named_png(tmp_path, capfd):
    path = _write(tmp_path / "notes.png", b"these are my notes, not a picture\n" * 20)
    assert "not an image" in _error_for(path)
    assert capfd.readouterr().err == ""


def _noisy_image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)


@pytest.mark.parametrize("keep", [0.95, 0.5, 0.05])
@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_truncated_file(tmp_path, capfd, ext, keep):
    data = _encode(ext, _noisy_image())
    path = _write(tmp_path / f"cut{ext}", data[: int(len(data) * keep)])
    assert "truncated" in _error_for(path)
    assert capfd.readouterr().err == ""


def test_jpeg_missing_only_its_end_marker(tmp_path):
    data = _encode(".jpg", _noisy_image())
    assert data.endswith(b"\xff\xd9")
    assert "truncated" in _error_for(_write(tmp_path / "almost.jpg", data[:-2]))


def test_progressive_jpeg_loads_and_truncated_one_fails(tmp_path):
    data = _encode(".jpg", _noisy_image(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert load_image(_write(tmp_path / "progressive.jpg", data)).shape == (120, 160, 3)
    assert "truncated" in _error_for(_write(tmp_path / "cut.jpg", data[: len(data) * 3 // 4]))


def test_damaged_signature_only(tmp_path):
    # A PNG signature followed by nonsense: complete as far as chunks go, undecodable.
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", b"\x00" * 13) + _png_chunk(b"IEND", b"")
    assert "damaged" in _error_for(_write(tmp_path / "bad.png", data))


def test_error_pickles_with_its_message(tmp_path):
    import pickle

    error = ImageLoadError(tmp_path / "x.png", "some reason")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == "Cannot open image 'x.png': some reason"


# -- list_images -----------------------------------------------------------------------
def test_list_images_natural_order_and_filtering(tmp_path):
    names = ["img10.png", "img2.png", "IMG1.JPG", "img3.Jpeg", "Img20.webp", "b.TIFF", "a.tif",
             "c.bmp", "scan 7.png", "scan 07b.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    for name in [".hidden.png", "notes.txt", "archive.png.zip", "noext"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.png").write_bytes(b"x")

    found = list_images(tmp_path)
    assert [p.name for p in found] == [
        "a.tif", "b.TIFF", "c.bmp", "IMG1.JPG", "img2.png", "img3.Jpeg", "img10.png",
        "Img20.webp", "scan 7.png", "scan 07b.png"]
    assert all(p.parent == tmp_path for p in found)


def test_list_images_accepts_str_and_every_extension(tmp_path):
    for i, ext in enumerate(IMAGE_EXTENSIONS):
        (tmp_path / f"f{i}{ext.upper()}").write_bytes(b"x")
    assert len(list_images(str(tmp_path))) == len(IMAGE_EXTENSIONS)


def test_list_images_empty_folder(tmp_path):
    assert list_images(tmp_path) == []
