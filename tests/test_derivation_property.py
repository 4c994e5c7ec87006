"""Incremental derivation equals batch derivation of the final data, whatever the arrival order."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_monitor.core.derive.reaggregate import aggregate
from session_monitor.core.intervals import parse_interval
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import SessionData, SymbolSessionData
from tests.core_helpers import walk, watch, xnys

SESSION = xnys("2015-12-24")  # an early close: the last 1h window is short
DERIVED = ["2m", "5m", "15m", "1h", "1d"]


@st.composite
def arrivals(draw):
    slots = (SESSION.close - SESSION.open) // 60
    present = draw(st.lists(st.booleans(), min_size=slots, max_size=slots).map(np.array))
    ts = SESSION.open + 60 * np.flatnonzero(present)
    seed = draw(st.integers(0, 2**16))
    final = walk(ts, seed=seed)
    # volumes are integers, so every summation order is exact and "equal" means equal
    rng = np.random.default_rng(seed)
    n = len(ts)
    order = np.arange(n)
    late = draw(st.integers(0, max(0, n // 4)))
    if late and n:
        picks = rng.choice(n, size=late, replace=False)
        order = np.concatenate((np.setdiff1d(order, picks), rng.permutation(picks)))
    corrections = draw(st.integers(0, 10)) if n else 0
    wrong = walk(ts, seed=seed + 1)
    events: list[tuple[str, int]] = [("final", int(i)) for i in order]
    for _ in range(corrections):
        i = int(rng.integers(0, n))
        at = int(rng.integers(0, len(events) + 1))
        events.insert(at, ("wrong", i))  # a value that a later arrival of ("final", i) corrects
        events.append(("final", i))
    batches = draw(st.integers(1, 40))
    return final, wrong, events, batches


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(arrivals(), st.booleans(), st.integers(0, 2))
def test_incremental_equals_batch(case, group_rows: bool, companions: int) -> None:
    """Every path of the one kernel: ``TEST`` alone or with companions in one group (``group_rows``)
    or each on its own; companion ``C0`` gets the same bars at the same time (rows in step: the
    uniform pass), ``C1`` gets them one pass later (rows out of step, its bars arriving after
    the clock closed their windows); batches, late bars, corrections and holes as drawn."""
    final, wrong, events, batches = case
    sd = SessionData(group_rows=group_rows)
    sd.start_session(SESSION)
    symbols = ["TEST", *(f"C{k}" for k in range(companions))]
    for symbol in symbols:
        sd.register_symbol_data(
            SymbolSessionData.create(symbol, parse_interval("1m"), [parse_interval(i) for i in DERIVED], SESSION)
        )
    proc = DataProcessor(sd)
    chunks = np.array_split(np.arange(len(events)), batches)
    clock = SESSION.open
    for k, chunk in enumerate([*chunks, np.arange(0)]):
        for symbol in symbols:
            lagged = symbol == "C1"
            if lagged and k == 0:
                continue
            for e in chunks[k - 1] if lagged else chunk:
                kind, i = events[e]
                src = final if kind == "final" else wrong
                sd.add_base_bars(symbol, src.take(slice(i, i + 1)))
        clock = max([clock, *(int(final.ts[events[e][1]]) + 60 for e in chunk)])
        proc.process(clock)
        for symbol in symbols:  # after every pass, whichever path it took
            _assert_quality_current(sd.get_symbol_data(symbol))
    proc.process(SESSION.close)

    for symbol in symbols:
        data = sd.get_symbol_data(symbol)
        assert data is not None
        _assert_equals_batch(data, final)


def _assert_quality_current(data: SymbolSessionData | None) -> None:
    """Each interval's quality counts the base bars stored before the end of its elapsed windows."""
    assert data is not None
    base_ts = data.base.data.ts
    for name, interval in data.bars.items():
        el = interval.elapsed
        if not el:
            assert interval.quality is None, name
            continue
        present = int(np.count_nonzero(base_ts < interval.grid.ends[el - 1]))
        assert interval.quality == 100.0 * present / int(interval.grid.cum_expected[el]), name


def _assert_equals_batch(data: SymbolSessionData, final) -> None:
    base = data.base.data
    assert np.array_equal(base.ts, final.ts)
    for name in DERIVED:
        interval = data.bars[name]
        expect = aggregate(final, interval.grid)
        got = interval.data
        assert np.array_equal(got.ts, expect.bars.ts), name
        for column in ("open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(got, column), getattr(expect.bars, column)), (name, column)
        assert np.array_equal(got.count, expect.count), name
        assert got.volume.sum() == final.volume.sum()  # volume is conserved across intervals
        assert not (got.flags & 1).any()  # every bar is final at the close
        assert interval.quality == data.base.quality
        assert sum(g.bars for g in interval.gaps) == interval.missing
        short = int(np.count_nonzero(expect.count < interval.grid.expected[expect.window]))
        assert interval.incomplete == short, name


def test_empty_session_is_one_gap_at_quality_zero() -> None:
    _sd, data, proc = watch(SESSION, "1m", DERIVED)
    proc.process(SESSION.close)
    for name, interval in data.bars.items():
        assert interval.quality == 0.0, name
        assert len(interval.data) == 0
        [gap] = interval.gaps
        assert (gap.start, gap.end) == (SESSION.open, SESSION.close)
    assert data.bars["1m"].gaps[0].bars == 210
    assert data.bars["1h"].gaps[0].bars == 4
    assert data.bars["1d"].gaps[0].bars == 1


def test_batch_of_many_bars_equals_one_by_one() -> None:
    ts = SESSION.open + 60 * np.flatnonzero(np.random.default_rng(5).random(210) > 0.2)
    bars = walk(ts, seed=5, integer_volume=False)
    sd1, one_by_one, p1 = watch(SESSION, "1m", DERIVED)
    for i in range(len(ts)):
        sd1.add_base_bars("TEST", bars.take(slice(i, i + 1)))
        p1.process(int(ts[i]) + 60)
    sd2, batched, p2 = watch(SESSION, "1m", DERIVED)
    sd2.add_base_bars("TEST", bars)
    p2.process(SESSION.close)
    p1.process(SESSION.close)
    for name in DERIVED:
        a, b = one_by_one.bars[name].data, batched.bars[name].data
        for column in ("ts", "open", "high", "low", "close", "volume", "count"):  # fractional volumes too
            assert np.array_equal(getattr(a, column), getattr(b, column)), (name, column)

