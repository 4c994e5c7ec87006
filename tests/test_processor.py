"""DataProcessor: session-anchored windows, forming/final, late bars, quality and gaps."""

from __future__ import annotations

import numpy as np
import pytest

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import get_calendar
from tests.core_helpers import utc, walk, watch, xnys


def feed_one_by_one(sd, proc, symbol: str, bars: BarArrays, step: int) -> None:
    for i in range(len(bars.ts)):
        sd.add_base_bars(symbol, bars.take(slice(i, i + 1)))
        proc.process(int(bars.ts[i]) + step)


def test_hourly_windows_are_anchored_at_the_open_and_cut_at_the_close() -> None:
    session = xnys("2013-10-07")
    sd, data, proc = watch(session, "1m", ["1h"])
    sd.add_base_bars("TEST", walk(np.arange(session.open, session.close, 60)))
    proc.process(session.close)
    hourly = data.bars["1h"].data
    assert [b.time.strftime("%H:%M") for b in hourly] == ["13:30", "14:30", "15:30", "16:30", "17:30", "18:30", "19:30"]
    assert list(hourly.count) == [60, 60, 60, 60, 60, 60, 30]
    assert list(hourly.expected) == [60, 60, 60, 60, 60, 60, 30]


def test_early_close_ends_with_a_half_hour_bar() -> None:
    session = xnys("2015-12-24")
    sd, data, proc = watch(session, "1m", ["1h", "1d"])
    sd.add_base_bars("TEST", walk(np.arange(session.open, session.close, 60)))
    proc.process(session.close)
    hourly = data.bars["1h"].data
    assert len(hourly) == 4
    assert hourly.last.ts == utc("2015-12-24T17:30:00")  # 12:30 New York
    assert hourly.last.count == hourly.last.expected == 30
    daily = data.bars["1d"].data
    assert len(daily) == 1 and daily[0].ts == session.open and daily[0].count == 210


def test_derived_bar_values_are_exact() -> None:
    session = xnys("2013-10-07")
    sd, data, proc = watch(session, "1m", ["5m"])
    t0 = session.open
    rows = [
        (t0, 10.0, 11.0, 9.5, 10.5, 100.0),
        (t0 + 60, 10.5, 12.0, 10.0, 11.5, 50.0),
        (t0 + 120, 11.5, 11.6, 8.0, 9.0, 25.0),
        (t0 + 300, 9.0, 9.5, 8.5, 9.25, 10.0),
    ]
    feed_one_by_one(sd, proc, "TEST", BarArrays.from_rows(rows), 60)
    bars = data.bars["5m"].data
    assert bars[0] == type(bars[0])(t0, 10.0, 12.0, 8.0, 9.0, 175.0, 3, 5, False, False)
    assert (bars[1].ts, bars[1].open, bars[1].close, bars[1].count, bars[1].forming) == (t0 + 300, 9.0, 9.25, 1, True)


def test_a_window_without_base_bars_makes_no_bar_and_is_a_gap() -> None:
    session = xnys("2013-10-07")
    sd, data, proc = watch(session, "1m", ["5m"])
    ts = np.arange(session.open, session.open + 20 * 60, 60)
    ts = ts[(ts < session.open + 300) | (ts >= session.open + 600)]  # minutes 5..9 missing
    sd.add_base_bars("TEST", walk(ts))
    proc.process(session.open + 20 * 60)
    five = data.bars["5m"]
    assert [b.ts - session.open for b in five.data] == [0, 600, 900]
    assert [(g.start - session.open, g.end - session.open, g.bars) for g in five.gaps] == [(300, 600, 1)]
    base = data.bars["1m"]
    assert [(g.start - session.open, g.end - session.open, g.bars) for g in base.gaps] == [(300, 600, 5)]
    assert base.quality == pytest.approx(100 * 15 / 20)
    assert five.quality == pytest.approx(100 * 15 / 20)


