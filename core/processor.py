"""DataProcessor: derives every derived interval and keeps quality and gaps current.

It finds its work only by walking ``SessionData``: a symbol whose base interval is
``updated`` gets its derived intervals re-derived from the first changed base bar, and
every interval's quality, gaps and forming/final state follow the session clock.
Nobody tells it which intervals exist.
"""

from __future__ import annotations

import numpy as np

from core.aggregate import aggregate
from core.bars import FORMING, REVISED, BarArrays
from core.session_data import BarIntervalData, SessionData, SymbolSessionData

__all__ = ["DataProcessor"]


class DataProcessor:
    """One ``process(clock)`` call is one pass over the whole session."""

    def __init__(self, session_data: SessionData, grace: float = 0.0) -> None:
        self.session_data = session_data
        #: seconds after a window's end before its bar is final (late base bars still land)
        self.grace = grace
        self.passes = 0

    def process(self, clock: float) -> None:
        """Derive what changed since the last pass and refresh quality at ``clock``."""
        sd = self.session_data
        self.passes += 1
        for data in sd.all_symbol_data():
            with sd.lock:
                if sd.get_symbol_data(data.symbol) is not data:
                    continue  # removed while we were walking
                self._process_symbol(data, clock)

    # -- one symbol --------------------------------------------------------------------
    def _process_symbol(self, data: SymbolSessionData, clock: float) -> None:
        events = self.session_data.events
        base = data.base
        changed: dict[str, int] = {}
        if base.updated:
            start = base.dirty_from
            base_ts = base.data.ts
            if start < len(base_ts):
                _mark_present(base, base_ts[start:])
                for derived in data.derived():
                    first = self._derive(derived, base, start, base.dirty_appended_only, clock)
                    if first is not None:
                        changed[derived.name] = first
            base.clear_updated()
            changed.setdefault(base.name, len(base.data))  # base change was announced on arrival
        for interval in data.bars.values():
            if interval.derived:
                first = self._finalize(interval, clock)
                if first is not None:
                    changed[interval.name] = min(changed.get(interval.name, first), first)
        for name, first in changed.items():
            if name != base.name:
                events.bars_changed.emit(data.symbol, name, first)
        for interval in data.bars.values():
            if self._refresh_quality(interval, base, clock, interval.name in changed):
                events.quality_changed.emit(data.symbol, interval.name)

    def _derive(
        self, derived: BarIntervalData, base: BarIntervalData, start: int, appended_only: bool, clock: float
    ) -> int | None:
        """Re-derive the windows touched by base bars ``[start:]``; returns the first changed index."""
        grid = derived.grid
        base_ts = base.data.ts
        n = len(base_ts)
        series = derived.data
        first_window = grid.window_of_one(int(base_ts[start]))
        last_window = grid.window_of_one(series.last_ts) if len(series) else -1
        finalized = max(grid.finalized(clock, self.grace), derived.finalized)
        if appended_only and first_window >= last_window:
            if first_window == last_window and n - start == 1:
                return self._extend_last(derived, base, start, finalized)
            if first_window == last_window:
                begin = int(np.searchsorted(base_ts, grid.starts[first_window]))
                keep = len(series) - 1
            else:
                begin, keep = start, len(series)
        else:
            begin = int(np.searchsorted(base_ts, grid.starts[first_window]))
            keep = series.count_before(grid.starts[first_window])
        agg = aggregate(base.data.arrays(begin, n), grid)
        old = _snapshot(derived, keep)
        series.truncate(keep)
        expected = grid.expected[agg.window].astype(np.int32)
        flags = np.where(agg.window >= finalized, FORMING, 0).astype(np.uint8)
        if old is not None:
            flags |= _revised_flags(old, agg, derived.finalized)
        series.extend(agg.bars, agg.count, expected, flags)
        _mark_present(derived, agg.bars.ts)
        return keep

    def _extend_last(self, derived: BarIntervalData, base: BarIntervalData, index: int, finalized: int) -> int:
        """The live path: one new base bar lands in the newest derived window, O(1)."""
        series = derived.data
        i = len(series) - 1
        b = base.data
        cols = series._cols  # in-place update of the newest bar, no reallocation
        cols["high"][i] = max(cols["high"][i], b.high[index])
        cols["low"][i] = min(cols["low"][i], b.low[index])
        cols["close"][i] = b.close[index]
        cols["volume"][i] += b.volume[index]
        cols["count"][i] += 1
        window = derived.grid.window_of_one(int(cols["ts"][i]))
        if window < derived.finalized:
            cols["flags"][i] |= REVISED
        return i

    def _finalize(self, derived: BarIntervalData, clock: float) -> int | None:
        """Clear the forming flag of bars whose window (plus grace) has passed."""
        grid = derived.grid
        finalized = grid.finalized(clock, self.grace)
        if finalized <= derived.finalized:
            return None
        previous = derived.finalized
        derived.finalized = finalized
        series = derived.data
        lo = series.count_before(grid.starts[previous]) if previous < grid.size else len(series)
        hi = series.count_before(grid.ends[finalized - 1])
        if hi <= lo:
            return None
        flags = series._cols["flags"]
        forming = flags[lo:hi] & FORMING
        if not forming.any():
            return None
        flags[lo:hi] &= ~FORMING
        return lo + int(np.argmax(forming > 0))

    @staticmethod
    def _refresh_quality(interval: BarIntervalData, base: BarIntervalData, clock: float, changed: bool) -> bool:
        grid = interval.grid
        elapsed = max(grid.elapsed(clock), interval.elapsed)  # the clock never runs backwards
        if elapsed == interval.elapsed and not changed and interval.quality is not None:
            return False
        interval.elapsed = elapsed
        if elapsed:
            until = int(grid.ends[elapsed - 1])
            expected = int(grid.cum_expected[elapsed])
            present = base.data.count_before(until)
            quality = 100.0 * present / expected if expected else None
        else:
            until, quality = grid.session.open, None
        gap_count, missing = interval.tracker.missing(elapsed)
        incomplete = 0
        if interval.derived and elapsed:
            held = interval.data.count_before(until)
            if held:
                incomplete = int(np.count_nonzero(interval.data.count[:held] < interval.data.expected[:held]))
        new = (quality, gap_count, missing, incomplete)
        if new == (interval.quality, interval.gap_count, interval.missing, interval.incomplete):
            return False
        interval.quality, interval.gap_count, interval.missing, interval.incomplete = new
        return True


def _mark_present(interval: BarIntervalData, ts: np.ndarray) -> None:
    tracker = interval.tracker
    if len(ts) == 1:
        tracker.mark_present(interval.grid.window_of_one(int(ts[0])))
    else:
        tracker.mark_present_many(interval.grid.window_of(ts))


class _Snapshot:
    __slots__ = ("bars", "count", "flags")

    def __init__(self, bars: BarArrays, count: np.ndarray, flags: np.ndarray) -> None:
        self.bars, self.count, self.flags = bars, count, flags


def _snapshot(derived: BarIntervalData, keep: int) -> _Snapshot | None:
    """Copy of the bars about to be rewritten, to tell real revisions from unchanged rewrites."""
    series = derived.data
    if keep >= len(series):
        return None
    bars = BarArrays(*(np.array(col) for col in series.arrays(keep)))
    return _Snapshot(bars, np.array(series.count[keep:]), np.array(series.flags[keep:]))


def _revised_flags(old: _Snapshot, agg, finalized_windows: int) -> np.ndarray:
    """REVISED for rewritten windows that were already final and whose bar really changed."""
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
    return np.where(was_revised | newly_revised, REVISED, 0).astype(np.uint8)
