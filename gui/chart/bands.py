"""Shaded bands behind the candles: one per gap (missing bars), full view height."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem, QWidget

from session_monitor.gui.chart.overlay import FullHeightItem
from session_monitor.gui.chart.primitives import draw_rects

__all__ = ["BandItem"]


class BandItem(FullHeightItem):
    """Vertical bands ``[start, end)`` in x; spans whatever y range the view shows."""

    COLUMNS = 2

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self._brush = QBrush(color)

    @property
    def ranges(self) -> np.ndarray:
        return self.rows

    def set_ranges(self, ranges: np.ndarray) -> None:
        """(n, 2) array of ``[start, end)`` seconds, sorted by start."""
        self.set_rows(ranges)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        rect = option.exposedRect
        ranges = self.rows
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
