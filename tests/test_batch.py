"""core.batch.derive_batch equals core.derive.reaggregate.aggregate applied session by session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from session_monitor.core.bars import BarArrays
from session_monitor.core.batch import derive_batch
from session_monitor.core.calendar import Session, get_calendar
from session_monitor.core.derive.reaggregate import aggregate
from session_monitor.core.intervals import Interval, parse_interval, parse_intervals
from session_monitor.core.sources.lean import LeanSource
from session_monitor.core.windows import window_grid

DATA = Path(__file__).parent / "data" / "lean" / "equity" / "usa"


def _concat(parts: list[BarArrays]) -> BarArrays:
    if not parts:
        return BarArrays.empty()
    return BarArrays(*(np.concatenate([p[i] for p in parts]) for i in range(6)))


def _expected(
    per_session: list[tuple[Session, BarArrays]], base: Interval, interval: Interval
) -> tuple[BarArrays, np.ndarray]:
    """The live engine's aggregation, one session at a time."""
    bars, counts = [], []
    for session, base_bars in per_session:
        agg = aggregate(base_bars, window_grid(session, interval, base))
        bars.append(agg.bars)
        counts.append(agg.count)
    return _concat(bars), np.concatenate(counts) if counts else np.empty(0, np.int32)


def _assert_equal(per_session: list[tuple[Session, BarArrays]], base: Interval, intervals: list[str]) -> None:
    sessions = [s for s, _ in per_session]
    everything = _concat([b for _, b in per_session])
    out = derive_batch(
        *everything,
        np.array([s.open for s in sessions], np.int64),
        np.array([s.close for s in sessions], np.int64),
        intervals,
    )
    assert list(out) == [i.name for i in parse_intervals(intervals)]
    for name in intervals:
        want_bars, want_count = _expected(per_session, base, parse_interval(name))
        got = out[parse_interval(name).name]
        for field, want, have in zip(BarArrays._fields, want_bars, got.bars, strict=True):
            np.testing.assert_array_equal(have, want, err_msg=f"{name} {field}")
        np.testing.assert_array_equal(got.count, want_count, err_msg=f"{name} count")
        assert got.count.dtype == np.int32


def _lean(resolution: str, symbol: str, dates: list[str] | None = None) -> list[tuple[Session, BarArrays]]:
    source = LeanSource(DATA / resolution)
    cal = get_calendar("XNYS")
    wanted = [dt.date.fromisoformat(d) for d in dates] if dates else source.dates(symbol)
    out = []
    for date in wanted:
        session = cal.session(date)
        loaded = source.load_session(symbol, source.layout.base, session)
        assert len(loaded.bars.ts), f"no {symbol} bars on {date}"
        out.append((session, loaded.bars))
    return out


def test_lean_spy_minute_week() -> None:
    per_session = _lean("minute", "SPY")
    assert len(per_session) == 6
    _assert_equal(per_session, Interval(60), ["5m", "15m", "1h", "1d"])


def test_lean_goog_minute_with_half_day() -> None:
    # 2015-12-24 closes at 13:00: the last 1h window is 12:30-13:00, 1d is the short session
    per_session = _lean("minute", "GOOG", ["2015-12-23", "2015-12-24", "2015-12-28"])
    assert per_session[1][0].close - per_session[1][0].open == 3.5 * 3600
    _assert_equal(per_session, Interval(60), ["5m", "15m", "1h", "1d", "2m", "3m", "45m", "90m"])


def test_lean_goog_half_day_alone() -> None:
    per_session = _lean("minute", "GOOG", ["2015-12-24"])
    _assert_equal(per_session, Interval(60), ["5m", "15m", "1h", "1d"])


def test_lean_spy_second() -> None:
    per_session = _lean("second", "SPY")
    _assert_equal(per_session, Interval(1), ["1m", "5m", "15m", "1h", "1d"])


