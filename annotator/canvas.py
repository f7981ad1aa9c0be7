"""The image view: image, mask overlays, click markers; zoom, pan, click and brush input."""
from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QCursor, QImage, QMouseEvent, QPainter,
                           QPainterPath, QPen, QPixmap, QPolygonF, QTransform, QWheelEvent,
                           QKeyEvent)
from PySide6.QtWidgets import (QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem,
                               QGraphicsPixmapItem, QGraphicsScene, QGraphicsTextItem,
                               QGraphicsView)

from engine import Click
from engine.brush import MAX_RADIUS, Stroke
from annotator.colors import CURRENT_OBJECT, NEGATIVE_CLICK, POSITIVE_CLICK
from annotator.colors import ORIGINAL_OUTLINE
from annotator import overlays
from annotator.overlays import probability_overlay, shrink_image, shrink_mask

ZOOM_STEP = 1.25
MAX_ZOOM = 40.0
CLICK_MOVE_TOLERANCE = 4  # px on screen: a press-release that moved more is a drag, not a click
MARKER_RADIUS = 5  # px on screen, whatever the zoom (the default; the View panel sets it)
OVERLAY_OPACITY = 0.45  # the default fill opacity of masks
PLACEHOLDER_WIDTH = 420  # px: messages wrap rather than run off the view
BRUSH_RADIUS = 8  # image px: the brush's starting size
ERASE_PREVIEW = (20, 20, 20)  # what an eraser stroke in progress looks like: a dark band
TOOLS = ("click", "brush", "eraser")


