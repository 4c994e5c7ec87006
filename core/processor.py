"""DataProcessor: derives every derived interval and keeps quality and gaps current.

It finds its work only by walking ``SessionData``: a symbol whose base interval is
``updated`` gets its derived intervals re-derived from the first changed base bar, and
every interval's quality, gaps and forming/final state follow the session clock.
Nobody tells it which intervals exist.

It only chooses rows and emits events: a group's rows go to the vectorised pass
(``core.live_pass``), a symbol that does not fit it (or is not grouped) goes through the same
engine (``core.derive``: ``advance``, ``finalize``, ``refresh``) on its own row. Bars
appended after the newest advance the newest window; a late bar or a correction
re-aggregates only the touched windows (``core.derive.reaggregate``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from session_monitor.core.derive.advance import UNTOUCHED, advance_one, base_present, target_of
from session_monitor.core.derive.finalize import finalize
from session_monitor.core.derive.reaggregate import reaggregate
from session_monitor.core.derive.refresh import BaseRows, InStep, needs_refresh, refresh, refresh_in_step
from session_monitor.core.derive.table import EL, FIN
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
        base = data.base
        if not base.updated and _idle(data, timing):
            return
        events = self.session_data.events
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


def _idle(data: SymbolSessionData, timing: PassTiming) -> bool:
    """True when a pass has nothing to do on an unchanged symbol's row (the common case of a symbol
    that got no bar): no window of its intervals became elapsed or final since its last pass, and its
    base has a quality (the conditions under which finalize and refresh would skip every interval)."""
    for interval in data.bars.values():
        at = timing.of(interval.grid)
        fin, el = interval.table.ints[FIN : EL + 1, interval.row].tolist()
        if el != at.elapsed or (interval.derived and fin < at.finalized):
            return False
    return data.base.quality is not None


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
    base_ts = base.data.buffer("ts")
    since = int(base_ts[start]) if start < n else None
    if since is not None:
        one = n - start == 1  # (the live case: scalars, no arrays)
        windows = base.grid.window_of_one(since) if one else base.grid.window_of(base_ts[start:n])
        base_present(base.table, base.row if one else np.array([base.row]), windows, _itself(base))
        appended = base.data.arrays(start, n) if base.dirty_appended_only else None
        for derived in derived_list:
            finalized = max(timing.of(derived.grid).finalized, derived.finalized)
            first = None if appended is None else advance_one(derived, appended, finalized, timing.clock)
            if first is None:
                first = reaggregate(derived, base, start, finalized, timing.clock)
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


def _itself(interval: BarIntervalData) -> Callable[[np.ndarray], list[BarIntervalData]]:
    """The kernel's view of a one-row target's owner."""
    return lambda _: [interval]
