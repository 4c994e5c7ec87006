"""The chart grid: lines at the axes' major and minor ticks, drawn in one call per level.

pyqtgraph's own grid (``PlotItem.showGrid``) is drawn by each AxisItem into its QPicture
with translucent lines spanning the plot, regenerated whenever the range moves (every new
bar while the view follows the newest): about 12 ms of a 16 ms chart repaint here. This
item asks the same axes for their tick positions, draws opaque lines in colours blended
with the background beforehand (the look of a translucent grid, without per-pixel
blending), and remembers the lines until the view range changes.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem, QWidget

from session_monitor.gui import theme
from session_monitor.gui.chart.primitives import cosmetic_pen, draw_lines

__all__ = ["GridItem", "blend"]

#: tick levels that get grid lines: major, then minor (fainter)
LEVEL_ALPHAS = (theme.GRID_ALPHA, theme.GRID_ALPHA / 2)


def blend(color: QColor, background: QColor, alpha: float) -> QColor:
    """``color`` at ``alpha`` over ``background``, as one opaque colour."""
    return QColor(
        round(background.red() + (color.red() - background.red()) * alpha),
        round(background.green() + (color.green() - background.green()) * alpha),
        round(background.blue() + (color.blue() - background.blue()) * alpha),
    )


def _levels(ticks: list[tuple[float, list[float]]], low: float, high: float) -> list[list[float]]:
    """An axis' tick levels inside ``[low, high]``, coarsest first, empty levels dropped
    (a date axis has a day level with no tick inside an intraday view), each value once."""
    out: list[list[float]] = []
    seen: set[float] = set()
    for _spacing, values in ticks:
        inside = [v for v in values if low <= v <= high and v not in seen]
        if inside:
            seen.update(inside)
            out.append(inside)
    return out


class GridItem(pg.GraphicsObject):
    """Vertical lines at ``x_axis``'s ticks, horizontal at ``y_axis``'s, across the whole view.

    Added with ``ignoreBounds=True``: the grid must never drive the auto-range.
    """

    def __init__(self, x_axis: pg.AxisItem, y_axis: pg.AxisItem) -> None:
        super().__init__()
        self.x_axis = x_axis
        self.y_axis = y_axis
        self._pens = [cosmetic_pen(blend(theme.AXIS, theme.BACKGROUND, alpha)) for alpha in LEVEL_ALPHAS]
        self._key: tuple[float, float, float, float, float, float] | None = None
        #: per level: (x positions, y positions) of the lines, for the range in ``_key``
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []
        self.setZValue(-1000)

    def viewTransformChanged(self) -> None:
        # spans whatever the view shows, so the bounding rect moves with the view
        super().viewTransformChanged()
        self.prepareGeometryChange()

    def boundingRect(self) -> QRectF:
        view = self.viewRect()
        return QRectF() if view is None else QRectF(view)

    def lines(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per tick level (major first): the x of its vertical and the y of its horizontal lines."""
        view = self.viewRect()
        if view is None or view.isEmpty():
            return []
        # tick spacing depends on the axes' length in pixels: the same call the axes label with
        width = float(self.x_axis.geometry().width())
        height = float(self.y_axis.geometry().height())
        key = (view.left(), view.right(), view.top(), view.bottom(), width, height)
        if key != self._key:
            xs = _levels(self.x_axis.tickValues(view.left(), view.right(), width), view.left(), view.right())
            ys = _levels(self.y_axis.tickValues(view.top(), view.bottom(), height), view.top(), view.bottom())
            levels = []
            for k in range(len(LEVEL_ALPHAS)):
                x = np.asarray(xs[k] if k < len(xs) else (), np.float64)
                levels.append((x, np.asarray(ys[k] if k < len(ys) else (), np.float64)))
            self._key, self._levels = key, levels
        return self._levels

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        view = self.viewRect()
        if view is None:
            return
        top, bottom, left, right = view.top(), view.bottom(), view.left(), view.right()
        # minor first, so the brighter major lines win where they cross
        for pen, (x, y) in reversed(list(zip(self._pens, self.lines(), strict=False))):
            painter.setPen(pen)
            draw_lines(painter, x, np.full(len(x), top), x, np.full(len(x), bottom))
            draw_lines(painter, np.full(len(y), left), y, np.full(len(y), right), y)
