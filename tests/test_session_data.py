"""SessionData: registration, removal, events in before/after pairs, thread safety, storage."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from session_monitor.core.bars import BarArrays, BarSeries
from session_monitor.core.intervals import parse_interval
from session_monitor.core.session_data import SessionData, SymbolSessionData
from tests.core_helpers import walk, xnys

SESSION = xnys("2013-10-07")


def make(symbol: str) -> SymbolSessionData:
    return SymbolSessionData.create(symbol, parse_interval("1m"), [parse_interval("5m"), parse_interval("1h")], SESSION)


def test_register_query_and_remove() -> None:
    sd = SessionData()
    sd.start_session(SESSION)
    sd.register_symbol_data(make("spy"))
    sd.register_symbol_data(make("GOOG"))
    assert sd.get_active_symbols() == ["SPY", "GOOG"]
    spy = sd.get_symbol_data("Spy")
    assert spy is not None and spy.base_interval.name == "1m"
    assert list(spy.bars) == ["1m", "5m", "1h"]
    assert [(b.derived, b.base and b.base.name) for b in spy.bars.values()] == [
        (False, None), (True, "1m"), (True, "1m")
    ]
    assert [s.symbol for s in sd.get_symbols_with_derived()] == ["SPY", "GOOG"]
    assert sd.remove_symbol("spy") is spy
    assert sd.get_active_symbols() == ["GOOG"]
    assert sd.remove_symbol("spy") is None


def test_registering_twice_is_refused() -> None:
    sd = SessionData()
    sd.register_symbol_data(make("SPY"))
    with pytest.raises(ValueError, match="SPY is already being watched"):
        sd.register_symbol_data(make("spy"))


def test_structural_events_come_in_pairs_around_the_change() -> None:
    sd = SessionData()
    seen: list[tuple] = []
    for name in ("symbol_adding", "symbol_added", "symbol_removing", "symbol_removed"):
        getattr(sd.events, name).connect(
            lambda symbol, row, name=name: seen.append((name, symbol, row, sd.get_active_symbols()))
        )
    sd.register_symbol_data(make("SPY"))
    sd.register_symbol_data(make("GOOG"))
    sd.remove_symbol("SPY")
    assert seen == [
        ("symbol_adding", "SPY", 0, []),
        ("symbol_added", "SPY", 0, ["SPY"]),
        ("symbol_adding", "GOOG", 1, ["SPY"]),
        ("symbol_added", "GOOG", 1, ["SPY", "GOOG"]),
        ("symbol_removing", "SPY", 0, ["SPY", "GOOG"]),
        ("symbol_removed", "SPY", 0, ["GOOG"]),
    ]


def test_concurrent_writers_lose_nothing() -> None:
    sd = SessionData()
    sd.start_session(SESSION)
    symbols = [f"S{i}" for i in range(8)]
    for s in symbols:
        sd.register_symbol_data(make(s))
    ts = np.arange(SESSION.open, SESSION.close, 60)
    bars = walk(ts)

    def writer(symbol: str) -> None:
        for i in range(0, len(ts), 7):
            sd.add_base_bars(symbol, bars.take(slice(i, i + 7)))

    threads = [threading.Thread(target=writer, args=(s,)) for s in symbols]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in symbols:
        assert np.array_equal(sd.get_symbol_data(s).base.data.ts, ts)


def test_series_is_a_sequence_with_zero_copy_views() -> None:
    series = BarSeries()
    series.merge(BarArrays.from_rows([(60, 1.0, 2.0, 0.5, 1.5, 10.0), (120, 1.5, 2.5, 1.0, 2.0, 5.0)]))
    assert len(series) == 2
    assert series[-1].close == 2.0 and series.last == series[1]
    assert [b.ts for b in series] == [60, 120]
    view = series.close
    assert np.shares_memory(view, series._cols["close"])
    assert not view.flags.writeable
    assert [b.ts for b in series[0:1]] == [60]
    with pytest.raises(IndexError):
        series[2]


def test_series_grows_by_doubling_and_stays_small_per_bar() -> None:
    series = BarSeries(capacity=1)
    n = 100_000
    ts = np.arange(n, dtype=np.int64) * 60
    series.merge(BarArrays(ts, *(np.ones(n) for _ in range(5))))
    assert len(series) == n
    assert series.nbytes / n <= 64  # 48 bytes a base bar plus doubling slack


def test_grouped_storage_is_sized_for_the_session_and_keeps_every_bar_when_rows_grow() -> None:
    """Row blocks hold as many bars as the session has windows from the start (no regrowth in
    the bar dimension), and growing the rows for a 17th symbol keeps every symbol's bars."""
    from session_monitor.core.processor import DataProcessor

    sd = SessionData()
    sd.start_session(SESSION)
    processor = DataProcessor(sd)
    ts = np.arange(SESSION.open, SESSION.close, 60, dtype=np.int64)
    names = [f"S{k}" for k in range(17)]
    bars = {name: walk(ts, seed=k + 1) for k, name in enumerate(names)}
    for name in names[:16]:
        sd.register_symbol_data(make(name))
        sd.add_base_bars(name, bars[name])
    processor.process(float(SESSION.close))
    group = next(iter(sd.groups.values()))
    capacities = {name: block.cap for name, block in group.blocks.items()}
    assert capacities == {"1m": 390, "5m": 78, "1h": 7}
    assert all(block.row_cap == 16 for block in group.blocks.values())
    sd.register_symbol_data(make(names[16]))  # a 17th row: the rows grow
    sd.add_base_bars(names[16], bars[names[16]])
    processor.process(float(SESSION.close))
    assert {name: block.cap for name, block in group.blocks.items()} == capacities
    assert all(block.row_cap > 16 for block in group.blocks.values())
    for name in names:
        data = sd.get_symbol_data(name)
        assert data is not None
        for field, got, want in zip(BarArrays._fields, data.base.data.arrays(), bars[name], strict=True):
            assert np.array_equal(got, want), (name, field)
        assert len(data.bars["5m"].data) == 78 and len(data.bars["1h"].data) == 7
        assert data.bars["1h"].data.volume.sum() == bars[name].volume.sum()


