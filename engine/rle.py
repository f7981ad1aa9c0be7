"""COCO RLE worked on as run lengths: checked many at once, made canonical, measured and
cropped without decoding the whole mask.

A 640 x 480 mask decodes to 300 KB, while an object covering a few % of it is a few hundred
runs. Opening a project checks every RLE in it, an import makes one per annotation and an
export traces every one, so at 100,000 objects those paths work on the runs:
:func:`check_compressed` validates the RLE strings of a whole project in a few vectorised
passes, :class:`RunMask` gives a mask's area and canonical RLE, and :class:`RunMaskBatch`
the extents of many masks and crops of their bounding boxes.

COCO RLE runs go down the columns (column-major) and start with a background run. The
canonical runs, as pycocotools' ``encode`` writes them, have no zero-length run but a first
one when the first pixel is foreground; every valid RLE has exactly one canonical form, and
:meth:`RunMask.counts` is what :func:`engine.masks.encode_rle` gives for the decoded mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np
from pycocotools import mask as mask_utils

# pycocotools stores run lengths (and, on Windows, sizes) as 32-bit unsigned integers;
# larger values would be truncated silently.
MAX_RUN = 2 ** 32 - 1

# Places (about pixels) of the boxes made in one pass of RunMaskBatch.framed_boxes.
_BOX_PLACES = 1 << 24

# Characters decoded per vectorised pass: small enough for the temporary arrays to stay
# in the processor's cache (measured fastest), large enough to spread numpy's call costs.
_CHUNK_CHARACTERS = 1 << 16


class InvalidRLE(ValueError):
    """An RLE that cannot be decoded; the message says what is wrong with it."""


def compressed_runs(text: str) -> np.ndarray:
    """Run lengths of a compressed COCO RLE string, checked so pycocotools can trust it.

    The format packs each number in 5-bit groups, one character (offset 48) per group, with
    bit 0x20 meaning "more groups follow" and bit 0x10 of the last group the sign; from the
    fourth number on, a number is the difference to the run length two places before.
    """
    try:
        groups = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError as exc:
        raise InvalidRLE(f"compressed RLE counts contain {text[exc.start]!r}, which is not "
                         "an RLE character") from None
    bad = (groups < 0) | (groups >= 64)
    if bad.any():
        raise InvalidRLE(f"compressed RLE counts contain {text[int(bad.argmax())]!r}, which "
                         "is not an RLE character")
    if groups.size == 0:
        return groups
    last = (groups & 0x20) == 0  # the last group of its number
    if not last[-1]:
        raise InvalidRLE("compressed RLE counts end in the middle of a number")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    # pycocotools reads a number with 64-bit shifts that overflow past 12 groups (60 bits);
    # refusing longer numbers first also keeps the int64 arithmetic below exact.
    if lengths.max() > 12:
        raise InvalidRLE("compressed RLE counts hold a number of more than 12 characters")
    position = np.arange(groups.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((groups & 0x1F) << (5 * position), starts)
    values -= np.where(groups[ends] & 0x10, 1 << (5 * lengths), 0)
    # Every valid number is a run length or the difference of two, so no larger than a run.
    if np.abs(values).max() > MAX_RUN:
        raise InvalidRLE("compressed RLE counts hold a number too large for any run length")
    # From index 3 on, a number is the difference to the run two places before: undo that
    # along the odd and the even indices (the even chain starts at run 2; run 0 stands
    # alone). Each value is at most MAX_RUN in size, so the int64 sums cannot overflow.
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    if (runs < 0).any():
        raise InvalidRLE("compressed RLE counts decode to a negative run length")
    if runs.max() > MAX_RUN:
        raise InvalidRLE("compressed RLE counts decode to a run longer than pycocotools can "
                         f"store ({MAX_RUN} pixels)")
    return runs


def check_compressed(texts: Sequence[str], pixels: Sequence[int]) -> np.ndarray:
    """For each compressed RLE string, whether :func:`compressed_runs` accepts it and its
    runs cover ``pixels[i]`` pixels, for all strings in a few vectorised passes.

    False also for the strings this leaves to :func:`compressed_runs` (empty or not ASCII),
    so a False says "check this one alone", which gives the message too.
    """
    valid = np.zeros(len(texts), dtype=bool)
    for chunk, _, _, _, good in _checked(texts, pixels):
        valid[chunk] = good
    return valid


def runs_of_many(texts: Sequence[str], pixels: Sequence[int]) -> list[np.ndarray | None]:
    """:func:`compressed_runs` of many strings, decoded together; None for each string that
    :func:`check_compressed` does not pass (check it alone for the reason)."""
    result: list[np.ndarray | None] = []
    for _, runs, first, counts, good in _checked(texts, pixels):
        result += [runs[start:start + count] if ok else None
                   for start, count, ok in zip(first.tolist(), counts.tolist(), good.tolist())]
    return result


def _checked(texts: Sequence[str], pixels: Sequence[int]
             ) -> Iterator[tuple[slice, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`_decode` a chunk of the strings at a time, each string's runs also checked to
    cover its pixels: (the chunk, then what _decode gives)."""
    for chunk in _chunks(texts):
        runs, first, counts, good = _decode(texts[chunk])
        good &= np.add.reduceat(runs, first) == np.asarray(pixels[chunk], np.int64)
        yield chunk, runs, first, counts, good


