"""DataProcessor: derives every derived interval and keeps quality and gaps current.

It finds its work only by walking ``SessionData``: a symbol whose base interval is
``updated`` gets its derived intervals re-derived from the first changed base bar, and
every interval's quality, gaps and forming/final state follow the session clock.
Nobody tells it which intervals exist.

The live path (one new base bar, after the newest) is O(1) per derived interval with
plain Python scalars; anything else (a batch in fast replay, a late bar, a correction)
re-aggregates only the touched windows with numpy ``reduceat``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from session_monitor.core.aggregate import Aggregated, aggregate
from session_monitor.core.bars import BAR_FIELDS, FORMING, REVISED, BarArrays
from session_monitor.core.derive.finalize import finalize_bars
from session_monitor.core.derive.timing import PassTiming
from session_monitor.core.live_pass import process_group
from session_monitor.core.session_data import BarIntervalData, LiveBar, SessionData, SymbolGroup, SymbolSessionData

__all__ = ["DataProcessor"]

_FORMING = int(FORMING)
#: appended base bars per pass up to which the scalar live path beats numpy re-aggregation
SMALL_BATCH = 8
_REVISED = int(REVISED)


class BaseBar(NamedTuple):
    """One base bar as Python numbers, for the scalar live path."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


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
        timing = PassTiming(clock, self.grace)
        with sd.lock:
            symbols = sd.all_symbol_data()
            groups = list(sd.groups.values())
            if sum(len(g.members) for g in groups) != len(symbols):
                for data in symbols:
                    if data.group is None:
                        self._process_symbol(data, timing)
            for group in groups:
                if group.members:
                    self._process_group(group, timing)

    def _process_group(self, group: SymbolGroup, timing: PassTiming) -> None:
        """Grouped symbols whose base is untouched or got exactly one appended bar take the
        vectorised pass (all of a group's rows at once); the rest go one by one."""
        members = self._vectorisable(group, timing)
        if not members:
            return
        for data in process_group(self.session_data.events, group, members, timing):
            group.stale.add(data.group_row)  # the per-symbol path changes what the group caches
            self._process_symbol(data, timing)

    def _vectorisable(self, group: SymbolGroup, timing: PassTiming) -> list[SymbolSessionData]:
        """The members the vectorised pass can take; the others are processed one by one here.

        A row outside ``group.stale`` was at most appended to once by ``add_base_rows``.
        """
        stale = group.stale
        if not stale:
            return group.member_list()
        members = []
        name = group.base_name
        for data in group.members.values():
            if data.group_row in stale:
                base = data.bars[name]
                if base.updated and not (base.dirty_appended_only and base.dirty_from == len(base.data) - 1):
                    self._process_symbol(data, timing)
                    continue
            members.append(data)
        return members

    # -- one symbol --------------------------------------------------------------------
    def _process_symbol(self, data: SymbolSessionData, timing: PassTiming) -> None:
        events = self.session_data.events
        base = data.base
        derived_list = data.derived_intervals()
        changed: dict[str, int] = {}
        structural: set[str] = set()  # intervals changed by more than an append to the newest bar
        base_changed = self._derive_changes(base, derived_list, timing, changed, structural)
        for derived in derived_list:
            finalized = timing.of(derived.grid).finalized
            if finalized > derived.finalized:
                first = finalize_bars(derived, finalized)
                if first is not None:
                    changed[derived.name] = min(changed.get(derived.name, first), first)
        if events.bars_changed and changed:
            events.bars_changed.emit_many([(data.symbol, name, first) for name, first in changed.items()])
        self._refresh_symbol(data, derived_list, timing, base_changed, structural)

    def _refresh_symbol(
        self,
        data: SymbolSessionData,
        derived_list: list[BarIntervalData],
        timing: PassTiming,
        base_changed: bool,
        structural: set[str],
    ) -> None:
        """Refresh the quality of the intervals whose inputs moved, and say which changed."""
        events = self.session_data.events
        base = data.base
        base_elapsed = timing.of(base.grid).elapsed
        if (base_changed or base_elapsed != base.elapsed or base.quality is None) and _refresh_quality(
            base, base, base_elapsed
        ):
            events.quality_changed.emit(data.symbol, base.name)
        for derived in derived_list:
            elapsed = timing.of(derived.grid).elapsed
            if (
                elapsed != derived.elapsed or derived.name in structural or (base_changed and derived.elapsed == 0)
            ) and _refresh_quality(derived, base, elapsed):
                events.quality_changed.emit(data.symbol, derived.name)

    def _derive_changes(
        self,
        base: BarIntervalData,
        derived_list: list[BarIntervalData],
        timing: PassTiming,
        changed: dict[str, int],
        structural: set[str],
    ) -> bool:
        """Mark the changed base bars present and re-derive what they touch; True when the base changed.

        Fills ``changed`` (first changed bar per interval) and ``structural`` (intervals changed
        by more than an append to, or an update of, the newest bar).
        """
        if not base.updated:
            return False
        start = base.dirty_from
        appended_only = base.dirty_appended_only
        n = len(base.data)
        base_changed = start < n
        if base_changed:
            _mark_base_present(base, start, n)
            # A few appended bars (a fast replay tick) take the O(1) path bar by bar:
            # cheaper than re-aggregating with numpy below ~8 bars.
            live_rows = _base_rows(base, start, n) if appended_only and n - start <= SMALL_BATCH else None
            for derived in derived_list:
                finalized = timing.of(derived.grid).finalized
                if live_rows is not None:
                    first = _live_rows(derived, live_rows, max(finalized, derived.finalized), timing.clock)
                    if first is not None:
                        if first != _UNTOUCHED:
                            changed[derived.name] = first
                        continue
                first, simple = self._derive(derived, base, start, appended_only, finalized, timing.clock)
                if first == _UNTOUCHED:
                    continue
                changed[derived.name] = first
                if not simple:
                    structural.add(derived.name)
        base.clear_updated()
        return base_changed

    def _derive(
        self,
        derived: BarIntervalData,
        base: BarIntervalData,
        start: int,
        appended_only: bool,
        finalized: int,
        clock: float,
    ) -> tuple[int, bool]:
        """Re-derive windows touched by base bars ``[start:]``.

        Returns the first changed bar index and whether the change was a plain append to,
        or an update of, the newest bar (quality needs no refresh for those).
        """
        grid = derived.grid
        base_ts = base.data.buffer("ts")
        n = len(base.data)
        series = derived.data
        first_window = grid.window_of_one(int(base_ts[start]))
        if first_window < 0:  # a bar in no window of this interval (1d with extended hours): skip to the next
            first_window = grid.windows_from(int(base_ts[start]))
            if first_window >= grid.size or int(base_ts[n - 1]) < int(grid.starts[first_window]):
                return _UNTOUCHED, True
        last_window = derived.last_window
        finalized = max(finalized, derived.finalized)
        if appended_only and first_window >= last_window:
            if first_window == last_window:
                begin = int(base_ts[:n].searchsorted(grid.starts[first_window]))
                keep = len(series) - 1
            else:
                begin, keep = start, len(series)
        else:
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
        derived.live = None
        _mark_present(derived, agg.bars.ts)
        if len(agg.window):
            derived.last_window = int(agg.window[-1])
        return keep, False