def _random_sessions(
    first: str, last: str, step: int, keep: float, seed: int
) -> list[tuple[Session, BarArrays]]:
    rng = np.random.default_rng(seed)
    cal = get_calendar("XNYS")
    out = []
    for session in cal.sessions_between(dt.date.fromisoformat(first), dt.date.fromisoformat(last)):
        ts = np.arange(session.open, session.close, step, dtype=np.int64)
        ts = ts[rng.random(len(ts)) < keep]
        if rng.random() < 0.2 and len(ts) > 40:  # a long outage
            a = int(rng.integers(0, len(ts) - 30))
            ts = np.delete(ts, np.arange(a, a + int(rng.integers(5, 30))))
        n = len(ts)
        close = 50 + np.cumsum(rng.normal(0, 0.2, n))
        open_ = close + rng.normal(0, 0.1, n)
        high = np.maximum(open_, close) + rng.random(n)
        low = np.minimum(open_, close) - rng.random(n)
        volume = rng.integers(0, 5000, n).astype(np.float64)
        out.append((session, BarArrays(ts, open_, high, low, close, volume)))
    return out


@pytest.mark.parametrize("keep", [0.97, 0.6, 0.05])
def test_random_minutes_with_holes(keep: float) -> None:
    # 2015-11-27 and 2015-12-24 are half days; sessions may be empty at keep=0.05
    per_session = _random_sessions("2015-11-20", "2015-12-31", 60, keep, seed=int(keep * 100))
    per_session[3] = (per_session[3][0], BarArrays.empty())  # a session with no bar at all
    _assert_equal(per_session, Interval(60), ["5m", "15m", "1h", "1d", "10m", "30m", "2h"])


def test_random_seconds_with_holes() -> None:
    per_session = _random_sessions("2013-10-07", "2013-10-09", 1, 0.9, seed=3)
    _assert_equal(per_session, Interval(1), ["5s", "1m", "5m", "15m", "1h", "1d", "7s"])


def test_bars_outside_sessions_are_skipped() -> None:
    per_session = _random_sessions("2014-03-03", "2014-03-07", 60, 0.9, seed=5)
    sessions = [s for s, _ in per_session]
    inside = _concat([b for _, b in per_session])
    # pre-market, after-hours and overnight minutes on the same days
    extra_ts = np.unique(
        np.concatenate([np.arange(s.open - 4 * 3600, s.open, 60) for s in sessions]
                       + [np.arange(s.close, s.close + 3 * 3600, 60) for s in sessions])
    )
    extra = BarArrays(extra_ts, *(np.full(len(extra_ts), 1e6) for _ in range(5)))
    merged = _concat([inside, extra])
    order = np.argsort(merged.ts)
    merged = merged.take(order)
    out = derive_batch(
        *merged,
        np.array([s.open for s in sessions]),
        np.array([s.close for s in sessions]),
        ["5m", "1d"],
    )
    clean = derive_batch(
        *inside, np.array([s.open for s in sessions]), np.array([s.close for s in sessions]), ["5m", "1d"]
    )
    for name in ("5m", "1d"):
        for have, want in zip(out[name].bars, clean[name].bars, strict=True):
            np.testing.assert_array_equal(have, want)
        assert not np.any(out[name].bars.high == 1e6)


def test_empty_and_single_bar() -> None:
    session = get_calendar("XNYS").session(dt.date(2013, 10, 7))
    opens, closes = np.array([session.open]), np.array([session.close])
    empty = derive_batch(*BarArrays.empty(), opens, closes, ["5m", "1d"])
    assert all(len(d.bars.ts) == 0 for d in empty.values())
    one = BarArrays.from_rows([(session.open + 17 * 60, 1.0, 2.0, 0.5, 1.5, 7.0)])
    out = derive_batch(*one, opens, closes, ["5m", "1h", "1d"])
    assert out["5m"].bars.ts.tolist() == [session.open + 15 * 60]
    assert out["1h"].bars.ts.tolist() == [session.open]
    assert out["1d"].bars.ts.tolist() == [session.open]
    assert out["1d"].bars.volume.tolist() == [7.0]
    assert out["1d"].count.tolist() == [1]


def test_rejects_bad_input() -> None:
    session = get_calendar("XNYS").session(dt.date(2013, 10, 7))
    opens, closes = np.array([session.open]), np.array([session.close])
    bars = BarArrays.from_rows([(session.open + 60, 1, 1, 1, 1, 1), (session.open, 1, 1, 1, 1, 1)])
    with pytest.raises(ValueError, match="strictly increasing"):
        derive_batch(*bars, opens, closes, ["5m"])
    with pytest.raises(ValueError, match="overlap"):
        derive_batch(*BarArrays.empty(), np.array([10, 15]), np.array([20, 30]), ["5m"])
    with pytest.raises(ValueError, match="same length"):
        derive_batch(np.array([1, 2]), *(np.ones(3) for _ in range(5)), opens, closes, ["5m"])
