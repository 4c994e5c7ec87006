"""The "base + derived" view on real GOOG 2015-12-28 minutes (12:08 New York is missing, 17:08 UTC)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from session_monitor.core.intervals import Interval
from session_monitor.core.sources.lean import LeanSource
from session_monitor.gui.chart.base_derived import BaseDerivedView, Selection
from session_monitor.gui.chart.items import BODY
from session_monitor.gui.chart.symbol_charts import COMBINED_TAB, SymbolCharts
from session_monitor.gui.chart.widget import IntervalChart
from tests.core_helpers import utc, watch, xnys
from tests.gui.gui_helpers import Streamer

MINUTE = Interval(60)


def _minutes(start: str, end: str) -> list[int]:
    return list(range(utc(start), utc(end), 60))


@pytest.fixture
def goog(lean_minute) -> Any:
    session = xnys("2015-12-28")
    sd, data, processor = watch(session, "1m", ["15m", "1h"], symbol="GOOG")
    sd.add_base_bars("GOOG", LeanSource(lean_minute).load_session("GOOG", MINUTE, session).bars)
    processor.process(session.close)
    return data


@pytest.fixture
def view(qtbot: Any, goog: Any) -> BaseDerivedView:
    widget = BaseDerivedView(goog, "15m")
    qtbot.addWidget(widget)
    widget.resize(1100, 800)
    widget.show()
    qtbot.waitExposed(widget)
    # the morning of 2015-12-28, 10:30-13:30 New York, on both charts (one shared time axis)
    widget.base_chart.view.setXRange(utc("2015-12-28T15:30:00"), utc("2015-12-28T18:30:00"), padding=0)
    return widget


def _mouse_at(qtbot: Any, chart: IntervalChart, x: float) -> None:
    """Move the real mouse over ``chart``'s price plot at time ``x``."""
    box = chart.view
    (_, _), (y0, y1) = box.viewRange()
    scene = box.mapViewToScene(QPointF(x, (y0 + y1) / 2))
    qtbot.mouseMove(chart.graphics.viewport(), chart.graphics.mapFromScene(scene))


def _click_at(qtbot: Any, chart: IntervalChart, x: float) -> None:
    box = chart.view
    (_, _), (y0, y1) = box.viewRange()
    scene = box.mapViewToScene(QPointF(x, (y0 + y1) / 2))
    qtbot.mouseClick(chart.graphics.viewport(), Qt.MouseButton.LeftButton, pos=chart.graphics.mapFromScene(scene))


def test_the_two_charts_share_one_time_axis(view: BaseDerivedView) -> None:
    base_range = view.base_chart.view.viewRange()[0]
    assert view.derived_chart.view.viewRange()[0] == pytest.approx(base_range)
    view.derived_chart.view.setXRange(utc("2015-12-28T19:00:00"), utc("2015-12-28T20:00:00"), padding=0)
    assert view.base_chart.view.viewRange()[0] == pytest.approx([utc("2015-12-28T19:00:00"),
                                                                 utc("2015-12-28T20:00:00")])


