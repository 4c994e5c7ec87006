"""Re-aggregation of the touched windows: late bars and corrections rebuild a row's bars from the base.

:func:`core.derive.advance.advance` folds a bar into a row's newest window or opens the next one;
a base bar before that window (a late bar) or a changed base bar (a correction) instead rebuilds
every bar of the row from its first touched window on (:func:`reaggregate`), through
:func:`aggregate`, the per-window OHLCV reduction (:func:`core.derive.reduce.reduce_by_key`, which
the batch history derivation calls too). A rebuilt bar whose window was already final and
whose values really changed is flagged REVISED and noted on its interval at the pass's clock.
Each row's touched windows are its own, so a pass calls it once per (symbol, interval) that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from session_monitor.core.bars import FORMING, REVISED, BarArrays
from session_monitor.core.derive.advance import UNTOUCHED
from session_monitor.core.derive.reduce import reduce_by_key
from session_monitor.core.windows import WindowGrid

if TYPE_CHECKING:
    from session_monitor.core.session_data import BarIntervalData

__all__ = ["Aggregated", "aggregate", "reaggregate"]


@dataclass(frozen=True, slots=True)
class Aggregated:
    """One row per window that holds at least one base bar."""

    window: np.ndarray
    bars: BarArrays  # ts = window start
    count: np.ndarray


_NOTHING = Aggregated(np.empty(0, np.int64), BarArrays.empty(), np.empty(0, np.int32))


def aggregate(base: BarArrays, grid: WindowGrid) -> Aggregated:
    """Aggregate sorted in-session base bars into the windows of ``grid``.

    Open of the first, max high, min low, close of the last, summed volume; a window
    with no base bar produces no row.
    """
    if not len(base.ts):
        return _NOTHING
    ids = grid.window_of(base.ts)
    if grid.partial:  # bars in no window of this interval (1d with extended hours) are not part of it
        inside = ids >= 0
        if not inside.all():
            base = BarArrays(*(col[inside] for col in base))
            ids = ids[inside]
            if not len(ids):
                return _NOTHING
    firsts, bars = reduce_by_key(ids, base.open, base.high, base.low, base.close, base.volume)
    window = ids[firsts]
    out = BarArrays(grid.starts[window], bars.open, bars.high, bars.low, bars.close, bars.volume)
    return Aggregated(window, out, bars.count.astype(np.int32))


def reaggregate(derived: BarIntervalData, base: BarIntervalData, start: int, finalized: int, clock: float) -> int:
    """Rebuild ``derived``'s row from the first window touched by base bars ``[start:]`` on (late bars,
    corrections); windows before ``finalized`` are final. Returns the first changed bar index
    (``UNTOUCHED``: no touched bar lies in a window of ``derived``)."""
    grid = derived.grid
    base_ts = base.data.buffer("ts")
    n = len(base.data)
    series = derived.data
    first_window = grid.window_of_one(int(base_ts[start]))
    if first_window < 0:  # a bar in no window of this interval (1d with extended hours): from the next
        first_window = grid.windows_from(int(base_ts[start]))
        if first_window >= grid.size or int(base_ts[n - 1]) < int(grid.starts[first_window]):
            return UNTOUCHED
    begin = int(base_ts[:n].searchsorted(grid.starts[first_window]))
    keep = series.count_before(grid.starts[first_window])
    agg = aggregate(base.data.arrays(begin, n), grid)
    old = _snapshot(derived, keep)
    series.truncate(keep)
    expected = grid.expected[agg.window].astype(np.int32)
    flags = np.where(agg.window >= finalized, FORMING, 0).astype(np.uint8)
    if old is not None:
        flags |= _revised_flags(old, agg, derived.finalized, derived, clock)
    series.extend(agg.bars, agg.count, expected, flags)
    if len(agg.window) == 1:
        derived.tracker.mark_present(int(agg.window[0]))
    else:
        derived.tracker.mark_present_many(agg.window)
    if len(agg.window):
        derived.last_window = int(agg.window[-1])
    return keep


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The bars about to be rewritten."""

    bars: BarArrays
    count: np.ndarray
    flags: np.ndarray


def _snapshot(derived: BarIntervalData, keep: int) -> _Snapshot | None:
    """Copy of the bars about to be rewritten, to tell real revisions from unchanged rewrites."""
    series = derived.data
    if keep >= len(series):
        return None
    bars = BarArrays(*(np.array(col) for col in series.arrays(keep)))
    return _Snapshot(bars, np.array(series.count[keep:]), np.array(series.flags[keep:]))


def _revised_flags(
    old: _Snapshot, agg: Aggregated, finalized_windows: int, derived: BarIntervalData, clock: float
) -> np.ndarray:
    """REVISED for rewritten windows that were already final and whose bar really changed
    (noted as revisions of ``derived`` at ``clock``)."""
    new = agg.bars
    pos = np.searchsorted(old.bars.ts, new.ts)
    pos_clipped = np.minimum(pos, len(old.bars.ts) - 1)
    found = (pos < len(old.bars.ts)) & (old.bars.ts[pos_clipped] == new.ts)
    same = found.copy()
    for old_col, new_col in zip(old.bars[1:], new[1:], strict=True):
        same &= old_col[pos_clipped] == new_col
    same &= old.count[pos_clipped] == agg.count
    was_revised = found & ((old.flags[pos_clipped] & REVISED) > 0)
    newly_revised = ~same & (agg.window < finalized_windows)
    for ts in new.ts[newly_revised].tolist():
        derived.note_revised(ts, clock)
    return np.where(was_revised | newly_revised, REVISED, 0).astype(np.uint8)
