"""DemoSource: deterministic, plausible, 1m = aggregation of 1s, a few drops."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sources_helpers import DAY, utc_day, xnys

from session_monitor.core.bars import BarArrays
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.demo import DemoSource, aggregate_minutes

SECOND = Interval(1)
MINUTE = Interval(60)
SESSION = xnys(DAY)


def _same(a: BarArrays, b: BarArrays) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_identity() -> None:
    src = DemoSource(seed=7)
    assert src.key == "demo:7" and src.calendar_hint is None and src.name == "demo"
    assert src.base_intervals("ANYTHING") == (SECOND, MINUTE)
    assert src.symbols() == [] and src.dates("X") == []


def test_deterministic_across_instances() -> None:
    a = DemoSource(seed=3).load_session("SPY", SECOND, SESSION)
    b = DemoSource(seed=3).load_session("spy", SECOND, SESSION)
    assert a.symbol == b.symbol == "SPY" and _same(a.bars, b.bars)
    # known values pin the generator across processes (crc32, not hash())
    first = a.bars.take(slice(0, 1))
    assert len(a.bars) == 22_866
    assert tuple(float(c[0]) for c in first) == (1704205800, 68.41, 68.41, 68.38, 68.39, 123.0)


def test_inputs_change_the_bars() -> None:
    base = DemoSource(seed=0).load_session("SPY", SECOND, SESSION).bars
    assert not _same(base, DemoSource(seed=0).load_session("QQQ", SECOND, SESSION).bars)
    assert not _same(base, DemoSource(seed=1).load_session("SPY", SECOND, SESSION).bars)
    other_day = DemoSource(seed=0).load_session("SPY", SECOND, xnys(dt.date(2024, 1, 3))).bars
    assert other_day.open[0] != base.open[0]


@pytest.mark.parametrize("symbol", ["SPY", "AAPL", "X", "BRK.B", "ÄÖÜ"])
def test_valid_bars_in_session(symbol: str) -> None:
    for base in (SECOND, MINUTE):
        bars = DemoSource().load_session(symbol, base, SESSION).bars
        assert len(bars) > 0
        assert bars.ts.dtype == np.int64 and bars.open.dtype == np.float64
        assert np.all(np.diff(bars.ts) > 0) and np.all(bars.ts % base.seconds == 0)
        assert np.all(SESSION.in_session_mask(bars.ts))
        assert np.all(bars.low > 0)
        assert np.all(bars.high >= np.maximum(bars.open, bars.close))
        assert np.all(bars.low <= np.minimum(bars.open, bars.close))
        assert np.all(bars.volume >= 1) and np.all(bars.volume == np.round(bars.volume))
        assert 5 < bars.close[-1] < 2000


def test_minute_bars_are_the_aggregation_of_second_bars() -> None:
    src = DemoSource(seed=11, drop_rate=0.05)
    seconds = src.load_session("MSFT", SECOND, SESSION).bars
    minutes = src.load_session("MSFT", MINUTE, SESSION).bars
    assert _same(minutes, aggregate_minutes(seconds))
    # a minute exists exactly when one of its seconds does
    assert set(minutes.ts.tolist()) == set((seconds.ts - seconds.ts % 60).tolist())
    assert minutes.volume.sum() == seconds.volume.sum()


def test_drops_exist_but_are_few() -> None:
    src = DemoSource()
    expected_seconds = SESSION.length
    missing_seconds = []
    missing_minutes = []
    for k in range(10):
        date = DAY + dt.timedelta(days=k)
        cal_session = xnys(date) if date.weekday() < 5 and date != dt.date(2024, 1, 15) else None
        if cal_session is None:
            continue
        seconds = src.load_session("SPY", SECOND, cal_session).bars
        minutes = src.load_session("SPY", MINUTE, cal_session).bars
        missing_seconds.append(1 - len(seconds) / expected_seconds)
        missing_minutes.append(1 - len(minutes) / 390)
    assert all(0 < m < 0.1 for m in missing_seconds)
    assert any(m > 0 for m in missing_minutes) and all(m < 0.1 for m in missing_minutes)
    none = DemoSource(drop_rate=0.0).load_session("SPY", SECOND, SESSION).bars
    assert len(none) == expected_seconds


def test_half_day_and_24h_sessions() -> None:
    half = xnys(dt.date(2024, 11, 29))
    bars = DemoSource(drop_rate=0).load_session("SPY", MINUTE, half).bars
    assert len(bars) == 210 and bars.ts[-1] == half.close - 60
    day = utc_day(dt.date(2024, 1, 6))
    crypto = DemoSource(drop_rate=0).load_session("BTCUSD", SECOND, day).bars
    assert len(crypto) == 86_400


def test_unsupported_base_is_a_problem() -> None:
    loaded = DemoSource().load_session("SPY", Interval(300), SESSION)
    assert len(loaded.bars) == 0 and "1s and 1m" in loaded.problems[0].message




def test_bad_drop_rate() -> None:
    with pytest.raises(ValueError, match="drop_rate"):
        DemoSource(drop_rate=1.5)
