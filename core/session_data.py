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
from typing import NamedTuple, Protocol

import numpy as np

from session_monitor.core.bars import BAR_FIELDS, BarArrays, BarSeries, RowBlock
from session_monitor.core.calendar import Session, _iso
from session_monitor.core.causes import FeedNotes
from session_monitor.core.derive.acceptance import appends, appends_one, on_grid
from session_monitor.core.derive.table import EL, FIN, GAPS, INCOMPLETE, LAST, MISSING, StateTable, Target
from session_monitor.core.events import SessionEvents
from session_monitor.core.gaps import Gap, GapTracker
from session_monitor.core.intervals import Interval
from session_monitor.core.windows import WindowGrid, window_grid

__all__ = [
    "BarIntervalData", "FeedNotes", "GroupPassCache", "Revision", "SessionData", "SessionHistory",
    "SymbolGroup", "SymbolSessionData",
]

log = logging.getLogger(__name__)

DEFAULT_HISTORY_SESSIONS = 5


@dataclass(frozen=True, slots=True)
class Revision:
    """How often a derived bar changed after it was final, and the pass clock of the last change."""

    count: int
    last: float


@dataclass(eq=False)
class BarIntervalData:
    """Bars of one interval of one symbol in one session, and how complete they are.

    The derivation state (newest window, final and elapsed windows, quality, gaps,
    incomplete bars, the gap frontier) is a row of a :class:`StateTable`: the group's table
    while the symbol is grouped, a one-row table of its own otherwise. The properties below
    read and write that row; nothing else keeps a copy.
    """

    interval: Interval
    derived: bool
    base: Interval | None
    data: BarSeries
    grid: WindowGrid
    updated: bool = False
    #: lowest bar index changed since the last processor pass; ``len(data)`` when clean
    dirty_from: int = 0
    #: True while every change since the last pass was a plain append
    dirty_appended_only: bool = True
    notes: FeedNotes = field(default_factory=FeedNotes, repr=False)
    tracker: GapTracker = field(init=False, repr=False)
    #: canonical interval name, the key of this object in ``SymbolSessionData.bars``
    name: str = field(init=False)
    #: derived bars changed after they were final, by bar start (at most one revision per pass);
    #: sparse, as revisions are rare (late bars, corrections)
    revisions: dict[int, Revision] = field(init=False, default_factory=dict, repr=False)
    #: the table and row holding this interval's state
    table: StateTable = field(init=False, repr=False)
    #: this interval's own series as a one-row block for the derivation kernel (``derive.advance``),
    #: kept while the series keeps its storage
    own_target: Target | None = field(init=False, default=None, repr=False)
    row: int = field(init=False, default=0, repr=False)

    def __post_init__(self) -> None:
        self.table = StateTable(1)
        self.table.has[0] = True
        self.tracker = GapTracker(self.grid, self.table, 0)
        self.dirty_from = len(self.data)
        self.name = self.interval.name

    def move_state(self, table: StateTable, row: int) -> None:
        """Move this interval's state into ``row`` of ``table`` (a group adopting or releasing it)."""
        table.copy_row(row, self.table, self.row)
        table.n[row] = len(self.data)
        self.table, self.row = table, row
        self.tracker.table, self.tracker.row = table, row

    def note_revised(self, ts: int, clock: float) -> None:
        """The bar starting at ``ts`` changed after it was final, in the pass at ``clock``."""
        found = self.revisions.get(ts)
        if found is None:
            self.revisions[ts] = Revision(1, clock)
        elif found.last != clock:
            self.revisions[ts] = Revision(found.count + 1, clock)

    def _int(self, field_index: int) -> int:
        return int(self.table.ints[field_index, self.row])

    @property
    def quality(self) -> float | None:
        """Percent of the expected base bars present; None until the first window has elapsed."""
        value = float(self.table.quality[self.row])
        return None if value != value else value

    @quality.setter
    def quality(self, value: float | None) -> None:
        self.table.quality[self.row] = np.nan if value is None else value

    @property
    def incomplete(self) -> int:
        """Derived bars among the elapsed windows holding fewer base bars than expected."""
        return self._int(INCOMPLETE)

    @incomplete.setter
    def incomplete(self, value: int) -> None:
        self.table.ints[INCOMPLETE, self.row] = value

    @property
    def gap_count(self) -> int:
        return self._int(GAPS)

    @gap_count.setter
    def gap_count(self, value: int) -> None:
        self.table.ints[GAPS, self.row] = value

    @property
    def missing(self) -> int:
        """Expected windows without a bar among the elapsed ones."""
        return self._int(MISSING)

    @missing.setter
    def missing(self, value: int) -> None:
        self.table.ints[MISSING, self.row] = value

    @property
    def elapsed(self) -> int:
        """Windows elapsed at the last quality pass."""
        return self._int(EL)

    @elapsed.setter
    def elapsed(self, value: int) -> None:
        self.table.ints[EL, self.row] = value

    @property
    def finalized(self) -> int:
        """Windows that were final (end + grace passed) at the last pass."""
        return self._int(FIN)

    @finalized.setter
    def finalized(self, value: int) -> None:
        self.table.ints[FIN, self.row] = value

    @property
    def last_window(self) -> int:
        """Window index of the newest bar (-1 when empty): the live path's O(1) check."""
        return self._int(LAST)

    @last_window.setter
    def last_window(self, value: int) -> None:
        self.table.ints[LAST, self.row] = value

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
    #: this symbol's own session hours (a watchlist entry's ``hours``); None: the run's session as it is
    hours: str | None = None

    @classmethod
    def create(
        cls,
        symbol: str,
        base_interval: Interval,
        derived_intervals: list[Interval] | tuple[Interval, ...],
        session: Session,
        history_sessions: int = DEFAULT_HISTORY_SESSIONS,
        requested: Iterable[Interval] | None = None,
        hours: str | None = None,
    ) -> SymbolSessionData:
        """Build the full bar structure: the base plus each derived interval, empty.

        ``hours``: the symbol's own session hours; ``session`` (the run's) is narrowed to them.
        """
        session = session.in_hours(hours) if hours else session
        ordered = sorted({base_interval, *derived_intervals}, key=Interval.sort_key)
        asked = ordered if requested is None else sorted(set(requested), key=Interval.sort_key)
        return cls(
            symbol=symbol.upper(),
            base_interval=base_interval,
            bars=_empty_bars(ordered, base_interval, session),
            session=session,
            requested=tuple(asked),
            history=deque(maxlen=history_sessions),
            hours=hours,
        )

    def session_of(self, run_session: Session) -> Session:
        """This symbol's session on the day of the run's ``run_session`` (in its own hours)."""
        return run_session.in_hours(self.hours) if self.hours else run_session

    @property
    def base(self) -> BarIntervalData:
        return self.bars[self.base_interval.name]

    def derived_intervals(self) -> list[BarIntervalData]:
        return [b for b in self.bars.values() if b.derived]

    @property
    def notes(self) -> FeedNotes:
        return self.base.notes

    def start_session(self, session: Session, keep_history: bool = True) -> None:
        """Move the current session to history and start empty bars for ``session``.

        ``keep_history=False`` forgets every bar instead (a replay restarted or rewound),
        even when ``session`` is the current one. ``session`` is the run's; the symbol keeps
        its own hours of it (:meth:`session_of`).
        """
        session = self.session_of(session)
        if session == self.session and keep_history:
            return
        if self.group is not None:
            self.group.remove(self)
        if keep_history:
            self.history.append(SessionHistory(self.session, self.bars))
        else:
            self.history.clear()
        self.session = session
        held = sorted({self.base_interval, *(b.interval for b in self.bars.values())}, key=Interval.sort_key)
        self.bars = _empty_bars(held, self.base_interval, session)
        self.outside_session = 0


