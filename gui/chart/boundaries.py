"""Window boundaries from the calendar: where each coarser derived interval's windows start.

On a chart of interval ``I``, every derived interval of the symbol that is coarser than
``I`` (``1d`` aside: the session lines mark it) gets a dotted vertical line at each of its
window starts in every session shown, from core's window grid (core/windows.py), so the
short last window of a session and an early close are where the calendar puts them. The
coarser the interval, the stronger its line.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from session_monitor.core.intervals import Interval
from session_monitor.core.windows import window_grid
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.lines import LinesItem
from session_monitor.gui.chart.widget import IntervalChart

__all__ = ["LinesItem", "WindowBoundaries", "boundary_intervals"]


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
