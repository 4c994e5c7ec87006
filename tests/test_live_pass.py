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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.bars import BarArrays
from core.calendar import get_calendar
from core.intervals import parse_interval
from core.processor import DataProcessor
from core.session_data import SessionData, SymbolSessionData
from tests.core_helpers import walk, xnys

CASES = {
    "1m": (xnys("2013-10-07"), "1m", ["5m", "15m", "1h", "1d"], 390),
    "1m-early-close": (xnys("2015-12-24"), "1m", ["2m", "5m", "1h", "1d"], 210),
    "1m-lunch": (get_calendar("XHKG").session(dt.date(2024, 3, 5)), "1m", ["5m", "15m", "1h", "1d"], 390),
    "1s": (xnys("2013-10-07"), "1s", ["5s", "1m", "5m", "1d"], 900),
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
                tuple(iv.gaps), iv.tracker.frontier, len(s),
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
    n_symbols = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    grace = draw(st.sampled_from([0.0, 0.0, 2.0 * step]))
    rng = np.random.default_rng(seed)
    hole_p = draw(st.sampled_from([0.0, 0.05, 0.3]))
    late_p = draw(st.sampled_from([0.0, 0.03]))
    fix_p = draw(st.sampled_from([0.0, 0.03]))
    batch_p = draw(st.sampled_from([0.0, 0.05]))
    churn_p = draw(st.sampled_from([0.0, 0.02]))
    return session, base, derived, slots, n_symbols, seed, grace, rng, hole_p, late_p, fix_p, batch_p, churn_p


def run_both(case, max_passes: int = 400) -> None:
    session, base, derived, slots, n_symbols, seed, grace, rng, hole_p, late_p, fix_p, batch_p, churn_p = case
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
        cursor[s] = start if rng.random() < 0.5 else 0
    clock = float(session.open)
    passes = 0
    position = 0
    while position < len(slots) and passes < max_passes:
        passes += 1
        deliveries: list[tuple[str, BarArrays]] = []
        for symbol in list(watched):
            i = cursor.get(symbol, 0)
            if i >= len(slots):
                continue
            r = rng.random()
            if r < hole_p:
                cursor[symbol] = i + 1
                if rng.random() < 0.5:
                    held[symbol].append(i)  # delivered late, maybe
                continue
            if r < hole_p + batch_p:
                j = min(len(slots), i + int(rng.integers(2, 5)))
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
        rng = np.random.default_rng(len(name))
        run_both((session, base, derived, slots[:span], 4, 7, 0.0, rng, 0.0, 0.0, 0.0, 0.0, 0.0), max_passes=span + 5)