def _chunks(texts: Sequence[str]) -> list[slice]:
    chunks, start, size = [], 0, 0
    for index, text in enumerate(texts):
        size += len(text)
        if size > _CHUNK_CHARACTERS:
            chunks.append(slice(start, index + 1))
            start, size = index + 1, 0
    if start < len(texts):
        chunks.append(slice(start, len(texts)))
    return chunks


def _decode(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``compressed_runs`` of many strings at once: (runs of all strings one after another,
    index of each string's first run, its number of runs, whether it is valid). A string
    that is not valid decodes to unspecified runs (still one at least)."""
    usable = np.fromiter((bool(text) and text.isascii() for text in texts), bool, len(texts))
    groups, lengths, starts = _groups(texts, usable)
    # A string that ends inside a number, or holds a character outside the format, would
    # let numbers run into the next string: such strings are replaced by "0" and decoded
    # again, so every number below lies in its own string.
    well_formed = usable & ~np.logical_or.reduceat(groups >= 64, starts)
    well_formed &= (groups[starts + lengths - 1] & 0x20) == 0
    if not well_formed.all():
        groups, lengths, starts = _groups(texts, well_formed)
    last = (groups & 0x20) == 0  # the last group of its number
    ends = np.flatnonzero(last)
    number_starts = np.empty_like(ends)
    number_starts[0] = 0
    number_starts[1:] = ends[:-1] + 1
    size = ends - number_starts + 1  # groups per number
    # The groups of a number, low bits first, added layer by layer: most numbers have one.
    low = groups & 0x1F
    values = low[number_starts].astype(np.int64)
    longer = np.flatnonzero(size > 1)
    for layer in range(1, min(int(size.max()), 12)):
        values[longer] |= low[number_starts[longer] + layer].astype(np.int64) << (5 * layer)
        longer = longer[size[longer] > layer + 1]
    # Bit 0x10 of a number's last group: negative (two's complement of its groups' bits).
    values -= ((groups[ends] >> 4) & 1).astype(np.int64) << (5 * np.minimum(size, 12))
    bad = np.zeros(values.size, bool)
    # Numbers of up to 6 groups (30 bits) are within any run length's range.
    large = np.flatnonzero(size > 6)
    bad[large] = (size[large] > 12) | (np.abs(values[large]) > MAX_RUN)
    values[bad] = 0  # keeps the sums below exact (and meaningless only for refused strings)
    counts = np.add.reduceat(last, starts, dtype=np.int64)
    first = np.cumsum(counts) - counts
    index = np.arange(values.size) - np.repeat(first, counts)  # a number's index in its string
    odd = (index & 1).astype(bool)
    # The running sums along the odd and the even chain (from index 2), restarted at every
    # string.
    odd_sums = np.cumsum(np.where(odd, values, 0))
    even_sums = np.cumsum(np.where(odd | (index < 2), 0, values))
    odd_sums -= np.repeat(_before(odd_sums, first), counts)
    even_sums -= np.repeat(_before(even_sums, first), counts)
    runs = np.where(odd, odd_sums, np.where(index >= 2, even_sums, values))
    bad |= (runs < 0) | (runs > MAX_RUN)
    valid = well_formed & ~np.logical_or.reduceat(bad, first)
    return runs, first, counts, valid


def _before(sums: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The running sum just before each string's first number."""
    return np.concatenate(([0], sums))[first]


def _groups(texts: Sequence[str], keep: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                             np.ndarray]:
    """The 6-bit groups of all strings (uint8; 64 and above: not a group), each string not
    kept replaced by "0"; with each string's length and start."""
    texts = [text if good else "0" for text, good in zip(texts, keep)]
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    starts = np.cumsum(lengths) - lengths
    joined = "".join(texts).encode("ascii")
    return np.frombuffer(joined, dtype=np.uint8) - np.uint8(48), lengths, starts


@dataclass(frozen=True)
class RunMask:
    """An ``height`` x ``width`` mask as its canonical runs (see the module docstring)."""

    height: int
    width: int
    runs: np.ndarray  # int64
    # A compressed string of these runs, when known (it may encode the numbers with more
    # characters than needed): pycocotools reads it, so it need not be written again.
    text: str | None = None

    @classmethod
    def of_runs(cls, runs: np.ndarray, height: int, width: int, text: str | None = None
                ) -> RunMask:
        """The mask of valid runs (covering height * width pixels), made canonical;
        ``text``: the compressed string they were read from."""
        if runs.size > 1 and not runs[1:].all():
            kept = np.flatnonzero(runs)
            if kept.size == 0:  # a mask of no pixels
                return cls(height, width, np.zeros(1, np.int64))
            colour = kept & 1
            merged = np.add.reduceat(runs[kept], np.flatnonzero(np.diff(colour, prepend=-1)))
            return cls(height, width, merged if colour[0] == 0 else np.concatenate(([0], merged)))
        return cls(height, width, runs, text)

    def for_pycocotools(self) -> dict:
        """The RLE as pycocotools' functions take it (counts as bytes)."""
        return {"size": [self.height, self.width],
                "counts": (self.text if self.text is not None else self.counts).encode("ascii")}

    @cached_property
    def counts(self) -> str:
        """The compressed RLE string, as :func:`engine.masks.encode_rle` writes it."""
        rle = mask_utils.frPyObjects({"size": [self.height, self.width],
                                      "counts": self.runs.tolist()}, self.height, self.width)
        return rle["counts"].decode("ascii")

    @property
    def area(self) -> int:
        return int(self.runs[1::2].sum())

    @property
    def empty(self) -> bool:
        return self.runs.size < 2  # canonical: one background run


class RunMaskBatch:
    """Non-empty masks (one at least) measured and cropped together, each step one
    vectorised pass over all their runs (per mask, numpy's call overhead would be most of
    the work)."""

    def __init__(self, masks: Sequence[RunMask]) -> None:
        if not masks:
            raise ValueError("a batch needs at least one mask")
        self.masks = list(masks)
        sizes = np.array([mask.runs.size for mask in self.masks], np.int64)
        self._heights = np.array([mask.height for mask in self.masks], np.int64)
        runs = np.concatenate([mask.runs for mask in self.masks])
        first = np.cumsum(sizes) - sizes
        # Column-major position where each run ends, counted from its own mask's start.
        ends = np.cumsum(runs)
        ends -= np.repeat(ends[first] - runs[first], sizes)
        foreground = np.flatnonzero((np.arange(runs.size) - np.repeat(first, sizes)) & 1)
        self._starts, self._stops = ends[foreground - 1], ends[foreground]
        counts = sizes // 2  # foreground runs per mask: at least one, none being empty
        self._owner = np.repeat(np.arange(len(self.masks)), counts)
        # Where each mask's foreground runs start, and where the last one's end.
        self._bounds = np.concatenate(([0], np.cumsum(counts)))
        self._first = self._bounds[:-1]
        height = self._heights[self._owner]
        columns, rows = np.divmod(self._starts, height)
        last_columns, last_rows = np.divmod(self._stops - 1, height)
        self._cmin = columns[self._first]
        self._cmax = last_columns[self._first + counts - 1]
        self._rmin = np.minimum.reduceat(rows, self._first)
        self._rmax = np.maximum.reduceat(last_rows, self._first)
        # A run that goes on into the next column covers the last row of one column and the
        # first row of the next.
        crossing = np.logical_or.reduceat(columns != last_columns, self._first)
        self._rmin[crossing] = 0
        self._rmax[crossing] = self._heights[crossing] - 1

    @property
    def extents(self) -> list[tuple[int, int, int, int]]:
        """``(rmin, rmax, cmin, cmax)`` of each mask's foreground, inclusive (as
        :func:`engine.masks.mask_extent`)."""
        return list(zip(self._rmin.tolist(), self._rmax.tolist(), self._cmin.tolist(),
                        self._cmax.tolist()))

    def framed_boxes(self) -> Iterator[np.ndarray]:
        """Each mask inside its extent as uint8 0/1, with one pixel of background added on
        every side: pixel (r, c) of a box is pixel (rmin - 1 + r, cmin - 1 + c) of its mask.
        Made a group of masks at a time, so that large masks never all exist at once."""
        rows = self._rmax - self._rmin + 1
        columns = self._cmax - self._cmin + 1
        # Each mask's box goes down its columns, a spare row after each one where runs
        # ending on the box's last row stop; a box of whole columns is the flat positions,
        # where runs go on from one column into the next. A spare place after each box
        # keeps its last run's end inside it.
        stride = np.where(rows == self._heights, rows, rows + 1)
        places = columns * stride + 1
        for group in _groups_up_to(places, _BOX_PLACES):
            base = np.concatenate(([0], np.cumsum(places[group])[:-1]))
            runs = slice(self._bounds[group.start], self._bounds[group.stop])
            owner = self._owner[runs] - group.start
            height = self._heights[group][owner]
            starts, lengths = self._starts[runs], self._stops[runs] - self._starts[runs]
            begins = (base[owner] + (starts // height - self._cmin[group][owner])
                      * stride[group][owner] + starts % height - self._rmin[group][owner])
            # +1 where a run begins, -1 where it ends: the running sum is the mask.
            # Canonical runs never end where the next begins, so no place gets both.
            marks = np.zeros(int(places[group].sum()), np.int8)
            marks[begins] = 1
            marks[begins + lengths] = -1
            filled = np.cumsum(marks, dtype=np.int8)
            for at, box_rows, box_columns, box_stride in zip(
                    base.tolist(), rows[group].tolist(), columns[group].tolist(),
                    stride[group].tolist()):
                box = filled[at:at + box_columns * box_stride].reshape(box_columns, box_stride)
                framed = np.zeros((box_rows + 2, box_columns + 2), np.uint8)
                framed[1:-1, 1:-1] = box[:, :box_rows].T
                yield framed


def _groups_up_to(sizes: np.ndarray, limit: int) -> Iterator[slice]:
    """Consecutive groups whose sizes add up to at most ``limit`` (a size above it makes a
    group of its own)."""
    start, total = 0, 0
    for index, size in enumerate(sizes.tolist()):
        if total and total + size > limit:
            yield slice(start, index)
            start, total = index, 0
        total += size
    if start < sizes.size:
        yield slice(start, sizes.size)
