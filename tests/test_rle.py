"""RLE as runs (engine.rle): the vectorised checks and crops agree with the one-by-one
decoding they replace, on seeded random masks and strings (integer data only)."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

import engine.rle
from engine.masks import (
    InvalidRLE,
    RleChecker,
    check_rle,
    decode_rle,
    encode_rle,
    mask_extent,
    run_mask,
)
from engine.rle import RunMask, RunMaskBatch, check_compressed, compressed_runs, runs_of_many

RLE_CHARACTERS = [chr(code) for code in range(48, 112)]


def random_mask(rng: np.random.Generator) -> np.ndarray:
    height, width = (int(v) for v in rng.integers(1, 30, 2))
    mask = np.zeros((height, width), bool)
    kind = rng.integers(5)
    if kind == 0:
        mask = rng.integers(0, 4, (height, width)) == 0
    elif kind == 1:
        top, left = rng.integers(0, height), rng.integers(0, width)
        mask[top:top + rng.integers(1, 9), left:left + rng.integers(1, 9)] = True
    elif kind == 2:  # from the top to the bottom edge: runs that go on into the next column
        mask[:, rng.integers(0, width)] = True
        mask[rng.integers(0, height):, rng.integers(0, width)] = True
    elif kind == 3:
        mask[:] = True
    return mask


def damaged(rng: np.random.Generator, text: str) -> str:
    """``text`` as it is, or damaged in one of the ways a file can be."""
    kind = rng.integers(7)
    if kind == 1 and text:
        at = int(rng.integers(len(text)))
        return text[:at] + chr(int(rng.integers(30, 130))) + text[at + 1:]
    if kind == 2:
        return text[:-1]
    if kind == 3:
        return text + "".join(rng.choice(RLE_CHARACTERS, rng.integers(1, 4)))
    if kind == 4:  # random groups, often numbers of many groups
        return "".join(rng.choice(RLE_CHARACTERS[32:], rng.integers(1, 20))) + "0"
    if kind == 5:
        return "".join(rng.choice(RLE_CHARACTERS, rng.integers(0, 20)))
    return text


def one_by_one(text: str, pixels: int) -> np.ndarray | None:
    try:
        runs = compressed_runs(text)
    except InvalidRLE:
        return None
    return runs if int(runs.sum()) == pixels else None


@pytest.mark.parametrize("seed", range(3))
def test_many_strings_are_checked_and_decoded_as_one_by_one(seed, monkeypatch):
    monkeypatch.setattr(engine.rle, "_CHUNK_CHARACTERS", 500)  # several passes
    rng = np.random.default_rng(seed)
    texts, pixels = [], []
    for _ in range(2000):
        mask = random_mask(rng)
        texts.append(damaged(rng, encode_rle(mask)["counts"]))
        pixels.append(mask.size)
    expected = [one_by_one(text, size) for text, size in zip(texts, pixels)]
    assert 0.2 < np.mean([runs is not None for runs in expected]) < 0.8
    assert check_compressed(texts, pixels).tolist() == [runs is not None for runs in expected]
    for runs, wanted in zip(runs_of_many(texts, pixels), expected):
        assert (runs is None) == (wanted is None)
        if wanted is not None:
            assert np.array_equal(runs, wanted)


@pytest.mark.parametrize("rle", [
    {"size": [3, 4], "counts": "ab\x7f"}, {"size": [3, 4], "counts": "aé"},
    {"size": [3, 4], "counts": "0P"}, {"size": [3, 4], "counts": "0" + "P" * 12 + "0"},
    {"size": [3, 4], "counts": "0" + "P" * 7 + "1"}, {"size": [3, 4], "counts": "0@"},
    {"size": [3, 4], "counts": "0QPPPPP20QPPPPP2"}, {"size": [3, 4], "counts": "12"},
    {"size": [3, 4], "counts": ""}, {"size": [0, 4], "counts": ""},
    {"size": [3, 4], "counts": [12]}, {"size": [3, 4], "counts": [12, -1]},
    {"size": [3, -4], "counts": "<"}, {"size": "3x4", "counts": "<"}, [3, 4], None,
])
def test_rle_checker_answers_as_check_rle(rle):
    good = [encode_rle(np.eye(3, 4, k, dtype=bool)) for k in range(3)]
    checker = RleChecker([*good, rle, *good])
    for valid in good:
        assert checker.check(valid) == check_rle(valid)
    try:
        expected = check_rle(rle)
    except InvalidRLE as exc:
        with pytest.raises(InvalidRLE) as raised:
            checker.check(rle)
        assert str(raised.value) == str(exc)
    else:
        assert checker.check(rle) == expected


@pytest.mark.parametrize("seed", range(3))
def test_run_masks_are_the_masks(seed, monkeypatch):
    monkeypatch.setattr(engine.rle, "_BOX_PLACES", 300)  # boxes made in several groups
    rng = np.random.default_rng(seed)
    masks = [random_mask(rng) for _ in range(500)]
    runs = [run_mask(encode_rle(mask)) for mask in masks]
    for mask, shape in zip(masks, runs):
        assert shape.counts == encode_rle(mask)["counts"]
        assert shape.area == np.count_nonzero(mask) and shape.empty == (not mask.any())
    kept = [(mask, shape) for mask, shape in zip(masks, runs) if not shape.empty]
    batch = RunMaskBatch([shape for _, shape in kept])
    for (mask, _), extent, box in zip(kept, batch.extents, batch.framed_boxes()):
        assert extent == mask_extent(mask)
        rmin, rmax, cmin, cmax = extent
        framed = np.pad(mask, 1).astype(np.uint8)
        assert np.array_equal(box, framed[rmin:rmax + 3, cmin:cmax + 3])


@pytest.mark.parametrize("seed", range(2))
def test_runs_that_are_not_canonical_give_the_canonical_rle(seed):
    """Zero-length runs (which other tools write) merge into their neighbours, and numbers
    written with more characters than they need are read as they are."""
    rng = np.random.default_rng(seed)
    for _ in range(300):
        mask = random_mask(rng)
        height, width = mask.shape
        runs = run_mask(encode_rle(mask)).runs.tolist()
        at = int(rng.integers(0, len(runs) + 1))
        padded = runs[:at] + [0, 0] * int(rng.integers(1, 3)) + runs[at:]
        for counts in (padded, mask_utils.frPyObjects(
                {"size": [height, width], "counts": padded}, height, width)["counts"].decode()):
            rle = {"size": [height, width], "counts": counts}
            assert run_mask(rle).counts == encode_rle(decode_rle(rle))["counts"]
            assert run_mask(rle).counts == encode_rle(mask)["counts"]
    assert RunMask.of_runs(np.array([0, 0, 0]), 0, 3).counts == encode_rle(
        np.zeros((0, 3), bool))["counts"]
