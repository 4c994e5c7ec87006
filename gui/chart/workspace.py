"""A chart workspace: 1, 1×2, 2×1 or 2×2 charts at once, each bound to a symbol and an interval.

Each chart picks its symbol and interval in its own header, or takes the row of the
symbol tree dropped on it (gui/chart/drag.py); "link time" gives all charts one time axis
(zoom and pan together) and one crosshair, as TradingView's sync does. Window boundaries
(View menu) and the outlines of a clicked base bar's holders (gui/chart/selection.py)
show on every chart as on the interval tabs. The
layout, every chart's symbol/interval and its time range are a :class:`WorkspaceState`
(:mod:`core.workspace`), kept in the settings between runs and in saved session files.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMimeData, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from session_monitor.core.calendar import Session
from session_monitor.core.session_data import SessionData
from session_monitor.core.workspace import LAYOUTS, MAX_CHARTS, ChartSpec, WorkspaceState
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.chart.data import ChartData
from session_monitor.gui.chart.drag import ChartRow, dropped_row
from session_monitor.gui.chart.selection import BaseBarSelection
from session_monitor.gui.chart.symbol_charts import CHART_FLUSH_MS
from session_monitor.gui.chart.widget import IntervalChart

__all__ = ["LAYOUTS", "ChartSlot", "ChartSpec", "ChartWorkspace", "WorkspaceState"]


class ChartSlot(QWidget):
    """One chart of the workspace: a symbol and interval picker over an IntervalChart."""

    def __init__(self, session_data: SessionData, selection: BaseBarSelection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sd = session_data
        self._selection = selection
        #: whether a chart built here draws window boundaries (View → Window boundaries)
        self.window_lines = False
        self.chart: IntervalChart | None = None
        self.symbol_box = QComboBox(self)
        self.interval_box = QComboBox(self)
        self.placeholder = QLabel("pick a symbol and an interval", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        header = QHBoxLayout()
        header.setContentsMargins(4, 2, 4, 2)
        header.addWidget(self.symbol_box)
        header.addWidget(self.interval_box)
        header.addStretch(1)
        self._body = QVBoxLayout()
        self._body.setContentsMargins(0, 0, 0, 0)
        self._body.addWidget(self.placeholder, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addLayout(self._body, 1)
        self.refresh_symbols()
        self.setAcceptDrops(True)  # a row of the symbol tree dropped here binds this chart
        self.symbol_box.currentTextChanged.connect(self._on_symbol_picked)
        self.interval_box.currentTextChanged.connect(self._on_interval_picked)

    @property
    def spec(self) -> ChartSpec:
        chart = self.chart
        if chart is None:
            return ChartSpec()
        (x0, x1), _ = chart.view.viewRange()
        return ChartSpec(chart.data.symbol_data.symbol, chart.data.interval_name, (float(x0), float(x1)))

    def refresh_symbols(self) -> None:
        """Offer the symbols now watched (keeping the current pick)."""
        current = self.chart.data.symbol_data.symbol if self.chart is not None else ""
        self.symbol_box.blockSignals(True)
        self.symbol_box.clear()
        self.symbol_box.addItems(["", *self._sd.get_active_symbols()])
        self.symbol_box.setCurrentText(current)
        self.symbol_box.blockSignals(False)

    def symbol_added(self, symbol: str, row: int) -> None:
        """One more watched symbol, at its tree row (the box's first item is the empty pick)."""
        if self.symbol_box.findText(symbol) > 0:  # the box was filled after the symbol was registered
            return
        self.symbol_box.blockSignals(True)
        self.symbol_box.insertItem(row + 1, symbol)
        self.symbol_box.blockSignals(False)

    def symbol_removed(self, symbol: str) -> None:
        """A symbol no longer watched: its chart empties, its item goes."""
        if self.chart is not None and self.chart.data.symbol_data.symbol == symbol:
            self.show_chart(None, None)
        index = self.symbol_box.findText(symbol)
        if index > 0:
            self.symbol_box.blockSignals(True)
            self.symbol_box.removeItem(index)
            self.symbol_box.blockSignals(False)

    def show_chart(self, symbol: str | None, interval: str | None,
                   x_range: tuple[float, float] | None = None) -> IntervalChart | None:
        """Bind this slot to ``symbol``/``interval`` (an unknown one empties it)."""
        data = self._sd.get_symbol_data(symbol) if symbol else None
        if data is None or interval not in data.bars:
            self._drop_chart()
            return None
        if self.chart is None or self.chart.data.symbol_data is not data or self.chart.data.interval_name != interval:
            self._drop_chart()
            self.chart = IntervalChart(ChartData(data, str(interval)), self)
            self.chart.show_window_lines(self.window_lines)
            self._selection.attach(self.chart)
            # the chart's graphics view would take drops for its scene: leave them to this slot
            for widget in (self.chart.graphics, self.chart.graphics.viewport()):
                widget.setAcceptDrops(False)
            self.placeholder.hide()
            self._body.addWidget(self.chart, 1)
        for box, text, items in ((self.symbol_box, data.symbol, None), (self.interval_box, interval, list(data.bars))):
            box.blockSignals(True)
            if items is not None:
                box.clear()
                box.addItems(items)
            box.setCurrentText(str(text))
            box.blockSignals(False)
        if x_range is not None:
            self.chart.view.setXRange(*x_range, padding=0)
        return self.chart

    # -- a tree row dropped on the chart ------------------------------------------------------------
    def _droppable(self, mime: QMimeData | None) -> ChartRow | None:
        """The dragged row, when it names a watched symbol and one of its intervals."""
        row = dropped_row(mime)
        data = self._sd.get_symbol_data(row.symbol) if row is not None else None
        return row if row is not None and data is not None and row.interval in data.bars else None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.dragMoveEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._droppable(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        row = self._droppable(event.mimeData())
        if row is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.refresh_symbols()
        self.show_chart(row.symbol, row.interval)
        self.parent_workspace().relink()

    def set_window_lines(self, shown: bool) -> None:
        self.window_lines = shown
        if self.chart is not None:
            self.chart.show_window_lines(shown)

    def _drop_chart(self) -> None:
        if self.chart is not None:
            self.chart.hide()
            self.chart.setParent(None)
            self.chart.deleteLater()
            self.chart = None
        self.placeholder.show()

    def _on_symbol_picked(self, symbol: str) -> None:
        data = self._sd.get_symbol_data(symbol) if symbol else None
        if data is None:
            self._drop_chart()
            return
        interval = self.interval_box.currentText()
        self.show_chart(symbol, interval if interval in data.bars else next(iter(data.bars)))
        self.parent_workspace().relink()

    def _on_interval_picked(self, interval: str) -> None:
        symbol = self.symbol_box.currentText()
        if symbol and interval:
            self.show_chart(symbol, interval)
            self.parent_workspace().relink()

    def parent_workspace(self) -> ChartWorkspace:
        widget = self.parentWidget()
        while widget is not None and not isinstance(widget, ChartWorkspace):
            widget = widget.parentWidget()
        assert isinstance(widget, ChartWorkspace)
        return widget


class ChartWorkspace(QWidget):
    """Up to four charts in a grid of splitters, fed from the signal bridge."""

    def __init__(self, session_data: SessionData, bridge: SessionBridge, parent: QWidget | None = None,
                 selection: BaseBarSelection | None = None) -> None:
        super().__init__(parent)
        self._sd = session_data
        #: the clicked base bar, shared with the window's other chart views
        self.selection = selection if selection is not None else BaseBarSelection(self)
        self.layout_name = "1"
        self.layout_box = QComboBox(self)
        self.layout_box.addItems(list(LAYOUTS))
        self.layout_box.setToolTip("charts in rows × columns")
        self.link_box = QCheckBox("link time", self)
        self.link_box.setChecked(True)
        self.link_box.setToolTip("one time axis and one crosshair for every chart")
        header = QHBoxLayout()
        header.setContentsMargins(6, 2, 6, 2)
        header.addWidget(QLabel("layout", self))
        header.addWidget(self.layout_box)
        header.addWidget(self.link_box)
        header.addStretch(1)
        self.slots = [ChartSlot(session_data, self.selection) for _ in range(MAX_CHARTS)]
        self.rows = QSplitter(Qt.Orientation.Vertical, self)
        self._row_splitters = [QSplitter(Qt.Orientation.Horizontal, self.rows) for _ in range(2)]
        for row in self._row_splitters:
            self.rows.addWidget(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.rows, 1)
        self._changes = bridge.subscribe_changes(self, self._schedule)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHART_FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        bridge.symbol_added.connect(self._on_symbol_added)
        bridge.symbol_removed.connect(self._on_symbol_removed)
        bridge.session_started.connect(self._on_session_started)
        self.layout_box.currentTextChanged.connect(self.set_layout)
        self.link_box.toggled.connect(lambda _: self.relink())
        self._mirrored: list[IntervalChart] = []
        self._syncing = False
        self.set_layout("1")

    # -- layout ------------------------------------------------------------------------------
    @property
    def visible_slots(self) -> list[ChartSlot]:
        rows, cols = LAYOUTS[self.layout_name]
        return [self.slots[r * 2 + c] for r in range(rows) for c in range(cols)]

    @property
    def charts(self) -> list[IntervalChart]:
        return [s.chart for s in self.visible_slots if s.chart is not None]

    def set_layout(self, name: str) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r} (one of {', '.join(LAYOUTS)})")
        self.layout_name = name
        rows, cols = LAYOUTS[name]
        for r, row in enumerate(self._row_splitters):
            for c in range(2):
                slot = self.slots[r * 2 + c]
                if slot.parentWidget() is not row:
                    row.insertWidget(c, slot)
                slot.setVisible(r < rows and c < cols)
            row.setVisible(r < rows)
        self.layout_box.blockSignals(True)
        self.layout_box.setCurrentText(name)
        self.layout_box.blockSignals(False)
        self.relink()

    def set_window_lines(self, shown: bool) -> None:
        """Show (or hide) the window boundaries of coarser intervals on every chart."""
        for slot in self.slots:
            slot.set_window_lines(shown)

    def show_in_chart(self, symbol: str, interval: str) -> ChartSlot:
        """Show ``symbol``/``interval`` in the first shown chart that is empty (else the first one)."""
        slots = self.visible_slots
        slot = next((s for s in slots if s.chart is None), slots[0])
        slot.refresh_symbols()
        slot.show_chart(symbol, interval)
        self.relink()
        return slot

    # -- linked time and crosshair ------------------------------------------------------------------
    def relink(self) -> None:
        """With "link time", give every shown chart the first one's time range from now on.

        Not pyqtgraph's ``setXLink``: that aligns linked views on screen, so charts side by
        side in a grid would show shifted ranges. Here every chart shows the same times.
        """
        charts = self.charts
        self._mirrored = [c for c in self._mirrored if c in charts]
        for chart in charts:
            if chart not in self._mirrored:
                chart.graphics.scene().sigMouseMoved.connect(lambda pos, c=chart: self._on_moved(c, pos))
                chart.view.sigXRangeChanged.connect(lambda _view, rng, c=chart: self._on_x_changed(c, rng))
                chart.graphics.installEventFilter(self)
                self._mirrored.append(chart)
        if self.link_box.isChecked() and charts:
            (x0, x1), _ = charts[0].view.viewRange()
            self._on_x_changed(charts[0], (x0, x1))

    def _on_x_changed(self, source: IntervalChart, x_range: tuple[float, float]) -> None:
        if self._syncing or not self.link_box.isChecked() or source not in self.charts:
            return
        self._syncing = True
        try:
            for chart in self.charts:
                if chart is not source:
                    chart.view.setXRange(float(x_range[0]), float(x_range[1]), padding=0)
        finally:
            self._syncing = False

    def _on_moved(self, source: IntervalChart, pos: QPointF) -> None:
        if not self.link_box.isChecked() or source not in self.charts:
            return
        inside = any(p.sceneBoundingRect().contains(pos) for p in (source.price_plot, source.volume_plot))
        x = source.view.mapSceneToView(pos).x()
        for chart in self.charts:
            if chart is source:
                continue
            for line in (chart.v_line, chart.v_line_volume):
                line.setPos(x)
                line.setVisible(inside)
            chart.h_line.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave and any(watched is c.graphics for c in self.charts):
            for chart in self.charts:
                for line in (chart.v_line, chart.v_line_volume, chart.h_line):
                    line.hide()
        return super().eventFilter(watched, event)

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> WorkspaceState:
        return WorkspaceState(self.layout_name, tuple(s.spec for s in self.slots), self.link_box.isChecked())

    def restore(self, state: WorkspaceState) -> None:
        """Show ``state``; a chart whose symbol is not watched (yet) stays empty."""
        self.link_box.blockSignals(True)
        self.link_box.setChecked(state.linked)
        self.link_box.blockSignals(False)
        for slot, spec in zip(self.slots, (*state.charts, *[ChartSpec()] * MAX_CHARTS), strict=False):
            slot.refresh_symbols()
            slot.show_chart(spec.symbol, spec.interval, spec.x_range)
        self.set_layout(state.layout)
        first = next((s for s in state.charts if s.x_range is not None and s.symbol), None)
        if state.linked and first is not None and self.charts:
            self.charts[0].view.setXRange(*first.x_range, padding=0)  # type: ignore[misc]

    # -- bridge events ----------------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Apply the coalesced bar and quality changes to the charts showing them."""
        self._timer.stop()
        bars, quality = self._changes.drain()
        for slot in self.slots:
            chart = slot.chart
            if chart is None:
                continue
            key = (chart.data.symbol_data.symbol, chart.data.interval_name)
            if key in bars:
                chart.apply_change(bars[key])
            if key in quality:
                chart.refresh_gaps()

    # one item per slot and change: a boot adding 500 symbols refilled every box 500 times (0.6 s)
    def _on_symbol_added(self, symbol: str, row: int) -> None:
        for slot in self.slots:
            slot.symbol_added(symbol, row)

    def _on_symbol_removed(self, symbol: str, row: int) -> None:
        for slot in self.slots:
            slot.symbol_removed(symbol)
        self.relink()

    def _on_session_started(self, session: Session) -> None:
        self.flush()
        for chart in self.charts:
            chart.reset()
