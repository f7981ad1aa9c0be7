"""Decompression bombs are refused before they are decoded or inflated (issue 18, item 5b).

Images: the size in the header is checked against a pixel limit (500 million by default,
CLICKMASK_MAX_IMAGE_PIXELS) before OpenCV allocates anything. Checkpoints: the file size
is checked before reading, a zip's declared member sizes before torch inflates them, and an
xz stream is inflated only up to the limit. The bombs are valid files made cheaply: deflate
streams of zeros made by repeating one MiB's blocks (a 30000 x 30000 PNG of 2.6 MB, a
checkpoint of 600 KB holding a 600 MiB tensor), an xz of zeros, a sparse file.
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

import engine.checkpoint_file as checkpoint_file
from engine.checkpoint_file import MAX_CHECKPOINT_BYTES
from engine.checkpoints import CheckpointError, read_checkpoint
from engine.imageio import (DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV, ImageLoadError,
                            load_image)
from weights import MODELS


# -- images ------------------------------------------------------------------------------
def _png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + chunk_type + payload
            + struct.pack(">I", zlib.crc32(chunk_type + payload)))


def _zeros_deflated(size: int, wbits: int = -15) -> bytes:
    """A deflate stream (raw, or zlib-wrapped with ``wbits=15``) of ``size`` zero bytes,
    made without compressing them: a full flush ends each MiB's blocks on a byte boundary
    with nothing carried over, so one MiB's bytes can be repeated."""
    unit = zlib.compressobj(9, zlib.DEFLATED, -15)
    one_mib = unit.compress(bytes(1 << 20)) + unit.flush(zlib.Z_FULL_FLUSH)
    rest = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = one_mib * (size >> 20) + rest.compress(bytes(size & 0xFFFFF)) + rest.flush()
    if wbits < 0:
        return raw
    adler = (size % 65521) << 16 | 1  # Adler-32 of zeros: the sum of ones, and one
    return b"\x78\xda" + raw + struct.pack(">I", adler)


def _png_bomb(width: int, height: int) -> bytes:
    """A black RGB PNG of width x height, complete and valid: at 30000 x 30000, 2.6 MB
    that decode to 2.7 GB."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = height * (1 + 3 * width)  # each row: filter type 0, then its pixels
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", _zeros_deflated(rows, wbits=15)) + _png_chunk(b"IEND", b""))


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
    (tmp_path / "small.png").write_bytes(_png_bomb(64, 48))  # a valid PNG, made the same way
    assert load_image(tmp_path / "small.png").shape == (48, 64, 3)
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
    # The file's 2.6 MB were read, nothing was decoded (numpy's buffers are traced too).
    assert peak < path.stat().st_size + (1 << 20)


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
def _tiny_checkpoint(numel: int = 4) -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(numel, dtype=torch.uint8)}, "config": {}},
               buffer)
    return buffer.getvalue()


def _zip_bomb_checkpoint(mebibytes: int) -> bytes:
    """A valid torch checkpoint of a ``mebibytes`` MiB tensor whose storage is a deflated
    member (torch writes its members stored; its reader inflates deflated ones all the same).
    Made from one of 1 MiB: its pickle's sizes are rewritten, its storage is never built."""
    one_mib = struct.pack("<i", 1 << 20)
    with zipfile.ZipFile(io.BytesIO(_tiny_checkpoint(1 << 20))) as original:
        members = [(info.filename, original.read(info).replace(
            b"J" + one_mib, b"J" + struct.pack("<i", mebibytes << 20))
            if info.filename.endswith("data.pkl") else original.read(info))
            for info in original.infolist()]
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(bytes(1 << 20), crc)
    local, central = bytearray(), bytearray()
    for name, data in members:
        is_bomb = name.endswith("/data/0")
        method, size = (8, mebibytes << 20) if is_bomb else (0, len(data))
        payload = _zeros_deflated(mebibytes << 20) if is_bomb else data
        fields = (method, 0, 0x21, crc if is_bomb else zlib.crc32(data), len(payload), size,
                  len(name))
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, *fields, 0,
                               0, 0, 0, 0, len(local)) + name.encode()
        local += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, *fields, 0)
        local += name.encode() + payload
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(central), len(local), 0)
    return bytes(local + central + end)


def test_a_zip_bomb_is_refused_before_torch_inflates_it(tmp_path: Path) -> None:
    bomb = _zip_bomb_checkpoint(600)  # 600 KB inflating to 600 MiB
    assert len(bomb) < 700_000
    # A valid checkpoint: a small one made the same way loads.
    state = torch.load(io.BytesIO(_zip_bomb_checkpoint(3)), weights_only=True)["state_dict"]
    assert state["w"].shape == (3 << 20,) and not state["w"].any()
    path = tmp_path / "bomb.pth"
    path.write_bytes(bomb)
    with pytest.raises(CheckpointError, match=r"bomb.pth declares 629.1 MB of content, "
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
    monkeypatch.setattr(checkpoint_file, "MAX_CHECKPOINT_BYTES", limit)
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
    assert f"the largest released one is {round(largest)} MB" in checkpoint_file._LIMIT_NOTE
