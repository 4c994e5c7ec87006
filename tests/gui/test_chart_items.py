"""Chart data and items, built without showing anything: arrays, bounds, reduction, styles."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QTransform
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from session_monitor.core.bars import FORMING, REVISED, BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval
from session_monitor.core.session_data import SymbolSessionData
from session_monitor.gui import theme
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.data import ChartData, Columns, reduce_per_pixel
from session_monitor.gui.chart.items import BarItem, CandleItem, VolumeItem
from tests.gui.gui_helpers import Streamer, fake_bars


def paint(item: BarItem, x0: float, x1: float, y0: float, y1: float, size: tuple[int, int] = (400, 200)) -> QImage:
    """Paint ``item`` into an image showing data rect [x0, x1] × [y0, y1] (y up)."""
    width, height = size
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(theme.BACKGROUND)
    painter = QPainter(image)
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    painter.setTransform(QTransform(sx, 0, 0, -sy, -x0 * sx, y1 * sy))
    option = QStyleOptionGraphicsItem()
    option.exposedRect = QRectF(x0, y0, x1 - x0, y1 - y0)
    item.paint(painter, option, None)
    painter.end()
    return image


def test_chart_data_views_share_memory_with_core(streamer: Streamer, session: Session) -> None:
    data = streamer.add("SPY")
    streamer.stream("SPY", fake_bars("SPY", session, count=30))
    chart = ChartData(data, "5m")

    series = data.bars["5m"].data
    assert np.shares_memory(chart.current.close, series.close)
    assert len(chart) == len(series) == 6
    np.testing.assert_array_equal(chart.current.ts, series.ts)
    assert chart.derived and chart.width == 300


def test_candle_bounds_follow_append_and_update(streamer: Streamer, session: Session) -> None:
    data = streamer.add("SPY")
    bars = fake_bars("SPY", session, count=20)
    streamer.stream("SPY", bars.take(slice(0, 10)))
    chart = ChartData(data, "1m")
    candles = CandleItem(chart)
    assert candles.dataBounds(1) == (bars.low[:10].min(), bars.high[:10].max())

    # append
    streamer.stream("SPY", bars.take(slice(10, 20)))
    chart.refresh()
    candles.data_changed(10)
    assert candles.dataBounds(0) == (session.open, session.open + 20 * 60)
    assert candles.dataBounds(1) == (bars.low.min(), bars.high.max())
    # only the bars overlapping the visible range count for the auto-range
    visible = candles.dataBounds(1, orthoRange=(session.open + 600, session.open + 719))
    assert visible == (bars.low[10:12].min(), bars.high[10:12].max())  # bar 9 ends at 600: not in view

    # the last bar is revised with a new high
    last = bars.take(slice(19, 20))
    revised = BarArrays(last.ts, last.open, last.high + 5, last.low, last.close, last.volume)
    streamer.stream("SPY", revised)
    chart.refresh()
    candles.data_changed(19)
    assert candles.dataBounds(1)[1] == pytest.approx(bars.high[19] + 5)
    assert candles.boundingRect().contains(session.open + 19 * 60 + 30, bars.high[19] + 5)
    assert len(chart.current) == 20


def test_volume_bounds_start_at_zero(streamer: Streamer, session: Session) -> None:
    data = streamer.add("SPY")
    bars = fake_bars("SPY", session, count=10)
    streamer.stream("SPY", bars)

    volume = VolumeItem(ChartData(data, "1m"))

    assert volume.dataBounds(1) == (0.0, bars.volume.max())


def test_reduction_keeps_true_high_and_low_per_pixel_column() -> None:
    rng = np.random.default_rng(7)
    n = 10_000
    ts = 1_000_000 + np.arange(n, dtype=np.int64) * 60
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + rng.uniform(0, 3, n)
    low = np.minimum(open_, close) - rng.uniform(0, 3, n)
    cols = Columns(ts, open_, high, low, close, rng.uniform(1, 10, n))
    px = 60 * 37.3  # ~37 candles per screen column

    reduced = reduce_per_pixel(cols, px, 60.0)

    column = np.floor((ts + 30) / px).astype(np.int64)
    keys = np.unique(column)
    assert len(reduced) == len(keys) < n
    for i, key in enumerate(keys):
        members = column == key
        assert reduced.high[i] == high[members].max()
        assert reduced.low[i] == low[members].min()
        assert reduced.open[i] == open_[members][0]
        assert reduced.close[i] == close[members][-1]
    assert reduced.high.max() == high.max() and reduced.low.min() == low.min()


def test_dense_candles_are_painted_reduced_to_pixel_columns(streamer: Streamer, session: Session) -> None:
    data = streamer.add("SPY")
    bars = fake_bars("SPY", session)  # the full session: 390 candles
    streamer.stream("SPY", bars)
    candles = CandleItem(ChartData(data, "1m"))
    low, high = float(bars.low.min()), float(bars.high.max())

    paint(candles, session.open, session.close, low, high, size=(100, 100))
    drawn, reduced = candles.last_paint
    assert reduced and drawn <= 101

    paint(candles, session.open, session.open + 3600, low, high, size=(600, 100))
    drawn, reduced = candles.last_paint
    assert not reduced and drawn == 60  # exactly the visible hour


def _colour_count(image: QImage, colour: QColor, x0: int, x1: int) -> int:
    return sum(
        1 for x in range(x0, x1) for y in range(image.height()) if QColor(image.pixel(x, y)).rgb() == colour.rgb()
    )


def test_fill_means_up_or_down_and_marks_sit_on_top(session: Session) -> None:
    """Complete up, incomplete up, forming up, revised down: every body is filled with its
    direction's colour; incomplete gets an orange tick under its low, revised a violet tick
    over its high, forming a dashed outline."""
    data = SymbolSessionData.create("SPY", Interval(60), [Interval(300)], session)
    series = data.bars["5m"].data
    o = session.open
    bars = BarArrays.from_rows([
        (o, 10, 12, 9, 11, 5), (o + 300, 10, 12, 9, 11, 5), (o + 600, 10, 12, 9, 11, 5), (o + 900, 11, 12, 9, 10, 5),
    ])
    series.extend(bars, np.array([5, 3, 2, 5]), np.array([5, 5, 5, 5]), np.array([0, 0, FORMING, REVISED], np.uint8))
    candles = CandleItem(ChartData(data, "5m"))

    image = paint(candles, o, o + 1200, 8, 13, size=(400, 100))

    # 100 px per bar, bodies 10.0..11.0 = rows 40..60, lows at 9.0 = row 80, highs at 12.0 = row 20
    for centre, colour in ((50, theme.UP), (150, theme.UP), (250, theme.UP), (350, theme.DOWN)):
        assert QColor(image.pixel(centre - 15, 50)).rgb() == colour.rgb()
    assert _colour_count(image, marks.INCOMPLETE, 100, 200) > 0
    assert _colour_count(image, marks.INCOMPLETE, 0, 100) == 0
    assert _colour_count(image, marks.INCOMPLETE, 200, 400) == 0  # forming is not also "incomplete"
    tick = [y for y in range(100) if QColor(image.pixel(150, y)).rgb() == marks.INCOMPLETE.rgb()]
    assert tick and min(tick) > 80  # under the low
    assert _colour_count(image, theme.FORMING, 200, 300) > 0
    assert _colour_count(image, theme.FORMING, 0, 200) == 0
    revised = [y for y in range(100) if QColor(image.pixel(350, y)).rgb() == marks.REVISED.rgb()]
    assert revised and max(revised) < 20  # over the high
    assert _colour_count(image, marks.REVISED, 0, 300) == 0