class GroupPassCache(Protocol):
    """What storing base bars tells the vectorised pass's per-group cache (``core.live_pass``)."""

    #: the member list while the group is on the uniform fast path, else None
    uniform: list[SymbolSessionData] | None

    def appended(self, name: str, rows: np.ndarray, n: np.ndarray) -> None:
        """``rows``' interval ``name`` now holds ``n`` bars (one appended each)."""

    def appended_one(self, name: str, row: int, n: int, ts: int | None = None) -> None:
        """``row``'s interval ``name`` now holds ``n`` bars, the newest starting at ``ts``."""

    def append_uniform(
        self,
        group: SymbolGroup,
        rows: np.ndarray,
        index: slice | np.ndarray,
        ivs: list[BarIntervalData],
        bars: BarArrays,
    ) -> bool:
        """Store one bar per member on the uniform fast path; False (nothing stored) when they do not fit."""


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
        #: per interval: every member's derivation state, one row each (the only copy)
        self.tables: dict[str, StateTable] = {}
        self._order: dict[str, Interval] = {}
        self.members: dict[str, SymbolSessionData] = {}
        self._free: list[int] = []
        self._next = 0
        #: rows whose per-symbol state changed outside the vectorised pass (its cache re-reads them)
        self.stale: set[int] = set()
        #: the vectorised pass's per-row state cache (``core.live_pass``), built on first use
        self.cache: GroupPassCache | None = None
        self._member_memo: tuple[object, list[SymbolSessionData]] | None = None

    def add(self, data: SymbolSessionData) -> None:
        row = self._free.pop() if self._free else self._next
        if row == self._next:
            self._next += 1
        for name, interval in data.bars.items():
            block = self.blocks.get(name)
            if block is None:
                # as many bars as the session has windows: the bar dimension never grows
                block = RowBlock(interval.derived, row_cap=max(16, self._next), cap=interval.grid.size)
                self.blocks[name] = block
                self._order[name] = interval.interval
                # blocks in interval order, as every symbol's ``bars`` (events follow this order)
                self.blocks = {n: self.blocks[n] for n in sorted(self.blocks, key=lambda n: self._order[n].sort_key())}
            block.adopt(interval.data, row)
            table = self.tables.get(name)
            if table is None:
                table = self.tables[name] = StateTable(block.row_cap)
            elif table.size <= row:
                table.resize(block.row_cap)
            interval.move_state(table, row)
        for name, table in self.tables.items():
            if name not in data.bars and row < table.size:
                table.has[row] = False
        data.group, data.group_row = self, row
        self.members[data.symbol] = data
        self.stale.add(row)
        self.group_key = object()

    @property
    def row_count(self) -> int:
        """Rows handed out so far (free rows included): the row dimension the blocks need."""
        return self._next

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
            if block is not None and interval.data.block is block:
                block.release(row)
            table = self.tables.get(name)
            if table is not None and interval.table is table:
                interval.move_state(StateTable(1), 0)
                table.has[row] = False
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
        self._rows_memo: _RowsMemo | None = None
        #: (group key, {symbol as given: (data, base interval, row)}) for ``add_base_rows``
        self._rows_lut: tuple[object, dict[str, _RowEntry]] | None = None

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
            if self.session is not None and data.session != data.session_of(self.session):
                data.start_session(self.session)
            end = len(self._symbols)
            row = end if row is None else max(0, min(row, end))
            self.events.symbol_adding.emit(key, row)
            if row == end:  # the usual case: the row order grows by one (a replica adds 1,000 at once)
                self._symbols[key] = data
                self._ordered.append(data)
                self._rows[key] = end
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
            self._start(session, keep_history=True)

    def restart_session(self, session: Session) -> None:
        """Forget every bar of every symbol (history too) and start ``session`` empty.

        A replay restarted or rewound: the symbols stay, the bars they had are gone, and
        ``session_started`` tells views to re-read everything.
        """
        with self.lock:
            self._start(session, keep_history=False)

    def _start(self, session: Session, keep_history: bool) -> None:
        self.session = session
        self.groups = {}
        for data in self._symbols.values():
            data.start_session(session, keep_history)
            self._join_group(data)
        self.events.session_started.emit(session)

    def _join_group(self, data: SymbolSessionData) -> None:
        """Store ``data``'s current bars row-wise with the other symbols of its session and base."""
        if not self.group_rows or data.group is not None or self.session is None:
            return
        if data.session != data.session_of(self.session):
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
            aligned = on_grid(session, data.base_interval, bars.ts)
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
            memo = self._rows_of(symbols)
            if memo is None:
                return sum(self.add_base_bars(s, bars.take(slice(k, k + 1))) for k, s in enumerate(symbols))
            group = memo.group
            cache = group.cache
            if cache is not None and cache.uniform is not None and cache.append_uniform(
                group, memo.rows, memo.at, memo.ivs, bars
            ):
                # every member's bar followed its newest (the group's uniform steady state)
                emit = self.events.bars_changed
                if emit:
                    first = len(memo.ivs[0].data) - 1
                    emit.emit_many([(d.symbol, group.base_name, first) for d in memo.datas])
                return count
            n = np.fromiter((len(iv.data) for iv in memo.ivs), np.int64, count)
            ok = _follows_newest(group, memo.rows, n, bars.ts)
            fast = np.flatnonzero(ok)
            stored = 0
            if len(fast):
                self._append_rows(memo, bars, fast, n[fast])
                stored = len(fast)
            if len(fast) < count:
                for k in np.flatnonzero(~ok).tolist():
                    stored += self.add_base_bars(symbols[k], bars.take(slice(k, k + 1)))
            return stored

    def _rows_of(self, symbols: list[str]) -> _RowsMemo | None:
        """``symbols`` resolved to rows of one group (the last resolution is reused while the group
        and the list are unchanged); None when they are not distinct members of one group."""
        key = tuple(symbols)
        memo = self._rows_memo
        if memo is not None and memo.group_key is memo.group.group_key and memo.symbols == key:
            return memo
        resolved = self._resolve_rows(symbols) if len(symbols) >= 4 else None
        if resolved is None:
            return None
        group, datas, ivs, rows = resolved
        r0 = int(rows[0])
        count = len(rows)
        index = slice(r0, r0 + count) if np.array_equal(rows, np.arange(r0, r0 + count)) else rows
        # valid while the group's membership is unchanged (``group_key`` is renewed on any change)
        memo = self._rows_memo = _RowsMemo(group.group_key, group, key, datas, ivs, rows, index)
        return memo

    def _append_rows(self, memo: _RowsMemo, bars: BarArrays, fast: np.ndarray, nf: np.ndarray) -> None:
        """Store bar ``k`` of ``fast`` after the newest of its row (which holds ``nf[k]`` bars)."""
        group = memo.group
        base_name = group.base_name
        block = group.blocks[base_name]
        rf = memo.rows[fast]
        top = int(nf.max())
        if top >= block.cap:
            block.grow_cols(top + 1)
        cols = block.cols
        for name, values in zip(BAR_FIELDS, bars, strict=True):
            cols[name][rf, nf] = values[fast]
        if group.cache is not None:
            group.cache.appended(base_name, rf, nf + 1)
        block.set_lengths(rf, nf + 1)
        for k, first in zip(fast.tolist(), nf.tolist(), strict=True):
            iv = memo.ivs[k]
            if iv.updated:  # a second bar before the pass: the processor checks this row
                iv.mark_changed(first, True)
                group.stale.add(int(memo.rows[k]))
            else:
                iv.updated = True
                iv.dirty_from = first
                iv.dirty_appended_only = True
        emit = self.events.bars_changed
        if emit:
            pairs = zip(fast.tolist(), nf.tolist(), strict=True)
            emit.emit_many([(memo.datas[k].symbol, base_name, first) for k, first in pairs])

    def _resolve_rows(
        self, symbols: list[str]
    ) -> tuple[SymbolGroup, list[SymbolSessionData], list[BarIntervalData], np.ndarray] | None:
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
                entry = lut[s] = _RowEntry(data, data.bars[group.base_name], data.group_row)
            entries.append(entry)
        row_list = [e.row for e in entries]
        if len(set(row_list)) != len(row_list):
            return None  # a symbol twice
        return group, [e.data for e in entries], [e.base for e in entries], np.array(row_list, np.intp)

    def _add_one(self, data: SymbolSessionData, bars: BarArrays) -> bool:
        """The live path: one in-session, on-grid bar after the newest one, without numpy masks."""
        ts = int(bars.ts[0])
        base = data.base
        series = base.data
        if not appends_one(data.session, data.base_interval, ts, series.last_ts):
            return False
        first = len(series)
        series.extend(bars)
        group = data.group
        if group is not None:
            if base.updated:  # a second bar before the pass: the processor checks this row
                group.stale.add(data.group_row)
            elif group.cache is not None:
                group.cache.appended_one(base.name, data.group_row, first + 1, ts)
        base.mark_changed(first, True)
        if self.events.bars_changed:
            self.events.bars_changed.emit(data.symbol, base.name, first)
        return True

    def warn(self, message: str) -> None:
        log.warning(message)
        self.events.message.emit(logging.WARNING, message)


class _RowEntry(NamedTuple):
    """A grouped symbol as ``add_base_rows`` resolves it."""

    data: SymbolSessionData
    base: BarIntervalData
    row: int


class _RowsMemo(NamedTuple):
    """``add_base_rows``' resolution of one symbol list to group rows."""

    group_key: object  # the group's key when resolved (membership unchanged while it is the same)
    group: SymbolGroup
    symbols: tuple[str, ...]
    datas: list[SymbolSessionData]
    ivs: list[BarIntervalData]
    rows: np.ndarray
    at: slice | np.ndarray  # ``rows`` as a slice when they are consecutive


def _follows_newest(group: SymbolGroup, rows: np.ndarray, n: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Which bars (one per row, the row holding ``n`` base bars) a plain append takes."""
    last = group.blocks[group.base_name].cols["ts"][rows, np.maximum(n - 1, 0)]
    return appends(group.session, group.base, ts, last, n)