def test_quality_follows_the_clock_and_the_trailing_gap_grows() -> None:
    session = xnys("2013-10-07")
    sd, data, proc = watch(session, "1m", ["15m"])
    sd.add_base_bars("TEST", walk(np.arange(session.open, session.open + 600, 60)))
    proc.process(session.open + 600)
    base, quarter = data.bars["1m"], data.bars["15m"]
    assert base.quality == 100.0 and base.gaps == []
    assert quarter.quality is None  # no 15m window has ended yet
    proc.process(session.open + 1800)  # clock moves on, nothing arrives
    assert base.quality == pytest.approx(100 * 10 / 30)
    assert [(g.start - session.open, g.end - session.open, g.bars) for g in base.gaps] == [(600, 1800, 20)]
    assert quarter.quality == pytest.approx(100 * 10 / 30)
    assert quarter.incomplete == 1
    assert [(g.start - session.open, g.bars) for g in quarter.gaps] == [(900, 1)]


def test_forming_bar_becomes_final_after_the_grace_period_and_late_changes_mark_it_revised() -> None:
    session = xnys("2013-10-07")
    sd, data, proc = watch(session, "1m", ["5m"], grace=5)
    t0 = session.open
    bars = walk(np.arange(t0, t0 + 300, 60))
    sd.add_base_bars("TEST", bars.take(slice(0, 4)))
    proc.process(t0 + 240)
    assert data.bars["5m"].data[0].forming
    sd.add_base_bars("TEST", bars.take(slice(4, 5)))
    proc.process(t0 + 302)  # window ended, grace not yet over
    assert data.bars["5m"].data[0].forming
    proc.process(t0 + 305)
    final = data.bars["5m"].data[0]
    assert not final.forming and not final.revised and final.count == 5
    correction = BarArrays.from_rows([(t0 + 120, 1.0, 500.0, 0.5, 2.0, 7.0)])
    sd.add_base_bars("TEST", correction)
    proc.process(t0 + 400)
    revised = data.bars["5m"].data[0]
    assert revised.revised and revised.high == 500.0 and not revised.forming


def test_late_bars_and_corrections_equal_in_order_arrival() -> None:
    session = xnys("2013-10-07")
    ts = np.arange(session.open, session.open + 3600, 60)
    final = walk(ts, seed=3)
    in_order_sd, in_order, in_order_proc = watch(session, "1m", ["5m", "15m", "1h"])
    in_order_sd.add_base_bars("TEST", final)
    in_order_proc.process(session.open + 3600)

    sd, data, proc = watch(session, "1m", ["5m", "15m", "1h"])
    order = np.random.default_rng(7).permutation(len(ts))
    wrong = walk(ts, seed=99)
    for i in order[:20]:  # first a wrong value, corrected later
        sd.add_base_bars("TEST", wrong.take(slice(i, i + 1)))
        proc.process(session.open + 3600)
    for i in order:
        sd.add_base_bars("TEST", final.take(slice(i, i + 1)))
        proc.process(session.open + 3600)
    for name in ("1m", "5m", "15m", "1h"):
        got, want = data.bars[name], in_order.bars[name]
        assert [b[:6] for b in _rows(got.data)] == [b[:6] for b in _rows(want.data)], name
        assert got.quality == want.quality and got.gaps == want.gaps


def _rows(series) -> list[tuple]:
    return [(b.ts, b.open, b.high, b.low, b.close, b.volume, b.count) for b in series]


def test_bars_outside_the_session_are_counted_not_stored() -> None:
    session = xnys("2015-12-24")
    sd, data, _proc = watch(session, "1m", ["5m"])
    ts = np.array([session.open - 60, session.open, session.close, session.close + 60])
    assert sd.add_base_bars("TEST", walk(ts)) == 1
    assert data.outside_session == 3
    assert len(data.base.data) == 1


def test_bars_off_the_base_grid_are_rejected_with_a_warning() -> None:
    session = xnys("2013-10-07")
    sd, data, _ = watch(session, "1m", ["5m"])
    messages: list[str] = []
    sd.events.message.connect(lambda _level, text: messages.append(text))
    assert sd.add_base_bars("TEST", walk(np.array([session.open, session.open + 90]))) == 1
    assert data.rejected == 1
    assert "not on the 1m grid" in messages[0] and "TEST" in messages[0]


def test_bars_for_an_unknown_or_removed_symbol_are_dropped_with_a_warning() -> None:
    session = xnys("2013-10-07")
    sd, _, proc = watch(session, "1m", ["5m"])
    messages: list[str] = []
    sd.events.message.connect(lambda _level, text: messages.append(text))
    sd.remove_symbol("test")
    assert sd.add_base_bars("TEST", walk(np.array([session.open]))) == 0
    proc.process(session.open + 60)
    assert "TEST" in messages[0] and "not watched" in messages[0]


