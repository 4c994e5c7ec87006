"""View → Window boundaries: lines where coarser windows start, from the calendar (2015-12-24 closes 13:00)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtGui import QColor

from session_monitor.core.intervals import Interval
from session_monitor.core.sources.lean import LeanSource
from session_monitor.gui import theme
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.chart.boundaries import LinesItem
from session_monitor.gui.chart.symbol_charts import SymbolCharts
from tests.core_helpers import utc, watch, xnys
from tests.gui.test_chart_items import paint


def test_boundaries_of_coarser_windows_on_the_half_day(qtbot: Any, lean_minute: Any) -> None:
    session = xnys("2015-12-24")
    sd, _, processor = watch(session, "1m", ["15m", "1h"], symbol="GOOG")
    sd.add_base_bars("GOOG", LeanSource(lean_minute).load_session("GOOG", Interval(60), session).bars)
    processor.process(session.close)
    charts = SymbolCharts(sd, SessionBridge(sd))
    qtbot.addWidget(charts)
    charts.show_symbol("GOOG", "1m")
    assert charts.window_line_xs("1m") == {}  # off until View → Window boundaries

    charts.set_window_lines(True)
    lines = charts.window_line_xs("1m")
    assert list(lines) == ["1h", "15m"]
    # window starts 9:30 … 12:30 New York, and the 12:30 window's end at the 13:00 close
    np.testing.assert_array_equal(lines["1h"], [*(utc(f"2015-12-24T{h}:30:00") for h in (14, 15, 16, 17)),
                                                utc("2015-12-24T18:00:00")])
    assert len(lines["15m"]) == 15
    assert list(lines["15m"][-2:]) == [utc("2015-12-24T17:45:00"), utc("2015-12-24T18:00:00")]
    charts.select_interval("15m")
    assert list(charts.window_line_xs("15m")) == ["1h"]
    charts.select_interval("1h")
    assert charts.window_line_xs("1h") == {}
    charts.set_window_lines(False)
    assert charts.window_line_xs("1m") == {}


def test_lines_are_drawn_at_their_times_only() -> None:
    item = LinesItem(QColor("#ffffff"))
    item.set_xs(np.array([100.0, 250.0, 900.0]))
    image = paint(item, 0, 400, 0, 10, size=(400, 50))  # one pixel per second; 900 is out of view
    background = theme.BACKGROUND.rgb()
    drawn = [x for x in range(400) if any(QColor(image.pixel(x, y)).rgb() != background for y in range(50))]
    assert drawn == [100, 250]


def test_every_workspace_chart_and_the_base_plus_derived_view_draw_them(qtbot: Any, lean_minute: Any) -> None:
    """One toggle for every chart: 2015-12-24 (13:00 close) on a 2×2 workspace and in the base + derived view."""
    from session_monitor.gui.chart.workspace import ChartWorkspace

    session = xnys("2015-12-24")
    sd, _, processor = watch(session, "1m", ["15m", "1h"], symbol="GOOG")
    sd.add_base_bars("GOOG", LeanSource(lean_minute).load_session("GOOG", Interval(60), session).bars)
    processor.process(session.close)
    bridge = SessionBridge(sd)
    workspace = ChartWorkspace(sd, bridge)
    qtbot.addWidget(workspace)
    workspace.set_layout("2x2")
    minute = workspace.slots[0].show_chart("GOOG", "1m")
    quarter = workspace.slots[1].show_chart("GOOG", "15m")
    assert minute is not None and quarter is not None
    assert minute.window_lines.shown_xs() == {}

    workspace.set_window_lines(True)
    hour_chart = workspace.slots[2].show_chart("GOOG", "1h")  # a chart bound after the toggle draws them too
    assert hour_chart is not None
    hour_edges = [*(utc(f"2015-12-24T{h}:30:00") for h in (14, 15, 16, 17)), utc("2015-12-24T18:00:00")]
    np.testing.assert_array_equal(minute.window_lines.shown_xs()["1h"], hour_edges)
    assert list(quarter.window_lines.shown_xs()) == ["1h"]
    np.testing.assert_array_equal(quarter.window_lines.shown_xs()["1h"], hour_edges)
    assert hour_chart.window_lines.shown_xs() == {}  # nothing coarser than 1h below 1d
    # the lines sit on the edges of the bars drawn: the 12:30 hourly candle ends on the last one, 13:00
    last = hour_chart.data.current
    assert int(last.ts[-1]) == utc("2015-12-24T17:30:00")
    assert hour_chart.data.bar_ends(last.ts[-1:])[0] == hour_edges[-1]
    assert all(item.isVisible() for item in minute.window_lines.items.values())

    charts = SymbolCharts(sd, bridge)
    qtbot.addWidget(charts)
    charts.show_symbol("GOOG", "1m")
    charts.set_window_lines(True)
    view = charts.show_combined("15m")
    assert view is not None
    np.testing.assert_array_equal(view.base_chart.window_lines.shown_xs()["1h"], hour_edges)
    np.testing.assert_array_equal(view.derived_chart.window_lines.shown_xs()["1h"], hour_edges)
    view.set_interval("1h")  # a rebuilt derived chart keeps the toggle: 1h has nothing coarser
    assert view.derived_chart.window_lines.visible

    workspace.set_window_lines(False)
    charts.set_window_lines(False)
    assert minute.window_lines.shown_xs() == {} and view.base_chart.window_lines.shown_xs() == {}
    assert not any(item.isVisible() for item in minute.window_lines.items.values())
