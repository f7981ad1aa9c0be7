"""A checkpoint file's bytes, read within bounds: no more than any click-model checkpoint
could need is read, inflated from xz, or (by a zip's declared member sizes) left for torch
to inflate. A 2 GB sparse file, an 18 MB zip that inflates to 4 GiB or a 1 MB xz that
inflates to 8 GB is refused before the memory is spent.
"""
from __future__ import annotations

import io
import lzma
import zipfile
from pathlib import Path

from engine.regular_file import FileTooLarge, read_regular_file


class CheckpointError(Exception):
    """A file that cannot be used as a checkpoint; the message says why, for a user."""


# The largest released checkpoint is 223 MB (f-BRS resnet101_dh256_sbd.pth); torch's zip
# format stores tensors uncompressed. Twice that covers any file of these architectures;
# a larger file, or one that inflates past it, is refused before it is read or inflated.
MAX_CHECKPOINT_BYTES = 512 * 2**20
_LIMIT_NOTE = (f"no click-model checkpoint is that large: Clickmask reads checkpoints of up "
               f"to {MAX_CHECKPOINT_BYTES / 1e6:,.1f} MB (the largest released one is 223 MB)")
XZ_MAGIC = b"\xfd7zXZ\x00"
ZIP_MAGIC = b"PK\x03\x04"
_XZ_PIECE = 16 << 20


def read_checkpoint_bytes(path: Path) -> bytes:
    """The file's bytes, inflated if xz-compressed; raises :class:`CheckpointError` for a
    file that cannot be read or that is (or inflates, or declares content) over the limit."""
    try:
        raw = read_regular_file(path, MAX_CHECKPOINT_BYTES)
    except FileTooLarge as exc:
        raise CheckpointError(f"{path.name} was refused: {exc.strerror}; {_LIMIT_NOTE}") from exc
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if raw.startswith(XZ_MAGIC):
        raw = _inflate_xz(raw, path.name)
    if not raw:
        raise CheckpointError(f"{path.name} is empty")
    if raw.startswith(ZIP_MAGIC):
        try:
            declared = sum(member.file_size for member in
                           zipfile.ZipFile(io.BytesIO(raw)).infolist())
        except (zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise CheckpointError(f"{path.name} is a damaged zip archive: "
                                  f"{first_line(exc)}") from exc
        if declared > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"{path.name} declares {declared / 1e6:,.1f} MB of content, "
                                  f"refused before inflating it; {_LIMIT_NOTE}")
    return raw


def _inflate_xz(data: bytes, name: str) -> bytes:
    """Decompress every xz stream in ``data``, stopping as soon as the output passes the limit."""
    out = bytearray()
    while data:
        decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        try:
            while not decompressor.eof:
                # In pieces: one piece of the whole size would be held twice.
                room = min(MAX_CHECKPOINT_BYTES + 1 - len(out), _XZ_PIECE)
                out += decompressor.decompress(data, max_length=room)
                data = b""  # the decompressor keeps what it has not used yet
                if len(out) > MAX_CHECKPOINT_BYTES:
                    raise CheckpointError(f"{name} decompresses to more than "
                                          f"{MAX_CHECKPOINT_BYTES / 1e6:,.1f} MB, refused "
                                          f"there; {_LIMIT_NOTE}")
                if decompressor.needs_input:
                    raise CheckpointError(f"{name} is a truncated xz file")
        except lzma.LZMAError as exc:
            raise CheckpointError(f"{name} is a damaged xz file: {exc}") from exc
        data = decompressor.unused_data.lstrip(b"\x00")  # streams may be zero-padded
    return bytes(out)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


