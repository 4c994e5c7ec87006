"""A derived bar's volume is the same to the last bit whichever path made it.

Fractional volumes (crypto, odd lots) show the order of the additions in the last bit. The live
engine adds a window's base volumes one after the other, in time order; every other path that
makes a derived bar (passes of several bars, batch history, a late bar re-aggregating closed
windows, the reconcile reference windows) must reach the very same float, or a user comparing
them sees a "difference" the engine did not make.
"""

from __future__ import annotations

from functools import reduce
from itertools import pairwise

import numpy as np
import pytest

from session_monitor.core.bars import BarArrays
from session_monitor.core.batch import derive_batch
from session_monitor.core.derive.reduce import adds_exactly, fold_segments, reduce_segments
from session_monitor.core.intervals import parse_interval
from session_monitor.core.processor import DataProcessor
from session_monitor.core.reconcile.windows import Convention, derive_on, session_windows
from session_monitor.core.session_data import SessionData, SymbolSessionData
from session_monitor.core.windows import window_grid
from tests.core_helpers import walk, xnys

SESSION = xnys("2013-10-07")
OPEN = SESSION.open
SECONDS = 2 * 3600  # two hours of 1s bars: 24 5m, 8 15m and 2 1h windows
DERIVED = ("5m", "15m", "1h")
SYMBOLS = ("AAA", "BBB")
#: base bars of AAA held back and delivered late: one into the first 5m window once it is final,
#: one into the first 1h window once that is final
LATE = {OPEN + 100: OPEN + 400, OPEN + 3000: OPEN + 3700}


def _in_order(values: list[float]) -> float:
    return reduce(lambda a, b: a + b, values)


def _base(seed: int) -> BarArrays:
    """1s bars whose volumes are tenths (0.1 … 9.9): not exact in binary, so the order shows."""
    bars = walk(OPEN + np.arange(SECONDS, dtype=np.int64), seed=seed)
    volume = np.random.default_rng(seed).integers(1, 100, SECONDS) / 10
    return BarArrays(bars.ts, bars.open, bars.high, bars.low, bars.close, volume)


BASE = {symbol: _base(seed) for seed, symbol in enumerate(SYMBOLS, start=11)}


def _engine() -> tuple[SessionData, DataProcessor]:
    sd = SessionData()
    sd.start_session(SESSION)
    for symbol in SYMBOLS:
        derived = [parse_interval(name) for name in DERIVED]
        sd.register_symbol_data(SymbolSessionData.create(symbol, parse_interval("1s"), derived, SESSION))
    return sd, DataProcessor(sd)


def _volumes(sd: SessionData) -> dict[tuple[str, str], np.ndarray]:
    out = {}
    for symbol in SYMBOLS:
        data = sd.get_symbol_data(symbol)
        assert data is not None and len(data.base.data) == SECONDS
        for name in DERIVED:
            out[symbol, name] = np.array(data.bars[name].data.column("volume"))
    return out


def _assert_bit_identical(got: dict[tuple[str, str], np.ndarray], want: dict[tuple[str, str], np.ndarray]) -> None:
    assert got.keys() == want.keys()
    for key, expected in want.items():
        assert len(got[key]) == len(expected) > 0, key
        assert np.array_equal(got[key], expected), (key, got[key] - expected)
        assert got[key].tobytes() == expected.tobytes(), key


def _passes(sizes: np.random.Generator) -> list[slice]:
    """The session cut into passes of random sizes (1 to 700 bars)."""
    cuts = [0]
    while cuts[-1] < SECONDS:
        cuts.append(min(SECONDS, cuts[-1] + int(sizes.integers(1, 701))))
    return [slice(a, b) for a, b in pairwise(cuts)]


@pytest.fixture(scope="module")
def one_bar_per_pass() -> dict[tuple[str, str], np.ndarray]:
    """The live engine: every symbol gets one base bar per pass (the vectorised live pass)."""
    sd, processor = _engine()
    symbols = list(SYMBOLS)
    for k in range(SECONDS):
        sd.add_base_rows(symbols, BarArrays.concat([BASE[s].take(slice(k, k + 1)) for s in symbols]))
        processor.process(float(OPEN + k + 1))
    return _volumes(sd)


