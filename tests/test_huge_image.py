"""Images beyond the display limit: drawn from a downscaled copy in image-pixel scene
coordinates, and a session whose memory per step is the box where the map is not constant.

Small stand-ins for 20000 x 20000 (benchmarks/huge_image.py measures that one): only
structural facts are checked, never timings.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt

from annotator.canvas import ImageCanvas
from annotator.overlays import DISPLAY_MAX_SIDE, display_shape, shrink_mask
from annotator.controller import SessionController
from engine.clicks import Click
from engine.compact_map import CompactMap
from engine.inference.grabcut import GrabCutPredictor
from engine.session import InteractiveSession


def _scene(height: int, width: int, center: tuple[int, int], radius: int) -> np.ndarray:
    image = np.full((height, width, 3), (70, 90, 60), np.uint8)
    cv2.circle(image, (center[1], center[0]), radius, (230, 200, 40), -1)
    return image


def test_display_shape_keeps_small_images_and_bounds_large_ones() -> None:
    assert display_shape((600, 800)) == (600, 800)
    assert display_shape((20000, 20000)) == (DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE)
    assert display_shape((9000, 300)) == (DISPLAY_MAX_SIDE, 273)
    assert display_shape((100000, 1)) == (DISPLAY_MAX_SIDE, 1)


def test_shrinking_a_mask_keeps_a_one_pixel_object() -> None:
    mask = np.zeros((9000, 300), bool)
    mask[4501, 151] = True
    shown = shrink_mask(mask, (8192, 273))
    assert shown.sum() >= 1
    ys, xs = np.nonzero(shown)
    assert abs(ys[0] - 4501 * 8192 / 9000) <= 1 and abs(xs[0] - 151 * 273 / 300) <= 1


@pytest.mark.gui
def test_canvas_draws_a_tall_image_from_a_bounded_copy(qtbot) -> None:
    height, width = 9000, 300
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 400)
    canvas.show()
    canvas.set_image(_scene(height, width, (4500, 150), 100))
    shown = (DISPLAY_MAX_SIDE, 273)
    assert canvas.image_shape == (height, width) and canvas.display_shape == shown
    pixmap = canvas._image_item.pixmap()
    assert (pixmap.height(), pixmap.width()) == shown
    # Scene coordinates stay image pixels: the item covers the whole image.
    assert canvas._image_item.sceneBoundingRect() == QRectF(0, 0, width, height)
    assert canvas.sceneRect() == QRectF(0, 0, width, height)
    position = canvas.mapFromScene(QPointF(150.5, 4500.5))
    y, x = canvas.image_position(QPointF(position))
    assert abs(y - 4500) <= 25 and abs(x - 150) <= 25  # the fitted view shows 1 px per ~23
    # The overlays are drawn at the display shape, over the same place.
    mask = np.zeros((height, width), bool)
    mask[4400:4600, 100:200] = True
    canvas.set_current_mask(mask, mask.astype(np.float32))
    layer = canvas.current_layer()
    assert layer.shape == (*shown, 4)
    scale = shown[0] / height
    assert layer[round(4500 * scale), round(150 * scale), 3] > 0
    assert layer[round(1000 * scale), round(150 * scale), 3] == 0
    canvas.set_display(0.5, 5, False, True)  # the probability heat map
    assert canvas.current_layer().shape == (*shown, 4)
    assert canvas.masks_layer([(mask, (255, 0, 0))]).shape == (*shown, 4)


@pytest.mark.gui
def test_a_large_image_opens_clicks_and_finishes_at_full_resolution(
        qtbot, open_window, tmp_path: Path) -> None:
    height, width = 3000, 9000
    center = (1500, 4500)
    cv2.imwrite(str(tmp_path / "wide.png"), _scene(height, width, center, 400))
    win = open_window(SessionController(), category="disk")
    assert win.open_folder(tmp_path)
    controller = win.controller
    qtbot.waitUntil(lambda: controller.session.image is not None, timeout=30000)
    assert win.canvas.display_shape == (2731, DISPLAY_MAX_SIDE)
    assert controller.session.display_image.shape == (2731, DISPLAY_MAX_SIDE, 3)  # made on the worker
    position = win.canvas.mapFromScene(QPointF(center[1] + 0.5, center[0] + 0.5))
    qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, pos=position)
    qtbot.waitUntil(lambda: not controller.session.busy and controller.session.view.mask is not None,
                    timeout=30000)
    assert controller.session.view.mask.shape == (height, width)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not controller.session.busy and bool(controller.rows.current_objects()), timeout=30000)
    [obj] = controller.rows.current_objects()
    mask = obj.mask
    assert mask.shape == (height, width) and mask[center]
    disk = np.zeros((height, width), np.uint8)
    cv2.circle(disk, (center[1], center[0]), 400, 1, -1)
    iou = (mask & disk.astype(bool)).sum() / (mask | disk.astype(bool)).sum()
    assert iou > 0.9
    assert win.canvas._objects_item.pixmap().width() == DISPLAY_MAX_SIDE
    assert win.errors == []


def test_compact_map_is_exact_and_only_as_large_as_its_box() -> None:
    rng = np.random.default_rng(0)
    probability = np.full((500, 400), 0.2, np.float32)
    probability[100:150, 30:90] = rng.random((50, 60), dtype=np.float32)
    compact = CompactMap.of(probability)
    assert compact.fill == np.float32(0.2) and compact.box == (100, 30, 150, 90)
    assert compact.nbytes == 50 * 60 * 4
    assert np.array_equal(compact.expand(), probability)
    assert compact.expand().dtype == np.float32
    everywhere = rng.random((30, 20), dtype=np.float32)  # varies everywhere: kept whole
    assert np.array_equal(CompactMap.of(everywhere).expand(), everywhere)
    assert CompactMap.of(np.zeros((7, 9), np.float32)).nbytes == 0
    # Upscaled from a coarse map (as GrabCut's is): the box is kept as runs, exactly.
    coarse = rng.random((8, 10), dtype=np.float32)
    upscaled = np.zeros((900, 700), np.float32)
    upscaled[100:740, 50:650] = cv2.resize(coarse, (600, 640), interpolation=cv2.INTER_NEAREST)
    runs = CompactMap.of(upscaled)
    assert runs.run_starts is not None and runs.nbytes < 640 * 600 * 4 / 20
    assert np.array_equal(runs.expand(), upscaled)
    corner = np.zeros((60, 60), np.float32)
    corner[:10, :10] = 1.0  # the object covers one corner: the fill comes from the others
    assert CompactMap.of(corner).box == (0, 0, 10, 10)


def test_session_memory_per_step_is_the_changed_box_not_the_image() -> None:
    size, center, radius = 4000, (2000, 2000), 150
    image = _scene(size, size, center, radius)
    session = InteractiveSession(GrabCutPredictor(), image)
    full_map = size * size * 4
    clicks = [Click(*center, True), Click(center[0], center[1] + 120, True),
              Click(center[0] + 100, center[1], True), Click(center[0] - 400, center[1], False),
              Click(center[0], center[1] - 120, True)]
    maps = []
    for click in clicks:
        session.add_click(click)
        maps.append(session.probability.copy())
    # Each step is kept as the box where its map is not constant: around the object.
    for step, probability in zip(session._steps, maps):
        stored = step.probability
        assert stored.box is not None
        top, left, bottom, right = stored.box
        assert stored.nbytes <= (bottom - top) * (right - left) * 4
        assert np.all(probability[:top] == stored.fill) and np.all(probability[bottom:] == stored.fill)
        assert (bottom - top) < size / 4 and (right - left) < size / 4
    # GrabCut's map is upscaled from 320 px: its boxes are kept as runs, far smaller still.
    assert session.stored_map_bytes < full_map / 10
    # Undo and redo give back every step's map exactly.
    for expected in reversed(maps[:-1]):
        session.undo()
        assert np.array_equal(session.probability, expected)
    for expected in maps[1:]:
        session.redo()
        assert np.array_equal(session.probability, expected)
    assert session.mask[center]
