"""The vectorised live pass (symbols stored row-wise in groups) equals the per-symbol path.

Two engines get the same multi-symbol stream: one groups its symbols (``SessionData()``,
the live pass runs across symbols), the other does not (``SessionData(group_rows=False)``,
every symbol takes ``DataProcessor._process_symbol``). After every pass every interval of
every symbol must hold the same bars, counts, flags, quality, gaps, incomplete counts and
clock state, and each symbol must have seen the same events in the same order.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import get_calendar
from session_monitor.core.intervals import parse_interval
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import SessionData, SymbolSessionData
from tests.core_helpers import walk, xnys

CASES = {
    "1m": (xnys("2013-10-07"), "1m", ["5m", "15m", "1h", "1d"], 390),
    "1m-early-close": (xnys("2015-12-24"), "1m", ["2m", "5m", "1h", "1d"], 210),
    "1m-lunch": (get_calendar("XHKG").session(dt.date(2024, 3, 5)), "1m", ["5m", "15m", "1h", "1d"], 390),
    "1s": (xnys("2013-10-07"), "1s", ["5s", "1m", "5m", "1d"], 900),
    # extended hours: windows anchored per segment, 1d the regular session only (an early close:
    # after-hours to 17:00); the whole day, so bars before, in and after the regular session
    "1m-extended": (get_calendar("XNYS", hours="extended").session(dt.date(2015, 12, 24)), "1m",
                    ["5m", "1h", "1d"], 780),
}


class Engine:
    def __init__(self, grouped: bool, session, base: str, derived: list[str], grace: float) -> None:
        self.sd = SessionData(group_rows=grouped)
        self.sd.start_session(session)
        self.session = session
        self.base = parse_interval(base)
        self.derived = [parse_interval(i) for i in derived]
        self.proc = DataProcessor(self.sd, grace=grace)
        self.log: dict[str, list[tuple]] = {}
        self.sd.events.bars_changed.connect(lambda s, n, f: self.log.setdefault(s, []).append(("bars", n, f)))
        self.sd.events.quality_changed.connect(lambda s, n: self.log.setdefault(s, []).append(("quality", n)))

    def add_symbol(self, symbol: str, derived: list) -> None:
        self.sd.register_symbol_data(SymbolSessionData.create(symbol, self.base, derived, self.session))

    def remove(self, symbol: str) -> None:
        self.sd.remove_symbol(symbol)


def snapshot(sd: SessionData) -> dict:
    out = {}
    for data in sd.all_symbol_data():
        for name, iv in data.bars.items():
            s = iv.data
            out[(data.symbol, name)] = (
                tuple(np.array(c).tobytes() for c in (s.ts, s.open, s.high, s.low, s.close, s.volume)),
                np.array(s.count).tobytes(), np.array(s.expected).tobytes(), np.array(s.flags).tobytes(),
                iv.quality, iv.gap_count, iv.missing, iv.incomplete, iv.elapsed, iv.finalized, iv.last_window,
                tuple(iv.gaps), iv.tracker.frontier, len(s), dict(iv.revisions),
            )
    return out


@st.composite
def streams(draw):
    name = draw(st.sampled_from(sorted(CASES)))
    session, base, derived, span = CASES[name]
    step = parse_interval(base).seconds
    slots = np.arange(session.open, session.close, step, dtype=np.int64)
    if session.break_start is not None:
        slots = slots[(slots < session.break_start) | (slots >= session.break_end)]
    slots = slots[:span]
    # aligned: every symbol streams the same minutes and mostly shares holes and batches, the
    # live steady state that takes the uniform fast path (which needs >= 4 symbols); a pass
    # now and then treats each symbol on its own, breaking and later re-establishing uniformity
    aligned = draw(st.booleans())
    n_symbols = draw(st.integers(4, 6)) if aligned else draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    grace = draw(st.sampled_from([0.0, 0.0, 2.0 * step]))
    rng = np.random.default_rng(seed)
    hole_p = draw(st.sampled_from([0.0, 0.05, 0.3]))
    late_p = draw(st.sampled_from([0.0, 0.03]))
    fix_p = draw(st.sampled_from([0.0, 0.03]))
    batch_p = draw(st.sampled_from([0.0, 0.05]))
    churn_p = draw(st.sampled_from([0.0, 0.02]))
    return session, base, derived, slots, n_symbols, seed, grace, rng, hole_p, late_p, fix_p, batch_p, churn_p, aligned


def run_both(case, max_passes: int = 400) -> None:
    session, base, derived, slots, n_symbols, seed, grace, rng, hole_p, late_p, fix_p, batch_p, churn_p = case[:13]
    aligned = len(case) > 13 and case[13]
    step = parse_interval(base).seconds
    engines = [Engine(g, session, base, derived, grace) for g in (True, False)]
    final = {f"S{k}": walk(slots, seed=seed + k) for k in range(n_symbols + 3)}
    wrong = {s: walk(slots, seed=seed + 1000 + k) for k, s in enumerate(final)}
    watched: dict[str, list] = {}
    held: dict[str, list[int]] = {}
    cursor: dict[str, int] = {}

    def add(symbol: str) -> None:
        ivs = [parse_interval(i) for i in derived]
        if rng.random() < 0.3:  # some symbols hold fewer intervals
            ivs = [i for i in ivs if rng.random() < 0.6]
        watched[symbol] = ivs
        held[symbol] = []
        for e in engines:
            e.add_symbol(symbol, ivs)

    for k in range(n_symbols):
        add(f"S{k}")
    start = int(rng.integers(0, max(1, len(slots) // 3)))
    for s in watched:
        cursor[s] = start if aligned or rng.random() < 0.5 else 0
    clock = float(session.open)
    passes = 0
    position = 0
    while position < len(slots) and passes < max_passes:
        passes += 1
        deliveries: list[tuple[str, BarArrays]] = []
        shared = rng.random() if aligned and rng.random() < 0.9 else None
        shared_batch = int(rng.integers(2, 5))
        for symbol in list(watched):
            i = cursor.get(symbol, 0)
            if i >= len(slots):
                continue
            r = rng.random() if shared is None else shared
            if r < hole_p:
                cursor[symbol] = i + 1
                if rng.random() < 0.5:
                    held[symbol].append(i)  # delivered late, maybe
                continue
            if r < hole_p + batch_p:
                j = min(len(slots), i + (int(rng.integers(2, 5)) if shared is None else shared_batch))
                deliveries.append((symbol, final[symbol].take(slice(i, j))))
                cursor[symbol] = j
                continue
            deliveries.append((symbol, final[symbol].take(slice(i, i + 1))))
            cursor[symbol] = i + 1
            if held[symbol] and rng.random() < late_p * 10:
                late = held[symbol].pop(0)
                deliveries.append((symbol, final[symbol].take(slice(late, late + 1))))
            if rng.random() < fix_p:
                j = int(rng.integers(0, i + 1))
                deliveries.append((symbol, wrong[symbol].take(slice(j, j + 1))))
                deliveries.append((symbol, final[symbol].take(slice(j, j + 1))))
        if rng.random() < churn_p and watched:
            gone = sorted(watched)[int(rng.integers(0, len(watched)))]
            del watched[gone]
            for e in engines:
                e.remove(gone)
        if rng.random() < churn_p:
            fresh = [s for s in final if s not in watched]
            if fresh:
                add(fresh[0])
                cursor[fresh[0]] = max(cursor.values(), default=0)
                if aligned:  # the newcomer streams the others' minutes from its next pass on
                    cursor = dict.fromkeys(cursor, max(cursor.values()))
        position = max(cursor.values(), default=len(slots))
        newest = max((int(b.ts[-1]) for _, b in deliveries), default=int(clock) - step)
        clock = max(clock, float(newest + step))
        if rng.random() < 0.1:
            clock += step * int(rng.integers(1, 4))
        for e in engines:
            stacked = _stack([b for _, b in deliveries])
            if stacked is not None and rng.random() < 0.7:
                e.sd.add_base_rows([s for s, _ in deliveries], stacked)
            else:
                for symbol, bars in deliveries:
                    e.sd.add_base_bars(symbol, bars)
            e.proc.process(clock)
        a, b = (snapshot(e.sd) for e in engines)
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == b[key], f"pass {passes}: {key} differs"
        assert engines[0].log == engines[1].log, f"pass {passes}: events differ"
    for e in engines:
        e.proc.process(float(session.close))
    a, b = (snapshot(e.sd) for e in engines)
    assert a == b
    assert engines[0].log == engines[1].log


def _stack(batches: list[BarArrays]) -> BarArrays | None:
    if not batches or not all(len(b.ts) == 1 for b in batches):
        return None
    return BarArrays(*(np.concatenate(cols) for cols in zip(*batches, strict=True)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams())
def test_grouped_live_pass_equals_per_symbol_path(case) -> None:
    run_both(case)


def test_full_clean_session_all_cases() -> None:
    for name, (session, base, derived, span) in CASES.items():
        step = parse_interval(base).seconds
        slots = np.arange(session.open, session.close, step, dtype=np.int64)
        if session.break_start is not None:
            slots = slots[(slots < session.break_start) | (slots >= session.break_end)]
        for aligned in (False, True):
            rng = np.random.default_rng(len(name))
            case = (session, base, derived, slots[:span], 4, 7, 0.0, rng, 0.0, 0.0, 0.0, 0.0, 0.0, aligned)
            run_both(case, max_passes=span + 5)


def _two_engines(symbols: list[str]):
    session = xnys("2013-10-07")
    out = []
    for grouped in (True, False):
        sd = SessionData(group_rows=grouped)
        sd.start_session(session)
        for s in symbols:
            sd.register_symbol_data(
                SymbolSessionData.create(s, parse_interval("1m"), [parse_interval("5m")], session)
            )
        out.append((sd, DataProcessor(sd)))
    return session, out


def test_add_base_rows_follows_add_base_bars_rules() -> None:
    symbols = [f"S{k}" for k in range(6)]
    session, engines = _two_engines(symbols)
    (rows_sd, rows_proc), (bars_sd, bars_proc) = engines
    t = session.open
    ts = np.array([t, t + 60, t - 60, t + 30, t, t + 120], np.int64)  # S2 before the open, S3 off-grid
    bars = walk(ts, seed=3)
    names = [*symbols[:5], "NOPE"]  # an unknown symbol's bar is dropped
    stored_rows = rows_sd.add_base_rows(names, bars)
    stored_bars = sum(bars_sd.add_base_bars(s, bars.take(slice(k, k + 1))) for k, s in enumerate(names))
    assert stored_rows == stored_bars == 3
    # a late bar and a correction go through the same call
    late = walk(np.array([t + 180, t + 60, t, t + 60, t + 60], np.int64), seed=4)
    assert rows_sd.add_base_rows(symbols[:5], late) == sum(
        bars_sd.add_base_bars(s, late.take(slice(k, k + 1))) for k, s in enumerate(symbols[:5])
    )
    for proc in (rows_proc, bars_proc):
        proc.process(float(t + 240))
    for s in symbols:
        a, b = rows_sd.get_symbol_data(s), bars_sd.get_symbol_data(s)
        assert (a.outside_session, a.rejected) == (b.outside_session, b.rejected)
    assert snapshot(rows_sd) == snapshot(bars_sd)
    with pytest.raises(ValueError):
        rows_sd.add_base_rows(symbols[:2], bars)


def test_removed_symbol_keeps_its_bars_and_rows_are_reused() -> None:
    symbols = [f"S{k}" for k in range(40)]  # more rows than a block starts with
    session, engines = _two_engines(symbols)
    sd, proc = engines[0]
    t = session.open
    for i in range(70):  # more bars than a block's first capacity
        sd.add_base_rows(symbols, walk(np.full(len(symbols), t + 60 * i, np.int64), seed=i))
        proc.process(float(t + 60 * (i + 1)))
    data = sd.get_symbol_data("S7")
    held = np.array(data.bars["5m"].data.close)
    gone = sd.remove_symbol("S7")
    assert gone is data and data.group is None and data.bars["1m"].data._block is None
    assert np.array_equal(data.bars["5m"].data.close, held) and len(data.bars["1m"].data) == 70
    sd.register_symbol_data(SymbolSessionData.create("NEW", parse_interval("1m"), [parse_interval("5m")], session))
    fresh = sd.get_symbol_data("NEW")
    assert fresh.group_row == 7 and len(fresh.bars["1m"].data) == 0
    sd.add_base_bars("NEW", walk(np.array([t + 60 * 70], np.int64)))
    proc.process(float(t + 60 * 71))
    assert len(fresh.bars["5m"].data) == 1 and fresh.bars["5m"].data[0].forming
    assert len(sd.get_symbol_data("S8").bars["5m"].data) == 14 and sd.get_symbol_data("S8").bars["5m"].quality == 100.0


@pytest.mark.parametrize("grace", [0.0, 150.0])
def test_uniform_path_without_subscribers(monkeypatch, grace: float) -> None:
    """A live feed where every symbol gets each minute's bar (a few minutes missing for all, one
    symbol missing one minute, per-symbol adds now and then) takes the uniform pass, and it
    matches the per-symbol path also when nobody listens to the events."""
    import session_monitor.core.live_pass as live_pass

    taken = []
    original = live_pass._uniform_pass
    monkeypatch.setattr(live_pass, "_uniform_pass", lambda *a: taken.append(original(*a)) or taken[-1])
    session = xnys("2013-10-07")
    symbols = [f"S{k}" for k in range(6)]
    engines = []
    for grouped in (True, False):
        sd = SessionData(group_rows=grouped)
        sd.start_session(session)
        for k, s in enumerate(symbols):
            derived = ["5m", "15m", "1h", "1d"] if k != 2 else ["15m", "1d"]  # one holds fewer
            sd.register_symbol_data(
                SymbolSessionData.create(s, parse_interval("1m"), [parse_interval(i) for i in derived], session)
            )
        engines.append((sd, DataProcessor(sd, grace=grace)))
    rng = np.random.default_rng(11)
    data = {s: walk(np.arange(session.open, session.close, 60, dtype=np.int64), seed=k) for k, s in enumerate(symbols)}
    for i in range(390):
        if i % 37 == 5:
            continue  # nobody gets this minute
        names = [s for s in symbols if not (i == 200 and s == "S4")]
        bars = [data[s].take(slice(i, i + 1)) for s in names]
        rows = BarArrays(*(np.concatenate(c) for c in zip(*bars, strict=True)))
        per_symbol = rng.random() < 0.2
        for sd, proc in engines:
            if per_symbol:
                for k, s in enumerate(names):
                    sd.add_base_bars(s, rows.take(slice(k, k + 1)))
            else:
                sd.add_base_rows(names, rows)
            # now and then a pass before the bar's end (its windows not yet elapsed)
            proc.process(float(session.open + 60 * i + (30 if i % 23 == 4 else 60)))
        if i % 50 == 0 or i > 380:
            assert snapshot(engines[0][0]) == snapshot(engines[1][0]), f"minute {i}"
    for _, proc in engines:
        proc.process(float(session.close))
    assert snapshot(engines[0][0]) == snapshot(engines[1][0])
    assert sum(taken) > 150  # the uniform pass ran until S4 missed a minute
