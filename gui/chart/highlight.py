"""Highlights drawn over a chart: outlined bar boxes and crossed-out slots (bar provenance)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QStyleOptionGraphicsItem, QWidget

from session_monitor.gui.chart.items import BODY
from session_monitor.gui.chart.overlay import OverlayItem
from session_monitor.gui.chart.primitives import draw_lines, draw_rects

__all__ = ["BoxItem", "around_bodies"]


class BoxItem(OverlayItem):
    """Boxes ``[x0, x1] × [y0, y1]`` in data coordinates, outlined (or crossed out with ``cross``)."""

    COLUMNS = 4

    def __init__(self, color: QColor, cross: bool = False, width: int = 2) -> None:
        super().__init__()
        pen = QPen(color)
        pen.setCosmetic(True)
        pen.setWidth(width)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        self._pen = pen
        self._cross = cross
        self.setZValue(20)

    @property
    def boxes(self) -> np.ndarray:
        """(n, 4) rows ``x0, x1, y0, y1``."""
        return self.rows

    def set_boxes(self, boxes: np.ndarray) -> None:
        self.set_rows(boxes)

    def boundingRect(self) -> QRectF:
        span = self.x_span()
        if span is None:
            return QRectF()
        b = self.rows
        x0, x1 = span
        y0, y1 = float(b[:, 2].min()), float(b[:, 3].max())
        px = self.pixelWidth() or 0.0
        py = self.pixelHeight() or 0.0
        return QRectF(x0 - 3 * px, y0 - 3 * py, x1 - x0 + 6 * px, y1 - y0 + 6 * py)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        b = self.rows
        if not len(b):
            return
        painter.setPen(self._pen)
        painter.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        if self._cross:
            draw_lines(painter, np.concatenate((b[:, 0], b[:, 0])), np.concatenate((b[:, 2], b[:, 3])),
                       np.concatenate((b[:, 1], b[:, 1])), np.concatenate((b[:, 3], b[:, 2])))
        else:
            draw_rects(painter, b[:, 0], b[:, 2], b[:, 1] - b[:, 0], b[:, 3] - b[:, 2])


def around_bodies(starts: np.ndarray, ends: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Boxes ``x0, x1, y0, y1`` around candles (their body width, low to high), so an outlined
    base bar keeps its up/down colour visible and neighbours' outlines do not merge."""
    widths = ends - starts
    x0 = starts + widths * (1.0 - BODY) / 2.0
    return np.column_stack((x0, x0 + widths * BODY, lows, highs))
