"""2. Live derivation through the whole engine against NautilusTrader's TimeBarAggregator.

Session Monitor: 100 symbols on one XNYS session, base 1m, derived 5m, 15m, 1h and 1d.
Every "event-loop iteration" hands the symbols their new 1m bars and then runs one
``DataProcessor.process(clock)`` pass (derivation, forming/final flags, quality, gaps) at
the bars' close, as a live feed would. Row 1 (the headline) hands the iteration's bars over
in one ``SessionData.add_base_rows(symbols, bars)`` call, as ``SessionCoordinator._release``
does when every feed delivered one bar; row 2 calls ``add_base_bars`` once per symbol
(the processor pass is the same vectorised one in both).

Reference: NautilusTrader (its own venv, see bench/nautilus_env.py) building ONE interval
(5m) from the same 1m bars with one ``TimeBarAggregator`` per symbol on a ``TestClock``,
driven the same way (bench/nautilus_live_script.py). Its 5m bars are checked against ours.

Both sides get their input objects before the clock starts (our 1-bar ``BarArrays``,
Nautilus' ``Bar`` objects); the rate is base bars per wall second, medians of interleaved
rounds (the Nautilus side is one subprocess per round, timing only its feed loop).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import BENCH_DIR, Row, median, ratio
from bench.data import random_walk, xnys_sessions
from bench.nautilus_env import ensure_nautilus
from session_monitor.core.bars import BarArrays
from session_monitor.core.batch import derive_batch
from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval, parse_interval
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import SessionData, SymbolSessionData

__all__ = ["ROWS", "LiveFeed", "make_feed", "run", "run_engine"]

ROW = "live derive 1m→5m,15m,1h,1d + quality/gaps"
ROW_PER_SYMBOL = "live derive, per-symbol add_base_bars"
ROW_ONE_ROW = "live derive, one symbol's bar per pass (single-row path)"
ROW_UNGROUPED = "live derive, ungrouped symbols, one bar per pass"
ROW_TICKS = "live derive, 4 bars per symbol per pass"
ROWS = (ROW, ROW_PER_SYMBOL, ROW_ONE_ROW, ROW_UNGROUPED, ROW_TICKS)
#: symbols of the single-row rows (each pass gets one bar of one of them: out of step)
SINGLE_ROW_SYMBOLS = 10
#: base bars each symbol gets between two passes in the tick row (a fast replay tick)
TICK_BARS = 4
DERIVED = ("5m", "15m", "1h", "1d")
TARGET = 1.0
SCRIPT = BENCH_DIR / "nautilus_live_script.py"
SESSION_DATE = "2013-10-07"


class LiveFeed:
    """Per-symbol 1m bars of one session, pre-cut into the one-bar batches a feed delivers."""

    def __init__(self, session: Session, symbols: list[str], bars: list[BarArrays]) -> None:
        self.session = session
        self.symbols = symbols
        self.bars = bars
        self.minutes = len(bars[0].ts)
        self.batches = [[b.take(slice(i, i + 1)) for b in bars] for i in range(self.minutes)]
        #: the same bars, one ``BarArrays`` per iteration with one row per symbol
        self.rows = [
            BarArrays.concat(batch) for batch in self.batches
        ]

    @property
    def total(self) -> int:
        return self.minutes * len(self.symbols)


def make_feed(n_symbols: int, minutes: int | None = None) -> LiveFeed:
    import datetime as dt

    session = xnys_sessions(dt.date.fromisoformat(SESSION_DATE), 1)[0]
    ts = np.arange(session.open, session.close, 60, dtype=np.int64)
    if minutes is not None:
        ts = ts[:minutes]
    symbols = [f"S{k}" for k in range(n_symbols)]
    bars = [random_walk(ts, seed=100 + k, start=20.0 + 5 * k) for k in range(n_symbols)]
    return LiveFeed(session, symbols, bars)


def build_engine(feed: LiveFeed, group_rows: bool = True) -> tuple[SessionData, DataProcessor]:
    sd = SessionData(group_rows=group_rows)
    sd.start_session(feed.session)
    derived = [parse_interval(i) for i in DERIVED]
    for symbol in feed.symbols:
        sd.register_symbol_data(SymbolSessionData.create(symbol, Interval(60), derived, feed.session))
    return sd, DataProcessor(sd)


def run_engine(feed: LiveFeed, sd: SessionData, processor: DataProcessor, per_symbol: bool = False) -> float:
    """The timed loop: one bar per symbol, then one processor pass, per minute. Returns seconds."""
    process = processor.process
    symbols = feed.symbols
    clock0 = feed.session.open + 60
    start = time.perf_counter()
    if per_symbol:
        add = sd.add_base_bars
        for i, row in enumerate(feed.batches):
            for symbol, batch in zip(symbols, row, strict=True):
                add(symbol, batch)
            process(float(clock0 + 60 * i))
    else:
        add_rows = sd.add_base_rows
        for i, rows in enumerate(feed.rows):
            add_rows(symbols, rows)
            process(float(clock0 + 60 * i))
    process(float(feed.session.close))
    return time.perf_counter() - start


def run_single_rows(feed: LiveFeed, sd: SessionData, processor: DataProcessor) -> float:
    """The timed loop of the single-row rows: every pass gets one base bar of one symbol (the
    symbols take turns, so they are never in step). Returns seconds."""
    process = processor.process
    add = sd.add_base_bars
    clock = float(feed.session.open + 60)
    start = time.perf_counter()
    for i, row in enumerate(feed.batches):
        for symbol, batch in zip(feed.symbols, row, strict=True):
            add(symbol, batch)
            process(clock + 60 * i)
    process(float(feed.session.close))
    return time.perf_counter() - start


def run_ticks(feed: LiveFeed, sd: SessionData, processor: DataProcessor) -> float:
    """The timed loop of the tick row: each symbol gets ``TICK_BARS`` bars (one call), then one pass."""
    process = processor.process
    add = sd.add_base_bars
    chunks = [
        [bars.take(slice(i, i + TICK_BARS)) for bars in feed.bars] for i in range(0, feed.minutes, TICK_BARS)
    ]
    start = time.perf_counter()
    for i, chunk in enumerate(chunks):
        for symbol, batch in zip(feed.symbols, chunk, strict=True):
            add(symbol, batch)
        process(float(feed.session.open + 60 * TICK_BARS * (i + 1)))
    process(float(feed.session.close))
    return time.perf_counter() - start


def single_row_rows(quick: bool) -> list[Row]:
    """Rows 2c-2e: the paths a pass takes when symbols are not in step (our own rate; no reference)."""
    feed = make_feed(3 if quick else SINGLE_ROW_SYMBOLS)
    rounds = 3 if quick else 7
    loops = (
        (ROW_ONE_ROW, True, run_single_rows, "symbols of one group take turns: each pass gets one base bar"),
        (ROW_UNGROUPED, False, run_single_rows, "SessionData(group_rows=False): each symbol passes on its own"),
        (ROW_TICKS, True, run_ticks, f"{TICK_BARS} bars per symbol handed over with one add_base_bars call"),
    )
    times: dict[str, list[float]] = {name: [] for name, *_ in loops}
    for r in range(rounds + 1):  # the first round warms up
        for name, group_rows, loop, _ in loops:
            sd, processor = build_engine(feed, group_rows)
            took = loop(feed, sd, processor)
            check_engine(feed, sd)
            if r:
                times[name].append(took)
    scope = f"{len(feed.symbols)} symbols × {feed.minutes} min, 1m→5m,15m,1h,1d + quality/gaps"
    return [
        Row(name, feed.total / median(times[name]), None, "bars/s", None, "—", None, f"{scope}; {note}")
        for name, _, _, note in loops
    ]


def check_engine(feed: LiveFeed, sd: SessionData) -> None:
    """The live engine's bars equal the batch derivation of the same bars."""
    opens, closes = np.array([feed.session.open]), np.array([feed.session.close])
    for symbol, bars in zip(feed.symbols, feed.bars, strict=True):
        data = sd.get_symbol_data(symbol)
        assert data is not None
        want = derive_batch(*bars, opens, closes, DERIVED)
        for name in DERIVED:
            series = data.bars[parse_interval(name).name].data
            got = series.arrays()
            for field, a, b in zip(BarArrays._fields, got, want[name].bars, strict=True):
                if not np.array_equal(a, b):
                    raise AssertionError(f"live {symbol} {name}: {field} differs from derive_batch")
            if data.bars[name].quality != 100.0:
                raise AssertionError(f"live {symbol} {name}: quality {data.bars[name].quality} on a full session")


