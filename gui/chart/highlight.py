"""Highlights drawn over a chart: outlined bar boxes and crossed-out slots (bar provenance).

Added with ``ignoreBounds=True``: a highlight never drives the auto-range.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QStyleOptionGraphicsItem, QWidget

from session_monitor.gui.chart.primitives import draw_lines, draw_rects

__all__ = ["BoxItem"]


class BoxItem(pg.GraphicsObject):
    """Boxes ``[x0, x1] × [y0, y1]`` in data coordinates, outlined (or crossed out with ``cross``)."""

    def __init__(self, color: QColor, cross: bool = False, width: int = 2) -> None:
        super().__init__()
        pen = QPen(color)
        pen.setCosmetic(True)
        pen.setWidth(width)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        self._pen = pen
        self._cross = cross
        self._boxes = np.empty((0, 4), np.float64)
        self.setZValue(20)

    @property
    def boxes(self) -> np.ndarray:
        """(n, 4) rows ``x0, x1, y0, y1``."""
        return self._boxes

    def set_boxes(self, boxes: np.ndarray) -> None:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if np.array_equal(boxes, self._boxes):
            return
        self.prepareGeometryChange()
        self._boxes = boxes
        self.update()

    def boundingRect(self) -> QRectF:
        b = self._boxes
        if not len(b):
            return QRectF()
        x0, x1 = float(b[:, 0].min()), float(b[:, 1].max())
        y0, y1 = float(b[:, 2].min()), float(b[:, 3].max())
        px = self.pixelWidth() or 0.0
        py = self.pixelHeight() or 0.0
        return QRectF(x0 - 3 * px, y0 - 3 * py, x1 - x0 + 6 * px, y1 - y0 + 6 * py)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        b = self._boxes
        if not len(b):
            return
        painter.setPen(self._pen)
        painter.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        if self._cross:
            draw_lines(painter, np.concatenate((b[:, 0], b[:, 0])), np.concatenate((b[:, 2], b[:, 3])),
                       np.concatenate((b[:, 1], b[:, 1])), np.concatenate((b[:, 3], b[:, 2])))
        else:
            draw_rects(painter, b[:, 0], b[:, 2], b[:, 1] - b[:, 0], b[:, 3] - b[:, 2])
