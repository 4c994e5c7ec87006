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
    np.testing.assert_array_equal(lines["1h"], [utc(f"2015-12-24T{h}:30:00") for h in (14, 15, 16, 17)])
    assert len(lines["15m"]) == 14 and lines["15m"][-1] == utc("2015-12-24T17:45:00")  # 12:45, last before 13:00
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
