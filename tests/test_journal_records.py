"""Damaged or crafted journal records: each is checked against the project before it is
decoded or applied, and whatever a record holds, replay raises nothing but JournalError
(the GUI and ``clickmask import`` then set the journal aside with a message)."""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import engine.journal
from annotator.cli import main
from engine.annotations import Project
from engine.journal import FORMAT_NAME, Journal, JournalError, _project_key, journal_path, replay
from engine.masks import encode_rle

SHAPE = (20, 30)  # height, width of the images
FULL = {"size": list(SHAPE), "counts": [SHAPE[0] * SHAPE[1]]}  # an empty mask of that size


def _folder(root: Path) -> Path:
    folder = root / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.full((*SHAPE, 3), 90, np.uint8))
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _folder(tmp_path)


def _write_journal(project: Project, lines: list[str]) -> None:
    header = json.dumps({"format": FORMAT_NAME, "version": 1, "project": _project_key(project)})
    journal_path(project.path).write_text("".join(f"{line}\n" for line in [header, *lines]))


def _object(**fields) -> str:
    square = np.zeros(SHAPE, bool)
    square[2:7, 3:9] = True
    record = {"t": "object", "file": "a.png", "id": 1, "category": "cat", "source": "clicked",
              "rle": encode_rle(square), "clicks": [[4, 5, True]], "replaces": False}
    return json.dumps({**record, **fields})


def test_a_valid_journal_replays(folder: Path) -> None:
    project = Project.open_folder(folder)
    _write_journal(project, [
        _object(), '{"t":"visible","id":1,"visible":false}',
        '{"t":"progress","file":"b.png","clicks":[[1,2,true]],"editing":null}'])
    recovery = replay(project)
    assert recovery.restored_object_ids == [1] and not project.find_object(1)[1].visible
    assert recovery.in_progress.file_name == "b.png"


@pytest.mark.parametrize("line", [
    '{"t":"delete","id":Infinity}', '{"t":"delete","id":1e999}', '{"t":"delete","id":-Infinity}',
    '{"t":"delete","id":NaN}', '{"t":"category","id":Infinity,"category":"x"}',
    '{"t":"progress","file":"a.png","clicks":[],"editing":1e999}',
    '{"t":"progress","file":"a.png","clicks":[[NaN,1,true]],"editing":null}',
])
def test_a_number_that_is_no_id_or_coordinate_damages_the_journal(folder: Path, line: str) -> None:
    project = Project.open_folder(folder)
    _write_journal(project, [line])
    with pytest.raises(JournalError, match="damaged at line 2"):
        replay(project)


@pytest.mark.parametrize("fields, reason", [
    ({"id": 0}, "not an object id"), ({"id": -3}, "not an object id"),
    ({"id": 1.5}, "not an object id"), ({"id": True}, "not an object id"),
    ({"id": "1"}, "not an object id"), ({"id": 2 ** 63}, "not an object id"),
    ({"file": "c.png"}, "not an image of the project"),
    ({"file": "../images/a.png"}, "not an image of the project"),
    ({"file": "/etc/passwd"}, "not an image of the project"),
    ({"category": ""}, "category"), ({"category": 3}, "category"),
    ({"source": "painted"}, "unknown source"), ({"replaces": "yes"}, "'replaces'"),
    ({"clicks": [[20, 5, True]]}, "outside the 30x20 image"),
    ({"clicks": [[4, -1, True]]}, "outside the 30x20 image"),
    ({"clicks": [[4, 5, 1]]}, "is not [y, x, is_positive]"),
    ({"clicks": "[[4, 5, true]]"}, "'clicks' must be a list"),
    ({"rle": {"size": [40, 30], "counts": [1200]}}, "RLE size is 30x40 but the image is 30x20"),
    ({"rle": {"size": [20, 30], "counts": [601]}}, "cover 601 pixels"),
])
def test_an_object_record_is_checked_against_the_project(folder: Path, fields: dict,
                                                        reason: str) -> None:
    project = Project.open_folder(folder)
    _write_journal(project, [_object(**fields)])
    with pytest.raises(JournalError, match=re.escape(reason)):
        replay(project)
    assert not list(project.iter_objects())


def test_a_huge_mask_is_refused_before_it_is_decoded(folder: Path, monkeypatch) -> None:
    """60000 x 60000 for a 30 x 20 image: 3.6 GB decoded, and the image's size rewritten
    so that no object of the right size could be added to it again."""
    decoded = []

    def decode_rle(rle, shape=None):
        decoded.append(rle["size"])
        return np.zeros(SHAPE, bool)

    monkeypatch.setattr(engine.journal, "decode_rle", decode_rle)
    project = Project.open_folder(folder)
    assert project.images["a.png"].height is None  # no object yet: the project has no size
    _write_journal(project, [_object(rle={"size": [60000, 60000], "counts": [3_600_000_000]})])
    with pytest.raises(JournalError, match="RLE size is 60000x60000 but the image is 30x20"):
        replay(project)
    assert decoded == []
    entry = project.images["a.png"]
    assert (entry.height, entry.width) == SHAPE  # read from the image, not from the record
    project.add_object("a.png", np.ones(SHAPE, bool), "cat")


