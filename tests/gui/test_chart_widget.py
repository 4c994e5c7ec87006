"""The interval chart: following the newest bar only while pinned, Home/End, crosshair readout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.gui import theme
from session_monitor.gui.chart.data import ChartData
from session_monitor.gui.chart.widget import DEFAULT_BARS, RIGHT_MARGIN_BARS, IntervalChart
from session_monitor.gui.formatting import exchange_time
from tests.gui.gui_helpers import Streamer, fake_bars


@pytest.fixture
def chart_for(qtbot: Any, streamer: Streamer) -> Any:
    def make(interval: str) -> IntervalChart:
        data = streamer.session_data.get_symbol_data("SPY") or streamer.add("SPY")
        chart = IntervalChart(ChartData(data, interval))
        qtbot.addWidget(chart)
        chart.resize(900, 500)
        chart.show()
        qtbot.waitExposed(chart)
        return chart

    return make


def stream(streamer: Streamer, chart: IntervalChart, bars: Any) -> None:
    before = len(chart.data.current)
    streamer.stream("SPY", bars)
    chart.apply_change(before)


def test_view_follows_new_bars_only_while_pinned(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    chart = chart_for("1m")
    bars = fake_bars("SPY", session)
    width = 60.0
    x0, x1 = chart.view.viewRange()[0]
    assert (x0, x1) == pytest.approx((session.open - width, session.open - width + DEFAULT_BARS * width))

    stream(streamer, chart, bars.take(slice(0, 10)))
    assert chart.view.viewRange()[0] == pytest.approx([x0, x1])  # room left: no scrolling yet
    stream(streamer, chart, bars.take(slice(10, 200)))
    right = chart.view.viewRange()[0][1]
    assert right == pytest.approx(chart.data.last_end + RIGHT_MARGIN_BARS * width)
    assert chart.pinned

    # the user pans back to study something: new bars must not drag the view
    chart.view.setXRange(session.open + 600, session.open + 600 + 60 * width, padding=0)
    held = chart.view.viewRange()[0]
    stream(streamer, chart, bars.take(slice(200, 210)))
    assert chart.view.viewRange()[0] == pytest.approx(held)
    assert not chart.pinned

    qtbot.keyClick(chart, Qt.Key.Key_End)
    assert chart.view.viewRange()[0][1] == pytest.approx(chart.data.last_end + RIGHT_MARGIN_BARS * width)
    stream(streamer, chart, bars.take(slice(210, 215)))
    assert chart.view.viewRange()[0][1] == pytest.approx(chart.data.last_end + RIGHT_MARGIN_BARS * width)

    qtbot.keyClick(chart, Qt.Key.Key_Home)
    assert chart.view.viewRange()[0][0] == pytest.approx(session.open - width)


def test_y_axis_auto_ranges_over_visible_bars(qtbot: Any, chart_for: Any, streamer: Streamer, session: Session) -> None:
    chart = chart_for("1m")
    bars = fake_bars("SPY", session, count=100)
    stream(streamer, chart, bars)
    chart.view.setXRange(session.open + 60 * 60, session.open + 80 * 60, padding=0)
    shown = slice(60, 80)
    low, high = bars.low[shown].min(), bars.high[shown].max()

    def fits() -> bool:  # pyqtgraph applies auto-range lazily, before the next paint
        y0, y1 = chart.view.viewRange()[1]
        return y0 <= low and y1 >= high and y1 - y0 < 1.2 * (high - low)

    qtbot.waitUntil(fits, timeout=2000)


def test_crosshair_readout_shows_ohlcv_and_base_bar_count(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    chart = chart_for("5m")
    bars = fake_bars("SPY", session, count=13)  # 5m bars of 5, 5 and 3 (forming) base bars
    stream(streamer, chart, bars)
    view = chart.price_plot.getViewBox()
    y_middle = sum(view.viewRange()[1]) / 2

    def hover(x: float) -> str:
        chart._on_mouse_moved(view.mapViewToScene(QPointF(x, y_middle)))
        return chart.readout.text()

    text = hover(session.open + 100)  # the first 5m bar: complete
    assert "SPY  5m" in text and "2015-12-28 09:30" in text
    assert f"O {bars.open[0]:,.2f}" in text and f"C {bars.close[4]:,.2f}" in text
    assert f"H {bars.high[0:5].max():,.2f}" in text and f"L {bars.low[0:5].min():,.2f}" in text
    assert "5 of 5 base bars" in text and "forming" not in text
    assert chart.v_line.isVisible() and chart.v_line.value() == pytest.approx(session.open + 100)
    assert chart.h_line.isVisible() and chart.h_line.value() == pytest.approx(y_middle)

    text = hover(session.open + 10 * 60 + 30)  # the newest: 3 of its 5 base bars so far
    assert "09:40" in text and "3 of 5 base bars" in text and "forming" in text

    chart._on_mouse_moved(QPointF(-500, -500))  # off the plots
    assert not chart.v_line.isVisible()
    assert "09:40" in chart.readout.text()  # back to describing the newest bar


def test_gaps_are_shaded(qtbot: Any, chart_for: Any, streamer: Streamer, session: Session) -> None:
    chart = chart_for("1m")
    stream(streamer, chart, fake_bars("SPY", session, holes={3, 4, 10}, count=30))
    chart.refresh_gaps()

    ranges = chart.gap_bands.ranges.tolist()
    assert ranges == [[session.open + 180, session.open + 300], [session.open + 600, session.open + 660]]


def test_an_updated_last_bar_repaints_only_itself(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    chart = chart_for("1m")
    bars = fake_bars("SPY", session, count=50)
    stream(streamer, chart, bars)
    exposed: list[float] = []
    drawn: list[int] = []
    paint = chart.candles.paint

    def recording_paint(painter: Any, option: Any, widget: Any = None) -> None:
        exposed.append(option.exposedRect.width())
        paint(painter, option, widget)
        drawn.append(chart.candles.last_paint[0])

    chart.candles.paint = recording_paint  # type: ignore[method-assign]
    qtbot.waitUntil(lambda: bool(exposed), timeout=2000)  # the first full paint
    full = max(exposed)
    chart.candles.dataBounds(1, orthoRange=tuple(chart.view.viewRange()[0]))
    exposed.clear()
    drawn.clear()

    last = bars.take(slice(49, 50))  # the newest bar ticks, staying inside what is shown
    mid = (last.high + last.low) / 2
    streamer.stream("SPY", BarArrays(last.ts, last.open, last.high, last.low, mid, last.volume))
    chart.apply_change(49)
    qtbot.waitUntil(lambda: bool(exposed), timeout=2000)

    # the bar's rectangle and the last-price line right of it (to the view's edge): only the
    # newest bar is drawn again, not the whole view
    assert max(exposed) < full and max(drawn) <= 2
    assert chart.last_line.x == chart.data.last_end and chart.last_line.y == pytest.approx(float(mid[0]))


def test_mouse_wheel_zooms_time_only(qtbot: Any, chart_for: Any, streamer: Streamer, session: Session) -> None:
    chart = chart_for("1m")
    stream(streamer, chart, fake_bars("SPY", session, count=200))
    qtbot.waitUntil(lambda: chart.candles.last_paint[0] > 0, timeout=2000)  # view transform settled
    (x0, x1), _ = chart.view.viewRange()
    viewport = chart.graphics.viewport()
    centre = chart.graphics.mapFromScene(chart.view.sceneBoundingRect().center())

    wheel = QWheelEvent(
        QPointF(centre),
        QPointF(viewport.mapToGlobal(centre)),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, wheel)

    (z0, z1), _ = chart.view.viewRange()
    assert z1 - z0 < 0.9 * (x1 - x0)  # zoomed in on time
    assert x0 < z0 and z1 < x1  # around the pointer


def test_the_grid_draws_opaque_lines_at_the_axes_ticks_and_follows_the_view(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    from session_monitor.gui import theme
    from session_monitor.gui.chart.grid import blend

    chart = chart_for("1m")
    stream(streamer, chart, fake_bars("SPY", session).take(slice(0, 120)))
    chart.grab()  # a real paint: the axes lay out their ticks
    price_grid, volume_grid = chart.grids
    (x0, x1), (y0, y1) = chart.view.viewRange()
    levels = price_grid.lines()
    major_x, major_y = levels[0]
    # the coarsest time level with ticks in view (a date axis also has an empty day level here)
    time_levels = chart.axis.tickValues(x0, x1, chart.axis.geometry().width())
    axis_x = next(inside for _, ticks in time_levels if (inside := [v for v in ticks if x0 <= v <= x1]))
    assert major_x.tolist() == axis_x and len(major_x) >= 3
    right = chart.price_plot.getAxis("right")
    axis_y = right.tickValues(y0, y1, right.geometry().height())[0][1]
    assert major_y.tolist() == [v for v in axis_y if y0 <= v <= y1] and len(major_y) >= 2
    # both plots share the time lines; no line is drawn twice across levels
    assert volume_grid.lines()[0][0].tolist() == major_x.tolist()
    minor_x = levels[1][0]
    assert not set(minor_x.tolist()) & set(major_x.tolist())
    # the look of a 12 % grid, painted opaque
    colour = price_grid._pens[0].color()
    assert colour.alpha() == 255 and colour == blend(theme.AXIS, theme.BACKGROUND, theme.GRID_ALPHA)
    assert colour != theme.BACKGROUND
    # the view moves: the lines move with it
    chart.view.setXRange(session.open + 3600, session.open + 7200, padding=0)
    chart.grab()
    moved = price_grid.lines()[0][0]
    assert moved.min() >= session.open + 3600 and moved.max() <= session.open + 7200
    assert pytest.approx(float(np.diff(moved)[0])) == float(np.diff(moved)[-1])
    # and pyqtgraph's own, costly grid stays off
    assert not chart.price_plot.ctrl.xGridCheck.isChecked() and not chart.price_plot.ctrl.yGridCheck.isChecked()


def _weekend_chart(qtbot: Any, folded: bool = True) -> IntervalChart:
    """SPY 1m: all of Friday 2013-10-04 (history) and the first hour of Monday 2013-10-07."""
    import datetime as dt

    from session_monitor.core.calendar import get_calendar
    from session_monitor.core.session_data import SessionData

    cal = get_calendar("XNYS")
    friday, monday = cal.session(dt.date(2013, 10, 4)), cal.session(dt.date(2013, 10, 7))
    streamer = Streamer(SessionData(), friday)
    data = streamer.add("SPY")
    streamer.stream("SPY", fake_bars("SPY", friday))
    streamer.session_data.start_session(monday)
    streamer.session = monday
    streamer.stream("SPY", fake_bars("SPY", monday, count=60))
    chart = IntervalChart(ChartData(data, "1m", folded=folded))
    qtbot.addWidget(chart)
    chart.resize(900, 500)
    chart.show()
    qtbot.waitExposed(chart)
    return chart


def test_folded_time_puts_friday_close_next_to_monday_open_with_true_labels(qtbot: Any) -> None:
    chart = _weekend_chart(qtbot)
    friday, monday = chart.data.sessions
    last_friday = chart.data.bar_at(monday.open - 30)  # the bar just left of Monday's open
    first_monday = chart.data.bar_at(monday.open + 30)
    assert last_friday is not None and last_friday.ts == friday.close - 60
    assert first_monday is not None and first_monday.ts == monday.open
    # Friday 16:00 -> Monday 09:30 is one bar apart on the chart
    assert chart.data.history.x[-1] + 60 == chart.data.current.x[0] == monday.open
    # the default view reaches back over the fold into Friday: 120 bars, not one hour of Monday
    (x0, x1), _ = chart.view.viewRange()
    assert x1 == monday.open + (60 + RIGHT_MARGIN_BARS) * 60 and x1 - x0 == DEFAULT_BARS * 60
    # the axis labels true exchange times on both sides of the fold
    chart.view.setXRange(monday.open - 2 * 3600, monday.open + 3600, padding=0)
    chart.grab()
    levels = chart.axis.tickValues(monday.open - 2 * 3600, monday.open + 3600, chart.axis.geometry().width())
    labels = {text: x for _, xs in levels for x, text in zip(xs, chart.axis.tickStrings(xs, 1, 1), strict=True)}
    assert labels["Mon 07"] == monday.open
    assert chart.data.time_of(labels["15:00"]) == friday.close - 3600
    assert chart.data.time_of(labels["10:00"]) == monday.open + 30 * 60
    # one shared boundary line at the fold, and the gap between sessions draws no band
    assert sum(1 for _, line in chart._boundaries if line.value() == monday.open) == 2  # price + volume plot
    assert chart.gap_bands.ranges.size == 0
    # the crosshair's time tag names the true time
    assert chart.axis.tag_text(monday.open - 60) == "Fri 04 Oct 15:59"


def test_linear_time_restores_the_weekend(qtbot: Any) -> None:
    chart = _weekend_chart(qtbot)
    friday, monday = chart.data.sessions
    chart.set_folded(False)
    assert chart.data.history.x[-1] == friday.close - 60
    assert chart.data.bar_at(friday.close - 30) is not None
    assert chart.data.bar_at(monday.open - 30) is None  # the weekend is back, empty
    chart.set_folded(True)
    assert chart.data.history.x[-1] == monday.open - 60


def test_readout_follows_home_and_end_without_a_mouse_move(qtbot: Any) -> None:
    chart = _weekend_chart(qtbot)
    friday, monday = chart.data.sessions
    assert "2013-10-07 10:29" in chart.readout.text()  # the newest bar
    chart.go_home()
    (_, x1), _ = chart.view.viewRange()
    shown = chart.data.last_bar_before(x1)
    assert shown is not None and shown.ts < monday.open
    assert exchange_time(shown.ts, friday.tz, date=True) in chart.readout.text()
    chart.go_end()
    assert "2013-10-07 10:29" in chart.readout.text()


def test_last_price_line_and_its_tag_on_the_price_axis(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    chart = chart_for("1m")
    bars = fake_bars("SPY", session, count=30)
    stream(streamer, chart, bars)
    last = float(bars.close[-1])
    tag = chart.price_axis.tags["last"]
    assert tag.value == pytest.approx(last) and tag.text == f"{last:,.2f}"
    up = bars.close[-1] >= bars.open[-1]
    assert tag.background == (theme.UP if up else theme.DOWN)
    assert chart.last_line.y == pytest.approx(last)


def test_price_axis_wheel_and_drag_scale_prices_and_double_click_restores_auto(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    chart = chart_for("1m")
    stream(streamer, chart, fake_bars("SPY", session, count=60))
    chart.grab()
    _, (y0, y1) = chart.view.viewRange()
    chart.price_axis.scale_by(2.0)
    _, (z0, z1) = chart.view.viewRange()
    assert z1 - z0 == pytest.approx(2 * (y1 - y0)) and (z0 + z1) / 2 == pytest.approx((y0 + y1) / 2)
    assert not chart.view.autoRangeEnabled()[1]
    axis = chart.price_axis
    centre = axis.mapToScene(axis.boundingRect().center())
    view_point = chart.graphics.mapFromScene(centre)
    wheel = QWheelEvent(
        QPointF(view_point), QPointF(chart.graphics.viewport().mapToGlobal(view_point)), QPoint(0, 0), QPoint(0, 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(chart.graphics.viewport(), wheel)
    _, (w0, w1) = chart.view.viewRange()
    assert w1 - w0 == pytest.approx((z1 - z0) / axis.WHEEL_FACTOR)


def test_log_scale_and_volume_labels(qtbot: Any, chart_for: Any, streamer: Streamer, session: Session) -> None:
    from session_monitor.gui.chart.axis import format_volume

    assert [format_volume(v) for v in (950, 12_500, 1_000_000, 2_340_000_000)] == ["950", "12.5K", "1M", "2.3B"]
    chart = chart_for("1m")
    bars = fake_bars("SPY", session, count=60)
    stream(streamer, chart, bars)
    chart.set_log_scale(True)
    assert chart.data.current.high[0] == pytest.approx(np.log10(bars.high[0]))
    assert chart.price_axis.tickStrings([2.0], 1, 1) == ["100.00"]
    readout = chart.describe(chart.data.last_bar())
    assert f"C {bars.close[-1]:,.2f}" in readout  # the readout keeps prices
    chart.set_log_scale(False)
    assert chart.data.current.high[0] == bars.high[0]


def test_crosshair_values_are_tagged_on_the_time_and_price_axes(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    chart = chart_for("1m")
    stream(streamer, chart, fake_bars("SPY", session, count=60))
    chart.grab()
    _, (y0, y1) = chart.view.viewRange()
    x, y = session.open + 30 * 60 + 20, (y0 + y1) / 2
    chart._on_mouse_moved(chart.view.mapViewToScene(QPointF(x, y)))
    time_tag, price_tag = chart.axis.tags["cursor"], chart.price_axis.tags["cursor"]
    assert time_tag.value == pytest.approx(x, abs=1) and time_tag.text.endswith("10:00:20")
    assert price_tag.value == pytest.approx(y, rel=1e-6) and price_tag.text == f"{price_tag.value:,.2f}"
    assert "cursor" not in chart.volume_axis.tags
    assert "10:00" in chart.readout.text()  # the bar under the crosshair
    chart._hide_crosshair()
    assert "cursor" not in chart.axis.tags and "cursor" not in chart.price_axis.tags


def test_the_readout_wraps_instead_of_being_cut_off_on_a_narrow_chart(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    chart = chart_for("5m")
    stream(streamer, chart, fake_bars("SPY", session, count=60))
    chart.resize(330, 420)  # the chart's share of an 800×550 window
    qtbot.waitUntil(lambda: chart.readout.width() <= 330, timeout=2000)
    readout = chart.readout
    text = readout.text()
    assert readout.fontMetrics().horizontalAdvance(text) > readout.width()  # longer than one line
    area = readout.contentsRect()
    needed = readout.fontMetrics().boundingRect(
        QRect(0, 0, area.width() - 12, 10_000), int(Qt.TextFlag.TextWordWrap), text  # 12: the 6 px padding
    )
    assert needed.height() > readout.fontMetrics().height()  # it takes more than one line
    assert area.height() >= needed.height()  # and every line is shown


def test_dragging_the_price_axis_down_widens_the_price_range(
    qtbot: Any, chart_for: Any, streamer: Streamer, session: Session
) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QMouseEvent

    chart = chart_for("1m")
    stream(streamer, chart, fake_bars("SPY", session, count=60))
    chart.grab()
    (x0, x1), (y0, y1) = chart.view.viewRange()
    axis = chart.price_axis
    start = chart.graphics.mapFromScene(axis.mapToScene(axis.boundingRect().center()))
    viewport = chart.graphics.viewport()

    def send(kind: QEvent.Type, y: int, buttons: Qt.MouseButton) -> None:
        point = QPointF(start.x(), y)
        event = QMouseEvent(kind, point, viewport.mapToGlobal(point), Qt.MouseButton.LeftButton, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    send(QEvent.Type.MouseButtonPress, start.y(), Qt.MouseButton.LeftButton)
    for dy in range(10, 110, 10):
        send(QEvent.Type.MouseMove, start.y() + dy, Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, start.y() + 100, Qt.MouseButton.NoButton)
    _, (z0, z1) = chart.view.viewRange()
    assert z1 - z0 > 1.5 * (y1 - y0)  # ~exp(100/150) = 1.9× with the drag's first step lost to the threshold
    assert chart.view.viewRange()[0] == pytest.approx([x0, x1])  # time untouched
