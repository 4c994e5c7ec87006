"""SessionData: the single source of truth for loaded symbols and their bars.

No other object keeps a list of symbols, streamed intervals or derived intervals; the
coordinator, the DataProcessor and the GUI all ask this object. Mutations take one
re-entrant lock, and events are emitted in the mutating thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from core.bars import BarArrays, BarSeries, RowBlock
from core.calendar import Session, _iso
from core.causes import FeedNotes
from core.events import SessionEvents
from core.gaps import Gap, GapTracker
from core.intervals import Interval
from core.windows import WindowGrid, window_grid

__all__ = ["BarIntervalData", "FeedNotes", "SessionData", "SessionHistory", "SymbolGroup", "SymbolSessionData"]

log = logging.getLogger(__name__)

DEFAULT_HISTORY_SESSIONS = 5


@dataclass(eq=False)
class BarIntervalData:
    """Bars of one interval of one symbol in one session, and how complete they are."""

    interval: Interval
    derived: bool
    base: Interval | None
    data: BarSeries
    grid: WindowGrid
    quality: float | None = None  # None until the first window has elapsed
    incomplete: int = 0
    gap_count: int = 0
    missing: int = 0
    updated: bool = False
    #: lowest bar index changed since the last processor pass; ``len(data)`` when clean
    dirty_from: int = 0
    #: True while every change since the last pass was a plain append
    dirty_appended_only: bool = True
    #: windows elapsed at the last quality pass
    elapsed: int = 0
    #: windows that were final (end + grace passed) at the last pass
    finalized: int = 0
    notes: FeedNotes = field(default_factory=FeedNotes, repr=False)
    tracker: GapTracker = field(init=False, repr=False)
    #: canonical interval name, the key of this object in ``SymbolSessionData.bars``
    name: str = field(init=False)
    #: window index of the newest bar (-1 when empty): the live path's O(1) check
    last_window: int = field(init=False, default=-1)
    #: the newest bar's high, low, volume and count as Python numbers (live path), or None
    live: list | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.tracker = GapTracker(self.grid)
        self.dirty_from = len(self.data)
        self.name = self.interval.name

    @property
    def gaps(self) -> list[Gap]:
        """Missing runs among elapsed windows, oldest first, with their cause (built on demand)."""
        gaps = self.tracker.gaps(self.elapsed)
        notes = self.notes
        if not notes.needs_causes:
            return gaps
        return [replace(g, cause=notes.cause_of(g.start, g.end)) for g in gaps]

    def mark_changed(self, first_index: int, appended_only: bool) -> None:
        if not self.updated:
            self.dirty_from = first_index
            self.dirty_appended_only = appended_only
        else:
            self.dirty_from = min(self.dirty_from, first_index)
            self.dirty_appended_only = self.dirty_appended_only and appended_only
        self.updated = True

    def clear_updated(self) -> None:
        self.updated = False
        self.dirty_from = len(self.data)
        self.dirty_appended_only = True


@dataclass(eq=False)
class SessionHistory:
    """A finished session of one symbol, kept so charts can show context."""

    session: Session
    bars: dict[str, BarIntervalData]


@dataclass(eq=False)
class SymbolSessionData:
    """One watched symbol: its streamed base interval and every interval derived from it."""

    symbol: str
    base_interval: Interval
    bars: dict[str, BarIntervalData]
    session: Session
    #: what the user asked for (the streamed base may not be among them); exports write these
    requested: tuple[Interval, ...] = ()
    history: deque[SessionHistory] = field(default_factory=lambda: deque(maxlen=DEFAULT_HISTORY_SESSIONS))
    #: bars outside the regular session that were skipped (counted, never stored)
    outside_session: int = 0
    #: bars rejected (validation, unregistered, late beyond the session)
    rejected: int = 0
    #: the :class:`SymbolGroup` whose row blocks hold this symbol's current bars, or None
    group: SymbolGroup | None = field(default=None, repr=False)
    #: this symbol's row in ``group`` (-1 when not grouped)
    group_row: int = field(default=-1, repr=False)
    #: feed health (a ``core.health.SymbolHealth``), kept by the coordinator's HealthMonitor
    health: object | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        symbol: str,
        base_interval: Interval,
        derived_intervals: list[Interval] | tuple[Interval, ...],
        session: Session,
        history_sessions: int = DEFAULT_HISTORY_SESSIONS,
        requested: Iterable[Interval] | None = None,
    ) -> SymbolSessionData:
        """Build the full bar structure: the base plus each derived interval, empty."""
        ordered = sorted({base_interval, *derived_intervals}, key=Interval.sort_key)
        asked = ordered if requested is None else sorted(set(requested), key=Interval.sort_key)
        return cls(
            symbol=symbol.upper(),
            base_interval=base_interval,
            bars=_empty_bars(ordered, base_interval, session),
            session=session,
            requested=tuple(asked),
            history=deque(maxlen=history_sessions),
        )

    @property
    def base(self) -> BarIntervalData:
        return self.bars[self.base_interval.name]

    def derived_intervals(self) -> list[BarIntervalData]:
        return [b for b in self.bars.values() if b.derived]

    @property
    def notes(self) -> FeedNotes:
        return self.base.notes

    def start_session(self, session: Session) -> None:
        """Move the current session to history and start empty bars for ``session``."""
        if session == self.session:
            return
        if self.group is not None:
            self.group.remove(self)
        self.history.append(SessionHistory(self.session, self.bars))
        self.session = session
        held = sorted({self.base_interval, *(b.interval for b in self.bars.values())}, key=Interval.sort_key)
        self.bars = _empty_bars(held, self.base_interval, session)
        self.outside_session = 0


class SymbolGroup:
    """Symbols of one session streaming one base interval, stored row-wise in shared blocks.

    Each member gets one row; for each interval a :class:`RowBlock` holds every member's
    series of that interval in that row, so the processor's live pass can update all
    members with one numpy operation per field instead of one per symbol. Members keep
    their ``BarSeries`` objects (re-pointed to row views); leaving copies the bars out.
    """

    def __init__(self, session: Session, base: Interval) -> None:
        self.session = session
        self.base = base
        self.base_name = base.name
        #: replaced by a new object whenever membership changes (memos compare it by identity)
        self.group_key = object()
        self.blocks: dict[str, RowBlock] = {}
        self._order: dict[str, Interval] = {}
        self.members: dict[str, SymbolSessionData] = {}
        self._free: list[int] = []
        self._next = 0
        #: rows whose per-symbol state changed outside the vectorised pass (its cache re-reads them)
        self.stale: set[int] = set()
        #: the vectorised pass's per-row state cache (``core.live_pass``), built on first use
        self.cache: object | None = None
        self._member_memo: tuple[object, list[SymbolSessionData]] | None = None

    def add(self, data: SymbolSessionData) -> None:
        row = self._free.pop() if self._free else self._next
        if row == self._next:
            self._next += 1
        for name, interval in data.bars.items():
            block = self.blocks.get(name)
            if block is None:
                block = self.blocks[name] = RowBlock(interval.derived, row_cap=max(16, self._next))
                self._order[name] = interval.interval
                # blocks in interval order, as every symbol's ``bars`` (events follow this order)
                self.blocks = {n: self.blocks[n] for n in sorted(self.blocks, key=lambda n: self._order[n].sort_key())}
            block.adopt(interval.data, row)
        data.group, data.group_row = self, row
        self.members[data.symbol] = data
        self.stale.add(row)
        self.group_key = object()

    def member_list(self) -> list[SymbolSessionData]:
        """The members in joining order (the same list object while membership is unchanged)."""
        memo = self._member_memo
        if memo is None or memo[0] is not self.group_key:
            memo = self._member_memo = (self.group_key, list(self.members.values()))
        return memo[1]

    def remove(self, data: SymbolSessionData) -> None:
        row = data.group_row
        for name, interval in data.bars.items():
            block = self.blocks.get(name)
            if block is not None and interval.data._block is block:
                block.release(row)
        self.members.pop(data.symbol, None)
        self._free.append(row)
        self.group_key = object()
        data.group, data.group_row = None, -1


def _empty_bars(intervals: list[Interval], base: Interval, session: Session) -> dict[str, BarIntervalData]:
    out: dict[str, BarIntervalData] = {}
    notes = FeedNotes()
    for interval in intervals:
        derived = interval != base
        out[interval.name] = BarIntervalData(
            interval=interval,
            derived=derived,
            base=base if derived else None,
            data=BarSeries(with_counts=derived, capacity=64),
            grid=window_grid(session, interval, base),
            notes=notes,
        )
    return out


class SessionData:
    """All symbols of the running session, thread-safe, observable through ``events``."""

    def __init__(self, group_rows: bool = True) -> None:
        #: store symbols row-wise per (session, base) so the processor's live pass is vectorised
        self.group_rows = group_rows
        self.lock = threading.RLock()
        self.events = SessionEvents()
        self._symbols: dict[str, SymbolSessionData] = {}
        # row order, rebuilt only when symbols come and go: views ask "which row" per cell
        self._ordered: list[SymbolSessionData] = []
        self._rows: dict[str, int] = {}
        self.session: Session | None = None
        #: (session, base interval) -> the group of symbols stored row-wise (current session only)
        self.groups: dict[tuple[Session, Interval], SymbolGroup] = {}
        #: ``add_base_rows``' last symbol list resolved to rows (reused while the group is unchanged)
        self._rows_memo: tuple | None = None
        #: (group key, {symbol as given: (data, base interval, row)}) for ``add_base_rows``
        self._rows_lut: tuple[object, dict[str, tuple]] | None = None

    # -- queries --------------------------------------------------------------------
    def get_active_symbols(self) -> list[str]:
        """Symbols in the order they were added (that order is the GUI's row order)."""
        with self.lock:
            return list(self._symbols)

    def get_symbol_data(self, symbol: str) -> SymbolSessionData | None:
        with self.lock:
            return self._symbols.get(symbol.upper())

    def get_symbols_with_derived(self) -> list[SymbolSessionData]:
        with self.lock:
            return [s for s in self._symbols.values() if any(b.derived for b in s.bars.values())]

    def all_symbol_data(self) -> list[SymbolSessionData]:
        with self.lock:
            return list(self._symbols.values())

    def row_of(self, symbol: str) -> int:
        """The symbol's row in :meth:`get_active_symbols` order, or -1 (O(1))."""
        return self._rows.get(symbol.upper(), -1)

    def symbol_at(self, row: int) -> SymbolSessionData | None:
        """The symbol data at ``row`` (O(1)), or None."""
        ordered = self._ordered
        return ordered[row] if 0 <= row < len(ordered) else None

    def _reindex(self) -> None:
        self._ordered = list(self._symbols.values())
        self._rows = {name: row for row, name in enumerate(self._symbols)}

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and symbol.upper() in self._symbols

    def __len__(self) -> int:
        return len(self._symbols)

    # -- structure ------------------------------------------------------------------
    def register_symbol_data(self, data: SymbolSessionData, row: int | None = None) -> None:
        """Add a fully built symbol at ``row`` (default: last); a symbol already registered is an error.

        A replica fed by several engines places each symbol where the watchlist has it.
        """
        with self.lock:
            key = data.symbol.upper()
            if key in self._symbols:
                raise ValueError(f"symbol {key} is already being watched")
            if self.session is not None and data.session != self.session:
                data.start_session(self.session)
            end = len(self._symbols)
            row = end if row is None else max(0, min(row, end))
            self.events.symbol_adding.emit(key, row)
            if row == end:
                self._symbols[key] = data
            else:
                items = list(self._symbols.items())
                items.insert(row, (key, data))
                self._symbols = dict(items)
            self._reindex()
            self._join_group(data)
            self.events.symbol_added.emit(key, row)

    def remove_symbol(self, symbol: str) -> SymbolSessionData | None:
        """Remove a symbol; bars still in flight for it are dropped on arrival."""
        with self.lock:
            key = symbol.upper()
            if key not in self._symbols:
                return None
            row = list(self._symbols).index(key)
            self.events.symbol_removing.emit(key, row)
            data = self._symbols.pop(key)
            self._reindex()
            if data.group is not None:
                data.group.remove(data)
            self.events.symbol_removed.emit(key, row)
            return data

    def start_session(self, session: Session) -> None:
        """Roll every symbol over to ``session`` (previous bars move to history)."""
        with self.lock:
            if session == self.session:
                return
            self.session = session
            self.groups = {}
            for data in self._symbols.values():
                data.start_session(session)
                self._join_group(data)
            self.events.session_started.emit(session)

    def _join_group(self, data: SymbolSessionData) -> None:
        """Store ``data``'s current bars row-wise with the other symbols of its session and base."""
        if not self.group_rows or data.group is not None or self.session is None or data.session != self.session:
            return
        key = (data.session, data.base_interval)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = SymbolGroup(data.session, data.base_interval)
        group.add(data)

    # -- bars -----------------------------------------------------------------------
    def add_base_bars(self, symbol: str, bars: BarArrays) -> int:
        """Merge streamed base bars (in order, late, or corrections) into ``symbol``'s base.

        Bars outside the current regular session are counted and skipped. Returns the
        number of bars stored; bars for an unknown symbol are dropped with a warning.
        """
        if not len(bars.ts):
            return 0
        with self.lock:
            data = self._symbols.get(symbol.upper())
            if data is None:
                self.warn(f"{symbol}: dropped {len(bars.ts)} bar(s) for a symbol that is not watched")
                return 0
            session = data.session
            if len(bars.ts) == 1 and self._add_one(data, bars):
                return 1
            if data.group is not None:
                data.group.stale.add(data.group_row)  # the processor re-reads this row
            mask = session.in_session_mask(bars.ts)
            if not mask.all():
                data.outside_session += int(len(mask) - np.count_nonzero(mask))
                bars = bars.take(mask)
                if not len(bars.ts):
                    return 0
            step = data.base_interval.seconds
            aligned = (bars.ts - session.open) % step == 0
            if not aligned.all():
                bad = bars.ts[~aligned]
                data.rejected += len(bad)
                self.warn(
                    f"{data.symbol}: rejected {len(bad)} bar(s) not on the {data.base_interval} grid "
                    f"of the session (first at {_iso(int(bad[0]))})"
                )
                bars = bars.take(aligned)
                if not len(bars.ts):
                    return 0
            base = data.base
            first, appended_only = base.data.merge(bars)
            base.mark_changed(first, appended_only)
            self.events.bars_changed.emit(data.symbol, base.name, first)
            return len(bars.ts)

    def add_base_rows(self, symbols: list[str], bars: BarArrays) -> int:
        """One base bar per symbol (``bars`` row ``k`` belongs to ``symbols[k]``), as a live feed
        hands over the bars landing in one event-loop iteration.

        Same rules and result as calling :meth:`add_base_bars` per symbol: an unknown
        symbol's bar is dropped with a warning, out-of-session bars are counted, off-grid
        bars rejected, late bars and corrections merged. Grouped symbols whose bar simply
        follows their newest are stored with one numpy write per column for all of them.
        """
        count = len(symbols)
        if count != len(bars.ts):
            raise ValueError(f"{count} symbols for {len(bars.ts)} bars")
        if not count:
            return 0
        with self.lock:
            key = tuple(symbols)
            memo = self._rows_memo
            if memo is not None and memo[0] is memo[1].group_key and memo[2] == key:
                _, group, _, datas, ivs, rows, index = memo
            else:
                resolved = self._resolve_rows(symbols) if count >= 4 else None
                if resolved is None:
                    return sum(self.add_base_bars(s, bars.take(slice(k, k + 1))) for k, s in enumerate(symbols))
                group, datas, ivs, rows = resolved
                r0 = int(rows[0])
                index = slice(r0, r0 + count) if np.array_equal(rows, np.arange(r0, r0 + count)) else rows
                # valid while the group's membership is unchanged (``group_key`` is renewed on any change)
                self._rows_memo = (group.group_key, group, key, datas, ivs, rows, index)
            cache = group.cache
            if (
                cache is not None
                and cache.uniform is not None  # type: ignore[attr-defined]
                and cache.append_uniform(group, rows, index, ivs, bars)  # type: ignore[attr-defined]
            ):
                # every member's bar followed its newest (the group's uniform steady state)
                emit = self.events.bars_changed
                if emit:
                    first = ivs[0].data._n - 1
                    emit.emit_many([(d.symbol, group.base_name, first) for d in datas])  # type: ignore[union-attr]
                return count
            session = group.session
            base_name = group.base_name
            block = group.blocks[base_name]
            n = np.fromiter((iv.data._n for iv in ivs), np.int64, count)
            ts = bars.ts
            cols = block.cols
            last = cols["ts"][rows, np.maximum(n - 1, 0)]
            ok = (
                (ts >= session.open) & (ts < session.close) & ((ts - session.open) % group.base.seconds == 0)
                & ((n == 0) | (ts > last))
            )
            if session.break_start is not None:
                ok &= (ts < session.break_start) | (ts >= session.break_end)
            fast = np.flatnonzero(ok)
            stored = 0
            if len(fast):
                rf, nf = rows[fast], n[fast]
                top = int(nf.max())
                if top >= block.cap:
                    block.grow_cols(top + 1)
                    cols = block.cols
                for name, values in zip(BarArrays._fields, bars, strict=True):
                    cols[name][rf, nf] = values[fast]
                if group.cache is not None:
                    group.cache.appended(base_name, rf, nf + 1)  # type: ignore[attr-defined]
                for k, first in zip(fast.tolist(), nf.tolist(), strict=True):
                    iv = ivs[k]
                    iv.data._n = first + 1
                    if iv.updated:  # a second bar before the pass: the processor checks this row
                        iv.mark_changed(first, True)
                        group.stale.add(int(rows[k]))
                    else:
                        iv.updated = True
                        iv.dirty_from = first
                        iv.dirty_appended_only = True
                emit = self.events.bars_changed
                if emit:
                    pairs = zip(fast.tolist(), nf.tolist(), strict=True)
                    emit.emit_many([(datas[k].symbol, base_name, first) for k, first in pairs])
                stored = len(fast)
            if len(fast) < count:
                for k in np.flatnonzero(~ok).tolist():
                    stored += self.add_base_bars(symbols[k], bars.take(slice(k, k + 1)))
            return stored

    def _resolve_rows(self, symbols: list[str]) -> tuple | None:
        """``(group, datas, base intervals, rows)`` of ``symbols`` when all are distinct members of
        one group, else None. Symbols resolve through a per-group table (renewed with membership)."""
        first = self._symbols.get(symbols[0].upper())
        group = first.group if first is not None else None
        if group is None:
            return None
        found = self._rows_lut
        if found is None or found[0] is not group.group_key:
            found = self._rows_lut = (group.group_key, {})
        lut = found[1]
        entries = []
        for s in symbols:
            entry = lut.get(s)
            if entry is None:
                data = self._symbols.get(s.upper())
                if data is None or data.group is not group:
                    return None
                entry = lut[s] = (data, data.bars[group.base_name], data.group_row)
            entries.append(entry)
        datas, ivs, row_list = zip(*entries, strict=True)
        if len(set(row_list)) != len(row_list):
            return None  # a symbol twice
        return group, list(datas), list(ivs), np.array(row_list, np.intp)

    def _add_one(self, data: SymbolSessionData, bars: BarArrays) -> bool:
        """The live path: one in-session, on-grid bar after the newest one, without numpy masks."""
        ts = int(bars.ts[0])
        session = data.session
        if not session.contains(ts) or (ts - session.open) % data.base_interval.seconds:
            return False
        base = data.base
        series = base.data
        last = series.last_ts
        if last is not None and ts <= last:
            return False
        first = len(series)
        series.extend(bars)
        group = data.group
        if group is not None:
            if base.updated:  # a second bar before the pass: the processor checks this row
                group.stale.add(data.group_row)
            elif group.cache is not None:
                group.cache.appended_one(base.name, data.group_row, first + 1, ts)  # type: ignore[attr-defined]
        base.mark_changed(first, True)
        if self.events.bars_changed:
            self.events.bars_changed.emit(data.symbol, base.name, first)
        return True

    def warn(self, message: str) -> None:
        log.warning(message)
        self.events.message.emit(logging.WARNING, message)
