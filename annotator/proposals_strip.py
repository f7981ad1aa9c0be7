"""The first click's proposals as a row of thumbnails: click one (or press 1/2/3) to pick it."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from engine.box import Box
from engine.proposals import Proposal
from annotator.canvas import rgb_to_qimage
from annotator.overlays import mask_overlay
from annotator.colors import CURRENT_OBJECT

THUMBNAIL_SIZE = 96  # px, the longer side of a thumbnail
_CONTEXT = 0.15  # context around the proposals' joint extent, as a fraction of its size


def proposal_thumbnails(image: np.ndarray, proposals: Sequence[Proposal],
                        size: int = THUMBNAIL_SIZE) -> list[np.ndarray]:
    """One RGB thumbnail per proposal: the same crop around all of them, the mask painted."""
    union = np.zeros(image.shape[:2], bool)
    for proposal in proposals:
        union |= proposal.mask
    extent = Box.of_mask(union) or Box.full(image.shape)
    margin = round(_CONTEXT * max(extent.shape))
    top, left, bottom, right = extent.grown(margin, margin, margin, margin).clip(image.shape)
    crop = image[top:bottom, left:right].astype(np.float32)
    scale = size / max(bottom - top, right - left)
    shape = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    thumbnails = []
    for proposal in proposals:
        layer = mask_overlay([(proposal.mask[top:bottom, left:right], CURRENT_OBJECT)],
                             (bottom - top, right - left), 0.5, outline=True)
        alpha = layer[..., 3:4].astype(np.float32) / 255
        blended = crop * (1 - alpha) + layer[..., :3].astype(np.float32) * alpha
        thumbnails.append(cv2.resize(blended, shape, interpolation=cv2.INTER_AREA)
                          .round().astype(np.uint8))
    return thumbnails


class ProposalsStrip(QWidget):
    """Thumbnails of the proposals with their kind and score; the current one is checked."""

    chosen = Signal(int)  # index of the proposal the user picked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(4, 2, 4, 2)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.buttons: list[QToolButton] = []
        self._layout.addWidget(self.hint)
        self._layout.addStretch(1)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas
        self.set_proposals(None, (), None)

    def set_proposals(self, image: np.ndarray | None, proposals: Sequence[Proposal],
                      current: int | None) -> None:
        """Show ``proposals`` of ``image`` (none: a hint), ``current`` checked."""
        for button in self.buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        if image is None or not proposals:
            self.hint.setText("Proposals: after the first click on an object, its part, "
                              "whole and group appear here.")
            return
        self.hint.setText("Pick:")
        for index, (proposal, thumbnail) in enumerate(
                zip(proposals, proposal_thumbnails(image, proposals))):
            button = QToolButton(self)
            button.setCheckable(True)
            button.setChecked(index == current)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIcon(QIcon(QPixmap.fromImage(rgb_to_qimage(thumbnail))))
            button.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            star = " ★" if proposal.suggested else ""
            button.setText(f"{index + 1} · {proposal.kind}{star} · {proposal.score:.2f}")
            button.setToolTip(f"Key {index + 1}: continue from this mask ({proposal.source}; "
                              f"stability {proposal.stability:.2f}, "
                              f"mean probability {proposal.confidence:.2f}; "
                              f"{proposal.area} px)")
            button.clicked.connect(lambda _=False, i=index: self._picked(i))
            self._layout.insertWidget(1 + index, button)
            self.buttons.append(button)

    def _picked(self, index: int) -> None:
        # The controller's answer sets the checked state; until then keep the old one.
        self.buttons[index].setChecked(not self.buttons[index].isChecked())
        self.chosen.emit(index)
