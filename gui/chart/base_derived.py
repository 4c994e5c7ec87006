"""The "base + derived" view: a symbol's base chart over one derived interval, one time axis.

Checking derived bars by eye needs both at once: the two charts share their time axis
(zoom and pan together) and a crosshair. Hovering (or clicking, to pin it) a derived bar
shades its window on the base chart, outlines the base bars inside it, crosses out the
missing slots and explains the bar in the provenance panel (core/provenance.py); clicking
a base bar outlines every derived bar that holds it. Colours and their meaning live in
gui/chart/marks.py.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from session_monitor.core.provenance import ContainingBar, DerivedProvenance, bars_containing, derived_provenance
from session_monitor.core.session_data import BarIntervalData, SymbolSessionData
from session_monitor.gui import theme
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.bands import BandItem
from session_monitor.gui.chart.data import ChartData
from session_monitor.gui.chart.highlight import BoxItem
from session_monitor.gui.chart.items import BODY
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
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.symbol_data = symbol_data
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
        self.derived_boxes = BoxItem(marks.DERIVED_HIGHLIGHT)
        self.derived_chart: IntervalChart = self._build_derived(interval if interval in derived else derived[0])
        self.interval_box.setCurrentText(self.derived_chart.data.interval_name)
        self.interval_box.currentTextChanged.connect(self.set_interval)

        self.base_chart.graphics.scene().sigMouseMoved.connect(lambda pos: self._on_moved(self.base_chart, pos))
        self.base_chart.graphics.scene().sigMouseClicked.connect(lambda ev: self._on_clicked(self.base_chart, ev))
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
        chart.price_plot.addItem(self.derived_boxes, ignoreBounds=True)
        chart.graphics.scene().sigMouseMoved.connect(lambda pos: self._on_moved(chart, pos))
        chart.graphics.scene().sigMouseClicked.connect(lambda ev: self._on_clicked(chart, ev))
        chart.graphics.installEventFilter(self)
        return chart

    def set_interval(self, interval: str) -> None:
        """Show ``interval`` under the base chart (keeping the time range on screen)."""
        if interval == self.interval or interval not in self.symbol_data.bars:
            return
        old = self.derived_chart
        for item in (self.explained_box, self.derived_boxes):
            old.price_plot.removeItem(item)
        old.hide()
        old.setParent(None)
        old.deleteLater()
        self.derived_chart = self._build_derived(interval)
        self.interval_box.setCurrentText(interval)
        self._reapply()

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
    def _bars_at(self, ts: float) -> dict[str, BarIntervalData] | None:
        """The bars of the session (current or kept in history) whose regular hours hold ``ts``."""
        data = self.symbol_data
        if data.session.open <= ts < data.session.close:
            return data.bars
        for past in data.history:
            if past.session.open <= ts < past.session.close:
                return past.bars
        return None

    def explain(self, ts: float, pinned: bool = True) -> DerivedProvenance | None:
        """Highlight the derived bar whose window holds ``ts``; None (and cleared) when there is none."""
        bars = self._bars_at(ts)
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
        around = _around_bodies(ts_in, ends, series.low[lo:hi], series.high[lo:hi])
        self.base_boxes.set_boxes(base_chart.data.place_spans(around))
        missing = np.array([(m.start, m.end, low, high) for m in prov.missing], np.float64).reshape(-1, 4)
        self.missing_marks.set_boxes(base_chart.data.place_spans(missing))
        self.missing_bands.set_ranges(base_chart.data.place_spans(missing[:, :2]))
        explained_box = np.array([[prov.start, prov.end, low, high]], np.float64)
        self.explained_box.set_boxes(derived_chart.data.place_spans(explained_box))
        explained = self.derived_chart
        explained.readout.setText(explained.describe(explained.data.bar_at(prov.start)))
        self.derived_boxes.set_boxes(np.empty((0, 4)))
        self._show_panel()
        self.provenance_shown.emit(prov)
        return prov

    def select_base(self, ts: float) -> list[ContainingBar]:
        """Outline every derived bar holding the base bar at ``ts`` (empty when there is none)."""
        bars = self._bars_at(ts)
        base = bars.get(self.symbol_data.base_interval.name) if bars is not None else None
        bar = self.base_chart.data.bar_at(ts)
        if bars is None or base is None or bar is None:
            self.clear_highlight()
            return []
        found = bars_containing(bars, bar.ts)
        self.selection = Selection("base", bar.ts, True)
        self.provenance, self.containing = None, found
        shown = [c for c in found if c.interval.name == self.interval]
        series = bars[self.interval].data
        boxes = np.array([(c.start, c.end, float(series.low[c.index]), float(series.high[c.index])) for c in shown],
                         np.float64).reshape(-1, 4)
        self.derived_boxes.set_boxes(self.derived_chart.data.place_spans(boxes))
        ends = self.base_chart.data.bar_ends(np.array([bar.ts]))
        around = _around_bodies(np.array([bar.ts]), ends, np.array([bar.low]), np.array([bar.high]))
        self.base_boxes.set_boxes(self.base_chart.data.place_spans(around))
        for item in (self.window_band, self.volume_window_band, self.missing_bands):
            item.set_ranges(np.empty((0, 2)))
        self.missing_marks.set_boxes(np.empty((0, 4)))
        self.explained_box.set_boxes(np.empty((0, 4)))
        self._show_panel()
        self.containing_shown.emit(found)
        return found

    def clear_highlight(self) -> None:
        self.selection = None
        self.provenance, self.containing = None, []
        for band in (self.window_band, self.volume_window_band, self.missing_bands):
            band.set_ranges(np.empty((0, 2)))
        for box in (self.base_boxes, self.missing_marks, self.explained_box, self.derived_boxes):
            box.set_boxes(np.empty((0, 4)))
        self._show_panel()
        self.provenance_shown.emit(None)

    def refresh_highlight(self) -> None:
        """Bars changed: redo the current highlight from the new state (a forming bar grows)."""
        self._reapply()

    def _reapply(self) -> None:
        """Redo the current highlight (after changes, a new interval or a new session)."""
        selection = self.selection
        if selection is None:
            return
        if selection.kind == "derived":
            self.explain(selection.ts, selection.pinned)
        else:
            self.select_base(selection.ts)

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
    def _x_of(self, chart: IntervalChart, pos: QPointF) -> float | None:
        for plot in (chart.price_plot, chart.volume_plot):
            if plot.sceneBoundingRect().contains(pos):
                return float(plot.getViewBox().mapSceneToView(pos).x())
        return None

    def _on_moved(self, chart: IntervalChart, pos: QPointF) -> None:
        x = self._x_of(chart, pos)
        other = self.derived_chart if chart is self.base_chart else self.base_chart
        if x is None:
            self._hide_mirror(other)
            return
        for line in (other.v_line, other.v_line_volume):
            line.setPos(x)
            line.show()
        other.h_line.hide()
        if chart is self.derived_chart and (self.selection is None or not self.selection.pinned):
            self.explain(x, pinned=False)

    def _on_clicked(self, chart: IntervalChart, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        x = self._x_of(chart, event.scenePos())  # type: ignore[attr-defined]
        if x is None:
            return
        if chart is self.derived_chart:
            self.explain(x, pinned=True)
        else:
            self.select_base(x)

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


def _around_bodies(starts: np.ndarray, ends: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Boxes ``x0, x1, y0, y1`` around candles (their body width, low to high), so an outlined
    base bar keeps its up/down colour visible and neighbours' outlines do not merge."""
    widths = ends - starts
    x0 = starts + widths * (1.0 - BODY) / 2.0
    return np.column_stack((x0, x0 + widths * BODY, lows, highs))
