"""Window boundaries from the calendar: where each coarser derived interval's windows start.

On a chart of interval ``I``, every derived interval of the symbol that is coarser than
``I`` (``1d`` aside: the session lines mark it) gets a dotted vertical line at each of its
window starts in every session shown, from core's window grid (core/windows.py), so the
short last window of a session and an early close are where the calendar puts them. The
coarser the interval, the stronger its line.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from session_monitor.core.intervals import Interval
from session_monitor.core.windows import window_grid
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.primitives import draw_lines
from session_monitor.gui.chart.widget import IntervalChart

__all__ = ["LinesItem", "WindowBoundaries", "boundary_intervals"]


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


def boundary_intervals(chart_interval: Interval, derived: list[Interval]) -> list[Interval]:
    """The intraday derived intervals coarser than the chart's, shortest first."""
    coarser = {i for i in derived if not i.is_daily and (chart_interval.is_daily or i.seconds > chart_interval.seconds)}
    return sorted(coarser, key=Interval.sort_key)


class WindowBoundaries:
    """The boundary lines of one chart (one LinesItem per coarser derived interval)."""

    def __init__(self, chart: IntervalChart) -> None:
        self.chart = chart
        self.items: dict[str, LinesItem] = {}
        self.visible = False

    def set_visible(self, visible: bool) -> None:
        self.visible = visible
        if visible:
            self.refresh()
        for item in self.items.values():
            item.setVisible(visible)

    def refresh(self) -> None:
        """Recompute from the sessions the chart shows (after a new session, or when turned on)."""
        if not self.visible:
            return
        data = self.chart.data
        symbol = data.symbol_data
        base = symbol.base_interval
        wanted = boundary_intervals(data.bars.interval, [b.interval for b in symbol.derived_intervals()])
        for name in [n for n in self.items if n not in {i.name for i in wanted}]:
            self.chart.price_plot.removeItem(self.items.pop(name))
        for rank, interval in enumerate(reversed(wanted)):
            item = self.items.get(interval.name)
            if item is None:
                color = QColor(marks.WINDOW_LINE)
                color.setAlpha(max(60, marks.WINDOW_LINE.alpha() - 50 * rank))
                item = self.items[interval.name] = LinesItem(color)
                item.setZValue(-5)
                self.chart.price_plot.addItem(item, ignoreBounds=True)
            starts = [window_grid(s, interval, base).starts for s in data.sessions]
            item.set_xs(data.timeline.to_x(np.concatenate(starts).astype(np.float64)) if starts else np.empty(0))
            item.setVisible(True)
