"""6. Memory per stored bar: core.bars.BarSeries against a deque of slotted dataclasses.

Measured with tracemalloc (numpy reports its buffers to it): the bytes still allocated
after storing N bars, divided by N, slack from amortised growth included. The bars are
appended one session (390 bars) at a time, as a replay stores them. The reference is the
obvious pure-Python store: ``collections.deque`` of ``@dataclass(slots=True)`` bars whose
fields are Python ints and floats (each float its own object, as they would be when bars
arrive one by one).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections import deque
from dataclasses import dataclass

import numpy as np

from bench import Row, ratio
from bench.data import random_walk
from session_monitor.core.bars import BarArrays, BarSeries

__all__ = ["ROWS", "run"]

TARGET_BYTES = 64.0
ROW_BASE = "memory per stored base bar"
ROW_DERIVED = "memory per stored derived bar (+counts)"
ROWS = (ROW_BASE, ROW_DERIVED)
_CHUNK = 390


@dataclass(slots=True)
class _BaseBar:
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(slots=True)
class _DerivedBar:
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    count: int
    expected: int
    flags: int


def _traced(build) -> tuple[float, object]:
    """Bytes still allocated by ``build()`` once it returns (what it keeps alive)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return float(after - before), kept


def _series(bars: BarArrays, with_counts: bool) -> BarSeries:
    series = BarSeries(with_counts=with_counts)
    n = len(bars.ts)
    count = np.full(_CHUNK, 5, np.int32)
    expected = np.full(_CHUNK, 5, np.int32)
    flags = np.zeros(_CHUNK, np.uint8)
    for lo in range(0, n, _CHUNK):
        chunk = bars.take(slice(lo, lo + _CHUNK))
        k = len(chunk.ts)
        if with_counts:
            series.extend(chunk, count[:k], expected[:k], flags[:k])
        else:
            series.extend(chunk)
    return series


def _deque(bars: BarArrays, with_counts: bool) -> deque:
    store: deque = deque()
    append = store.append
    n = len(bars.ts)
    for lo in range(0, n, _CHUNK):
        cols = [col[lo : lo + _CHUNK].tolist() for col in bars]  # fresh int/float objects, as on arrival
        if with_counts:
            for t, o, h, lo_, c, v in zip(*cols, strict=True):
                append(_DerivedBar(t, o, h, lo_, c, v, 5, 5, 0))
        else:
            for t, o, h, lo_, c, v in zip(*cols, strict=True):
                append(_BaseBar(t, o, h, lo_, c, v))
    return store


def run(quick: bool) -> list[Row]:
    # 30,000 in quick mode: like 1,000,000 it sits just under a power of two, so the growth
    # slack (up to 2x right after a doubling) is comparable
    n = 30_000 if quick else 1_000_000
    ts = np.arange(n, dtype=np.int64) * 60 + 1_262_615_400
    bars = random_walk(ts, seed=6)
    rows = []
    for name, with_counts in ((ROW_BASE, False), (ROW_DERIVED, True)):
        ours_bytes, series = _traced(lambda wc=with_counts: _series(bars, wc))
        assert len(series) == n  # type: ignore[arg-type]
        del series
        ref_bytes, store = _traced(lambda wc=with_counts: _deque(bars, wc))
        assert len(store) == n  # type: ignore[arg-type]
        del store
        ours, ref = ours_bytes / n, ref_bytes / n
        rows.append(
            Row(
                name,
                ours,
                ref,
                "bytes/bar",
                ratio(ours, ref),
                f"≤ {TARGET_BYTES:.0f} B/bar",
                ours <= TARGET_BYTES,
                f"{n:,} bars, tracemalloc, growth slack included; ref: deque of slotted dataclasses",
                better="lower",
            )
        )
    return rows
