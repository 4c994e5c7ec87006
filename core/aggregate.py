"""OHLCV aggregation of one session's base bars into session-anchored windows.

Used by the DataProcessor for multi-bar passes (fast replay, late bars, corrections). The
reduction itself is :func:`core.derive.reduce.reduce_segments`, which the batch history
derivation (:mod:`core.batch`) calls too, so live and history agree bar for bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.derive.reduce import reduce_segments
from session_monitor.core.windows import WindowGrid

__all__ = ["Aggregated", "aggregate"]


@dataclass(frozen=True, slots=True)
class Aggregated:
    """One row per window that holds at least one base bar."""

    window: np.ndarray
    bars: BarArrays  # ts = window start
    count: np.ndarray


def aggregate(base: BarArrays, grid: WindowGrid) -> Aggregated:
    """Aggregate sorted in-session base bars into the windows of ``grid``.

    Open of the first, max high, min low, close of the last, summed volume; a window
    with no base bar produces no row.
    """
    ts = base.ts
    n = len(ts)
    if n == 0:
        empty = BarArrays.empty()
        return Aggregated(np.empty(0, np.int64), empty, np.empty(0, np.int32))
    ids = grid.window_of(ts)
    if grid.partial:  # bars in no window of this interval (1d with extended hours) are not part of it
        inside = ids >= 0
        if not inside.all():
            base = BarArrays(*(col[inside] for col in base))
            ids, ts, n = ids[inside], base.ts, int(inside.sum())
            if n == 0:
                return Aggregated(np.empty(0, np.int64), BarArrays.empty(), np.empty(0, np.int32))
    firsts = np.zeros(1, np.intp) if n == 1 else np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    window = ids[firsts]
    bars = reduce_segments(firsts, base.open, base.high, base.low, base.close, base.volume)
    out = BarArrays(grid.starts[window], bars.open, bars.high, bars.low, bars.close, bars.volume)
    return Aggregated(window, out, bars.count.astype(np.int32))
