"""Load: hundreds of 1s symbols at max speed, and symbols added and removed at random mid-stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import numpy as np

from core.calendar import get_calendar
from core.coordinator import SessionCoordinator
from core.session_data import SessionData
from core.sources.demo import DemoSource

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