@pytest.mark.parametrize("line, reason", [
    ('{"t":"progress","file":"a.png","clicks":[[1,2,true]],"editing":null,'
     '"mask":{"size":[2,2],"counts":[4]},"mask_clicks":1}', "RLE size is 2x2"),
    ('{"t":"progress","file":"a.png","clicks":[],"editing":null,'
     f'"mask":{json.dumps(FULL)},"mask_clicks":2}}', "'mask_clicks' 2"),
    ('{"t":"progress","file":"../../etc/passwd","clicks":[],"editing":null}',
     "not an image of the project"),
    ('{"t":"visible","id":1,"visible":"no"}', "'visible' must be true or false"),
    ('{"t":"painted","id":1}', "unknown record 'painted'"),
    ('[1, 2]', "must be a JSON object"),
])
def test_other_records_are_checked(folder: Path, line: str, reason: str) -> None:
    project = Project.open_folder(folder)
    _write_journal(project, [line])
    with pytest.raises(JournalError, match=reason):
        replay(project)


@pytest.mark.gui
def test_the_window_sets_a_damaged_journal_aside_and_opens_the_folder(qtbot, folder) -> None:
    from annotator.controller import SessionController

    project = Project.open_folder(folder)
    _write_journal(project, ['{"t":"delete","id":Infinity}'])
    controller = SessionController()
    errors: list[str] = []
    controller.error.connect(errors.append)
    try:
        controller.open_folder(folder)
        assert controller.rows.project is not None and controller.workspace.journaling
    finally:
        controller.shutdown()
    assert len(errors) == 1 and "damaged at line 2" in errors[0] and "It was kept as" in errors[0]
    kept = [p for p in folder.iterdir() if ".unreadable-" in p.name]
    assert len(kept) == 1 and "Infinity" in kept[0].read_text()


def test_import_sets_a_damaged_journal_aside(folder: Path, tmp_path: Path, capsys) -> None:
    project = Project.open_folder(folder)
    _write_journal(project, [_object(), '{"t":"delete","id":1e999}'])
    coco = tmp_path / "import.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "b.png", "width": 30, "height": 20}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                         "segmentation": [[3, 2, 9, 2, 9, 7, 3, 7]], "bbox": [3, 2, 6, 5],
                         "area": 30}],
        "categories": [{"id": 1, "name": "box"}]}))
    assert main(["import", str(folder), str(coco)]) == 0
    err = capsys.readouterr().err
    assert "damaged at line 3" in err and "was kept as" in err and "Traceback" not in err
    saved = Project.load(project.path)
    # The object before the damaged line was replayed, and saved with the import.
    assert [(e.file_name, o.source) for e, o in saved.iter_objects()] == [
        ("a.png", "clicked"), ("b.png", "imported")]


# -- whatever a record holds ------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda children: (st.lists(children, max_size=3)
                      | st.dictionaries(st.text(max_size=4), children, max_size=3)),
    max_leaves=6)


def _mostly(plausible: st.SearchStrategy) -> st.SearchStrategy:
    """A plausible value three times in four (so that replay gets deep), anything else the
    fourth."""
    return st.integers(0, 3).flatmap(lambda pick: plausible if pick else _json)


_side = _mostly(st.sampled_from([0, 2, 20, 30, 60000]) | st.floats(0, 70000))
_rle = st.just(FULL) | st.fixed_dictionaries({
    "size": _mostly(st.lists(_side, min_size=2, max_size=2)),
    "counts": _mostly(st.lists(st.integers(-1, 3_600_000_000), max_size=3)
                      | st.sampled_from(["", "0", "P4", "\\x"]))})
_click = _mostly(st.tuples(_mostly(st.integers(-1, 25) | st.floats()),
                           _mostly(st.integers(-1, 35) | st.floats()),
                           _mostly(st.booleans())).map(list))
_FIELDS = {"t": _mostly(st.sampled_from(["object", "progress", "delete", "category",
                                         "visible"])),
           "file": _mostly(st.sampled_from(["a.png", "b.png", "../a.png", ""])),
           "id": _mostly(st.integers(-1, 3) | st.floats()),
           "category": _mostly(st.sampled_from(["cat", ""])),
           "source": _mostly(st.sampled_from(["clicked", "imported", "x"])),
           "rle": _mostly(_rle), "mask": _mostly(st.none() | _rle),
           "clicks": _mostly(st.lists(_click, max_size=3)),
           "editing": _mostly(st.none() | st.integers(-1, 3)),
           "mask_clicks": _mostly(st.integers(-1, 3)), "visible": _mostly(st.booleans()),
           "replaces": _mostly(st.booleans())}
_record = st.builds(lambda fields, dropped: {k: v for k, v in fields.items() if k not in dropped},
                    st.fixed_dictionaries(_FIELDS),
                    st.sets(st.sampled_from(list(_FIELDS)[1:]), max_size=2))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_mostly(_record), min_size=1, max_size=4))
def test_whatever_a_record_holds_replay_raises_only_journal_error(records) -> None:
    with tempfile.TemporaryDirectory() as root:
        project = Project.open_folder(_folder(Path(root)))
        project.add_object("b.png", np.ones(SHAPE, bool), "cat")  # an object to edit
        _write_journal(project, [json.dumps(record) for record in records])
        try:
            replay(project)
            event("replayed")
        except JournalError as exc:
            event(f"damaged: {str(exc).split(': ', 1)[1][:40]}")
        for entry in project.images.values():
            assert (entry.height, entry.width) in ((None, None), SHAPE)