def test_hovering_a_derived_bar_shows_its_window_base_bars_and_missing_slot(qtbot: Any, view: BaseDerivedView) -> None:
    _mouse_at(qtbot, view.derived_chart, utc("2015-12-28T17:06:00"))
    qtbot.waitUntil(lambda: view.provenance is not None)

    assert view.selection == Selection("derived", utc("2015-12-28T17:00:00"), pinned=False)
    np.testing.assert_array_equal(view.window_band.ranges, [[utc("2015-12-28T17:00:00"), utc("2015-12-28T17:15:00")]])
    present = [t for t in _minutes("2015-12-28T17:00:00", "2015-12-28T17:15:00") if t != utc("2015-12-28T17:08:00")]
    # each outline spans its candle's body (BODY of the minute) from low to high
    np.testing.assert_allclose(view.base_boxes.boxes[:, 0], np.array(present) + 60 * (1 - BODY) / 2)
    np.testing.assert_allclose(view.base_boxes.boxes[:, 1], np.array(present) + 60 * (1 + BODY) / 2)
    lows = view.symbol_data.base.data.low
    np.testing.assert_array_equal(view.base_boxes.boxes[:, 2], [lows[view.symbol_data.base.data.index_of(t)]
                                                                for t in present])
    np.testing.assert_array_equal(view.missing_marks.boxes[:, :2], [[utc("2015-12-28T17:08:00"),
                                                                     utc("2015-12-28T17:09:00")]])
    bar = view.symbol_data.bars["15m"].data
    i = bar.index_of(utc("2015-12-28T17:00:00"))
    np.testing.assert_array_equal(view.explained_box.boxes, [[utc("2015-12-28T17:00:00"), utc("2015-12-28T17:15:00"),
                                                               bar.low[i], bar.high[i]]])
    assert "2015-12-28 12:00" in view.derived_chart.readout.text()  # the readout shows the explained bar
    assert view.panel.text().splitlines() == [
        "15m bar 2015-12-28 12:00–12:15 (America/New_York), final",
        "base 1m bars: 14 of 15 present",
        "missing: 12:08 (missing)",
    ]


def test_crosshair_is_linked_across_the_two_charts(qtbot: Any, view: BaseDerivedView) -> None:
    x = utc("2015-12-28T16:42:30")
    _mouse_at(qtbot, view.derived_chart, x)
    qtbot.waitUntil(lambda: view.base_chart.v_line.isVisible())
    assert view.base_chart.v_line.value() == pytest.approx(view.derived_chart.v_line.value(), abs=30)
    assert view.base_chart.v_line.value() == pytest.approx(x, abs=30)  # within a pixel
    assert not view.base_chart.h_line.isVisible()  # the price line stays on the chart under the mouse

    x = utc("2015-12-28T17:51:00")
    _mouse_at(qtbot, view.base_chart, x)
    qtbot.waitUntil(lambda: abs(view.derived_chart.v_line.value() - x) <= 30)
    assert view.derived_chart.v_line_volume.value() == view.derived_chart.v_line.value()


def test_click_pins_a_derived_bar_and_hover_no_longer_moves_it(qtbot: Any, view: BaseDerivedView) -> None:
    _click_at(qtbot, view.derived_chart, utc("2015-12-28T17:20:00"))
    qtbot.waitUntil(lambda: view.selection is not None and view.selection.pinned)
    assert view.selection.ts == utc("2015-12-28T17:15:00")
    np.testing.assert_array_equal(view.missing_marks.boxes[:, 0], [utc("2015-12-28T17:15:00")])
    _mouse_at(qtbot, view.derived_chart, utc("2015-12-28T16:10:00"))
    qtbot.wait(50)
    assert view.selection.ts == utc("2015-12-28T17:15:00")


def test_clicking_a_base_bar_outlines_the_derived_bars_holding_it(qtbot: Any, view: BaseDerivedView) -> None:
    _click_at(qtbot, view.base_chart, utc("2015-12-28T17:09:30"))
    qtbot.waitUntil(lambda: bool(view.containing))
    assert view.selection == Selection("base", utc("2015-12-28T17:09:00"), pinned=True)
    assert [(c.interval.name, c.start, c.end) for c in view.containing] == [
        ("15m", utc("2015-12-28T17:00:00"), utc("2015-12-28T17:15:00")),
        ("1h", utc("2015-12-28T16:30:00"), utc("2015-12-28T17:30:00")),
    ]
    np.testing.assert_array_equal(view.derived_chart.held.item.boxes[:, :2], [[utc("2015-12-28T17:00:00"),
                                                                               utc("2015-12-28T17:15:00")]])
    clicked = utc("2015-12-28T17:09:00")  # the clicked minute's body is outlined on the base chart
    np.testing.assert_allclose(view.base_chart.held.item.boxes[:, :2],
                               [[clicked + 60 * (1 - BODY) / 2, clicked + 60 * (1 + BODY) / 2]])
    view.set_interval("1h")  # the other interval shows its own bar holding it
    np.testing.assert_array_equal(view.derived_chart.held.item.boxes[:, :2], [[utc("2015-12-28T16:30:00"),
                                                                               utc("2015-12-28T17:30:00")]])
    assert view.panel.text() == "base 1m bar 2015-12-28 12:09 is in: 15m 12:00–12:15, 1h 11:30–12:30"


