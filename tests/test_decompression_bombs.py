"""Decompression bombs are refused before they are decoded or inflated (issue 18, item 5b).

Images: the size in the header is checked against a pixel limit (500 million by default,
CLICKMASK_MAX_IMAGE_PIXELS) before OpenCV allocates anything. Checkpoints: the file size
is checked before reading, a zip's declared member sizes before torch inflates them, and an
xz stream is inflated only up to the limit. The bombs are made cheaply: a huge size in a
header over a few bytes of data, a forged declared size, a sparse file.
"""
from __future__ import annotations

import io
import lzma
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import engine.checkpoints as checkpoints
from engine.checkpoints import MAX_CHECKPOINT_BYTES, CheckpointError, read_checkpoint
from engine.imageio import (DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV, ImageLoadError,
                            load_image)
from weights import MODELS


# -- images ------------------------------------------------------------------------------
def _png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + chunk_type + payload
            + struct.pack(">I", zlib.crc32(chunk_type + payload)))


def _png_bomb(width: int, height: int) -> bytes:
    """An RGB PNG header of width x height over a few compressed zero rows: a real bomb of
    this size is ~875 KB, this one is 80 bytes; either makes the decoder allocate it all."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(bytes(4 * (1 + 3 * width))))
            + _png_chunk(b"IEND", b""))


def _big_tiff(width: int, height: int) -> bytes:
    """A gray BigTIFF, uncompressed (OpenCV cannot write BigTIFF)."""
    entries = [(256, 3, width), (257, 3, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 16, 0), (277, 3, 1), (278, 3, height), (279, 16, width * height)]
    data_offset = 16 + 8 + 20 * len(entries) + 8
    ifd = struct.pack("<Q", len(entries)) + b"".join(
        struct.pack("<HHQ", tag, kind, 1) + struct.pack("<Q", data_offset if tag == 273
                                                         else value)
        for tag, kind, value in entries) + struct.pack("<Q", 0)
    return b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + ifd + bytes(range(256)) * (
        width * height // 256) + bytes(width * height % 256)


def _encoded(ext: str, channels: int = 3, *params: int) -> bytes:
    ok, buffer = cv2.imencode(ext, np.full((100, 200, channels), 90, np.uint8), list(params))
    assert ok
    return buffer.tobytes()


# A 200 x 100 image of every format whose header is read (20,000 pixels).
FORMATS = {
    "png": lambda: _encoded(".png"),
    "jpeg": lambda: _encoded(".jpg"),
    "bmp": lambda: _encoded(".bmp"),
    "tiff": lambda: _encoded(".tiff"),
    "bigtiff": lambda: _big_tiff(200, 100),
    "webp-lossless (VP8L)": lambda: _encoded(".webp"),
    "webp-lossy (VP8)": lambda: _encoded(".webp", 3, cv2.IMWRITE_WEBP_QUALITY, 80),
    "webp-extended (VP8X)": lambda: _encoded(".webp", 4, cv2.IMWRITE_WEBP_QUALITY, 80),
}


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_the_pixel_limit_reads_every_formats_size(kind: str, tmp_path: Path,
                                                  monkeypatch) -> None:
    path = tmp_path / "image"
    path.write_bytes(FORMATS[kind]())
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "20000")
    assert load_image(path).shape == (100, 200, 3)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "19999")
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert info.value.reason.startswith("the image is 200 x 100 = 20,000 pixels, more than "
                                        "the 19,999 Clickmask opens")
    assert MAX_IMAGE_PIXELS_ENV in info.value.reason


def test_a_png_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bomb(30000, 30000))
    tracemalloc.start()
    try:
        with pytest.raises(ImageLoadError) as info:
            load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == (
        "the image is 30000 x 30000 = 900 million pixels, more than the 500 million "
        f"Clickmask opens; it may be a decompression bomb (set {MAX_IMAGE_PIXELS_ENV} to "
        "open larger images)")
    assert peak < 1 << 20  # nothing was decoded (numpy's buffers are traced too)


def test_the_default_limit_opens_the_readme_s_20000_square_image() -> None:
    # README: "a 20000x20000 image opens and segments" (benchmarks/huge_image.py does it).
    assert 20000 * 20000 <= DEFAULT_MAX_IMAGE_PIXELS < 30000 * 30000


@pytest.mark.parametrize("setting", ["lots", "-5", "0", "1e9"])
def test_a_wrong_limit_setting_is_named(setting: str, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "small.png"
    path.write_bytes(_encoded(".png"))
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, setting)
    with pytest.raises(ImageLoadError, match=f"{MAX_IMAGE_PIXELS_ENV}='{setting}' is not a "
                                             "positive whole number"):
        load_image(path)


# -- checkpoints -------------------------------------------------------------------------
def _tiny_checkpoint() -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(4)}, "config": {}}, buffer)
    return buffer.getvalue()


def _forge_declared_size(archive: bytes, member_suffix: str, size: int) -> bytes:
    """The zip with ``size`` as the uncompressed size its headers declare for the member."""
    with zipfile.ZipFile(io.BytesIO(archive)) as original:
        info = next(i for i in original.infolist() if i.filename.endswith(member_suffix))
    data = bytearray(archive)
    struct.pack_into("<I", data, info.header_offset + 22, size)  # local header
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:  # the member's central directory entry
        (name_length,) = struct.unpack_from("<H", data, entry + 28)
        if data[entry + 46:entry + 46 + name_length].decode() == info.filename:
            struct.pack_into("<I", data, entry + 24, size)
        entry = data.find(b"PK\x01\x02", entry + 4)
    return bytes(data)


def test_a_zip_member_declaring_gigabytes_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pth"
    path.write_bytes(_forge_declared_size(_tiny_checkpoint(), "data/0", 0xFFFF0000))
    with pytest.raises(CheckpointError, match=r"bomb.pth declares 4,294.9 MB of content, "
                                              r"refused before inflating it; no click-model "
                                              r"checkpoint is that large"):
        read_checkpoint(path)


def test_a_huge_sparse_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "sparse.pth"
    with path.open("wb") as file:
        file.write(b"PK\x03\x04")
        file.truncate(2 * 2**30)  # 2 GiB that take no disk space
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"sparse.pth was refused: it is 2,147.5 MB, "
                                                  r"more than the 536.9 MB accepted"):
            read_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_an_xz_bomb_is_inflated_only_up_to_the_limit(tmp_path: Path, monkeypatch) -> None:
    # The limit is lowered so that the bomb is cheap to make: 64 MiB of zeros against 1 MiB.
    limit = 1 << 20
    monkeypatch.setattr(checkpoints, "MAX_CHECKPOINT_BYTES", limit)
    compressor = lzma.LZMACompressor(preset=0)
    zeros = bytes(1 << 20)
    path = tmp_path / "bomb.pth.xz"
    path.write_bytes(b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush())
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="bomb.pth.xz decompresses to more than 1.0 MB, "
                                                  "refused there"):
            read_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * limit  # the rest was never inflated


def test_xz_checkpoints_still_load_whole_and_damaged_ones_are_named(tmp_path: Path) -> None:
    raw = _tiny_checkpoint()
    two_streams = lzma.compress(raw[:100]) + bytes(4) + lzma.compress(raw[100:])
    (tmp_path / "two.pth.xz").write_bytes(two_streams)
    with pytest.raises(CheckpointError, match="two.pth.xz has a malformed 'config'"):
        read_checkpoint(tmp_path / "two.pth.xz")  # inflated whole, then identified
    (tmp_path / "cut.pth.xz").write_bytes(two_streams[:len(two_streams) // 3])
    with pytest.raises(CheckpointError, match="cut.pth.xz is a truncated xz file"):
        read_checkpoint(tmp_path / "cut.pth.xz")


def test_the_checkpoint_limit_holds_every_released_checkpoint_twice() -> None:
    largest = max(entry.size_mb for entry in MODELS.values() if entry.size_mb)
    assert 2 * largest * 1e6 <= MAX_CHECKPOINT_BYTES
    assert f"the largest released one is {round(largest)} MB" in checkpoints._LIMIT_NOTE