def test_crypto_windows_are_anchored_at_midnight_utc() -> None:
    session = get_calendar("24/7").session(__import__("datetime").date(2018, 4, 4))
    sd, data, proc = watch(session, "1m", ["1h", "1d"])
    ts = np.arange(session.open + 600, session.open + 7200, 60)
    sd.add_base_bars("TEST", walk(ts))
    proc.process(session.open + 7200)
    assert [b.ts - session.open for b in data.bars["1h"].data] == [0, 3600]
    assert data.bars["1h"].data[0].count == 50
    assert data.bars["1h"].data[0].expected == 60


def test_lunch_break_windows_expect_only_trading_minutes() -> None:
    session = get_calendar("XTKS").session(__import__("datetime").date(2020, 1, 14))
    sd, data, proc = watch(session, "1m", ["1h"])
    trading = np.arange(session.open, session.close, 60)
    trading = trading[session.in_session_mask(trading)]
    sd.add_base_bars("TEST", walk(trading))
    proc.process(session.close)
    hourly = data.bars["1h"]
    assert [b.count for b in hourly.data] == [60, 60, 30, 30, 60, 60]
    assert hourly.incomplete == 0 and hourly.gaps == [] and hourly.quality == 100.0
    assert data.base.gaps == []


def test_events_name_the_first_changed_bar() -> None:
    session = xnys("2013-10-07")
    sd, _, proc = watch(session, "1m", ["5m"])
    changes: list[tuple[str, str, int]] = []
    quality: list[tuple[str, str]] = []
    sd.events.bars_changed.connect(lambda *args: changes.append(args))
    sd.events.quality_changed.connect(lambda *args: quality.append(args))
    t0 = session.open
    sd.add_base_bars("TEST", walk(np.array([t0, t0 + 60])))
    proc.process(t0 + 120)
    sd.add_base_bars("TEST", walk(np.array([t0 + 120])))
    proc.process(t0 + 180)
    assert changes == [("TEST", "1m", 0), ("TEST", "5m", 0), ("TEST", "1m", 2), ("TEST", "5m", 0)]
    assert ("TEST", "1m") in quality


def test_new_session_moves_bars_to_history() -> None:
    first, second = xnys("2013-10-07"), xnys("2013-10-08")
    sd, data, proc = watch(first, "1m", ["5m"])
    sd.add_base_bars("TEST", walk(np.arange(first.open, first.open + 600, 60)))
    proc.process(first.close)
    sd.start_session(second)
    assert len(data.history) == 1 and data.history[0].session == first
    assert len(data.history[0].bars["5m"].data) == 2
    assert len(data.bars["5m"].data) == 0 and data.session == second


@pytest.mark.parametrize("group_rows", [True, False])
def test_a_bar_after_its_window_elapsed_refreshes_the_derived_quality(group_rows: bool) -> None:
    """A base bar that arrives after a pass already closed its derived window (the symbol is behind
    the clock) counts in that window's quality and incomplete count, grouped or on its own."""
    from session_monitor.core.intervals import parse_interval
    from session_monitor.core.processor import DataProcessor
    from session_monitor.core.session_data import SessionData, SymbolSessionData

    session = xnys("2015-12-24")
    sd = SessionData(group_rows=group_rows)
    sd.start_session(session)
    for symbol in ("A", "B"):
        sd.register_symbol_data(
            SymbolSessionData.create(symbol, parse_interval("1m"), [parse_interval("5m")], session)
        )
    proc = DataProcessor(sd)
    bars = walk(session.open + 60 * np.arange(5))
    sd.add_base_bars("A", bars)
    sd.add_base_bars("B", bars.take(slice(0, 4)))
    proc.process(session.open + 300)  # the first 5m window has elapsed; B holds 4 of its 5 bars
    late = sd.get_symbol_data("B")
    assert late is not None
    assert (late.bars["5m"].quality, late.bars["5m"].incomplete) == (80.0, 1)
    sd.add_base_bars("B", bars.take(slice(4, 5)))
    proc.process(session.open + 300)  # the same clock: B's fifth bar came after its window's end
    assert (late.bars["5m"].quality, late.bars["5m"].incomplete) == (100.0, 0)
    assert late.bars["1m"].quality == 100.0
    assert late.bars["5m"].data.count.tolist() == [5]
