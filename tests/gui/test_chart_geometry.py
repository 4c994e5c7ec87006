"""A derived bar is drawn exactly as wide as its window (real GOOG data, half day and full day)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from session_monitor.core.intervals import Interval
from session_monitor.core.sources.lean import LeanSource
from session_monitor.gui import theme
from session_monitor.gui.chart.data import ChartData
from session_monitor.gui.chart.items import BODY, CandleItem, VolumeItem
from tests.core_helpers import utc, watch, xnys
from tests.gui.test_chart_items import paint

SECONDS_PER_PX = 30


def _goog(lean_minute, date: str):
    session = xnys(date)
    sd, data, processor = watch(session, "1m", ["1h"], symbol="GOOG")
    sd.add_base_bars("GOOG", LeanSource(lean_minute).load_session("GOOG", Interval(60), session).bars)
    processor.process(session.close)
    return session, data


def _painted_columns(image, x0: int) -> list[int]:
    """Seconds (from ``x0``) of every pixel column holding anything but the background."""
    background = theme.BACKGROUND.rgb()
    return [
        x0 + x * SECONDS_PER_PX
        for x in range(image.width())
        if any(QColor(image.pixel(x, y)).rgb() != background for y in range(image.height()))
    ]


def _bodies(lean_minute, date: str, item_type=CandleItem) -> tuple[ChartData, list[int]]:
    session, data = _goog(lean_minute, date)
    chart = ChartData(data, "1h")
    item = item_type(chart)
    lo, hi = (0.0, float(chart.current.volume.max())) if item_type is VolumeItem else chart.price_range()
    x0 = session.open - 1800
    image = paint(item, x0, session.close + 1800, lo - 1, hi + 1, size=((session.close + 1800 - x0) // 30, 200))
    return chart, _painted_columns(image, x0)


def test_half_day_last_hour_bar_ends_at_the_one_pm_close(lean_minute) -> None:
    chart, drawn = _bodies(lean_minute, "2015-12-24")
    np.testing.assert_array_equal(
        chart.bar_ends(chart.current.ts),
        [utc(f"2015-12-24T{h}:30:00") for h in (15, 16, 17)] + [utc("2015-12-24T18:00:00")],
    )
    last = [t for t in drawn if t >= utc("2015-12-24T17:30:00")]
    body = 1800 * BODY  # 21 minutes, centred in 12:30-13:00
    assert min(last) >= utc("2015-12-24T17:30:00") + (1800 - body) / 2 - SECONDS_PER_PX
    assert max(last) <= utc("2015-12-24T17:30:00") + (1800 + body) / 2
    assert max(drawn) < utc("2015-12-24T18:00:00")  # nothing straddles the close line


def test_last_full_day_hour_bar_is_half_as_wide(lean_minute) -> None:
    for item_type in (CandleItem, VolumeItem):
        _chart, drawn = _bodies(lean_minute, "2015-12-28", item_type)
        drawn_set = set(drawn)
        first = [t for t in drawn_set if utc("2015-12-28T14:30:00") <= t < utc("2015-12-28T15:30:00")]
        last = [t for t in drawn_set if t >= utc("2015-12-28T20:30:00")]
        assert max(drawn) < utc("2015-12-28T21:00:00")
        # bodies are BODY of the window: 42 minutes for 09:30, 21 for 15:30 (to a pixel column)
        assert abs(len(first) * SECONDS_PER_PX - 3600 * BODY) <= SECONDS_PER_PX
        assert abs(len(last) * SECONDS_PER_PX - 1800 * BODY) <= SECONDS_PER_PX