def _mark_base_present(base: BarIntervalData, start: int, n: int) -> None:
    """Mark the windows of base bars ``[start, n)`` present and remember the newest."""
    base_ts = base.data.buffer("ts")
    if n - start == 1:
        base.tracker.mark_present(base.grid.window_of_one(int(base_ts[start])))
    else:
        _mark_present(base, base_ts[start:n])
    base.last_window = base.grid.window_of_one(int(base_ts[n - 1]))


def _base_rows(base: BarIntervalData, start: int, n: int) -> list[BaseBar]:
    cols = [base.data.buffer(name) for name in BAR_FIELDS]
    ts, o, h, lo, c, v = (col[start:n].tolist() for col in cols)
    return [BaseBar(*row) for row in zip(ts, o, h, lo, c, v, strict=True)]


#: a pass left an interval's bars as they were (every new base bar lies in none of its windows)
_UNTOUCHED = -1


def _live_rows(derived: BarIntervalData, rows: list[BaseBar], finalized: int, clock: float) -> int | None:
    """:func:`_live_update` for each row in order; None (nothing changed yet) if the first does not fit,
    ``_UNTOUCHED`` when no row lies in a window of ``derived``."""
    first: int | None = None
    grid = derived.grid
    for row in rows:
        if grid.partial and grid.window_of_one(row.ts) < 0:
            continue  # in no window of this interval (1d with extended hours): not part of it
        changed = _live_update(derived, row, finalized, clock)
        if changed is None:
            if first is None:
                return None
            raise AssertionError("an appended base bar went behind the newest derived window")
        first = changed if first is None else min(first, changed)
    return _UNTOUCHED if first is None and grid.partial else first


