"""One interval's chart: candles over volume, crosshair, navigation, last-price line.

The widget orchestrates; ChartData holds the arrays and the items paint them. The time
axis folds non-trading time unless the chart is switched to linear time (chart x, see
gui/chart/timeline.py); labels, tags and the readout always show true exchange times.
The view follows the newest bar only while it is pinned to the right edge, so a trader
who pans back to study a gap is not yanked forward by the next bar. Without the mouse
over it, the readout shows the newest bar in view, so it follows Home/End and zoom.
Every chart can draw the window boundaries of coarser intervals (``window_lines``) and
outline its bar holding a clicked base bar (``held``, gui/chart/selection.py); a left
click on a bar is offered to whoever holds the chart (``bar_clicked``).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from session_monitor.gui import theme
from session_monitor.gui.chart.axis import AxisTag, ExchangeTimeAxis, PriceAxis, VolumeAxis, format_price, format_volume
from session_monitor.gui.chart.bands import BandItem
from session_monitor.gui.chart.boundaries import WindowBoundaries
from session_monitor.gui.chart.data import BarView, ChartData
from session_monitor.gui.chart.grid import GridItem
from session_monitor.gui.chart.items import CandleItem, VolumeItem
from session_monitor.gui.chart.price_line import PriceLineItem
from session_monitor.gui.chart.segments import SegmentShading
from session_monitor.gui.chart.selection import HeldOutline, SelectedBase
from session_monitor.gui.formatting import exchange_time, zone_label

__all__ = ["IntervalChart"]

#: bars in view when a chart opens
DEFAULT_BARS = 120
#: empty bars kept right of the newest one while following
RIGHT_MARGIN_BARS = 2


_price = format_price


class IntervalChart(QWidget):
    """Candles + volume for one (symbol, interval)."""

    #: quiet gaps (no trades) drawn, faint, in new charts (View > Show quiet gaps)
    quiet_gaps_shown = True
    #: a left click over the plots: the chart's ChartData and the bar under the click (a BarView),
    #: or None where there is no bar
    bar_clicked = Signal(object, object)

    def __init__(self, data: ChartData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.readout = QLabel(self)
        self.readout.setObjectName("chartReadout")
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        # a long readout must not set the chart's minimum width (it would squeeze the tree)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout.setWordWrap(True)  # a narrow chart wraps the readout instead of cutting it
        self.readout.setStyleSheet(
            f"QLabel {{ background: {theme.BACKGROUND.name()}; color: {theme.TEXT.name()};"
            " padding: 3px 6px; font-family: monospace; }"
        )
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground(theme.BACKGROUND)
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        self.graphics.ci.setSpacing(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.readout)
        layout.addWidget(self.graphics, 1)

        tz = data.session.tz
        self.axis = ExchangeTimeAxis(tz)
        self.price_axis = PriceAxis()
        self.volume_axis = VolumeAxis()
        self.price_plot: pg.PlotItem = self.graphics.addPlot(row=0, col=0, axisItems={"right": self.price_axis})
        self.volume_plot: pg.PlotItem = self.graphics.addPlot(
            row=1, col=0, axisItems={"bottom": self.axis, "right": self.volume_axis}
        )
        self.graphics.ci.layout.setRowStretchFactor(0, 4)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        for plot in (self.price_plot, self.volume_plot):
            self._style_plot(plot)
        self.price_plot.hideAxis("bottom")
        self.volume_plot.setXLink(self.price_plot)
        self.grids = [GridItem(self.axis, plot.getAxis("right")) for plot in (self.price_plot, self.volume_plot)]
        for plot, grid in zip((self.price_plot, self.volume_plot), self.grids, strict=True):
            plot.addItem(grid, ignoreBounds=True)

        self.gap_bands = BandItem(theme.GAP_FILL)
        self.volume_gap_bands = BandItem(theme.GAP_FILL)
        self.quiet_bands = BandItem(theme.QUIET_GAP_FILL)  # no trades: faint (View > Show quiet gaps)
        self.quiet_bands.setVisible(IntervalChart.quiet_gaps_shown)
        self.price_plot.addItem(self.quiet_bands, ignoreBounds=True)
        self.candles = CandleItem(data)
        self.volume = VolumeItem(data)
        self.price_plot.addItem(self.gap_bands, ignoreBounds=True)
        self.volume_plot.addItem(self.volume_gap_bands, ignoreBounds=True)
        self.price_plot.addItem(self.candles)
        self.volume_plot.addItem(self.volume)
        self._boundaries: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        self.segments = SegmentShading((self.price_plot, self.volume_plot))  # extended hours only

        cross = pg.mkPen(theme.CROSSHAIR, width=1, style=Qt.PenStyle.DotLine)
        self.v_line = pg.InfiniteLine(angle=90, movable=False, pen=cross)
        self.h_line = pg.InfiniteLine(angle=0, movable=False, pen=cross)
        self.v_line_volume = pg.InfiniteLine(angle=90, movable=False, pen=cross)
        self.h_line_volume = pg.InfiniteLine(angle=0, movable=False, pen=cross)
        self.price_plot.addItem(self.v_line, ignoreBounds=True)
        self.price_plot.addItem(self.h_line, ignoreBounds=True)
        self.volume_plot.addItem(self.v_line_volume, ignoreBounds=True)
        self.volume_plot.addItem(self.h_line_volume, ignoreBounds=True)
        self.last_line = PriceLineItem()
        self.price_plot.addItem(self.last_line, ignoreBounds=True)
        self.window_lines = WindowBoundaries(data, self.price_plot)
        self.held = HeldOutline(data, self.price_plot)
        self.view.sigXRangeChanged.connect(self._on_range_changed)
        self._hovering = False
        self._hide_crosshair()
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.graphics.installEventFilter(self)

        self._shown_end: float | None = None
        self.reset()

    @staticmethod
    def _style_plot(plot: pg.PlotItem) -> None:
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.showAxis("right")
        plot.hideAxis("left")
        # the grid is a GridItem (pyqtgraph's own costs ~12 ms a repaint, see gui/chart/grid.py)
        view = plot.getViewBox()
        view.setMouseEnabled(x=True, y=False)  # wheel zooms time, drag pans time
        view.enableAutoRange(axis=pg.ViewBox.YAxis, enable=True)
        view.setAutoVisible(y=True)
        view.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
        plot.getAxis("right").setWidth(64)

    # -- data updates ----------------------------------------------------------------------
    @property
    def view(self) -> pg.ViewBox:
        return self.price_plot.getViewBox()

    def reset(self) -> None:
        """A new session (or a fresh chart): rebuild history, redraw everything, default view."""
        self.data.rebuild_history()
        self._redraw()

    def set_folded(self, folded: bool) -> None:
        """Fold non-trading time away (True) or show linear time; keeps the newest bar in view."""
        if folded != self.data.folded:
            self.data.set_folded(folded)
            self._redraw()

    def set_log_scale(self, log: bool) -> None:
        """Prices on a log10 scale (or back to linear); the price range goes back to auto."""
        if log != self.data.log_prices:
            self.data.set_log_prices(log)
            self.price_axis.set_log(log)
            self.view.enableAutoRange(axis=pg.ViewBox.YAxis, enable=True)
            self._redraw()

    def _redraw(self) -> None:
        self.axis.set_time_zone(self.data.session.tz)
        self.axis.set_timeline(self.data.timeline, self.data.sessions)
        self.candles.reset()
        self.volume.reset()
        self.refresh_gaps()
        self._mark_sessions()
        self.segments.refresh(self.data.sessions, self.data.timeline)
        self.window_lines.refresh()
        self.held.refresh()
        width = self.data.width
        self.view.setLimits(minXRange=5 * width)
        self._shown_end = self.data.last_end
        self.view.setXRange(*self.default_range(), padding=0)
        self._show_last_price()
        self._show_readout(None)

    def apply_change(self, first: int) -> None:
        """Bars ``first:`` of the current session changed: redraw them, follow if pinned."""
        (x0, x1), _ = self.view.viewRange()
        previous_end = self._shown_end
        self.data.refresh()
        self.candles.data_changed(first)
        self.volume.data_changed(first)
        new_end = self.data.last_end
        self._shown_end = new_end
        if new_end is not None and new_end != previous_end:
            pinned = previous_end is None or x1 >= previous_end
            margin = RIGHT_MARGIN_BARS * self.data.width
            if pinned and new_end + margin > x1:
                shift = new_end + margin - x1
                self.view.setXRange(x0 + shift, x1 + shift, padding=0)
        self._show_last_price()
        if self.held.selected is not None:
            self.held.refresh()
        if not self._hovering:
            self._show_readout(None)

    def refresh_gaps(self) -> None:
        self.data.refresh_gaps()
        self.gap_bands.set_ranges(self.data.gap_x)
        self.volume_gap_bands.set_ranges(self.data.gap_x)
        self.quiet_bands.set_ranges(self.data.quiet_gap_x)

    def show_quiet_gaps(self, shown: bool) -> None:
        self.quiet_bands.setVisible(shown)

    def show_window_lines(self, shown: bool) -> None:
        """View → Window boundaries: lines at the window edges of the coarser derived intervals."""
        self.window_lines.set_visible(shown)

    def show_selection(self, selected: SelectedBase | None) -> None:
        """Outline this chart's bar holding the selected base bar (nothing for another symbol)."""
        self.held.show(selected)

    def _show_last_price(self) -> None:
        """A line at the newest close, its value on the price axis, in the candle's colour."""
        bar = self.data.last_bar()
        if bar is None:
            self.last_line.hide()
            self.price_axis.set_tag("last", None)
            return
        colour = theme.UP if bar.close >= bar.open else theme.DOWN
        y = self.data.price_y(bar.close)
        self.last_line.set_line(self.data.last_end or 0.0, y, colour)
        self.price_axis.set_tag("last", AxisTag(y, _price(bar.close), colour))

    def _mark_sessions(self) -> None:
        """Dashed lines at each session's open and close (history + current)."""
        for plot, line in self._boundaries:
            plot.removeItem(line)
        self._boundaries.clear()
        # (the dates are on the time axis, thinned so they never collide)
        pen = pg.mkPen(theme.BOUNDARY, width=1, style=Qt.PenStyle.DashLine)
        tz = self.data.session.tz
        marks: dict[float, list[str]] = {}  # folded: a close and the next open share one x
        for session in self.data.sessions:
            for ts, what in ((session.open, "open"), (session.close, "close")):
                marks.setdefault(self.data.x_of(ts), []).append(f"{what} {exchange_time(ts, tz, date=True)}")
        for x, notes in marks.items():
            for plot in (self.price_plot, self.volume_plot):
                line = pg.InfiniteLine(pos=x, angle=90, movable=False, pen=pen)
                line.setToolTip("\n".join(notes))
                plot.addItem(line, ignoreBounds=True)
                self._boundaries.append((plot, line))

    # -- navigation -------------------------------------------------------------------------
    def default_range(self) -> tuple[float, float]:
        """About DEFAULT_BARS bars ending just after the newest (or from the open early on).

        On folded time with earlier sessions shown, the bars before the open are right there
        (no night in between): the view then reaches back into them for a full DEFAULT_BARS.
        """
        width = self.data.width
        session = self.data.session
        first = self.data.first_ts
        if self.data.folded and len(self.data.history) and first is not None:
            right = (self.data.last_end or self.data.x_of(session.open)) + RIGHT_MARGIN_BARS * width
            return max(first - width, right - DEFAULT_BARS * width), right
        open_x, close_x = self.data.x_of(session.open), self.data.x_of(session.close)
        span = min(DEFAULT_BARS * width, close_x - open_x + 2 * width)
        end = self.data.last_end
        right = open_x - width + span
        if end is not None:
            right = max(right, end + RIGHT_MARGIN_BARS * width)
        return right - span, right

    @property
    def pinned(self) -> bool:
        """True when the right edge shows the newest bar (the view then follows new bars)."""
        end = self.data.last_end
        return end is None or self.view.viewRange()[0][1] >= end

    def go_end(self) -> None:
        """Jump to the newest bar, keeping the zoom; the view follows from then on."""
        (x0, x1), _ = self.view.viewRange()
        end = self.data.last_end
        if end is None:
            self.view.setXRange(*self.default_range(), padding=0)
            return
        right = end + RIGHT_MARGIN_BARS * self.data.width
        self.view.setXRange(right - (x1 - x0), right, padding=0)

    def go_home(self) -> None:
        """Jump to the first bar shown (oldest history session), keeping the zoom."""
        (x0, x1), _ = self.view.viewRange()
        first = self.data.first_ts
        left = (first if first is not None else self.data.x_of(self.data.session.open)) - self.data.width
        self.view.setXRange(left, left + (x1 - x0), padding=0)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Home/End arrive here also when the plot has focus: the view ignores them
        if event.key() == Qt.Key.Key_Home:
            self.go_home()
        elif event.key() == Qt.Key.Key_End:
            self.go_end()
        else:
            super().keyPressEvent(event)

    # -- crosshair ---------------------------------------------------------------------------
    def eventFilter(self, watched: object, event: QEvent) -> bool:
        if watched is self.graphics and event.type() == QEvent.Type.Leave:
            self._hide_crosshair()
            self._show_readout(None)
        return super().eventFilter(watched, event)  # type: ignore[arg-type]

    def _hide_crosshair(self) -> None:
        self._hovering = False
        for line in (self.v_line, self.h_line, self.v_line_volume, self.h_line_volume):
            line.hide()
        for axis in (self.axis, self.price_axis, self.volume_axis):
            axis.set_tag("cursor", None)

    def _on_range_changed(self, *_: object) -> None:
        if not self._hovering:
            self._show_readout(None)

    def plot_x(self, pos: QPointF) -> float | None:
        """Chart x under scene position ``pos``; None outside both plots."""
        for plot in (self.price_plot, self.volume_plot):
            if plot.sceneBoundingRect().contains(pos):
                return float(plot.getViewBox().mapSceneToView(pos).x())
        return None

    def _on_mouse_clicked(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        x = self.plot_x(event.scenePos())  # type: ignore[attr-defined]
        if x is not None:
            self.bar_clicked.emit(self.data, self.data.bar_at(x))

    def _on_mouse_moved(self, pos: QPointF) -> None:
        over_price = self.price_plot.sceneBoundingRect().contains(pos)
        over_volume = self.volume_plot.sceneBoundingRect().contains(pos)
        if not (over_price or over_volume):
            self._hide_crosshair()
            self._show_readout(None)
            return
        plot = self.price_plot if over_price else self.volume_plot
        point = plot.getViewBox().mapSceneToView(pos)
        x = point.x()
        self.v_line.setPos(x)
        self.v_line_volume.setPos(x)
        self.v_line.show()
        self.v_line_volume.show()
        self._hovering = True
        cursor = AxisTag(x, self.axis.tag_text(x), theme.CROSSHAIR)
        self.axis.set_tag("cursor", cursor)
        y = point.y()
        for line, axis, here in (
            (self.h_line, self.price_axis, over_price),
            (self.h_line_volume, self.volume_axis, not over_price),
        ):
            if here:
                line.setPos(y)
                line.show()
                axis.set_tag("cursor", AxisTag(y, axis.tag_text(y), theme.CROSSHAIR))
            else:
                line.hide()
                axis.set_tag("cursor", None)
        self._show_readout(self.data.bar_at(x), hovering=True)

    def _show_readout(self, bar: BarView | None, hovering: bool = False) -> None:
        """OHLCV of the bar under the crosshair, else of the newest bar in view."""
        if bar is None and not hovering:
            (_, x1), _ = self.view.viewRange()
            bar = self.data.last_bar_before(x1)
        self.readout.setText(self.describe(bar))

    def describe(self, bar: BarView | None) -> str:
        data = self.data
        head = f"{data.symbol_data.symbol}  {data.interval_name}"
        if bar is None:
            return f"{head}  ·  no bar here"
        seconds = data.width < 60 or bar.ts % 60 != 0
        tz = data.session.tz
        when = f"{exchange_time(bar.ts, tz, seconds=seconds, date=True)} {zone_label(tz)}"
        text = (
            f"{head}  ·  {when}  O {_price(bar.open)}  H {_price(bar.high)}  "
            f"L {_price(bar.low)}  C {_price(bar.close)}  V {format_volume(bar.volume)}"
        )
        if bar.count is not None and bar.expected is not None:
            text += f"  ·  {bar.count} of {bar.expected} base bars"
        if bar.forming:
            text += "  ·  forming"
        return text
