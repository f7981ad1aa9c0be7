"""Brush, eraser and mask clean-ups driven through the real window with pytest-qt
(offscreen): mouse drags on the canvas, keys, menu actions."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from engine.annotations import Project
from engine.edits import ObjectChange
from engine.inference.grabcut import GrabCutPredictor
from engine.journal import Journal
from engine.masks import encode_rle, mask_iou
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from gui_actions import press_key, wait_idle

pytestmark = pytest.mark.gui

SHAPE = (160, 200)
DISK_CENTER = (60, 80)  # y, x
DISK_RADIUS = 30
LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
CTRL = Qt.KeyboardModifier.ControlModifier


def _disk_image() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    disk = (yy - DISK_CENTER[0]) ** 2 + (xx - DISK_CENTER[1]) ** 2 <= DISK_RADIUS ** 2
    rng = np.random.default_rng(0)
    image = rng.normal(60, 8, (*SHAPE, 3))
    image[disk] = rng.normal(200, 8, (int(disk.sum()), 3))
    image[..., 2][disk] -= 80
    return np.clip(image, 0, 255).astype(np.uint8), disk


@pytest.fixture
def window(qtbot, open_window, tmp_path: Path) -> MainWindow:
    image, _ = _disk_image()
    cv2.imwrite(str(tmp_path / "a.png"), image[..., ::-1])
    win = open_window(SessionController(), category="ball")
    assert win.open_folder(tmp_path)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=10000)
    wait_idle(qtbot, win)
    win.strokes = []
    win.canvas.stroked.connect(win.strokes.append)
    return win


def _view_pos(win: MainWindow, y: float, x: float):
    return win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def _click(qtbot, win: MainWindow, y: float, x: float, positive: bool = True) -> None:
    qtbot.mouseClick(win.canvas.viewport(), LEFT if positive else RIGHT,
                     pos=_view_pos(win, y, x))
    wait_idle(qtbot, win)


def _drag(qtbot, win: MainWindow, points: list[tuple[float, float]], button=LEFT,
          wait: bool = True) -> None:
    """Press at the first image point, move through the others, release at the last."""
    viewport = win.canvas.viewport()
    qtbot.mousePress(viewport, button, pos=_view_pos(win, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(viewport, pos=_view_pos(win, *point))
    qtbot.mouseRelease(viewport, button, pos=_view_pos(win, *points[-1]))
    if wait:
        wait_idle(qtbot, win)


def _footprints(win: MainWindow) -> np.ndarray:
    """Every pixel the strokes sent so far cover (their own rasterisation)."""
    covered = np.zeros(SHAPE, bool)
    for stroke in win.strokes:
        covered |= stroke.footprint(SHAPE)
    return covered


def test_strokes_are_undone_and_redone_with_the_clicks(qtbot, window: MainWindow,
                                                       monkeypatch) -> None:
    controller = window.controller
    _, disk = _disk_image()
    _click(qtbot, window, *DISK_CENTER)
    clicked = controller.session.view.mask.copy()
    assert mask_iou(clicked, disk) > 0.9

    press_key(qtbot, window, Qt.Key.Key_B)
    assert window.canvas.tool == "brush" and window.mask_tools.tool_actions["brush"].isChecked()
    _drag(qtbot, window, [(130, 20), (130, 60), (130, 100)])
    (stroke,) = window.strokes
    assert not stroke.erase and stroke.radius == window.canvas.brush_radius
    assert stroke.points[0] == (130, 20) and stroke.points[-1] == (130, 100)
    painted = controller.session.view.mask.copy()
    np.testing.assert_array_equal(painted, clicked | stroke.footprint(SHAPE))
    assert window.canvas.marker_positions == [(*DISK_CENTER, True)]  # no click was added

    _drag(qtbot, window, [*[(DISK_CENTER[0], x) for x in (70, 80, 90)]], button=RIGHT)
    erased = controller.session.view.mask.copy()
    assert window.strokes[1].erase and not erased[DISK_CENTER]
    assert controller.session.view.step_clicks == ((controller.session.view.clicks[0],), (), ())

    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(controller.session.view.mask, painted)
    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(controller.session.view.mask, clicked)
    assert len(controller.session.view.clicks) == 1
    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert controller.session.view.clicks == [] and controller.session.view.mask is None
    for _ in range(3):
        press_key(qtbot, window, Qt.Key.Key_Y, CTRL)
    np.testing.assert_array_equal(controller.session.view.mask, erased)

    # The next click continues from the edited mask.
    seen = []
    predict = GrabCutPredictor.predict
    monkeypatch.setattr(GrabCutPredictor, "predict",
                        lambda self, clicks, prev: seen.append(prev) or predict(self, clicks, prev))
    press_key(qtbot, window, Qt.Key.Key_V)
    assert window.canvas.tool == "click"
    _click(qtbot, window, 150, 190, positive=False)
    np.testing.assert_array_equal(seen[0], erased.astype(np.float32))
    assert len(controller.session.view.clicks) == 2 and window.errors == []


def test_painting_a_new_object_from_nothing_and_finishing_it(qtbot, window: MainWindow) -> None:
    controller = window.controller
    assert not controller.has_object_in_progress
    press_key(qtbot, window, Qt.Key.Key_B)
    _drag(qtbot, window, [(120, 120), (125, 140), (140, 160)])
    assert controller.has_object_in_progress and controller.session.view.clicks == []
    painted = _footprints(window)
    assert painted[120, 120] and painted[140, 160] and painted.sum() > 100
    np.testing.assert_array_equal(controller.session.view.mask, painted)
    press_key(qtbot, window, Qt.Key.Key_Return)
    (obj,) = controller.rows.current_objects()
    np.testing.assert_array_equal(obj.mask, painted)
    assert obj.clicks == [] and controller.rows.category_name(obj) == "ball"
    saved = Project.load(window.controller.rows.project.path)
    np.testing.assert_array_equal(saved.images["a.png"].objects[0].mask, painted)


def test_erasing_everything_leaves_an_empty_mask_that_cannot_be_finished(
        qtbot, window: MainWindow) -> None:
    controller = window.controller
    _click(qtbot, window, *DISK_CENTER)
    press_key(qtbot, window, Qt.Key.Key_E, Qt.KeyboardModifier.ShiftModifier)
    assert window.canvas.tool == "eraser"
    for _ in range(12):
        qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    radius = window.canvas.brush_radius
    assert radius >= 60 and window.mask_tools.radius_box.value() == radius
    _drag(qtbot, window, [(0, x) for x in range(0, SHAPE[1] + 1, 20)]
          + [(SHAPE[0] - 1, x) for x in range(SHAPE[1], -1, -20)])
    assert window.strokes[-1].erase
    assert controller.session.view.mask is not None and not controller.session.view.mask.any()
    assert controller.has_object_in_progress
    press_key(qtbot, window, Qt.Key.Key_Return)
    assert controller.rows.current_objects() == []
    assert window.statusBar().currentMessage() == "The mask is empty: nothing to finish."
    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)  # the disk is back
    assert controller.session.view.mask[DISK_CENTER]


def test_brush_size_keys_and_cursor(qtbot, window: MainWindow) -> None:
    canvas = window.canvas
    start = canvas.brush_radius
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_radius == round(start * 1.25)
    for _ in range(40):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_radius == 1
    window.mask_tools.radius_box.setValue(10)  # the toolbar's size box
    press_key(qtbot, window, Qt.Key.Key_B)
    qtbot.mouseMove(canvas.viewport(), pos=_view_pos(window, 50, 50))
    outline = canvas.brush_outline
    assert outline.center() == QPointF(50.5, 50.5)
    assert outline.width() == pytest.approx(21)  # image pixels: scales with the zoom
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_outline.width() == pytest.approx(2 * 12 + 1)  # round(10 * 1.25)
    assert canvas.brush_outline.center() == QPointF(50.5, 50.5)
    press_key(qtbot, window, Qt.Key.Key_V)
    assert canvas.brush_outline is None


def test_a_stroke_is_previewed_until_the_worker_applied_it(qtbot, window: MainWindow) -> None:
    canvas = window.canvas
    press_key(qtbot, window, Qt.Key.Key_B)
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, LEFT, pos=_view_pos(window, 100, 100))
    qtbot.mouseMove(viewport, pos=_view_pos(window, 100, 130))
    assert canvas.stroke_previews == 1  # drawn while dragging
    assert window.controller.session.view.mask is None  # nothing sent yet
    qtbot.mouseRelease(viewport, LEFT, pos=_view_pos(window, 100, 130))
    assert canvas.stroke_previews == 1 and window.controller.session.busy
    wait_idle(qtbot, window)
    assert canvas.stroke_previews == 0
    assert window.controller.session.view.mask[100, 115]


def test_correcting_an_imported_object_with_the_brush(qtbot, window: MainWindow) -> None:
    controller = window.controller
    _click(qtbot, window, *DISK_CENTER)
    press_key(qtbot, window, Qt.Key.Key_Return)
    (obj,) = controller.rows.current_objects()
    original = obj.mask
    window.objects_panel.select(obj.id)
    press_key(qtbot, window, Qt.Key.Key_E)  # correct it
    assert controller.session.editing_object_id == obj.id
    press_key(qtbot, window, Qt.Key.Key_B)
    _drag(qtbot, window, [(DISK_CENTER[0], 20), (DISK_CENTER[0], 40)], button=RIGHT)
    _drag(qtbot, window, [(140, 150)])  # a dot
    press_key(qtbot, window, Qt.Key.Key_Return)
    (corrected,) = controller.rows.current_objects()
    expected = window.strokes[1].apply(window.strokes[0].apply(original))
    assert corrected.id == obj.id and corrected.source == "corrected"
    assert not corrected.mask[DISK_CENTER[0], 35] and corrected.mask[140, 150]
    np.testing.assert_array_equal(corrected.mask, expected)


def test_cleanups_of_the_object_in_progress_are_steps(qtbot, window: MainWindow) -> None:
    controller = window.controller
    _click(qtbot, window, *DISK_CENTER)
    clicked = controller.session.view.mask.copy()
    press_key(qtbot, window, Qt.Key.Key_B)
    _drag(qtbot, window, [(140, 170)])  # a separate blob
    _drag(qtbot, window, [DISK_CENTER], button=RIGHT)  # a hole in the disk
    edited = controller.session.view.mask.copy()
    assert edited[140, 170] and not edited[DISK_CENTER]

    window.mask_tools.keep_largest_action.trigger()
    wait_idle(qtbot, window)
    assert not controller.session.view.mask[140, 170] and not controller.session.view.mask[DISK_CENTER]
    window.mask_tools.fill_holes_action.trigger()
    wait_idle(qtbot, window)
    np.testing.assert_array_equal(controller.session.view.mask, clicked)
    window.mask_tools.fill_holes_action.trigger()  # no hole left: no step
    wait_idle(qtbot, window)
    assert window.statusBar().currentMessage() == "Fill holes: the mask has nothing to change."
    assert len(controller.session.view.step_clicks) == 5

    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)
    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(controller.session.view.mask, edited)
    assert len(controller.session.view.clicks) == 1 and window.errors == []


def test_cleanups_of_a_finished_object_replace_its_mask(qtbot, window: MainWindow,
                                                         monkeypatch) -> None:
    controller = window.controller
    _click(qtbot, window, *DISK_CENTER)
    press_key(qtbot, window, Qt.Key.Key_B)
    _drag(qtbot, window, [(140, 170)])
    _drag(qtbot, window, [DISK_CENTER], button=RIGHT)
    press_key(qtbot, window, Qt.Key.Key_Return)
    (obj,) = controller.rows.current_objects()
    finished = obj.mask
    assert finished[140, 170] and not finished[DISK_CENTER]

    window.mask_tools.keep_largest_action.trigger()  # nothing selected yet
    assert "select one" in window.statusBar().currentMessage()
    window.objects_panel.select(obj.id)
    journaled = []
    record = Journal.record_edit
    monkeypatch.setattr(Journal, "record_edit", lambda journal, serial, edit, finishes=False: (
        journaled.append(edit), record(journal, serial, edit, finishes)))
    window.mask_tools.keep_largest_action.trigger()
    window.mask_tools.fill_holes_action.trigger()
    assert not controller.session.busy  # done at once, without the worker
    (obj,) = controller.rows.current_objects()
    assert not obj.mask[140, 170] and obj.mask[DISK_CENTER]
    np.testing.assert_array_equal(obj.mask, finished & ~window.strokes[0].footprint(SHAPE)
                                  | window.strokes[1].footprint(SHAPE))
    assert obj.source == "corrected"
    saved = Project.load(controller.rows.project.path)
    np.testing.assert_array_equal(saved.images["a.png"].objects[0].mask, obj.mask)
    # Journaled as changes of the object's mask, each undoable.
    assert [(e.change, e.after.id) for e in journaled] == [(ObjectChange.EDIT_MASK, obj.id)] * 2
    assert journaled[-1].after.rle == encode_rle(obj.mask)
    window.mask_tools.fill_holes_action.trigger()
    assert window.statusBar().currentMessage() == \
        f"Fill holes: object {obj.id} has nothing to change."
    assert window.undo_action.text() == f"&Undo Change the mask of object {obj.id}"
    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)
    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(controller.rows.current_objects()[0].mask, finished)
    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)  # the finish itself
    press_key(qtbot, window, Qt.Key.Key_Y, CTRL)
    press_key(qtbot, window, Qt.Key.Key_Y, CTRL)
    press_key(qtbot, window, Qt.Key.Key_Y, CTRL)
    np.testing.assert_array_equal(controller.rows.current_objects()[0].mask, obj.mask)


def test_undoing_a_stroke_or_a_proposal_choice_keeps_the_clicks_shown(
        qtbot, window: MainWindow) -> None:
    controller = window.controller
    _click(qtbot, window, *DISK_CENTER)
    clicks = list(controller.session.view.clicks)
    press_key(qtbot, window, Qt.Key.Key_B)
    _drag(qtbot, window, [(140, 170)], wait=False)
    controller.history.undo()  # before the worker answered: the stroke's step has no click
    assert controller.session.busy and controller.session.displayed_clicks == clicks
    wait_idle(qtbot, window)
    assert controller.session.displayed_clicks == clicks == controller.session.view.clicks
    controller.history.redo()
    controller.history.undo()
    controller.history.undo()  # now the click's step
    assert controller.session.displayed_clicks == []
    assert not controller.has_object_in_progress
    controller.history.redo()
    assert controller.session.displayed_clicks == clicks
    wait_idle(qtbot, window)
    assert controller.session.view.clicks == clicks


def test_queued_clicks_undone_together_are_shown_as_the_worker_will(qtbot,
                                                                      window: MainWindow) -> None:
    controller = window.controller
    controller.add_click(60, 80, True)  # runs at once
    controller.add_click(10, 10, False)  # these two are queued: predicted together
    controller.add_click(150, 190, False)
    controller.history.undo()  # takes both queued clicks away
    shown = controller.session.displayed_clicks
    assert [(c.y, c.x) for c in shown] == [(60, 80)]
    assert window.canvas.marker_positions == [(60, 80, True)]
    wait_idle(qtbot, window)
    assert controller.session.view.clicks == shown


def test_undoing_a_proposal_choice_keeps_the_click_shown(qtbot, open_window,
                                                         tmp_path: Path) -> None:
    # A red part in a green object in a blue group: three proposals (see test_proposals).
    center = (240, 320)
    yy, xx = np.mgrid[:480, :640]
    radius = np.hypot(yy - center[0], xx - center[1])
    rng = np.random.default_rng(0)
    image = rng.normal(128, 8, (480, 640, 3))
    for limit, color in ((110, (40, 60, 200)), (40, (40, 180, 60)), (15, (210, 40, 40))):
        region = radius <= limit
        image[region] = rng.normal(0, 8, (int(region.sum()), 3)) + color
    cv2.imwrite(str(tmp_path / "nested.png"), np.clip(image, 0, 255).astype(np.uint8)[..., ::-1])
    win = open_window(SessionController())
    assert win.open_folder(tmp_path)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=10000)
    wait_idle(qtbot, win)
    win.model_panel.proposals_box.setChecked(True)
    assert win.controller.proposals_enabled
    _click(qtbot, win, *center)
    controller = win.controller
    assert len(controller.session.view.proposals) == 3
    chosen = 2 if controller.session.view.current_proposal != 2 else 1
    press_key(qtbot, win, getattr(Qt.Key, f"Key_{chosen + 1}"))
    assert controller.session.view.current_proposal == chosen

    controller.history.undo()  # the worker has not answered yet: the click must stay shown
    assert controller.session.busy
    assert controller.session.displayed_clicks == controller.session.view.clicks
    assert win.canvas.marker_positions == [(*center, True)]
    wait_idle(qtbot, win)
    assert controller.session.view.current_proposal != chosen and len(controller.session.view.clicks) == 1
    assert win.canvas.marker_positions == [(*center, True)]
