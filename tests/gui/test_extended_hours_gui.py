"""Extended hours in the window: charts shade pre- and post-market and draw the regular
session's open and close; the tree's tooltips give quality per segment; Session → Extended
hours asks for the run again with other hours."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from session_monitor.core.calendar import get_calendar
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.lean import LeanSource
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.chart.segments import SegmentShading
from session_monitor.gui.chart.symbol_charts import SymbolCharts
from session_monitor.gui.tree_model import Column, SessionTreeModel
from tests.core_helpers import utc, watch, xnys


def _spy(lean_minute: Any, date: str, hours: str) -> Any:
    session = get_calendar("XNYS", hours=hours).session(dt.date.fromisoformat(date))
    sd, _, processor = watch(session, "1m", ["15m", "1h"], symbol="SPY")
    sd.add_base_bars("SPY", LeanSource(lean_minute).load_session("SPY", Interval(60), session).bars)
    processor.process(session.close)
    return sd


def _shading(charts: SymbolCharts, interval: str) -> SegmentShading:
    chart = charts.chart(interval)
    assert chart is not None
    return chart.segments


def test_charts_shade_pre_and_post_market_and_mark_the_regular_session(qtbot: Any, lean_minute: Any) -> None:
    sd = _spy(lean_minute, "2013-10-07", "extended")
    charts = SymbolCharts(sd, SessionBridge(sd))
    qtbot.addWidget(charts)
    charts.show_symbol("SPY", "15m")
    shading = _shading(charts, "15m")
    pre = [utc("2013-10-07T08:00:00"), utc("2013-10-07T13:30:00")]  # 04:00-09:30 New York
    post = [utc("2013-10-07T20:00:00"), utc("2013-10-08T00:00:00")]  # 16:00-20:00
    for band, line in zip(shading.bands, shading.lines, strict=True):  # price and volume plots
        np.testing.assert_array_equal(band.ranges, [pre, post])  # the current session: x is its time
        np.testing.assert_array_equal(line.xs, [pre[1], post[0]])


def test_regular_hours_draw_no_segments(qtbot: Any, lean_minute: Any) -> None:
    sd = _spy(lean_minute, "2013-10-07", "regular")
    charts = SymbolCharts(sd, SessionBridge(sd))
    qtbot.addWidget(charts)
    charts.show_symbol("SPY", "15m")
    shading = _shading(charts, "15m")
    assert [len(b.ranges) for b in shading.bands] == [0, 0] and [len(li.xs) for li in shading.lines] == [0, 0]


def test_quality_tooltip_gives_each_segment(lean_minute: Any) -> None:
    sd = _spy(lean_minute, "2013-10-07", "extended")
    model = SessionTreeModel(sd, SessionBridge(sd))
    base = model.index(0, Column.QUALITY, model.index(0, 0))
    lines = base.data(Qt.ItemDataRole.ToolTipRole).splitlines()
    assert lines[-4] == "per segment (quality · coverage · gaps · incomplete):"
    assert lines[-2] == "regular: 100.0 % · 100.0 % · 0 gap(s) · 0"
    assert lines[-3].startswith("pre-market: ") and lines[-1].startswith("after-hours: ")
    regular = _spy(lean_minute, "2013-10-07", "regular")
    regular_model = SessionTreeModel(regular, SessionBridge(regular))
    plain = regular_model.index(0, Column.QUALITY, regular_model.index(0, 0))
    assert "per segment" not in (plain.data(Qt.ItemDataRole.ToolTipRole) or "")


def test_a_regular_session_is_unchanged_by_the_extended_calendar() -> None:
    assert xnys("2013-10-07").segments == ()


def test_the_session_menu_switches_hours(qtbot: Any, make_window: Any) -> None:
    harness = make_window()
    action = harness.window.extended_hours_action
    assert action.isEnabled() and not action.isChecked()
    with qtbot.waitSignal(harness.window.hours_change_requested) as asked:
        action.trigger()
    assert asked.args == ["extended"]
    extended = get_calendar("XNYS", hours="extended")
    other = make_window(cal=extended, sessions=[extended.session(dt.date(2013, 10, 7))])
    assert other.window.extended_hours_action.isChecked()


def test_candles_are_as_wide_as_their_segment_cut_windows(qtbot: Any, lean_minute: Any) -> None:
    sd = _spy(lean_minute, "2013-10-07", "extended")
    charts = SymbolCharts(sd, SessionBridge(sd))
    qtbot.addWidget(charts)
    charts.show_symbol("SPY", "1h")
    chart = charts.chart("1h")
    assert chart is not None
    ts = np.array(sd.get_symbol_data("SPY").bars["1h"].data.ts)
    ends = chart.data.bar_ends(ts)
    grid = sd.get_symbol_data("SPY").bars["1h"].grid
    np.testing.assert_array_equal(ends, grid.ends[grid.window_of(ts)])  # 09:00 ends 09:30, 15:30 at 16:00