def test_symbol_charts_has_a_base_plus_derived_tab_fed_by_the_bridge(
    qtbot: Any, session_data: Any, streamer: Streamer, session: Any
) -> None:
    from session_monitor.gui.bridge import SessionBridge
    from tests.gui.gui_helpers import fake_bars

    bridge = SessionBridge(session_data)
    charts = SymbolCharts(session_data, bridge)
    qtbot.addWidget(charts)
    streamer.add("SPY", ("5m", "15m"))
    charts.show_symbol("SPY")
    assert COMBINED_TAB in [charts.tabs.tabText(i) for i in range(charts.tabs.count())]
    view = charts.show_combined("15m")
    assert view is not None and view.interval == "15m"
    streamer.stream("SPY", fake_bars("SPY", session, count=20))
    charts.flush()
    assert len(view.base_chart.data.current) == 20
    assert len(view.derived_chart.data.current) == 2
    view.explain(session.open + 60)
    assert view.provenance is not None and view.provenance.end == session.open + 900


def test_the_panel_says_how_often_a_derived_bar_was_revised_and_when(qtbot: Any, lean_minute: Any) -> None:
    """12:20 New York arrives late (at 12:50:30) and is corrected (at 13:02:15): the 12:15 15m bar, twice."""
    session = xnys("2015-12-28")
    sd, data, processor = watch(session, "1m", ["15m", "1h"], symbol="GOOG")
    bars = LeanSource(lean_minute).load_session("GOOG", MINUTE, session).bars
    late = utc("2015-12-28T17:20:00")
    sd.add_base_bars("GOOG", bars.take((bars.ts < utc("2015-12-28T17:45:00")) & (bars.ts != late)))
    processor.process(utc("2015-12-28T17:45:00"))
    sd.add_base_bars("GOOG", bars.take(bars.ts == late))
    processor.process(utc("2015-12-28T17:50:30"))
    fixed = bars.take(bars.ts == late)
    fixed.high[:] += 1.0
    sd.add_base_bars("GOOG", fixed)
    processor.process(utc("2015-12-28T18:02:15"))

    view = BaseDerivedView(data, "15m")
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()
    qtbot.waitExposed(view)
    view.base_chart.view.setXRange(utc("2015-12-28T16:30:00"), utc("2015-12-28T18:00:00"), padding=0)
    _click_at(qtbot, view.derived_chart, utc("2015-12-28T17:22:00"))
    qtbot.waitUntil(lambda: view.selection is not None and view.selection.pinned)
    assert view.panel.text().splitlines() == [
        "15m bar 2015-12-28 12:15–12:30 (America/New_York), revised",
        "base 1m bars: 14 of 15 present",
        "missing: 12:15 (missing)",
        "revised 2 times, last at 13:02:15",
    ]
    view.set_interval("1h")  # the hour holding it was revised in the same two passes
    assert view.panel.text().splitlines()[0] == "1h bar 2015-12-28 11:30–12:30 (America/New_York), revised"
    assert view.panel.text().splitlines()[-1] == "revised 2 times, last at 13:02:15"
    _click_at(qtbot, view.derived_chart, utc("2015-12-28T16:00:00"))  # 10:30, never revised
    qtbot.waitUntil(lambda: view.selection is not None and view.selection.ts == utc("2015-12-28T15:30:00"))
    assert "revised" not in view.panel.text()