def test_the_volumes_tell_the_summation_orders_apart() -> None:
    """Pairwise sums (numpy's reductions) differ from sums in time order in many windows of every
    interval, so the tests below would see a path that adds in another order."""
    for name in DERIVED:
        seconds = parse_interval(name).seconds
        windows = BASE["AAA"].volume.reshape(-1, seconds)
        in_order = np.array([_in_order(w.tolist()) for w in windows])
        assert (np.add.reduce(windows, axis=1) != in_order).any(), name
        assert (np.add.reduceat(BASE["AAA"].volume, np.arange(0, SECONDS, seconds)) != in_order).any(), name


def test_the_live_engine_adds_each_window_in_time_order(one_bar_per_pass: dict[tuple[str, str], np.ndarray]) -> None:
    for (symbol, name), volumes in one_bar_per_pass.items():
        windows = BASE[symbol].volume.reshape(-1, parse_interval(name).seconds)
        assert volumes.tolist() == [_in_order(w.tolist()) for w in windows], (symbol, name)


@pytest.mark.parametrize("seed", [1, 2])
def test_passes_of_random_sizes(one_bar_per_pass: dict[tuple[str, str], np.ndarray], seed: int) -> None:
    """Several bars per pass (a tick, a catch-up, a resumed run) take the per-symbol path."""
    sd, processor = _engine()
    for symbol in SYMBOLS:
        for part in _passes(np.random.default_rng(seed)):
            sd.add_base_bars(symbol, BASE[symbol].take(part))
            processor.process(float(OPEN + part.stop))
    _assert_bit_identical(_volumes(sd), one_bar_per_pass)


def test_the_whole_session_in_one_pass(one_bar_per_pass: dict[tuple[str, str], np.ndarray]) -> None:
    """A resumed run or a headless replay at max speed hands a symbol's bars over at once."""
    sd, processor = _engine()
    for symbol in SYMBOLS:
        sd.add_base_bars(symbol, BASE[symbol])
    processor.process(float(SESSION.close))
    _assert_bit_identical(_volumes(sd), one_bar_per_pass)


def test_batch_history_derivation(one_bar_per_pass: dict[tuple[str, str], np.ndarray]) -> None:
    """``derive_batch`` builds 15m from 5m and 1h from 15m: fractional volumes still come out as
    the base bars' volumes added in time order."""
    got = {}
    for symbol in SYMBOLS:
        derived = derive_batch(*BASE[symbol], np.array([SESSION.open]), np.array([SESSION.close]), DERIVED)
        for name in DERIVED:
            got[symbol, name] = derived[name].bars.volume
    _assert_bit_identical(got, one_bar_per_pass)


def test_batch_history_over_many_sessions_adds_each_window_in_time_order() -> None:
    """Three sessions of 1m bars with holes (the half day 2015-12-24 among them) into 5m … 1d: every
    window's volume, 1d's built from 1h's included, is its base volumes added in time order."""
    sessions = [xnys(day) for day in ("2015-12-23", "2015-12-24", "2015-12-28")]
    rng = np.random.default_rng(21)
    parts = []
    for session in sessions:
        ts = np.arange(session.open, session.close, 60, dtype=np.int64)
        parts.append(ts[rng.random(len(ts)) > 0.15])
    ts = np.concatenate(parts)
    bars = walk(ts, seed=21)
    volume = rng.integers(1, 100, len(ts)) / 10
    names = ["5m", "15m", "1h", "1d"]
    out = derive_batch(ts, bars.open, bars.high, bars.low, bars.close, volume, np.array([s.open for s in sessions]),
                       np.array([s.close for s in sessions]), names)
    one_minute = parse_interval("1m")
    for name in names:
        want = []
        for session, stamps in zip(sessions, parts, strict=True):
            windows = window_grid(session, parse_interval(name), one_minute).window_of(stamps)
            mine = volume[np.isin(ts, stamps)]
            want += [_in_order(mine[windows == w].tolist()) for w in np.unique(windows).tolist()]
        assert out[name].bars.volume.tolist() == want, name
        assert out[name].bars.volume.tobytes() == np.array(want).tobytes(), name
    hours, days = out["1h"].bars, out["1d"].bars
    sums_of_sums = [_in_order(hours.volume[(hours.ts >= s.open) & (hours.ts < s.close)].tolist()) for s in sessions]
    assert sums_of_sums != days.volume.tolist()  # the data tells a cascade of sums apart


