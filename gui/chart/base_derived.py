"""The "base + derived" view: a symbol's base chart over one derived interval, one time axis.

Checking derived bars by eye needs both at once: the two charts share their time axis
(zoom and pan together) and a crosshair. Hovering (or clicking, to pin it) a derived bar
shades its window on the base chart, outlines the base bars inside it, crosses out the
missing slots and explains the bar in the provenance panel (core/provenance.py); clicking
a base bar selects it in the window's BaseBarSelection (gui/chart/selection.py): every
chart of the symbol, here and elsewhere, outlines its bar holding it, and the panel lists
them. Colours and their meaning live in gui/chart/marks.py.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from session_monitor.core.provenance import ContainingBar, DerivedProvenance, derived_provenance
from session_monitor.core.session_data import SymbolSessionData
from session_monitor.gui import theme
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.bands import BandItem
from session_monitor.gui.chart.data import BarView, ChartData
from session_monitor.gui.chart.highlight import BoxItem, around_bodies
from session_monitor.gui.chart.selection import BaseBarSelection, SelectedBase, session_bars_at
from session_monitor.gui.chart.widget import IntervalChart

__all__ = ["BaseDerivedView", "Selection"]


class Selection(NamedTuple):
    """What is highlighted: a derived bar explained, or a base bar whose derived bars are shown."""

    kind: str  # "derived" or "base"
    ts: int
    pinned: bool


class BaseDerivedView(QWidget):
    """Base chart (top) and one derived interval (bottom) of one symbol, linked, with provenance."""

    #: the provenance now shown (None when the highlight was cleared)
    provenance_shown = Signal(object)
    #: the derived bars now outlined for a clicked base bar (a list of ContainingBar)
    containing_shown = Signal(object)

    def __init__(self, symbol_data: SymbolSessionData, interval: str | None = None,
                 parent: QWidget | None = None, selection: BaseBarSelection | None = None) -> None:
        super().__init__(parent)
        self.symbol_data = symbol_data
        #: the clicked base bar, shared with the window's other chart views
        self.bar_selection = selection if selection is not None else BaseBarSelection(self)
        self.window_lines = False
        self.selection: Selection | None = None
        self.provenance: DerivedProvenance | None = None
        self.containing: list[ContainingBar] = []
        derived = [b.name for b in symbol_data.derived_intervals()]
        if not derived:
            raise ValueError(f"{symbol_data.symbol} has no derived interval to compare with its base")

        self.title = QLabel(f"{symbol_data.symbol}  base {symbol_data.base_interval} +", self)
        self.interval_box = QComboBox(self)
        self.interval_box.addItems(derived)
        self.interval_box.setToolTip("the derived interval shown under the base chart")
        self.hint = QLabel("hover or click a derived bar: its window and base bars; click a base bar: "
                           "the derived bars holding it", self)
        self.hint.setStyleSheet(f"color: {theme.AXIS.name()};")
        self.hint.setToolTip(marks.legend_text())
        header = QHBoxLayout()
        header.setContentsMargins(6, 2, 6, 2)
        header.addWidget(self.title)
        header.addWidget(self.interval_box)
        header.addSpacing(12)
        header.addWidget(self.hint, 1)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.base_chart = IntervalChart(ChartData(symbol_data, symbol_data.base_interval.name), self.splitter)
        self.splitter.addWidget(self.base_chart)
        self.panel = QLabel(self)
        self.panel.setObjectName("provenancePanel")
        self.panel.setTextFormat(Qt.TextFormat.PlainText)
        self.panel.setStyleSheet(
            f"QLabel {{ background: {theme.BACKGROUND.name()}; color: {theme.TEXT.name()};"
            " padding: 3px 6px; font-family: monospace; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.panel)

        base_plot = self.base_chart.price_plot
        self.window_band = BandItem(marks.WINDOW_SHADE)
        self.volume_window_band = BandItem(marks.WINDOW_SHADE)
        self.base_boxes = BoxItem(marks.BASE_HIGHLIGHT, width=1)
        self.missing_marks = BoxItem(marks.MISSING_SLOT, cross=True)
        self.missing_bands = BandItem(marks.MISSING_SLOT_FILL)
        base_plot.addItem(self.window_band, ignoreBounds=True)
        base_plot.addItem(self.missing_bands, ignoreBounds=True)
        self.base_chart.volume_plot.addItem(self.volume_window_band, ignoreBounds=True)
        base_plot.addItem(self.base_boxes, ignoreBounds=True)
        base_plot.addItem(self.missing_marks, ignoreBounds=True)
        self.explained_box = BoxItem(marks.BASE_HIGHLIGHT)
        self.bar_selection.attach(self.base_chart)
        self.bar_selection.changed.connect(self._on_base_selected)
        self.derived_chart: IntervalChart = self._build_derived(interval if interval in derived else derived[0])
        self.interval_box.setCurrentText(self.derived_chart.data.interval_name)
        self.interval_box.currentTextChanged.connect(self.set_interval)

        self.base_chart.graphics.scene().sigMouseMoved.connect(lambda pos: self._on_moved(self.base_chart, pos))
        self.base_chart.graphics.installEventFilter(self)
        self._show_panel()

    # -- the derived chart -------------------------------------------------------------------
    @property
    def interval(self) -> str:
        return self.derived_chart.data.interval_name

    @property
    def charts(self) -> tuple[IntervalChart, IntervalChart]:
        return self.base_chart, self.derived_chart

    def _build_derived(self, interval: str) -> IntervalChart:
        chart = IntervalChart(ChartData(self.symbol_data, interval), self.splitter)
        self.splitter.addWidget(chart)
        chart.price_plot.setXLink(self.base_chart.price_plot)
        chart.price_plot.addItem(self.explained_box, ignoreBounds=True)
        chart.show_window_lines(self.window_lines)
        self.bar_selection.attach(chart)
        chart.graphics.scene().sigMouseMoved.connect(lambda pos: self._on_moved(chart, pos))
        chart.bar_clicked.connect(self._on_derived_clicked)
        chart.graphics.installEventFilter(self)
        return chart

    def set_interval(self, interval: str) -> None:
        """Show ``interval`` under the base chart (keeping the time range on screen)."""
        if interval == self.interval or interval not in self.symbol_data.bars:
            return
        old = self.derived_chart
        old.price_plot.removeItem(self.explained_box)
        old.hide()
        old.setParent(None)
        old.deleteLater()
        self.derived_chart = self._build_derived(interval)
        self.interval_box.setCurrentText(interval)
        self._reapply()

    def set_window_lines(self, shown: bool) -> None:
        """View → Window boundaries on both charts."""
        self.window_lines = shown
        for chart in self.charts:
            chart.show_window_lines(shown)

    # -- updates from SymbolCharts --------------------------------------------------------------
    def apply_change(self, interval: str, first: int) -> None:
        """Bars ``first:`` of ``interval`` changed (call :meth:`refresh_highlight` after a batch)."""
        for chart in self.charts:
            if chart.data.interval_name == interval:
                chart.apply_change(first)

    def refresh_gaps(self, interval: str) -> None:
        for chart in self.charts:
            if chart.data.interval_name == interval:
                chart.refresh_gaps()

    def reset(self) -> None:
        """A new session: both charts rebuild; a selection in the old session is kept if still shown."""
        for chart in self.charts:
            chart.reset()
        self._reapply()

    # -- provenance ---------------------------------------------------------------------------------
    def explain(self, ts: float, pinned: bool = True) -> DerivedProvenance | None:
        """Highlight the derived bar whose window holds ``ts``; None (and cleared) when there is none."""
        bars = session_bars_at(self.symbol_data, ts)
        derived = bars.get(self.interval) if bars is not None else None
        base = bars.get(self.symbol_data.base_interval.name) if bars is not None else None
        if derived is None or base is None:
            self.clear_highlight()
            return None
        grid = derived.grid
        window = grid.window_of_one(int(ts))
        index = derived.data.index_of(int(grid.starts[window])) if window >= 0 else -1
        if index < 0:
            self.clear_highlight()
            return None
        start = int(grid.starts[window])
        prov = derived_provenance(derived, base, index)
        if pinned:  # one thing explained at a time: a clicked base bar's outlines go (hovering keeps them)
            self.bar_selection.clear()
        self.selection = Selection("derived", start, pinned)
        self.provenance, self.containing = prov, []
        low, high = float(derived.data.low[index]), float(derived.data.high[index])
        base_chart, derived_chart = self.base_chart, self.derived_chart
        window = base_chart.data.place_spans(np.array([[prov.start, prov.end]], np.float64))
        self.window_band.set_ranges(window)
        self.volume_window_band.set_ranges(window)
        series = base.data
        lo, hi = np.searchsorted(series.ts, [prov.start, prov.end])
        ts_in = series.ts[lo:hi]
        ends = self.base_chart.data.bar_ends(ts_in)
        around = around_bodies(ts_in, ends, series.low[lo:hi], series.high[lo:hi])
        self.base_boxes.set_boxes(base_chart.data.place_spans(around))
        missing = np.array([(m.start, m.end, low, high) for m in prov.missing], np.float64).reshape(-1, 4)
        self.missing_marks.set_boxes(base_chart.data.place_spans(missing))
        self.missing_bands.set_ranges(base_chart.data.place_spans(missing[:, :2]))
        explained_box = np.array([[prov.start, prov.end, low, high]], np.float64)
        self.explained_box.set_boxes(derived_chart.data.place_spans(explained_box))
        explained = self.derived_chart
        explained.readout.setText(explained.describe(explained.data.bar_at(prov.start)))
        self._show_panel()
        self.provenance_shown.emit(prov)
        return prov

    def select_base(self, ts: float) -> list[ContainingBar]:
        """Select the base bar at exchange time ``ts`` in the window's selection: every chart of the
        symbol outlines its bar holding it (empty, and cleared, when there is no base bar there)."""
        selected = self.bar_selection.select(self.symbol_data, ts)
        return list(selected.containing) if selected is not None else []

    def _on_base_selected(self, selected: SelectedBase | None) -> None:
        """The window's base-bar selection changed: list it when it is this symbol's, else forget ours."""
        if selected is None or selected.symbol != self.symbol_data.symbol:
            if self.selection is not None and self.selection.kind == "base":
                self.selection, self.containing = None, []
                self._show_panel()
            return
        self.selection = Selection("base", selected.ts, True)
        self.provenance, self.containing = None, list(selected.containing)
        self._clear_explained()
        self._show_panel()
        self.containing_shown.emit(self.containing)

    def _clear_explained(self) -> None:
        for band in (self.window_band, self.volume_window_band, self.missing_bands):
            band.set_ranges(np.empty((0, 2)))
        for box in (self.base_boxes, self.missing_marks, self.explained_box):
            box.set_boxes(np.empty((0, 4)))

    def clear_highlight(self) -> None:
        if self.selection is not None and self.selection.kind == "base":
            self.bar_selection.clear()
        self.selection = None
        self.provenance, self.containing = None, []
        self._clear_explained()
        self._show_panel()
        self.provenance_shown.emit(None)

    def refresh_highlight(self) -> None:
        """Bars changed: redo the current highlight from the new state (a forming bar grows)."""
        self._reapply()

    def _reapply(self) -> None:
        """Redo a derived bar's explanation (after changes, a new interval or a new session); a
        selected base bar's outlines follow on their own (every chart redraws its own)."""
        selection = self.selection
        if selection is not None and selection.kind == "derived":
            self.explain(selection.ts, selection.pinned)

    def _show_panel(self) -> None:
        if self.provenance is not None:
            text = "\n".join(self.provenance.describe())
        elif self.selection is not None and self.selection.kind == "base":
            from session_monitor.gui.formatting import exchange_time

            tz = self.symbol_data.session.tz
            when = exchange_time(self.selection.ts, tz, date=True)
            held = ", ".join(f"{c.interval} {exchange_time(c.start, tz)}–{exchange_time(c.end, tz)}"
                             for c in self.containing)
            text = f"base {self.symbol_data.base_interval} bar {when} is in: {held or 'no derived bar'}"
        else:
            text = "no bar selected"
        self.panel.setText(text)
        self.panel.setToolTip(text)

    # -- mouse ----------------------------------------------------------------------------------
    def _on_moved(self, chart: IntervalChart, pos: QPointF) -> None:
        x = chart.plot_x(pos)
        other = self.derived_chart if chart is self.base_chart else self.base_chart
        if x is None:
            self._hide_mirror(other)
            return
        for line in (other.v_line, other.v_line_volume):
            line.setPos(x)
            line.show()
        other.h_line.hide()
        if chart is self.derived_chart and (self.selection is None or not self.selection.pinned):
            self.explain(chart.data.time_of(x), pinned=False)

    def _on_derived_clicked(self, _data: ChartData, bar: BarView | None) -> None:
        """A click on a derived bar pins its explanation; a click beside the bars clears it."""
        if bar is None:
            self.clear_highlight()
        else:
            self.explain(bar.ts, pinned=True)

    @staticmethod
    def _hide_mirror(chart: IntervalChart) -> None:
        for line in (chart.v_line, chart.v_line_volume, chart.h_line):
            line.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            for chart in self.charts:
                if watched is chart.graphics:
                    self._hide_mirror(self.derived_chart if chart is self.base_chart else self.base_chart)
        return super().eventFilter(watched, event)

