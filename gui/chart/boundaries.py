"""Window boundaries from the calendar: where each coarser derived interval's windows start and end.

On a chart of interval ``I``, every derived interval of the symbol that is coarser than
``I`` (``1d`` aside: the session lines mark it) gets a dotted vertical line at each edge of
its windows in every session shown, from core's window grid (core/windows.py): each
window's start, and the end of a window that no other window starts at (a session's
last window, cut short by the close, and the windows before a break). So the short last
window of a session and an early close are where the calendar puts them. The coarser
the interval, the stronger its line. Every chart has one (``IntervalChart.window_lines``),
shown while View → Window boundaries is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QStyleOptionGraphicsItem, QWidget

from session_monitor.core.intervals import Interval
from session_monitor.core.windows import window_grid
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.overlay import FullHeightItem
from session_monitor.gui.chart.primitives import draw_lines

if TYPE_CHECKING:
    import pyqtgraph as pg

    from session_monitor.gui.chart.data import ChartData

__all__ = ["LinesItem", "WindowBoundaries", "boundary_intervals"]


class LinesItem(FullHeightItem):
    """Vertical lines at ``xs`` spanning the view's height."""


    def __init__(self, color: QColor) -> None:
        super().__init__()
        pen = QPen(color)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DotLine)
        self._pen = pen

    @property
    def xs(self) -> np.ndarray:
        return self.rows[:, 0]

    def set_xs(self, xs: np.ndarray) -> None:
        self.set_rows(xs)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        rect = option.exposedRect
        xs = self.xs
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
    """The boundary lines of one chart (one LinesItem per coarser derived interval), hidden until shown.

    Holds the chart's data and price plot, not the chart: a chart owning a helper that
    owns the chart is a cycle, and the garbage collector may then delete the chart's Qt
    objects in the middle of a paint (it crashed the tests).
    """

    def __init__(self, data: ChartData, plot: pg.PlotItem) -> None:
        self.data = data
        self.plot = plot
        self.items: dict[str, LinesItem] = {}
        self.visible = False

    def set_visible(self, visible: bool) -> None:
        self.visible = visible
        if visible:
            self.refresh()
        for item in self.items.values():
            item.setVisible(visible)

    def shown_xs(self) -> dict[str, np.ndarray]:
        """Chart x of the lines drawn, per coarser interval (empty while hidden)."""
        return {name: item.xs for name, item in self.items.items()} if self.visible else {}

    def refresh(self) -> None:
        """Recompute from the sessions the chart shows (the chart calls this on every redraw)."""
        if not self.visible:
            return
        data = self.data
        symbol = data.symbol_data
        base = symbol.base_interval
        wanted = boundary_intervals(data.bars.interval, [b.interval for b in symbol.derived_intervals()])
        for name in [n for n in self.items if n not in {i.name for i in wanted}]:
            self.plot.removeItem(self.items.pop(name))
        for rank, interval in enumerate(reversed(wanted)):
            item = self.items.get(interval.name)
            if item is None:
                color = QColor(marks.WINDOW_LINE)
                color.setAlpha(max(60, marks.WINDOW_LINE.alpha() - 50 * rank))
                item = self.items[interval.name] = LinesItem(color)
                item.setZValue(-5)
                self.plot.addItem(item, ignoreBounds=True)
            grids = [window_grid(s, interval, base) for s in data.sessions]
            edges = np.concatenate([np.concatenate((g.starts, g.ends)) for g in grids]).astype(np.float64)
            item.set_xs(np.unique(data.timeline.to_x(edges)))
            item.setVisible(True)