def test_late_bars_into_closed_windows(one_bar_per_pass: dict[tuple[str, str], np.ndarray]) -> None:
    """Two of AAA's bars arrive after their 5m and 1h windows closed: re-aggregation (the revision
    path) rebuilds those windows, and the live folds go on from the rebuilt bars."""
    sd, processor = _engine()
    held = np.isin(BASE["AAA"].ts, list(LATE))
    pending = dict(LATE)
    for part in _passes(np.random.default_rng(5)):
        for symbol in SYMBOLS:
            bars = BASE[symbol].take(part)
            sd.add_base_bars(symbol, bars.take(~held[part]) if symbol == "AAA" else bars)
        clock = OPEN + part.stop
        processor.process(float(clock))
        for ts, due in list(pending.items()):
            if clock >= due:
                sd.add_base_bars("AAA", BASE["AAA"].take(slice(ts - OPEN, ts - OPEN + 1)))
                processor.process(float(clock) + 0.5)
                del pending[ts]
    assert not pending
    data = sd.get_symbol_data("AAA")
    assert data is not None
    assert OPEN in data.bars["5m"].revisions and OPEN in data.bars["1h"].revisions  # the revision path ran
    _assert_bit_identical(_volumes(sd), one_bar_per_pass)


def test_reconcile_reference_windows(one_bar_per_pass: dict[tuple[str, str], np.ndarray]) -> None:
    """Reconciling re-derives our bars on the session-anchored windows: the same volumes."""
    got = {}
    for symbol in SYMBOLS:
        for name in DERIVED:
            windows = session_windows(SESSION, parse_interval(name), Convention.SESSION_ANCHORED)
            got[symbol, name] = derive_on(BASE[symbol], windows).bars.volume
    _assert_bit_identical(got, one_bar_per_pass)


@pytest.mark.parametrize("newest", [None, 0.7])
def test_fold_segments_of_very_uneven_lengths(newest: float | None) -> None:
    """Many one-bar windows beside a few long ones (a thin symbol's day with one busy hour): each
    window is still added in time order, ``newest`` first in the first."""
    rng = np.random.default_rng(8)
    lengths = np.ones(5000, np.intp)
    lengths[[3, 2500, 4999]] = [20_000, 700, 9]
    values = rng.integers(1, 100, int(lengths.sum())) / 10
    values[:2] = -0.0  # (the sign of a zero survives, as one bar at a time keeps it)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    got = fold_segments(values, starts, newest)
    bounds = [*starts.tolist(), len(values)]
    want = [_in_order(([newest] if newest is not None and k == 0 else []) + values[a:b].tolist())
            for k, (a, b) in enumerate(pairwise(bounds))]
    assert got.tolist() == want
    assert got.tobytes() == np.array(want).tobytes()


def test_reduce_segments_folds_volume_and_sums_counts() -> None:
    volume = np.random.default_rng(4).integers(1, 100, 1000) / 10
    price = np.linspace(1.0, 2.0, 1000)
    starts = np.array([0, 300, 301, 700])
    count = np.arange(1000, dtype=np.int64)
    reduced = reduce_segments(starts, price, price, price, price, volume, count)
    bounds = [*starts.tolist(), 1000]
    assert reduced.volume.tolist() == [_in_order(volume[a:b].tolist()) for a, b in pairwise(bounds)]
    assert reduced.count.tolist() == [int(count[a:b].sum()) for a, b in pairwise(bounds)]


@pytest.mark.parametrize("newest", [None, 12.0])
def test_share_volumes_take_the_shortcut_to_the_same_sums(newest: float | None) -> None:
    """Whole numbers add up exactly in any order, so ``reduceat`` (pairwise) gives the very sums the
    fold in time order gives; a fraction anywhere (or in ``newest``) sends them all in order."""
    values = np.random.default_rng(9).integers(0, 10**9, 3000).astype(float)
    starts = np.array([0, 5, 400, 401, 2999])
    assert adds_exactly(values, newest)
    shortcut, in_order = fold_segments(values, starts, newest), fold_segments(values, starts, newest, exact=False)
    assert shortcut.tobytes() == in_order.tobytes()
    assert not adds_exactly(values, 0.5) and not adds_exactly(np.append(values, 0.25), newest)
    assert not adds_exactly(np.array([2.0**51, 2.0**51]))  # 2**52 in all: past the bound kept exact