def rgb_to_qimage(image: np.ndarray) -> QImage:
    """A QImage owning a copy of an H x W x 3 uint8 RGB array."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_RGB888).copy()


def rgba_to_qimage(image: np.ndarray) -> QImage:
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, image.strides[0],
                  QImage.Format.Format_RGBA8888).copy()


class ImageCanvas(QGraphicsView):
    """Shows one image in image-pixel scene coordinates (pixel (x, y) covers [x, x+1)).

    Left click = positive, right click = negative; wheel zooms about the cursor; middle
    drag or Space + left drag pans. A Space press without a drag asks to finish the object.
    With the brush tool a left drag paints and a right drag erases (the eraser tool swaps
    them); each press-drag-release is one ``Stroke``, previewed until ``clear_strokes``.
    """

    clicked = Signal(float, float, bool)  # y, x (image pixels), is_positive
    finish_requested = Signal()
    stroked = Signal(object)  # an engine.brush.Stroke in image pixels

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom() anchors
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setMouseTracking(True)
        self._image_item = QGraphicsPixmapItem()
        self._objects_item = QGraphicsPixmapItem()
        self._current_item = QGraphicsPixmapItem()
        for z, item in enumerate((self._image_item, self._objects_item, self._current_item)):
            item.setZValue(z)
            self.scene().addItem(item)
        self._placeholder = QGraphicsTextItem()
        self._placeholder.setDefaultTextColor(QColor(220, 220, 220))
        self._placeholder.setTextWidth(PLACEHOLDER_WIDTH)
        self.scene().addItem(self._placeholder)
        self._markers: list[QGraphicsEllipseItem] = []
        self._clicks: list[Click] = []
        self._current: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self.overlay_opacity = OVERLAY_OPACITY
        self.marker_radius = MARKER_RADIUS
        self.boundary_only = False
        self.show_probability = False
        self._image_shape: tuple[int, int] | None = None
        self._display_shape: tuple[int, int] | None = None
        self._press: tuple[QPointF, Qt.MouseButton] | None = None
        self._pan_from: QPointF | None = None
        self._space_down = False
        self._space_dragged = False
        self.tool = "click"
        self.brush_radius = BRUSH_RADIUS
        self._stroke: list[tuple[int, int]] | None = None  # image pixels of the drag so far
        self._stroke_erases = False
        self._stroke_items: list[QGraphicsPathItem] = []  # sent strokes, then the one drawn
        # The brush outline under the mouse, at the brush's size in image pixels: a white
        # circle under black dashes shows on any image.
        self._brush_cursor = self._two_tone(QGraphicsEllipseItem, QColor(255, 255, 255),
                                            1.5, QColor(0, 0, 0), 1.5, z=12)
        for item in self._brush_cursor:
            item.setVisible(False)
        # The outline of the mask an object was imported with (review): dark under bright
        # dashes, above the masks, below the click markers.
        self._original_outline = self._two_tone(QGraphicsPathItem, QColor(0, 0, 0, 200), 3.5,
                                                QColor(*ORIGINAL_OUTLINE), 2, z=5)

    def _two_tone(self, item_type: type, under: QColor, under_width: float, over: QColor,
                  over_width: float, z: float) -> tuple[QGraphicsItem, QGraphicsItem]:
        """Two items of ``item_type`` in the scene, a solid line under a dashed one, with
        cosmetic pens (screen pixels): a line that reads on any image at any zoom."""
        pens = (QPen(under, under_width), QPen(over, over_width, Qt.PenStyle.DashLine))
        items = (item_type(), item_type())
        for item, pen in zip(items, pens):
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(z)
            self.scene().addItem(item)
        return items

    # -- content --------------------------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int] | None:
        return self._image_shape

    @property
    def display_shape(self) -> tuple[int, int] | None:
        """(height, width) the image and its masks are drawn at (see DISPLAY_MAX_SIDE)."""
        return self._display_shape

    def set_image(self, image: np.ndarray, shown: np.ndarray | None = None) -> None:
        """Show ``image``; ``shown`` is its :func:`display_copy` where already made."""
        self._placeholder.setPlainText("")
        height, width = self._image_shape = image.shape[:2]
        self._display_shape = overlays.display_shape(self._image_shape)
        if shown is None or shown.shape[:2] != self._display_shape:
            shown = shrink_image(image, self._display_shape)
        self._image_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(shown)))
        # The layers are scaled back up so that scene coordinates stay image pixels.
        scale = QTransform.fromScale(width / shown.shape[1], height / shown.shape[0])
        for item in (self._image_item, self._objects_item, self._current_item):
            item.setTransform(scale)
        self._objects_item.setPixmap(QPixmap())
        self.set_current_mask(None)
        self.set_clicks([])
        self._stroke = None  # a drag begun on another image is dropped
        self.clear_strokes()
        self.scene().setSceneRect(QRectF(0, 0, image.shape[1], image.shape[0]))
        self.fit()

    def show_placeholder(self, text: str) -> None:
        """Clear the view and show ``text`` (image loading, or why it cannot be shown)."""
        self._image_shape = self._display_shape = None
        for item in (self._image_item, self._objects_item):
            item.setPixmap(QPixmap())
        self.set_current_mask(None)
        self.set_clicks([])
        self._stroke = None  # a drag begun on another image is dropped
        self.clear_strokes()
        self._placeholder.setPlainText(text)
        self.resetTransform()
        # A scene smaller than the view is shown centred: the text sits in the middle.
        self.scene().setSceneRect(self._placeholder.boundingRect())

    def set_objects_layer(self, layer: np.ndarray | None) -> None:
        self._objects_item.setPixmap(QPixmap.fromImage(rgba_to_qimage(layer))
                                     if layer is not None else QPixmap())

    def set_display(self, opacity: float, marker_radius: int, boundary_only: bool,
                    show_probability: bool) -> None:
        """How masks and clicks are drawn: fill opacity (0-1), click-marker radius (screen
        px), outlines only, and the current object's probability map instead of its mask."""
        self.overlay_opacity = opacity
        self.marker_radius = marker_radius
        self.boundary_only = boundary_only
        self.show_probability = show_probability
        self._draw_current()
        self.set_clicks(self._clicks)

    def masks_layer(self, masks: list[tuple[np.ndarray, tuple[int, int, int]]]) -> np.ndarray:
        """RGBA layer of image-sized ``masks`` drawn as the display settings say, at the
        display shape."""
        assert self._display_shape is not None
        return overlays.masks_layer(masks, self._display_shape,
                                    0.0 if self.boundary_only else self.overlay_opacity)

    def set_current_mask(self, mask: np.ndarray | None,
                         probability: np.ndarray | None = None) -> None:
        """Show the object in progress: its mask, or its ``probability`` map as a heat map
        when the display asks for one."""
        if mask is self._current[0] and probability is self._current[1]:
            return  # redrawing a huge image's layer costs a second on the GUI thread
        self._current = (mask, probability)
        self._draw_current()

    def _draw_current(self) -> None:
        mask, probability = self._current
        if mask is None or self._image_shape is None:
            self._current_item.setPixmap(QPixmap())
            return
        if self.show_probability and probability is not None:
            layer = probability_overlay(shrink_image(probability, self._display_shape),
                                        shrink_mask(mask, self._display_shape),
                                        self.overlay_opacity, CURRENT_OBJECT)
        else:
            layer = self.masks_layer([(mask, CURRENT_OBJECT)])
        self._current_item.setPixmap(QPixmap.fromImage(rgba_to_qimage(layer)))

    def current_layer(self) -> np.ndarray | None:
        """The drawn layer of the object in progress (RGBA at the display shape), None when
        empty."""
        pixmap = self._current_item.pixmap()
        if pixmap.isNull():
            return None
        image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGBA8888)
        data = np.frombuffer(image.constBits(), np.uint8).reshape(
            image.height(), image.bytesPerLine())
        return data[:, : image.width() * 4].reshape(image.height(), image.width(), 4).copy()

    def set_clicks(self, clicks: list[Click]) -> None:
        self._clicks = list(clicks)
        for marker in self._markers:
            self.scene().removeItem(marker)
        self._markers = []
        radius = self.marker_radius
        for click in clicks:
            color = QColor(*(POSITIVE_CLICK if click.is_positive else NEGATIVE_CLICK))
            marker = QGraphicsEllipseItem(-radius, -radius, 2 * radius, 2 * radius)
            marker.setBrush(QBrush(color))
            marker.setPen(QPen(QColor(255, 255, 255), 1.5))
            marker.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            marker.setPos(click.x + 0.5, click.y + 0.5)
            marker.setZValue(10)
            self.scene().addItem(marker)
            self._markers.append(marker)

    @property
    def marker_positions(self) -> list[tuple[float, float, bool]]:
        """(y, x, is_positive) of the drawn markers, for tests and accessibility."""
        return [(m.pos().y() - 0.5, m.pos().x() - 0.5,
                 m.brush().color() == QColor(*POSITIVE_CLICK)) for m in self._markers]

    # -- review: the imported outline and the object's box --------------------------------
    def set_original_outline(self, mask: np.ndarray | None) -> None:
        """Outline ``mask`` (the mask an object was imported with) dashed, above every mask,
        so a correction is seen beside the original; None removes it."""
        path = QPainterPath()
        if mask is not None and mask.any():
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST,
                                           cv2.CHAIN_APPROX_SIMPLE)
            for contour in contours:
                # Contours run through pixel centres; pixel (x, y) is centred at x + 0.5.
                points = [QPointF(x + 0.5, y + 0.5) for x, y in contour.reshape(-1, 2)]
                path.addPolygon(QPolygonF(points + points[:1]))
        for item in self._original_outline:
            item.setPath(path)

    def original_outline_path(self) -> QPainterPath:
        """The drawn outline of the imported mask (empty when none is shown)."""
        return self._original_outline[1].path()

    def zoom_to_box(self, box: list[int] | tuple[int, int, int, int], margin: float = 0.3
                    ) -> None:
        """Show the image rectangle ``box`` (COCO ``[x, y, w, h]``) with ``margin`` of its
        larger side around it, zooming no closer than MAX_ZOOM."""
        x, y, width, height = box
        pad = margin * max(width, height, 1)
        # Never beyond the image: a large object is shown no smaller than fitting the image.
        rect = QRectF(x - pad, y - pad, width + 2 * pad, height + 2 * pad).intersected(
            self._image_item.boundingRect())
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom_factor() > MAX_ZOOM:
            self.scale(MAX_ZOOM / self.zoom_factor(), MAX_ZOOM / self.zoom_factor())
            self.centerOn(rect.center())

    # -- brush ----------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """"click", "brush" or "eraser": what the left and right buttons do."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; the tools are {', '.join(TOOLS)}")
        self.tool = tool
        if tool == "click":
            self._show_brush_cursor(None)
        else:  # show the brush's size at once, not at the next mouse move
            pointer = self.viewport().mapFromGlobal(QCursor.pos())
            if self._image_shape is not None and self.viewport().rect().contains(pointer):
                row, col = self._scene_pixel(QPointF(pointer))
                self._show_brush_cursor(QPointF(col + 0.5, row + 0.5))

    def set_brush_radius(self, radius: int) -> None:
        """The brush's radius in image pixels (from 1 to engine.brush.MAX_RADIUS)."""
        self.brush_radius = max(1, min(MAX_RADIUS, int(radius)))
        center = self._brush_cursor[0].rect().center()
        if self._brush_cursor[0].isVisible():
            self._show_brush_cursor(center)

    def clear_strokes(self) -> None:
        """Drop the previews of the strokes sent (their edits are in the mask now); the
        stroke being drawn stays."""
        drawing = self._stroke_items[-1:] if self._stroke is not None else []
        for item in self._stroke_items[:len(self._stroke_items) - len(drawing)]:
            self.scene().removeItem(item)
        self._stroke_items = drawing

    @property
    def brush_outline(self) -> QRectF | None:
        """The brush outline drawn under the mouse (scene = image pixels), None when hidden."""
        outline = self._brush_cursor[0]
        return outline.rect() if outline.isVisible() else None

    @property
    def stroke_previews(self) -> int:
        """How many strokes are drawn as previews (sent or in progress), for tests."""
        return len(self._stroke_items)

    def _show_brush_cursor(self, scene_pos: QPointF | None) -> None:
        for item in self._brush_cursor:
            item.setVisible(scene_pos is not None)
        if scene_pos is not None:
            # The footprint is every pixel centre within the radius of the pointed pixel's.
            radius = self.brush_radius + 0.5
            for item in self._brush_cursor:
                item.setRect(QRectF(scene_pos.x() - radius, scene_pos.y() - radius,
                                    2 * radius, 2 * radius))

    def _scene_pixel(self, view_pos: QPointF) -> tuple[int, int]:
        """(row, col) of the image pixel under a viewport position, also outside the image."""
        scene = self.mapToScene(view_pos.toPoint())
        return math.floor(scene.y()), math.floor(scene.x())

    def _begin_stroke(self, view_pos: QPointF, erase: bool) -> None:
        self._stroke = [self._scene_pixel(view_pos)]
        self._stroke_erases = erase
        item = QGraphicsPathItem()
        color = QColor(*(ERASE_PREVIEW if erase else CURRENT_OBJECT))
        color.setAlphaF(0.6)
        # Pixel centres joined by a pen as wide as the footprint, with round ends like it.
        pen = QPen(color, 2 * self.brush_radius + 1, Qt.PenStyle.SolidLine,
                   Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        item.setPen(pen)
        item.setZValue(9)  # under the click markers
        self.scene().addItem(item)
        self._stroke_items.append(item)
        self._draw_stroke()

    def _extend_stroke(self, view_pos: QPointF) -> None:
        pixel = self._scene_pixel(view_pos)
        if pixel != self._stroke[-1]:
            self._stroke.append(pixel)
            self._draw_stroke()

    def _draw_stroke(self) -> None:
        (y, x), *rest = self._stroke
        path = QPainterPath(QPointF(x + 0.5, y + 0.5))
        # A lone point still needs a segment for the round cap to draw a dot.
        for y, x in rest or [(y, x)]:
            path.lineTo(x + 0.5, y + 0.5)
        self._stroke_items[-1].setPath(path)

    def _end_stroke(self) -> None:
        stroke = Stroke(tuple(self._stroke), self.brush_radius, self._stroke_erases)
        self._stroke = None
        self.stroked.emit(stroke)

    # -- view -----------------------------------------------------------------------------
    def fit(self) -> None:
        if self._image_shape is not None:
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom_factor(self) -> float:
        return self.transform().m11()

    def zoom(self, steps: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``ZOOM_STEP ** steps`` keeping the image point at ``anchor`` (a viewport
        position, default the centre) where it is."""
        factor = ZOOM_STEP ** steps
        if self.zoom_factor() * factor > MAX_ZOOM:
            factor = MAX_ZOOM / self.zoom_factor()
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        fixed = self.mapToScene(anchor.toPoint())
        self.scale(factor, factor)
        drift = self.mapFromScene(fixed) - anchor.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + drift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + drift.y())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom(steps, event.position())
        event.accept()

    def image_position(self, view_pos: QPointF) -> tuple[float, float] | None:
        """(row, col) of the image pixel under a viewport position, None outside the image."""
        if self._image_shape is None:
            return None
        # Mapped as a QPointF: with a device pixel ratio above 1 a click falls between
        # logical pixels, and rounding it first could pick the neighbouring image pixel.
        scene = self.viewportTransform().inverted()[0].map(QPointF(view_pos))
        y, x = math.floor(scene.y()), math.floor(scene.x())
        if 0 <= y < self._image_shape[0] and 0 <= x < self._image_shape[1]:
            return float(y), float(x)
        return None

    # -- input ----------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
                button == Qt.MouseButton.LeftButton and self._space_down):
            self._pan_from = event.position()
            self._space_dragged = self._space_down
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            if self.tool == "click":
                self._press = (event.position(), button)
            elif self._image_shape is not None and self._stroke is None:
                self._press = (event.position(), button)
                right = button == Qt.MouseButton.RightButton
                self._begin_stroke(event.position(), erase=right if self.tool == "brush"
                                   else not right)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        if self._stroke is not None:
            self._extend_stroke(event.position())
        if self.tool != "click" and self._image_shape is not None and self._pan_from is None:
            row, col = self._scene_pixel(event.position())
            self._show_brush_cursor(QPointF(col + 0.5, row + 0.5))
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        elif self._press is not None and event.button() == self._press[1]:
            start, button = self._press
            self._press = None
            if self._stroke is not None:
                self._extend_stroke(event.position())
                self._end_stroke()
            elif self.tool == "click":
                moved = (event.position() - start).manhattanLength()
                position = self.image_position(event.position())
                if moved <= CLICK_MOVE_TOLERANCE and position is not None:
                    self.clicked.emit(*position, button == Qt.MouseButton.LeftButton)
        event.accept()

    def contextMenuEvent(self, event) -> None:
        event.accept()  # the right button is a negative click, never a menu

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self._space_dragged = False
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
            if not self._space_dragged:
                self.finish_requested.emit()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def enterEvent(self, event) -> None:
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:
        self._show_brush_cursor(None)
        super().leaveEvent(event)
