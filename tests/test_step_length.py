"""A replay's derived bars do not depend on how long its max-speed steps are.

Coinbase minute bars carry fractional volumes, where the order of the additions shows in the
last bit. A step of one bar (as a live feed brings them), the GUI's 30-minute chunks and the
headless replay's whole-session step must give the same bars: each window's volume is its base
bars' volumes added one after the other, in time order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from functools import reduce
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import HEADLESS_MAX_CHUNK, MAX_SPEED_CHUNK, SessionCoordinator
from session_monitor.core.derive.reduce import fold_segments
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.factory import open_source

CRYPTO = Path(__file__).parent / "data" / "lean" / "crypto" / "coinbase" / "minute"
DAY = dt.date(2016, 10, 7)
INTERVALS = ["1m", "5m", "15m", "1h", "1d"]


def _replay(max_chunk: float) -> SessionData:
    async def scenario() -> SessionData:
        sd = SessionData()
        source = open_source(str(CRYPTO))
        calendar = get_calendar(source.calendar_hint or "24/7")
        coord = SessionCoordinator(sd, source, calendar, [calendar.session(DAY)], max_chunk=max_chunk)
        await coord.add_symbols([("BTCUSD", INTERVALS)])
        await coord.run()
        return sd

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def by_bar() -> SessionData:
    return _replay(60.0)  # one minute bar per step


@pytest.mark.parametrize("max_chunk", [MAX_SPEED_CHUNK, 4321.0, HEADLESS_MAX_CHUNK])
def test_derived_bars_are_the_same_whatever_the_step(by_bar: SessionData, max_chunk: float) -> None:
    stepped = _replay(max_chunk)
    ours, theirs = by_bar.get_symbol_data("BTCUSD"), stepped.get_symbol_data("BTCUSD")
    assert ours is not None and theirs is not None
    for name in INTERVALS[1:]:
        want, got = ours.bars[name].data, theirs.bars[name].data
        assert len(got) == len(want) > 0
        for column in ("ts", "open", "high", "low", "close", "volume", "count", "flags"):
            assert np.array_equal(got.column(column), want.column(column)), (max_chunk, name, column)


def test_a_window_volume_is_its_base_volumes_added_in_time_order(by_bar: SessionData) -> None:
    data = by_bar.get_symbol_data("BTCUSD")
    assert data is not None
    base = data.bars["1m"].data
    pairwise_differs = 0
    for name in ("1h", "1d"):
        derived = data.bars[name]
        windows = derived.grid.window_of(base.column("ts"))
        for k, ts in enumerate(derived.data.column("ts").tolist()):
            volumes = base.column("volume")[windows == derived.grid.window_of_one(ts)]
            assert derived.data.column("volume")[k] == reduce(lambda a, b: a + b, volumes.tolist()), (name, ts)
            pairwise_differs += float(np.add.reduce(volumes)) != derived.data.column("volume")[k]
    assert pairwise_differs  # the data does tell the orders apart


@pytest.mark.parametrize("scale", [1.0, 0.013])  # whole share volumes, and fractions
@pytest.mark.parametrize("newest", [None, 7.0, 0.3])
def test_fold_segments_adds_each_window_in_time_order_onto_its_newest(scale: float, newest: float | None) -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(1, 5000, 2000).astype(float) * scale
    starts = np.array([0, 1, 7, 60, 61, 900, 1999])
    got = fold_segments(values, starts, newest)
    bounds = [*starts.tolist(), len(values)]
    for k, (lo, hi) in enumerate(pairwise(bounds)):
        first = [newest] if newest is not None and k == 0 else []
        assert got[k] == reduce(lambda a, b: a + b, [*first, *values[lo:hi].tolist()]), k
