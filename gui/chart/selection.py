"""A clicked base bar, shared by every chart: each chart of that symbol outlines its bar holding it.

Clicking a base bar (on a base chart of the interval tabs, of the chart workspace or of
the base + derived view) selects it in one :class:`BaseBarSelection` that the main window
hands to all of them; every chart showing an interval of that symbol then outlines its
bar whose window holds the clicked one (:class:`HeldOutline`): the derived bars in every
interval (core/provenance.py ``bars_containing``), and the base bar itself on base charts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from PySide6.QtCore import QObject, Signal

from session_monitor.core.provenance import ContainingBar, bars_containing
from session_monitor.core.session_data import BarIntervalData, SymbolSessionData
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.data import BarView, ChartData
from session_monitor.gui.chart.highlight import BoxItem, around_bodies

if TYPE_CHECKING:
    import pyqtgraph as pg

    from session_monitor.gui.chart.widget import IntervalChart

__all__ = ["BaseBarSelection", "HeldOutline", "SelectedBase", "session_bars_at"]


class SelectedBase(NamedTuple):
    """The base bar clicked, and per interval name the window ``[start, end)`` of the bar holding it
    (for the base interval: the base bar's own window)."""

    symbol: str
    ts: int
    windows: Mapping[str, tuple[int, int]]
    containing: tuple[ContainingBar, ...]


def session_bars_at(symbol_data: SymbolSessionData, ts: float) -> dict[str, BarIntervalData] | None:
    """The bars of the session (current or kept in history) whose regular hours hold ``ts``."""
    if symbol_data.session.open <= ts < symbol_data.session.close:
        return symbol_data.bars
    for past in symbol_data.history:
        if past.session.open <= ts < past.session.close:
            return past.bars
    return None


class BaseBarSelection(QObject):
    """The one base bar selected in the window (or none); ``changed`` carries a SelectedBase or None."""

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.current: SelectedBase | None = None

    def select(self, symbol_data: SymbolSessionData, ts: float) -> SelectedBase | None:
        """Select the base bar whose window holds exchange time ``ts`` (cleared when there is none)."""
        bars = session_bars_at(symbol_data, ts)
        base_name = symbol_data.base_interval.name
        base = bars.get(base_name) if bars is not None else None
        if bars is None or base is None:
            self.clear()
            return None
        slot = base.grid.window_of_one(int(ts))
        start, end = int(base.grid.starts[slot]), int(base.grid.ends[slot])
        if base.data.index_of(start) < 0:
            self.clear()
            return None
        containing = tuple(bars_containing(bars, start))
        windows = {base_name: (start, end)}
        windows.update({c.interval.name: (c.start, c.end) for c in containing})
        self.current = SelectedBase(symbol_data.symbol, start, windows, containing)
        self.changed.emit(self.current)
        return self.current

    def attach(self, chart: IntervalChart) -> None:
        """Let ``chart`` outline the selection from now on, and select the base bars clicked on it
        (a click on a base chart where there is no bar clears the selection)."""
        chart.show_selection(self.current)
        self.changed.connect(chart.show_selection)
        chart.bar_clicked.connect(self._on_clicked)

    def _on_clicked(self, data: ChartData, bar: BarView | None) -> None:
        if data.derived:
            return  # a derived chart's click is the base + derived view's (explain), or nothing
        if bar is None:
            self.clear()
        else:
            self.select(data.symbol_data, bar.ts)

    def clear(self) -> None:
        if self.current is not None:
            self.current = None
            self.changed.emit(None)


class HeldOutline:
    """On one chart: the outline of its bar holding the selected base bar (none for another symbol).

    A derived chart outlines the whole window, low to high; a base chart outlines the
    clicked bar's body, so its up/down colour stays visible. Holds the chart's data and
    plot, not the chart (see WindowBoundaries: no cycle through the chart).
    """

    def __init__(self, data: ChartData, plot: pg.PlotItem) -> None:
        self.data = data
        derived = data.derived
        self.item = BoxItem(marks.DERIVED_HIGHLIGHT if derived else marks.BASE_HIGHLIGHT, width=2 if derived else 1)
        plot.addItem(self.item, ignoreBounds=True)
        self.selected: SelectedBase | None = None

    @property
    def window(self) -> tuple[int, int] | None:
        """The window outlined on this chart, in exchange time (None when nothing is)."""
        rows = self.item.boxes
        if self.selected is None or not len(rows):
            return None
        return self.selected.windows[self.data.interval_name]

    def show(self, selected: SelectedBase | None) -> None:
        self.selected = selected
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the chart's bars as they are now (a forming bar grows; a new session)."""
        data = self.data
        selected = self.selected
        window = None
        if selected is not None and selected.symbol == data.symbol_data.symbol:
            window = selected.windows.get(data.interval_name)
        box = np.empty((0, 4))
        if window is not None:
            for seg in data.segments():
                i = int(np.searchsorted(seg.ts, window[0]))
                if i < len(seg) and seg.ts[i] == window[0]:
                    start, end = np.array([window[0]]), np.array([window[1]])
                    low, high = seg.low[i : i + 1], seg.high[i : i + 1]
                    spans = np.column_stack((start, end, low, high)) if data.derived else around_bodies(
                        start, end, low, high)
                    box = data.place_spans(spans)
                    break
        self.item.set_boxes(box)
