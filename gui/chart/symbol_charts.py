"""The selected symbol's charts: one tab per interval, fed from the signal bridge.

A chart is built when its tab is first shown (a pyqtgraph chart costs ~75 ms to build,
so building every interval up front made switching symbols sluggish). Bar changes are
coalesced per interval (lowest first changed index wins) and applied on a short timer,
so a burst of base bars at max speed costs one redraw per frame, not one per bar. Gap
bands are refreshed on quality changes only (core builds gaps on demand). A base bar
clicked on any chart is outlined, with the bars holding it, through the window's one
BaseBarSelection (gui/chart/selection.py).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from session_monitor.core.calendar import Session
from session_monitor.core.session_data import SessionData
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.bands import BandItem
from session_monitor.gui.chart.base_derived import BaseDerivedView
from session_monitor.gui.chart.data import ChartData
from session_monitor.gui.chart.selection import BaseBarSelection
from session_monitor.gui.chart.widget import IntervalChart

__all__ = ["COMBINED_TAB", "SymbolCharts"]

#: the tab showing the base chart over one derived interval (gui/chart/base_derived.py)
COMBINED_TAB = "base + derived"

#: milliseconds between coalesced chart updates (~25 Hz)
CHART_FLUSH_MS = 40


class SymbolCharts(QWidget):
    """Tabs of IntervalChart for one symbol; a placeholder when nothing is selected."""

    #: (interval name) the visible tab changed
    interval_shown = Signal(str)

    def __init__(self, session_data: SessionData, bridge: SessionBridge, parent: QWidget | None = None,
                 selection: BaseBarSelection | None = None) -> None:
        super().__init__(parent)
        self._sd = session_data
        #: the clicked base bar, shared with the other chart views of the window
        self.selection = selection if selection is not None else BaseBarSelection(self)
        self._symbol: str | None = None
        self._charts: dict[str, IntervalChart] = {}  # built so far
        self._pages: dict[str, QWidget] = {}  # one tab page per interval, filled lazily
        #: windows of bars that differ from a reference, per (symbol, interval), and their bands
        self._mismatches: dict[tuple[str, str], np.ndarray] = {}
        self._mismatch_bands: dict[str, BandItem] = {}
        #: whether the charts draw window boundaries (View → Window boundaries)
        self.window_lines = False
        #: the "base + derived" tab's page and view (built when first shown)
        self._combined_page: QWidget | None = None
        self._combined: BaseDerivedView | None = None
        #: how every chart shows time and prices (View menu)
        self.folded = True
        self.log_scale = False
        #: bar and quality changes of every symbol, drained (for the shown one) on the timer
        self._changes = bridge.subscribe_changes(self, self._schedule)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.placeholder = QLabel("Add a symbol, then select it to see its charts", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHART_FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        bridge.session_started.connect(self._on_session_started)
        bridge.symbol_removed.connect(self._on_symbol_removed)

    # -- what is shown ------------------------------------------------------------------------
    @property
    def symbol(self) -> str | None:
        return self._symbol

    @property
    def intervals(self) -> list[str]:
        """Interval names of the tabs, in tab order."""
        return list(self._pages)

    @property
    def charts(self) -> dict[str, IntervalChart]:
        """Charts built so far, by interval name (a copy)."""
        return dict(self._charts)

    def chart(self, interval: str) -> IntervalChart | None:
        """The chart of ``interval``, built now if its tab was never shown."""
        chart = self._charts.get(interval)
        page = self._pages.get(interval)
        data = self._sd.get_symbol_data(self._symbol) if self._symbol else None
        if chart is None and page is not None and data is not None:
            chart = IntervalChart(ChartData(data, interval, folded=self.folded), page)
            chart.set_log_scale(self.log_scale)
            page.layout().addWidget(chart)
            self._charts[interval] = chart
            self._mark(interval)
            chart.show_window_lines(self.window_lines)
            self.selection.attach(chart)
        return chart

    def set_folded(self, folded: bool) -> None:
        """Fold non-trading time (True) or show linear time, on every chart."""
        self.folded = folded
        for interval, chart in self._charts.items():
            chart.set_folded(folded)
            self._mark(interval)  # overlays placed in time move with the axis

    def set_log_scale(self, log: bool) -> None:
        """Log or linear price scale on every chart."""
        self.log_scale = log
        for chart in self._charts.values():
            chart.set_log_scale(log)

    def current_interval(self) -> str | None:
        widget = self.tabs.currentWidget()
        for name, page in self._pages.items():
            if page is widget:
                return name
        return None

    def show_symbol(self, symbol: str | None, interval: str | None = None) -> None:
        """Build one chart per interval of ``symbol`` (None or unknown: the placeholder)."""
        data = self._sd.get_symbol_data(symbol) if symbol else None
        if data is not None and data.symbol == self._symbol:
            if interval:
                self.select_interval(interval)
            return
        self._clear()
        if data is None:
            return
        self._symbol = data.symbol
        self.tabs.blockSignals(True)
        for name, bars in data.bars.items():
            page = QWidget(self.tabs)
            layout = QVBoxLayout(page)
            layout.setContentsMargins(0, 0, 0, 0)
            self._pages[name] = page
            index = self.tabs.addTab(page, name)
            tip = f"derived from {bars.base}" if bars.derived else "streamed base interval"
            self.tabs.setTabToolTip(index, tip)
        if data.derived_intervals():
            page = QWidget(self.tabs)
            QVBoxLayout(page).setContentsMargins(0, 0, 0, 0)
            self._combined_page = page
            index = self.tabs.addTab(page, COMBINED_TAB)
            self.tabs.setTabToolTip(index, "the base chart over a derived interval, with bar provenance")
        self.tabs.blockSignals(False)
        self.stack.setCurrentWidget(self.tabs)
        self.select_interval(interval or next(iter(data.bars)))

    def select_interval(self, interval: str) -> None:
        page = self._pages.get(interval)
        if page is not None:
            self.tabs.setCurrentWidget(page)
            self.chart(interval)

    def set_window_lines(self, shown: bool) -> None:
        """Show (or hide) the window boundaries of coarser intervals on every chart."""
        self.window_lines = shown
        for chart in self._charts.values():
            chart.show_window_lines(shown)
        if self._combined is not None:
            self._combined.set_window_lines(shown)

    def window_line_xs(self, interval: str) -> dict[str, np.ndarray]:
        """Boundary x positions the chart of ``interval`` draws, per coarser interval."""
        chart = self._charts.get(interval)
        return chart.window_lines.shown_xs() if chart is not None else {}

    # -- reconciliation marks ------------------------------------------------------------------
    def set_mismatches(self, mismatches: dict[tuple[str, str], np.ndarray]) -> None:
        """Mark the windows of bars that differ from a reference (gui/reconcile_dock.py)."""
        self._mismatches = dict(mismatches)
        for interval in self._charts:
            self._mark(interval)

    def _mark(self, interval: str) -> None:
        chart = self._charts.get(interval)
        if chart is None or self._symbol is None:
            return
        band = self._mismatch_bands.get(interval)
        if band is None:
            band = self._mismatch_bands[interval] = BandItem(marks.MISMATCH)
            chart.price_plot.addItem(band, ignoreBounds=True)
        band.set_ranges(chart.data.place_spans(self._mismatches.get((self._symbol, interval), np.empty((0, 2)))))

    def mismatch_ranges(self, interval: str) -> np.ndarray:
        """The mismatch windows the chart of ``interval`` shows (empty when none)."""
        band = self._mismatch_bands.get(interval)
        return band.ranges if band is not None else np.empty((0, 2))

    @property
    def combined(self) -> BaseDerivedView | None:
        """The "base + derived" view, if it was built."""
        return self._combined

    def show_combined(self, interval: str | None = None) -> BaseDerivedView | None:
        """Switch to the "base + derived" tab (building its view now); None without a derived interval."""
        page = self._combined_page
        data = self._sd.get_symbol_data(self._symbol) if self._symbol else None
        if page is None or data is None:
            return None
        if self._combined is None:
            self._combined = BaseDerivedView(data, interval, page, selection=self.selection)
            self._combined.set_window_lines(self.window_lines)
            page.layout().addWidget(self._combined)
        elif interval is not None:
            self._combined.set_interval(interval)
        self.tabs.setCurrentWidget(page)
        return self._combined

    def _clear(self) -> None:
        self._symbol = None
        self._combined = None
        if self._combined_page is not None:
            self._combined_page.setParent(None)
            self._combined_page.deleteLater()
            self._combined_page = None
        self._changes.drain()
        self.tabs.blockSignals(True)
        self.tabs.clear()
        self.tabs.blockSignals(False)
        for page in self._pages.values():
            page.setParent(None)
            page.deleteLater()
        self._charts.clear()
        self._mismatch_bands.clear()
        self._pages.clear()
        self.stack.setCurrentWidget(self.placeholder)

    def _on_tab_changed(self, index: int) -> None:
        if self._combined_page is not None and self.tabs.currentWidget() is self._combined_page:
            self.show_combined()
            return
        name = self.current_interval()
        if name is not None:
            self.chart(name)
            self.interval_shown.emit(name)

    # -- bridge events -------------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _on_session_started(self, session: Session) -> None:
        # The symbol's BarIntervalData objects were replaced: rebuild every chart's arrays.
        self.flush()
        for chart in self._charts.values():
            chart.reset()
        if self._combined is not None:
            self._combined.reset()

    def _on_symbol_removed(self, symbol: str, row: int) -> None:
        if symbol == self._symbol:
            self._clear()

    def flush(self) -> None:
        """Apply the coalesced changes now (the timer calls this; tests may too)."""
        self._timer.stop()
        bars, quality = self._changes.drain()
        shown = self._symbol
        combined = self._combined
        for (symbol, name), first in bars.items():
            chart = self._charts.get(name) if symbol == shown else None
            if chart is not None:
                chart.apply_change(first)
            if combined is not None and symbol == shown:
                combined.apply_change(name, first)
        for symbol, name in quality:
            chart = self._charts.get(name) if symbol == shown else None
            if chart is not None:
                chart.refresh_gaps()
            if combined is not None and symbol == shown:
                combined.refresh_gaps(name)
        if combined is not None and (bars or quality):
            combined.refresh_highlight()
