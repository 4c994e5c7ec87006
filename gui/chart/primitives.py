"""Draw many rectangles or lines straight from numpy memory.

QPainter has ``drawRects(const QRectF *, int)`` / ``drawLines(const QLineF *, int)``;
wrapping a contiguous float64 array as the first element hands Qt the whole batch in one
call instead of building thousands of Python QRectF objects (the same trick pyqtgraph's
BarGraphItem uses internally).
"""

from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

__all__ = ["cosmetic_pen", "draw_lines", "draw_rects"]


def cosmetic_pen(color: QColor, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    """One device pixel wide whatever the zoom (data units are seconds and dollars)."""
    pen = QPen(color)
    pen.setCosmetic(True)
    pen.setWidth(1)
    pen.setStyle(style)
    return pen


def draw_rects(painter: QPainter, x: np.ndarray, y: np.ndarray, w: np.ndarray | float, h: np.ndarray) -> None:
    """Rectangles with corner ``(x, y)`` and size ``(w, h)`` in item coordinates."""
    n = len(x)
    if not n:
        return
    buf = np.empty((n, 4), np.float64)
    buf[:, 0], buf[:, 1], buf[:, 2], buf[:, 3] = x, y, w, h
    painter.drawRects(shiboken6.wrapInstance(buf.ctypes.data, QRectF), n)


def draw_lines(painter: QPainter, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> None:
    """Segments ``(x0, y0) -> (x1, y1)`` in item coordinates."""
    n = len(x0)
    if not n:
        return
    buf = np.empty((n, 4), np.float64)
    buf[:, 0], buf[:, 1], buf[:, 2], buf[:, 3] = x0, y0, x1, y1
    painter.drawLines(shiboken6.wrapInstance(buf.ctypes.data, QLineF), n)
