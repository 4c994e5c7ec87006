"""Vertical lines spanning the view's height (window boundaries, segment boundaries)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from session_monitor.gui.chart.primitives import draw_lines

__all__ = ["LinesItem"]


class LinesItem(pg.GraphicsObject):
    """Vertical lines at ``xs`` spanning the view's height (added with ``ignoreBounds=True``)."""

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        pen = QPen(color)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DotLine)
        self._pen = pen
        self._xs = np.empty(0, np.float64)

    @property
    def xs(self) -> np.ndarray:
        return self._xs

    def set_xs(self, xs: np.ndarray) -> None:
        xs = np.asarray(xs, np.float64)
        if np.array_equal(xs, self._xs):
            return
        self.prepareGeometryChange()
        self._xs = xs
        self.update()

    def viewTransformChanged(self) -> None:
        super().viewTransformChanged()
        self.prepareGeometryChange()

    def boundingRect(self) -> QRectF:
        view = self.viewRect()
        if view is None or not len(self._xs):
            return QRectF()
        x0, x1 = float(self._xs[0]), float(self._xs[-1])
        return QRectF(x0, view.top(), max(x1 - x0, 1e-9), view.height())

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        rect = option.exposedRect
        xs = self._xs
        lo, hi = np.searchsorted(xs, [rect.left(), rect.right()], side="left")
        shown = xs[int(lo) : int(hi) + 1]
        shown = shown[(shown >= rect.left()) & (shown <= rect.right())]
        if not len(shown):
            return
        painter.setPen(self._pen)
        n = len(shown)
        draw_lines(painter, shown, np.full(n, rect.top()), shown, np.full(n, rect.bottom()))
