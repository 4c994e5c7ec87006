"""DataProcessor: derives every derived interval and keeps quality and gaps current.

It finds its work only by walking ``SessionData``: a symbol whose base interval is
``updated`` gets its derived intervals re-derived from the first changed base bar, and
every interval's quality, gaps and forming/final state follow the session clock.
Nobody tells it which intervals exist.

It only chooses rows and emits events: a group's rows go to the vectorised pass
(``core.live_pass``), a symbol that does not fit it (or is not grouped) goes through the same
engine (``core.derive``: ``advance``, ``finalize``, ``refresh``) on its own row. Bars
appended after the newest advance the newest window; a late bar or a correction
re-aggregates only the touched windows (``_reaggregate``, the one OHLCV reduction).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from session_monitor.core.aggregate import Aggregated, aggregate
from session_monitor.core.bars import FORMING, REVISED, BarArrays
from session_monitor.core.derive.advance import UNTOUCHED, advance_one, target_of
from session_monitor.core.derive.finalize import finalize
from session_monitor.core.derive.refresh import BaseRows, InStep, needs_refresh, refresh, refresh_in_step
from session_monitor.core.derive.timing import PassTiming
from session_monitor.core.live_pass import process_group
from session_monitor.core.session_data import BarIntervalData, SessionData, SymbolGroup, SymbolSessionData

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
        """One symbol's row through the engine: derive what its base changed, finalize, refresh."""
        events = self.session_data.events
        base = data.base
        derived_list = data.derived_intervals()
        changed: dict[str, int] = {}
        since = _derive_changes(base, derived_list, timing, changed)
        for derived in derived_list:  # the one finalize, on this symbol's row, when a window became final
            finalized = timing.of(derived.grid).finalized
            if finalized <= derived.finalized:
                continue
            row = derived.row
            derived.table.n[row] = len(derived.data)
            found = finalize(target_of(derived, 0), slice(row, row + 1), finalized)
            if found is not None:
                first = found.first[0]
                changed[derived.name] = min(changed.get(derived.name, first), first)
        if events.bars_changed and changed:
            events.bars_changed.emit_many([(data.symbol, name, first) for name, first in changed.items()])
        refreshed = _refresh_symbol(base, derived_list, timing, since)
        if refreshed and events.quality_changed:
            events.quality_changed.emit_many([(data.symbol, name) for name in refreshed])


def _derive_changes(
    base: BarIntervalData, derived_list: list[BarIntervalData], timing: PassTiming, changed: dict[str, int]
) -> int | None:
    """Mark the changed base bars present and derive what they touch (the kernel for appended bars,
    re-aggregation of the touched windows otherwise); fills ``changed`` (first changed bar per
    interval) and returns the start of the first changed base bar (None: the base is unchanged)."""
    if not base.updated:
        return None
    start = base.dirty_from
    n = len(base.data)
    since = int(base.data.buffer("ts")[start]) if start < n else None
    if since is not None:
        _mark_base_present(base, start, n)
        appended = base.data.arrays(start, n) if base.dirty_appended_only else None
        for derived in derived_list:
            finalized = max(timing.of(derived.grid).finalized, derived.finalized)
            first = None if appended is None else advance_one(derived, appended, finalized, timing.clock)
            if first is None:
                first = _reaggregate(derived, base, start, finalized, timing.clock)
            if first != UNTOUCHED:
                changed[derived.name] = first
    base.clear_updated()
    return since


def _refresh_symbol(
    base: BarIntervalData, derived_list: list[BarIntervalData], timing: PassTiming, since: int | None
) -> list[str]:
    """The one quality refresh on this symbol's row, for the intervals whose inputs moved (the base
    changed from ``since`` on, None: unchanged); returns the intervals whose outcome changed."""
    row = base.row
    nb = len(base.data)
    step = InStep(base.data.last_ts or 0, nb, since)  # one row is in step with itself
    out: list[str] = []
    for interval in [base, *derived_list]:
        is_base = interval is base
        elapsed = timing.of(interval.grid).elapsed
        old_el = interval.elapsed
        if since is None and old_el == elapsed and not is_base:
            continue  # (the common idle case, without the call below)
        if not needs_refresh(interval.grid, old_el, elapsed, since is not None, since or 0, is_base) and not (
            is_base and interval.quality is None
        ):
            continue
        r = interval.row
        interval.table.n[r] = len(interval.data)
        target = target_of(interval, 0)
        found = refresh_in_step(target, slice(r, r + 1), r, step, elapsed, is_base) if nb else None
        if found is None:
            base.table.n[row] = nb
            base_rows = BaseRows(target_of(base, 0).cols["ts"], np.array([nb]), np.array([since is not None]),
                                 np.array([since or 0]))
            found = refresh(target, np.array([r]), base_rows, elapsed, is_base, _itself(interval))
        if len(found):
            out.append(interval.name)
    return out


def _reaggregate(derived: BarIntervalData, base: BarIntervalData, start: int, finalized: int, clock: float) -> int:
    """Re-aggregate the windows touched by base bars ``[start:]`` (late bars, corrections): every
    bar from the first touched window on is rebuilt from the base. Returns the first changed bar index
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
    _mark_present(derived, agg.bars.ts)
    if len(agg.window):
        derived.last_window = int(agg.window[-1])
    return keep


def _mark_base_present(base: BarIntervalData, start: int, n: int) -> None:
    """Mark the windows of base bars ``[start, n)`` present and remember the newest."""
    base_ts = base.data.buffer("ts")
    if n - start == 1:
        base.tracker.mark_present(base.grid.window_of_one(int(base_ts[start])))
    else:
        _mark_present(base, base_ts[start:n])
    base.last_window = base.grid.window_of_one(int(base_ts[n - 1]))


def _itself(interval: BarIntervalData) -> Callable[[np.ndarray], list[BarIntervalData]]:
    """The kernel's view of a one-row target's owner."""
    return lambda _: [interval]


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
