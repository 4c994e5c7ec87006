"""SessionCoordinator: clock-gated release, symbols added and removed mid-session, multi-day runs."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pytest

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session, get_calendar
from session_monitor.core.clock import ClockState, SessionClock, parse_speed
from session_monitor.core.coordinator import SessionCoordinator, SymbolError
from session_monitor.core.intervals import Interval, IntervalError
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.base import BarSource, LoadedSession
from session_monitor.core.sources.demo import DemoSource
from tests.core_helpers import walk

CAL = get_calendar("XNYS")
ONE_MINUTE = Interval(60)


class MinuteSource(BarSource):
    """Every regular minute of every session, except symbols/dates listed as missing."""

    name = "test"

    def __init__(self, missing_days: dict[str, set[dt.date]] | None = None) -> None:
        self.missing_days = missing_days or {}

    @property
    def key(self) -> str:
        return "test"

    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        return () if symbol == "NODATA" else (ONE_MINUTE,)

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        if session.date in self.missing_days.get(symbol, set()):
            return LoadedSession(symbol, session, base, BarArrays.empty())
        ts = np.arange(session.open, session.close, 60)
        return LoadedSession(symbol, session, base, walk(ts, seed=len(symbol)))


def sessions(start: str, end: str) -> list[Session]:
    return CAL.sessions_between(dt.date.fromisoformat(start), dt.date.fromisoformat(end))


def test_bars_become_visible_only_when_the_clock_reaches_their_end() -> None:
    async def scenario() -> None:
        sd = SessionData()
        coord = SessionCoordinator(sd, MinuteSource(), CAL, sessions("2013-10-07", "2013-10-07"))
        data = await coord.add_symbol("spy", ["1m", "5m"])
        open_ = coord.session.open
        coord.step(open_ + 59)
        assert len(data.base.data) == 0
        coord.step(open_ + 60)
        assert list(data.base.data.ts) == [open_]
        coord.step(open_ + 299)
        assert len(data.base.data) == 4 and data.bars["5m"].data.last.forming
        coord.step(open_ + 300)
        assert len(data.base.data) == 5 and not data.bars["5m"].data.last.forming

    asyncio.run(scenario())


def test_a_run_walks_sessions_skipping_holidays_and_keeps_history() -> None:
    async def scenario() -> list[dt.date]:
        sd = SessionData()
        closed: list[dt.date] = []
        coord = SessionCoordinator(sd, MinuteSource(), CAL, sessions("2015-12-23", "2015-12-28"))
        coord.session_closed.connect(lambda s: closed.append(s.date))
        data = await coord.add_symbol("GOOG", ["1m", "1h"])
        await coord.run()
        assert coord.state is ClockState.FINISHED
        assert [h.session.date for h in data.history] == [dt.date(2015, 12, 23), dt.date(2015, 12, 24)]
        assert len(data.history[1].bars["1h"].data) == 4  # the half day
        assert len(data.bars["1m"].data) == 390 and data.bars["1m"].quality == 100.0
        return closed

    assert asyncio.run(scenario()) == [dt.date(2015, 12, 23), dt.date(2015, 12, 24), dt.date(2015, 12, 28)]


def test_a_symbol_without_data_on_a_day_is_reported_not_fatal() -> None:
    async def scenario() -> None:
        sd = SessionData()
        messages: list[str] = []
        sd.events.message.connect(lambda _level, text: messages.append(text))
        source = MinuteSource({"SHY": {dt.date(2013, 10, 8)}})
        coord = SessionCoordinator(sd, source, CAL, sessions("2013-10-07", "2013-10-09"))
        qualities: list[float | None] = []
        coord.session_closed.connect(lambda s: qualities.append(sd.get_symbol_data("SHY").base.quality))
        await coord.add_symbol("SHY", ["1m", "5m"])
        await coord.add_symbol("SPY", ["1m", "5m"])
        await coord.run()
        assert qualities == [100.0, 0.0, 100.0]
        assert "SHY: no data on 2013-10-08" in messages
        assert sd.get_symbol_data("SPY").base.quality == 100.0

    asyncio.run(scenario())


def test_adding_mid_session_backfills_from_the_open_and_removing_drops_in_flight_bars() -> None:
    async def scenario() -> None:
        sd = SessionData()
        coord = SessionCoordinator(sd, MinuteSource(), CAL, sessions("2013-10-07", "2013-10-07"))
        await coord.add_symbol("SPY", ["1m", "15m"])
        open_ = coord.session.open
        coord.step(open_ + 3600)
        late = await coord.add_symbol("QQQ", ["1m", "15m"])
        coord.step(open_ + 3600)
        assert len(late.base.data) == 60 and len(late.bars["15m"].data) == 4
        assert coord.remove_symbol("spy")
        coord.step(open_ + 7200)
        assert sd.get_active_symbols() == ["QQQ"]
        assert len(late.base.data) == 120
        assert not coord.remove_symbol("spy")

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("symbol", "intervals", "error", "message"),
    [
        ("", ["1m"], SymbolError, "symbol is empty"),
        ("SP Y", ["1m"], SymbolError, "malformed"),
        ("SPY", ["1m"], SymbolError, "SPY is already being watched"),
        ("NODATA", ["1m"], SymbolError, "NODATA: the source has no data"),
        ("QQQ", ["90s"], IntervalError, "90s cannot be derived"),
        ("QQQ", ["7x"], IntervalError, "unknown interval '7x'"),
    ],
)
def test_bad_requests_change_nothing(symbol, intervals, error, message) -> None:
    async def scenario() -> None:
        sd = SessionData()
        coord = SessionCoordinator(sd, MinuteSource(), CAL, sessions("2013-10-07", "2013-10-07"))
        await coord.add_symbol("SPY", ["1m", "5m"])
        with pytest.raises(error, match=message):
            await coord.add_symbol(symbol, intervals)
        assert sd.get_active_symbols() == ["SPY"]

    asyncio.run(scenario())


def test_clock_runs_at_speed_and_stands_still_when_paused(monkeypatch) -> None:
    wall = [1000.0]
    monkeypatch.setattr("session_monitor.core.clock.time.monotonic", lambda: wall[0])
    clock = SessionClock(speed=600.0)
    clock.reset(0.0)
    wall[0] += 0.5
    assert clock.advance(limit=10_000, chunk=0) == 300.0
    clock.paused = True
    wall[0] += 1.0
    assert clock.advance(limit=10_000, chunk=0) == 300.0
    clock.paused = False
    clock.resync()
    wall[0] += 0.125
    assert clock.advance(limit=10_000, chunk=0) == 375.0
    assert clock.advance(limit=10_000, chunk=0) == 375.0
    wall[0] += 100
    assert clock.advance(limit=1000, chunk=0) == 1000  # never past the limit


@pytest.mark.parametrize("text", ["0", "-5", "fast", "nan", "inf"])
def test_bad_speeds_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="speed"):
        parse_speed(text)
    assert parse_speed("max") is None and parse_speed("60") == 60.0


def test_pause_holds_a_running_session_until_resumed() -> None:
    async def scenario() -> None:
        sd = SessionData()
        coord = SessionCoordinator(sd, DemoSource(), CAL, sessions("2013-10-07", "2013-10-07"), speed=60.0)
        await coord.add_symbol("SPY", ["1s", "1m"])
        task = asyncio.create_task(coord.run())
        await asyncio.sleep(0.2)
        coord.pause()
        assert coord.status().state is ClockState.PAUSED
        await asyncio.sleep(0.05)
        held = coord.clock.now
        await asyncio.sleep(0.2)
        assert coord.clock.now == held
        coord.resume()
        await asyncio.sleep(0.2)
        assert coord.clock.now > held
        assert len(sd.get_symbol_data("SPY").base.data) > 0
        coord.stop()
        await task
        assert coord.state is ClockState.FINISHED

    asyncio.run(scenario())


def test_symbols_added_before_the_run_are_loaded_once() -> None:
    class CountingSource(MinuteSource):
        loads = 0

        def load_session(self, symbol, base, session):
            CountingSource.loads += 1
            return super().load_session(symbol, base, session)

    async def scenario() -> None:
        sd = SessionData()
        coord = SessionCoordinator(sd, CountingSource(), CAL, sessions("2013-10-07", "2013-10-08"))
        await coord.add_symbol("SPY", ["1m"])
        await coord.add_symbol("QQQ", ["1m"])
        await coord.run()
        assert len(sd.get_symbol_data("SPY").base.data) == 390

    asyncio.run(scenario())
    assert CountingSource.loads == 4  # two symbols, two sessions


def _snapshot(sd: SessionData) -> dict[tuple[str, str], tuple]:
    """Everything a user sees of every interval: bars with counts and flags, quality, gaps."""
    out = {}
    for data in sd.all_symbol_data():
        for name, interval in data.bars.items():
            bars = interval.data
            out[data.symbol, name] = (
                tuple(np.asarray(getattr(bars, f)).tolist() for f in ("ts", "open", "high", "low", "close", "volume")),
                bars.count.tolist(), bars.expected.tolist(), bars.flags.tolist(),
                interval.quality, [(g.start, g.end) for g in interval.gaps], interval.incomplete,
            )
    return out


def test_ticks_of_several_bars_per_symbol_equal_one_big_step_and_take_the_vectorised_pass(monkeypatch) -> None:
    """A 60x tick brings a few 1s bars per symbol (the demo drops some seconds, so not the same
    number for every symbol); they are handed over one bar end at a time so the processor's
    vectorised pass serves every symbol, and the result is exactly what one step at the same
    clock produces."""
    session = CAL.session(dt.date(2013, 10, 7))
    symbols = [f"T{k}" for k in range(6)]

    async def run(ticks: list[float]) -> tuple[SessionData, int]:
        sd = SessionData()
        coord = SessionCoordinator(sd, DemoSource(), CAL, [session])
        for symbol in symbols:
            await coord.add_symbol(symbol, ["1s", "1m", "5m"])
        coord.step(ticks[0])  # loads and backfills from the open, symbol by symbol
        per_symbol = 0
        original = coord.processor._process_symbol

        def counting(*args, **kwargs):
            nonlocal per_symbol
            per_symbol += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(coord.processor, "_process_symbol", counting)
        for clock in ticks[1:]:
            coord.step(clock)
        return sd, per_symbol

    start = float(session.open + 600)
    ticks = [start + 3 * k for k in range(400)] + [start + 1200 + 0.5]  # 3 bars a tick, then a part second
    sliced, per_symbol = asyncio.run(run(ticks))
    whole, _ = asyncio.run(run([ticks[-1]]))
    assert per_symbol == 0
    assert _snapshot(sliced) == _snapshot(whole)
    some = sliced.get_symbol_data("T0")
    assert len(some.bars["1m"].data) == 30 and len(some.base.data) > 1700


def test_a_running_session_lets_the_loop_in_between_the_passes_of_a_tick(monkeypatch) -> None:
    """With the budget at zero the coordinator yields after every pass of a cut tick: other
    tasks (the GUI) run in between, and a symbol removed meanwhile gets none of the tick's
    remaining bars and no warning about them."""
    import session_monitor.core.coordinator as coordinator_module

    monkeypatch.setattr(coordinator_module, "STEP_BUDGET", 0.0)
    session = CAL.session(dt.date(2013, 10, 7))

    async def scenario() -> tuple[int, list[str], int, float]:
        sd = SessionData()
        messages: list[str] = []
        sd.events.message.connect(lambda _level, text: messages.append(text))
        coord = SessionCoordinator(sd, DemoSource(), CAL, [session])
        for symbol in ("A1", "A2", "A3", "A4"):
            await coord.add_symbol(symbol, ["1s", "1m"])
        coord.step(float(session.open + 60))
        turns = 0
        removed_at: float | None = None

        async def other_task() -> None:
            nonlocal turns, removed_at
            while True:
                await asyncio.sleep(0)
                turns += 1
                if turns == 3:
                    removed_at = coord.session_data.get_symbol_data("A4").base.data.last_ts
                    coord.remove_symbol("A4")

        task = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        await coord._step_cooperatively(float(session.open + 90))  # 30 bars a symbol, 30 passes
        task.cancel()
        a1 = sd.get_symbol_data("A1")
        return turns, messages, len(a1.base.data), removed_at

    turns, messages, a1_bars, removed_at = asyncio.run(scenario())
    assert turns >= 29  # the loop got in after (nearly) every one of the 30 passes
    assert removed_at is not None
    assert not [m for m in messages if "A4" in m]
    assert 85 <= a1_bars <= 90  # every due second of A1 (the demo drops a few)


def test_a_tick_that_fell_behind_catches_up_in_pieces_with_the_same_bars(monkeypatch) -> None:
    """At 60x the loop was held up for 200 session seconds: the coordinator steps 64 one-second
    bars at a time (each piece cut into passes the event loop can come in between), not 200 s
    uncut."""

    async def scenario() -> None:
        sd = SessionData()
        coord = SessionCoordinator(
            sd, DemoSource(drop_rate=0.0), CAL, sessions("2013-10-07", "2013-10-07"), speed=60.0
        )
        data = await coord.add_symbol("SPY", ["1s", "1m"])
        stepped: list[float] = []
        real = coord._step_cooperatively

        async def spy(clock: float) -> None:
            stepped.append(clock - coord.session.open)
            await real(clock)

        monkeypatch.setattr(coord, "_step_cooperatively", spy)
        coord.session_data.start_session(coord.session)
        open_ = float(coord.session.open)
        await coord._catch_up(open_, open_ + 200)
        assert stepped == [64.0, 128.0, 192.0, 200.0]
        assert len(data.base.data) == 200 and int(data.base.data.ts[-1]) == coord.session.open + 199
        assert len(data.bars["1m"].data) == 4 and data.bars["1m"].data.last.forming  # 09:33 so far

    asyncio.run(scenario())