def _nautilus_round(python: Path, data_file: Path) -> dict:
    done = subprocess.run(
        [str(python), "-I", str(SCRIPT), str(data_file)], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"Nautilus script failed: {tail[:200]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_nautilus(feed: LiveFeed, result: dict, sd: SessionData) -> None:
    for symbol, built in zip(feed.symbols, result["five_minute"], strict=True):
        ours = sd.get_symbol_data(symbol).bars["5m"].data.arrays()  # type: ignore[union-attr]
        theirs = np.array(built, dtype=np.float64).reshape(-1, 6)
        if len(theirs) != len(ours.ts) or not np.array_equal(theirs[:, 0].astype(np.int64), ours.ts):
            raise AssertionError(f"Nautilus {symbol}: {len(theirs)} 5m bars vs ours {len(ours.ts)}")
        for j, col in enumerate(ours[1:], start=1):
            if not np.allclose(theirs[:, j], col, rtol=0, atol=1e-9):
                raise AssertionError(f"Nautilus {symbol}: 5m column {BarArrays._fields[j]} differs from ours")


def run(quick: bool) -> list[Row]:
    feed = make_feed(5 if quick else 100)
    rounds = 3 if quick else 7
    env = ensure_nautilus(install=not quick)
    nautilus_note = env.reason
    ours_times: list[float] = []
    per_symbol_times: list[float] = []
    ref_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="sm-bench-live-") as tmp:
        data_file = Path(tmp) / "bars.npz"
        np.savez(
            data_file,
            ts=feed.bars[0].ts,
            **{f: np.stack([getattr(b, f) for b in feed.bars]) for f in ("open", "high", "low", "close", "volume")},
        )
        python = env.python
        sd = None
        warm_sd, warm_proc = build_engine(feed)
        run_engine(feed, warm_sd, warm_proc)  # warm-up
        for r in range(rounds):
            sides = ["ours", "nautilus"] if r % 2 == 0 else ["nautilus", "ours"]
            for side in sides:
                if side == "ours":
                    sd2, processor = build_engine(feed)
                    per_symbol_times.append(run_engine(feed, sd2, processor, per_symbol=True))
                    check_engine(feed, sd2)
                    sd, processor = build_engine(feed)
                    ours_times.append(run_engine(feed, sd, processor))
                elif python is not None:
                    try:
                        result = _nautilus_round(python, data_file)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                        python, nautilus_note = None, f"reference failed: {exc}"
                        continue
                    ref_rates.append(float(result["bars_per_s"]))
                    nautilus_note = f"nautilus_trader {result['version']}"
                    last_result = result
        assert sd is not None
        check_engine(feed, sd)
        if ref_rates:
            check_nautilus(feed, last_result, sd)
    ours = feed.total / median(ours_times)
    ref = median(ref_rates) if ref_rates else None
    r = ratio(ours, ref)
    scope = f"{len(feed.symbols)} symbols × {feed.minutes} min; ours 4 intervals+quality+gaps, ref 1 interval"
    note = f"{scope}; bars handed over per iteration with add_base_rows; ref: {nautilus_note}" + (
        "; 5m bars identical" if ref_rates else ""
    )
    per_symbol = feed.total / median(per_symbol_times)
    r2 = ratio(per_symbol, ref)
    note2 = (
        "informative: same feed and pass, bars handed over with one add_base_bars call per symbol "
        "(the coordinator hands a tick's bars over with add_base_rows, row 1)"
    )
    target = f"≥ {TARGET:.1f}× Nautilus"
    return [
        Row(ROW, ours, ref, "bars/s", r, target, None if r is None else r >= TARGET, note),
        Row(ROW_PER_SYMBOL, per_symbol, ref, "bars/s", r2, "—", None, note2),
        *single_row_rows(quick),
    ]
