"""Load: hundreds of 1s symbols at max speed, symbols added and removed at random mid-stream, recording on."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random

import numpy as np

from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.recording import Recorder, RecordingScope
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.demo import DemoSource

CAL = get_calendar("XNYS")
HALF_DAY = CAL.session(dt.date(2015, 12, 24))
INTERVALS = ["1s", "1m", "5m", "15m", "1h", "1d"]


def test_500_symbols_of_1s_bars_conserve_volume_in_every_interval() -> None:
    async def scenario() -> SessionData:
        sd = SessionData()
        coord = SessionCoordinator(sd, DemoSource(), CAL, [HALF_DAY])
        for i in range(500):
            await coord.add_symbol(f"S{i}", INTERVALS)
        await coord.run()
        return sd

    sd = asyncio.run(scenario())
    assert len(sd.get_active_symbols()) == 500
    total = 0
    for data in sd.all_symbol_data():
        base_volume = data.base.data.volume.sum()
        total += len(data.base.data)
        for name in INTERVALS[1:]:
            interval = data.bars[name]
            assert interval.data.volume.sum() == base_volume, (data.symbol, name)
            assert int(interval.data.count.sum()) == len(data.base.data)
            assert interval.quality == data.base.quality
    assert total > 500 * 12_000  # a half day is 12,600 seconds, a few dropped


def test_random_adds_and_removes_while_streaming_stay_consistent() -> None:
    rng = random.Random(20261125)
    source = DemoSource()
    session = CAL.session(dt.date(2013, 10, 7))

    async def scenario() -> None:
        sd = SessionData()
        coord = SessionCoordinator(sd, source, CAL, [session])
        watched: list[str] = []
        clock = float(session.open)
        for _step in range(200):
            action = rng.random()
            if action < 0.25 and len(watched) < 12:
                symbol = f"R{rng.randrange(40)}"
                if symbol not in watched:
                    await coord.add_symbol(symbol, ["1m", "5m", "15m"])
                    watched.append(symbol)
            elif action < 0.4 and watched:
                symbol = watched.pop(rng.randrange(len(watched)))
                assert coord.remove_symbol(symbol)
            clock = min(clock + rng.randrange(1, 600), float(session.close))
            coord.step(clock)
            assert sd.get_active_symbols() == watched
            for symbol in watched:
                _assert_consistent(sd, source, symbol, clock)

    asyncio.run(scenario())


def _assert_consistent(sd: SessionData, source: DemoSource, symbol: str, clock: float) -> None:
    """Whatever was added or removed around it, a symbol holds exactly its due bars, derived right."""
    data = sd.get_symbol_data(symbol)
    day = source.load_session(symbol, data.base_interval, data.session).bars
    due = day.ts[day.ts + 60 <= clock]
    assert np.array_equal(data.base.data.ts, due), symbol
    for name in ("5m", "15m"):
        interval = data.bars[name]
        assert interval.data.volume.sum() == data.base.data.volume.sum()
        assert int(interval.data.count.sum()) == len(due)
        held = interval.data.count_before(interval.grid.ends[interval.elapsed - 1]) if interval.elapsed else 0
        assert interval.incomplete == int(np.count_nonzero(interval.data.count[:held] < interval.data.expected[:held]))
    base = data.base
    expected_slots = int(base.grid.elapsed(clock))
    present = int(np.count_nonzero(due + 60 <= base.grid.ends[expected_slots - 1])) if expected_slots else 0
    assert base.missing == expected_slots - present


def _assert_recorded_as_held(recorder: Recorder, sd: SessionData) -> None:
    """Every bar SessionData holds was recorded, with its values, and nothing else was."""
    for data in sd.all_symbol_data():
        recorded = recorder.load(recorder.key(data.base_interval.name, data.symbol, data.session.date)).bars
        held = data.base.data
        assert np.array_equal(recorded.ts, held.ts), data.symbol
        for column in ("open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(recorded, column), getattr(held, column)), (data.symbol, column)


def test_random_adds_and_removes_with_recording_on_resume_to_exactly_what_was_held(tmp_path) -> None:
    rng = random.Random(20261204)
    source = DemoSource()
    session = CAL.session(dt.date(2013, 10, 7))
    scope = RecordingScope(source.key, CAL.name)

    async def first_run() -> tuple[dict[str, list[tuple]], float]:
        recorder = Recorder(tmp_path / "r.sqlite3", scope)
        sd = SessionData()
        coord = SessionCoordinator(sd, source, CAL, [session], recorder=recorder)
        watched: list[str] = []
        clock = float(session.open)
        for _step in range(120):
            action = rng.random()
            if action < 0.3 and len(watched) < 20:
                symbol = f"R{rng.randrange(30)}"
                if symbol not in watched:
                    await coord.add_symbol(symbol, ["1m", "5m", "15m"])
                    watched.append(symbol)
            elif action < 0.4 and watched:
                coord.remove_symbol(watched.pop(rng.randrange(len(watched))))
            clock = min(clock + rng.randrange(1, 300), float(session.close))
            coord.step(clock)
        for symbol in watched:  # removed and added again, each symbol holds exactly its due bars
            _assert_consistent(sd, source, symbol, clock)
        _assert_recorded_as_held(recorder, sd)
        held = {s: _bar_rows(sd, s) for s in watched}
        recorder.close(clean=False)  # the process is killed here
        return held, clock

    async def resumed(symbols: list[str], clock: float) -> dict[str, list[tuple]]:
        recorder = Recorder(tmp_path / "r.sqlite3", scope)
        assert recorder.resumable
        sd = SessionData()
        coord = SessionCoordinator(sd, source, CAL, [session], recorder=recorder)
        for symbol in symbols:
            await coord.add_symbol(symbol, ["1m", "5m", "15m"])
        coord.step(clock)
        recorder.close(clean=True)
        return {s: _bar_rows(sd, s) for s in symbols}

    held, clock = asyncio.run(first_run())
    assert held and asyncio.run(resumed(list(held), clock)) == held


def _bar_rows(sd: SessionData, symbol: str) -> list[tuple]:
    data = sd.get_symbol_data(symbol)
    return [(name, dataclasses.astuple(bar)) for name, interval in data.bars.items() for bar in interval.data]


def test_100_symbols_of_1s_bars_at_live_speed_are_recorded_exactly_as_shown(tmp_path) -> None:
    source = DemoSource()
    recorder = Recorder(tmp_path / "r.sqlite3", RecordingScope(source.key, CAL.name))

    async def scenario() -> SessionData:
        sd = SessionData()
        coord = SessionCoordinator(sd, source, CAL, [HALF_DAY], speed=120.0, recorder=recorder)
        for i in range(100):
            await coord.add_symbol(f"L{i}", ["1s", "1m", "5m"])
        runner = asyncio.create_task(coord.run())
        await asyncio.sleep(2.0)  # a few minutes of session at 120x: ticks bring a few bars per symbol each
        coord.stop()
        await runner
        return sd

    sd = asyncio.run(scenario())
    bars = sum(len(data.base.data) for data in sd.all_symbol_data())
    assert bars > 100 * 60  # at least a minute of session went by
    assert recorder.committed_bars == bars
    _assert_recorded_as_held(recorder, sd)
    recorder.close(clean=True)