def _live_update(derived: BarIntervalData, row: BaseBar, finalized: int, clock: float) -> int | None:
    """The live path, O(1): one new base bar after the newest updates or opens the newest window.

    Returns the changed bar index, or None when the bar does not fit this path (the caller
    then re-aggregates). ``derived.live`` mirrors the newest bar as Python numbers, so an
    update costs a few scalar writes and no numpy reads.
    """
    grid = derived.grid
    window = grid.window_of_one(row.ts)
    last_window = derived.last_window
    if window == last_window:
        return _update_newest(derived, row, window, clock)
    if window < last_window:
        return None
    series = derived.data
    i = len(series)
    series.reserve(1)
    write = series.buffer
    write("ts")[i] = grid.starts[window]
    write("open")[i] = row.open
    write("high")[i] = row.high
    write("low")[i] = row.low
    write("close")[i] = row.close
    write("volume")[i] = row.volume
    write("count")[i] = 1
    write("expected")[i] = grid.expected[window]
    write("flags")[i] = _FORMING if window >= finalized else 0
    series.set_length(i + 1)
    derived.tracker.mark_present(window)
    derived.last_window = window
    derived.live = LiveBar(row.high, row.low, row.volume, 1)
    return i


def _update_newest(derived: BarIntervalData, row: BaseBar, window: int, clock: float) -> int:
    """Fold ``row`` into the newest bar (whose window is ``window``); returns its index."""
    series = derived.data
    write = series.buffer
    i = len(series) - 1
    live = derived.live
    if live is None:
        live = LiveBar(
            float(write("high")[i]), float(write("low")[i]), float(write("volume")[i]), int(write("count")[i])
        )
    if row.high > live.high:
        live.high = row.high
        write("high")[i] = row.high
    if row.low < live.low:
        live.low = row.low
        write("low")[i] = row.low
    live.volume += row.volume
    live.count += 1
    write("close")[i] = row.close
    write("volume")[i] = live.volume
    write("count")[i] = live.count
    if window < derived.finalized:
        write("flags")[i] |= _REVISED
        derived.note_revised(int(write("ts")[i]), clock)
    derived.live = live
    return i


def _refresh_quality(interval: BarIntervalData, base: BarIntervalData, elapsed: int) -> bool:
    """Recompute quality, gaps and incomplete count; True when any of them changed."""
    grid = interval.grid
    elapsed = max(elapsed, interval.elapsed)  # the clock never runs backwards
    interval.elapsed = elapsed
    if elapsed:
        until = int(grid.ends[elapsed - 1])
        expected = int(grid.cum_expected[elapsed])
        last = base.data.last_ts
        present = len(base.data) if last is not None and last < until else base.data.count_before(until)
        if grid.partial:  # base bars before the first window are not part of this interval
            present -= base.data.count_before(int(grid.starts[0]))
        quality = 100.0 * present / expected if expected else None
    else:
        until, quality = grid.session.open, None
    gap_count, missing = interval.tracker.missing(elapsed)
    incomplete = 0
    if interval.derived and elapsed:
        series = interval.data
        held = series.count_before(until)
        if held:
            incomplete = int(np.count_nonzero(series.count[:held] < series.expected[:held]))
    new = (quality, gap_count, missing, incomplete)
    if new == (interval.quality, interval.gap_count, interval.missing, interval.incomplete):
        return False
    interval.quality, interval.gap_count, interval.missing, interval.incomplete = new
    return True


def _mark_present(interval: BarIntervalData, ts: np.ndarray) -> None:
    tracker = interval.tracker
    if len(ts) == 1:
        window = interval.grid.window_of_one(int(ts[0]))
        if window >= 0:
            tracker.mark_present(window)
    else:
        windows = interval.grid.window_of(ts)
        tracker.mark_present_many(windows[windows >= 0] if interval.grid.partial else windows)


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
