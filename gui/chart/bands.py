"""Shaded bands behind the candles: one per gap (missing bars), full view height."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from session_monitor.gui.chart.primitives import draw_rects

__all__ = ["BandItem"]


class BandItem(pg.GraphicsObject):
    """Vertical bands ``[start, end)`` in x; spans whatever y range the view shows.

    Added with ``ignoreBounds=True``: bands must never drive the auto-range.
    """

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._brush = QBrush(color)
        self._ranges = np.empty((0, 2), np.float64)

    @property
    def ranges(self) -> np.ndarray:
        return self._ranges

    def set_ranges(self, ranges: np.ndarray) -> None:
        """(n, 2) array of ``[start, end)`` seconds, sorted by start."""
        ranges = np.asarray(ranges, np.float64).reshape(-1, 2)
        if np.array_equal(ranges, self._ranges):
            return
        self._ranges = ranges
        self.prepareGeometryChange()
        self.update()

    def viewTransformChanged(self) -> None:
        # the bands follow the view's y range, so their bounding rect does too
        super().viewTransformChanged()
        self.prepareGeometryChange()

    def boundingRect(self) -> QRectF:
        view = self.viewRect()
        if view is None or not len(self._ranges):
            return QRectF()
        x0, x1 = float(self._ranges[:, 0].min()), float(self._ranges[:, 1].max())
        return QRectF(x0, view.top(), x1 - x0, view.height())

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        rect = option.exposedRect
        ranges = self._ranges
        if not len(ranges) or rect.isEmpty():
            return
        lo = int(np.searchsorted(ranges[:, 1], rect.left(), side="right"))
        hi = int(np.searchsorted(ranges[:, 0], rect.right(), side="right"))
        if hi <= lo:
            return
        shown = ranges[lo:hi]
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._brush)
        n = len(shown)
        draw_rects(painter, shown[:, 0], np.full(n, rect.top()), shown[:, 1] - shown[:, 0], np.full(n, rect.height()))