def _state(data: SymbolSessionData) -> dict:
    return {
        name: (iv.quality, iv.gap_count, iv.missing, iv.incomplete, iv.elapsed, iv.finalized, iv.last_window,
               tuple(iv.gaps), iv.tracker.frontier, len(iv.data))
        for name, iv in data.bars.items()
    }


def test_a_symbol_keeps_its_quality_and_gaps_when_it_leaves_the_group() -> None:
    """Grouped symbols' state lives in the group's table; leaving (removal, a new session) takes it along."""
    from session_monitor.core.processor import DataProcessor

    sd = SessionData()
    sd.start_session(SESSION)
    processor = DataProcessor(sd)
    ts = np.arange(SESSION.open, SESSION.open + 120 * 60, 60, dtype=np.int64)
    holes = np.ones(len(ts), bool)
    holes[[5, 6, 40]] = False
    for k, name in enumerate(("A", "B", "C")):
        sd.register_symbol_data(make(name))
        sd.add_base_bars(name, walk(ts[holes] if name != "B" else ts, seed=k + 1))
    processor.process(float(SESSION.open + 120 * 60))
    a, b = sd.get_symbol_data("A"), sd.get_symbol_data("B")
    assert a is not None and b is not None
    before_a, before_b = _state(a), _state(b)
    assert before_a["1m"][1:4] == (2, 3, 0) and len(before_a["1m"][7]) == 2 and before_a["5m"][3] == 2
    assert before_b["1m"][1:3] == (0, 0)
    removed = sd.remove_symbol("A")
    assert removed is a and _state(a) == before_a
    assert _state(b) == before_b
    tomorrow = xnys("2013-10-08")
    sd.start_session(tomorrow)
    old = b.history[-1].bars
    assert {name: (iv.quality, iv.gap_count, iv.missing, tuple(iv.gaps)) for name, iv in old.items()} == {
        name: (q, g, m, gaps) for name, (q, g, m, _, _, _, _, gaps, _, _) in before_b.items()
    }
    assert all(iv.quality is None and iv.gap_count == 0 and len(iv.data) == 0 for iv in b.bars.values())
