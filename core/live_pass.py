"""The vectorised live pass: one processor pass over every member of a ``SymbolGroup`` at once.

A group's members store each interval in one row of a shared ``RowBlock``, so the live
path (each member's base got at most one new bar, after its newest) is a handful of
numpy operations per field and interval across all rows. This module only picks the rows
and the way they move (in step or not); the work is the engine's (``core.derive``:
``advance``, ``finalize``, ``refresh``), the same the per-symbol path
(``DataProcessor._process_symbol``) runs on one row, so both produce the same bars, flags,
quality, gaps, incomplete counts and events; members that do not fit (a new bar before a
derived interval's newest window) are handed back untouched.

The per-row state the pass needs (bar counts, newest windows, finalized/elapsed windows,
gap frontier and run totals, quality…) is the group's ``StateTable`` per interval
(``SymbolGroup.tables``), the only copy: ``BarIntervalData`` reads its row through, so the
pass reads and writes whole columns instead of per-symbol attributes. Only the bar count mirrors
the series length (storage owns it); a row whose bars changed elsewhere (``add_base_bars``,
the per-symbol path, a new member) is in ``group.stale`` and its count re-read.

The live steady state has its own path: while every member row holds the same control
state (bar counts, newest windows, frontiers, finalized and elapsed windows; per interval,
among the members holding it) the group is *uniform*; when every member then gets one bar
starting at the same time (``_Cache.append_uniform``, called by ``add_base_rows``) the pass
(``_uniform_pass``) hands the engine the rows as one slice, so it decides once with Python
scalars and writes all rows with one numpy operation per column. Anything else takes the
general pass (an index array: one decision per row), which re-checks uniformity after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from session_monitor.core.bars import BAR_FIELDS, BarArrays, RowBlock
from session_monitor.core.derive.acceptance import appends_one
from session_monitor.core.derive.advance import Segments, advance, base_present
from session_monitor.core.derive.finalize import Finalized, finalize
from session_monitor.core.derive.refresh import BaseRows, InStep, needs_refresh, refresh, refresh_in_step
from session_monitor.core.derive.table import CONTROL, StateTable, Target
from session_monitor.core.derive.timing import PassTiming
from session_monitor.core.windows import WindowGrid

if TYPE_CHECKING:
    from session_monitor.core.events import SessionEvents
    from session_monitor.core.session_data import BarIntervalData, SymbolGroup, SymbolSessionData

__all__ = ["process_group"]


#: a bar count per member position and interval name: the first bar each pass changed
Changes = list[dict[str, int]]


class _Memo:
    """The member list of a pass resolved to rows and interval objects (reused while it is the same list)."""

    __slots__ = ("_ivs", "bases", "members", "rows")

    def __init__(self, members: list[SymbolSessionData], base_name: str) -> None:
        self.members = members
        self.rows = np.fromiter((d.group_row for d in members), np.intp, len(members))
        self.bases = [d.bars[base_name] for d in members]
        self._ivs: dict[str, list[BarIntervalData | None]] = {base_name: list(self.bases)}

    def ivs(self, name: str) -> list[BarIntervalData | None]:
        """Each member's interval ``name`` (None where it holds none), in member order."""
        found = self._ivs.get(name)
        if found is None:
            found = self._ivs[name] = [d.bars.get(name) for d in self.members]
        return found

    def at(self, name: str, pos: np.ndarray) -> Callable[[np.ndarray], list[BarIntervalData]]:
        """The intervals ``name`` at some of ``pos`` (indices into it), for the kernel."""
        return lambda at: self.held(name, pos[at].tolist())

    def grid(self, name: str, pos: np.ndarray) -> WindowGrid:
        """The windows of interval ``name`` (the members at ``pos`` hold it; they share the grid)."""
        iv = self.ivs(name)[int(pos[0])]
        assert iv is not None
        return iv.grid

    def held(self, name: str, positions: list[int]) -> list[BarIntervalData]:
        """The intervals ``name`` of the members at ``positions`` (each of which holds it)."""
        ivs = self.ivs(name)
        out = [ivs[p] for p in positions]
        assert all(iv is not None for iv in out)
        return out  # type: ignore[return-value]  # checked just above


class IntervalRows(NamedTuple):
    """One interval of a pass: the member positions holding it and its row state."""

    name: str
    pos: np.ndarray
    state: StateTable


class Placement(NamedTuple):
    """Where the live members' new base bars land in one derived interval."""

    k: np.ndarray  # index into the new bars
    pos: np.ndarray  # member positions
    rows: np.ndarray  # their group rows
    grid: WindowGrid
    window: np.ndarray  # the window each new bar falls in
    last: np.ndarray  # each row's newest window before the bar


class UniformInterval(NamedTuple):
    """One derived interval of a uniform group, resolved once when uniformity is established."""

    name: str
    pos: np.ndarray  # member positions holding it
    state: StateTable
    grid: WindowGrid
    at: slice | np.ndarray  # the rows, as a slice when consecutive
    r0: int  # the first row (every row holds the same control state)
    perm: np.ndarray  # member positions in the order of ``at``


class UniformPlan(NamedTuple):
    """What the uniform pass needs, built when uniformity is established."""

    rows: np.ndarray
    at: slice | np.ndarray  # ``rows`` in ascending order, as a slice when consecutive
    r0: int
    perm: np.ndarray  # member positions in the order of ``at``
    bases: list[BarIntervalData]
    derived: list[UniformInterval]


class UniformStep(NamedTuple):
    """One derived interval's move in a uniform pass: update window ``window`` or open it."""

    interval: UniformInterval
    n: int
    last: int
    own_fin: int
    window: int


class _Cache:
    """The pass's bookkeeping for one group: the uniform fast path's state and the member memo
    (the row state itself is the group's tables, which this only refers to)."""

    def __init__(self, tables: dict[str, StateTable]) -> None:
        #: the group's tables (``SymbolGroup.tables``, the same dict)
        self.states = tables
        #: the member list (``SymbolGroup.member_list``) while every member row holds every interval
        #: with equal control state (n, last windows, finalized, elapsed, frontier), else None:
        #: the uniform fast path's precondition
        self.uniform: list[SymbolSessionData] | None = None
        #: while uniform: the start of the bar members got since the last pass (all the same), or None;
        #: how many members got it (the uniform pass needs all), and their bar count before it
        self.pending: int | None = None
        self.pending_rows = 0
        self.pending_n = 0
        #: what the uniform pass needs, built when uniformity is established
        self.uni: UniformPlan | None = None
        #: the last pass's members, reused for the same list object
        self.memo: _Memo | None = None

    def memo_for(self, members: list[SymbolSessionData], base_name: str) -> _Memo:
        memo = self.memo
        if memo is None or memo.members is not members:
            memo = self.memo = _Memo(members, base_name)
        return memo

    def appended(self, name: str, rows: np.ndarray, n: np.ndarray) -> None:
        self.uniform, self.pending = None, None
        state = self.states.get(name)
        if state is not None:
            inside = rows < state.size
            state.n[rows[inside]] = n[inside]

    def appended_one(self, name: str, row: int, n: int, ts: int | None = None) -> None:
        """``row``'s base now holds ``n`` bars, the newest (starting at ``ts``) appended after the
        previous newest by ``add_base_bars``; one bar per member at the same ``ts`` keeps the
        group on the uniform path, as ``append_uniform`` does."""
        state = self.states.get(name)
        if state is None or row >= state.size:
            self.uniform = self.pending = None
            return
        if self._keeps_uniform(state, row, n, ts):
            self.pending_rows += 1
        else:
            self.uniform = self.pending = None
        state.n[row] = n

    def _keeps_uniform(self, state: StateTable, row: int, n: int, ts: int | None) -> bool:
        if self.uniform is None or ts is None or self.uni is None:
            return False
        if self.pending is None:
            if n - 1 != int(state.n[self.uni.r0]):  # every row holds that many
                return False
            self.pending, self.pending_rows, self.pending_n = ts, 0, n - 1
            return True
        return ts == self.pending and n - 1 == self.pending_n and int(state.n[row]) == n - 1

    def append_uniform(
        self,
        group: SymbolGroup,
        rows: np.ndarray,
        index: slice | np.ndarray,
        ivs: list[BarIntervalData],
        bars: BarArrays,
    ) -> bool:
        """``SessionData.add_base_rows``' fast path: store one bar per member, all starting at the
        same time right after every member's newest bar, while the group is uniform.

        ``rows`` / ``index`` (the same rows, as a slice when they are consecutive) and ``ivs`` (base
        intervals) follow the order of ``bars``. Returns False (nothing stored) when the bars do
        not fit; the caller then takes the general path.
        """
        members = group.member_list()
        if self.uniform is not members or self.pending is not None or group.stale or len(rows) != len(members):
            return False
        assert self.uni is not None  # built whenever ``uniform`` is set
        state = self.states[group.base_name]
        n = int(state.n[self.uni.r0])
        t = int(bars.ts[0])
        if not _follows_uniform(group, self.uni.bases[0].grid, state, self.uni.r0, n, t) or not (bars.ts == t).all():
            return False
        block = group.blocks[group.base_name]
        if n >= block.cap:
            block.grow_cols(n + 1)
        cols = block.cols
        for name, values in zip(BAR_FIELDS, bars, strict=True):
            cols[name][index, n] = values
        state.n[index] = n + 1
        block.set_lengths(index, n + 1)
        for iv in ivs:
            iv.updated = True
            iv.dirty_from = n
            iv.dirty_appended_only = True
        self.pending, self.pending_rows, self.pending_n = t, len(rows), n
        return True

    def sync(self, row: int, data: SymbolSessionData) -> None:
        """``row`` changed outside the pass: re-read its bar counts."""
        self.uniform, self.pending = None, None
        for name, iv in data.bars.items():
            self.states[name].n[row] = len(iv.data)


def _follows_uniform(group: SymbolGroup, grid: WindowGrid, state: StateTable, r0: int, n: int, t: int) -> bool:
    """True when a base bar starting at ``t`` is accepted and follows every row's newest (``n`` bars;
    every row's newest is in the same window of the base ``grid``, ``state.last[r0]``)."""
    base = group.base
    if base.is_daily:
        return False
    newest = int(grid.starts[int(state.last[r0])]) if n else None
    return appends_one(group.session, base, t, newest)


def process_group(
    events: SessionEvents,
    group: SymbolGroup,
    members: list[SymbolSessionData],
    timing: PassTiming,
) -> list[SymbolSessionData]:
    """Run one pass for ``members``; returns the members that must take the per-symbol path."""
    cache = _cache_of(group, members)
    memo = cache.memo_for(members, group.base_name)
    if (
        cache.uniform is members
        and cache.pending is not None
        and cache.pending_rows == len(members)
        and _uniform_pass(events, group, cache, members, timing)
    ):
        return []
    cache.uniform = cache.pending = None
    derived = _derived_rows(cache, group, memo.rows)
    live = np.flatnonzero(np.fromiter((b.updated for b in memo.bases), bool, len(members)))
    new = BarArrays.empty()
    placements: dict[str, Placement] = {}
    if len(live):
        new = _new_base_bars(group.blocks[group.base_name], cache.states[group.base_name], memo.rows[live])
        placements, behind = _place(members, memo.rows, live, derived, new.ts)
        if behind is not None:
            # members whose bar lands before a derived interval's newest window take the slow path
            return _without(events, group, members, behind, timing)
    _general_pass(events, group, cache, memo, derived, live, new, placements, timing)
    return []


def _cache_of(group: SymbolGroup, members: list[SymbolSessionData]) -> _Cache:
    """The group's cache, sized for its rows, with the stale rows among ``members`` re-read."""
    cache = group.cache
    if not isinstance(cache, _Cache):
        cache = _Cache(group.tables)
        group.cache = cache
    stale = group.stale
    if stale:
        for d in members:
            row = d.group_row
            if row in stale:
                cache.sync(row, d)
                stale.discard(row)
    return cache


def _derived_rows(cache: _Cache, group: SymbolGroup, rows: np.ndarray) -> list[IntervalRows]:
    """The derived intervals, each with the member positions that hold it."""
    derived: list[IntervalRows] = []
    count = len(rows)
    for name in group.blocks:
        if name == group.base_name:
            continue
        state = cache.states[name]
        has = state.has[rows]
        pos = np.arange(count) if has.all() else np.flatnonzero(has)
        if len(pos):
            derived.append(IntervalRows(name, pos, state))
    return derived


def _new_base_bars(block: RowBlock, state: StateTable, rows: np.ndarray) -> BarArrays:
    """The newest base bar of each of ``rows``."""
    flat = rows * block.cap + (state.n[rows] - 1)
    return BarArrays(*(block.cols[name].reshape(-1)[flat] for name in BAR_FIELDS))


def _place(
    members: list[SymbolSessionData],
    rows: np.ndarray,
    live: np.ndarray,
    derived: list[IntervalRows],
    new_ts: np.ndarray,
) -> tuple[dict[str, Placement], np.ndarray | None]:
    """Each derived interval's placement of the new bars, and which members' bars land behind
    an interval's newest window (None when none do)."""
    count = len(members)
    at_live: np.ndarray | None = None
    if len(live) != count:
        at_live = np.full(count, -1, np.intp)
        at_live[live] = np.arange(len(live))
    behind: np.ndarray | None = None
    placements: dict[str, Placement] = {}
    for interval in derived:
        found = _placement(interval, members, rows, at_live, new_ts)
        if found is None:
            continue
        late = found.window < found.last
        if late.any():
            if behind is None:
                behind = np.zeros(count, bool)
            behind[found.pos[late]] = True
        placements[interval.name] = found
    return placements, behind


def _placement(
    interval: IntervalRows,
    members: list[SymbolSessionData],
    rows: np.ndarray,
    at_live: np.ndarray | None,
    new_ts: np.ndarray,
) -> Placement | None:
    pos = interval.pos
    if at_live is None and len(pos) == len(rows):
        k, psel, r, ts = pos, pos, rows, new_ts
    else:
        k = pos if at_live is None else at_live[pos]
        sel = np.flatnonzero(k >= 0)
        if not len(sel):
            return None
        k, psel = k[sel], pos[sel]
        r, ts = rows[psel], new_ts[k]
    grid = members[int(psel[0])].bars[interval.name].grid
    window = grid.window_of(ts)
    if grid.partial:  # bars in no window of this interval (1d with extended hours) are not part of it
        inside = np.flatnonzero(window >= 0)
        if not len(inside):
            return None
        if len(inside) != len(window):
            k, psel, r, window = k[inside], psel[inside], r[inside], window[inside]
    return Placement(k, psel, r, grid, window, interval.state.last[r])


def _without(
    events: SessionEvents,
    group: SymbolGroup,
    members: list[SymbolSessionData],
    behind: np.ndarray,
    timing: PassTiming,
) -> list[SymbolSessionData]:
    """The pass for the members not ``behind``; returns the rest for the per-symbol path."""
    flags = behind.tolist()
    keep = [d for d, b in zip(members, flags, strict=True) if not b]
    rest = [d for d, b in zip(members, flags, strict=True) if b]
    if keep:
        rest.extend(process_group(events, group, keep, timing))
    return rest


def _general_pass(
    events: SessionEvents,
    group: SymbolGroup,
    cache: _Cache,
    memo: _Memo,
    derived: list[IntervalRows],
    live: np.ndarray,
    new: BarArrays,
    placements: dict[str, Placement],
    timing: PassTiming,
) -> None:
    """The vectorised pass over every member: store, derive, finalize, refresh quality."""
    members = memo.members
    count = len(members)
    base_name = group.base_name
    base_state = cache.states[base_name]
    rows = memo.rows
    n_b = base_state.n[rows]
    changed: Changes | None = [{} for _ in range(count)] if events.bars_changed else None
    base_changed = np.zeros(count, bool)
    if len(live):
        base_changed[live] = True
        _advance_base(base_state, memo, live, new.ts, n_b[live])
        for interval in derived:
            found = placements.get(interval.name)
            if found is not None:
                _advance_derived(interval, group.blocks[interval.name], found, new, memo, timing, changed)
    _finalize_rows(group.blocks, memo, rows, derived, timing, changed)
    if changed is not None:
        _emit_bars(events, members, changed)
    since = np.zeros(count, np.int64)
    since[live] = new.ts
    base_rows = BaseRows(group.blocks[base_name].cols["ts"], n_b, base_changed, since)
    quality_events: list[list[str]] | None = [[] for _ in range(count)] if events.quality_changed else None
    everyone = np.arange(count)
    base_grid = memo.grid(base_name, everyone)
    moved = refresh(Target(group.blocks[base_name].cols, base_state, base_grid), rows, base_rows,
                    timing.of(base_grid).elapsed, True, memo.at(base_name, everyone))
    _note_quality(quality_events, base_name, everyone, moved)
    for name, pos, state in derived:
        grid = memo.grid(name, pos)
        sub = base_rows if len(pos) == count else BaseRows(base_rows.ts, n_b[pos], base_changed[pos], since[pos])
        moved = refresh(Target(group.blocks[name].cols, state, grid), rows[pos], sub, timing.of(grid).elapsed, False,
                        memo.at(name, pos))
        _note_quality(quality_events, name, pos, moved)
    if quality_events is not None:
        _emit_quality(events, members, quality_events)
    _establish_uniform(cache, group, members, rows, memo.bases)


def _note_quality(
    quality_events: list[list[str]] | None, name: str, positions: np.ndarray, found: np.ndarray
) -> None:
    """Interval ``name`` of the members at ``positions[found]`` changed quality, gaps or incomplete bars."""
    if quality_events is not None and len(found):
        for p in positions[found].tolist():
            quality_events[p].append(name)


def _emit_bars(events: SessionEvents, members: list[SymbolSessionData], changed: Changes) -> None:
    events.bars_changed.emit_many(
        [(d.symbol, name, fi) for d, ch in zip(members, changed, strict=True) for name, fi in ch.items()]
    )


def _emit_quality(events: SessionEvents, members: list[SymbolSessionData], names: list[list[str]]) -> None:
    events.quality_changed.emit_many(
        [(d.symbol, name) for d, held in zip(members, names, strict=True) for name in held]
    )


def _advance_base(state: StateTable, memo: _Memo, live: np.ndarray, new_ts: np.ndarray, n_live: np.ndarray) -> None:
    """The base bar is stored: the engine marks its window present; the dirty state is cleared."""
    bases = memo.bases
    base_present(state, memo.rows[live], bases[0].grid.window_of(new_ts), memo.at(bases[0].name, live))
    for k, n in zip(live.tolist(), n_live.tolist(), strict=True):
        b = bases[k]
        b.updated = False
        b.dirty_from = n


def _advance_derived(
    interval: IntervalRows,
    block: RowBlock,
    found: Placement,
    new: BarArrays,
    memo: _Memo,
    timing: PassTiming,
    changed: Changes | None,
) -> None:
    """Update or open the newest window of every live member holding ``interval`` (the kernel,
    one decision per row)."""
    state = interval.state
    r = found.rows
    n_d = state.n[r]
    opening = found.window != found.last
    if opening.any() and int(n_d[opening].max()) >= block.cap:
        block.grow_cols(int(n_d[opening].max()) + 1)
    k = found.k
    seg = Segments(new.open[k], new.high[k], new.low[k], new.close[k], new.volume[k], 1)
    name, pos = interval.name, found.pos
    first = advance(
        Target(block.cols, state, found.grid), r, found.window, seg, timing.of(found.grid).finalized,
        memo.at(name, pos), timing.clock,
    )
    if opening.any():
        block.set_lengths(r[opening], n_d[opening] + 1)
    if changed is not None:
        for p, fi in zip(pos.tolist(), np.broadcast_to(first, pos.shape).tolist(), strict=True):
            changed[p][name] = fi


def _uniform_pass(
    events: SessionEvents,
    group: SymbolGroup,
    cache: _Cache,
    members: list[SymbolSessionData],
    timing: PassTiming,
) -> bool:
    """The steady state: every member of a uniform group got one bar, all at ``cache.pending``.

    Every row holds the same counts, newest windows, frontiers, finalized and elapsed windows,
    so the engine gets the rows as one slice and decides once (Python scalars); a quality refresh
    it cannot decide once goes row by row. Returns False, having changed nothing, when the bar
    does not simply extend every interval.
    """
    plan = cache.uni
    t = cache.pending
    assert plan is not None and t is not None
    base_state = cache.states[group.base_name]
    nb, _, _, _, front_b = base_state.ints[CONTROL, plan.r0].tolist()
    base_grid = plan.bases[0].grid
    w_b = base_grid.window_of_one(t)
    if w_b != front_b or not nb:
        return False  # the bar leaves a gap behind it
    steps = _uniform_steps(cache, plan, t)
    if steps is None:
        return False
    cache.pending = None
    _uniform_base(base_state, plan, w_b, nb)
    memo = cache.memo_for(members, group.base_name)
    firsts = _uniform_derive(group, plan, steps, nb, memo, timing)
    changed: Changes | None = None
    if events.bars_changed:
        changed = [{} for _ in members]
        for name, pos, j in firsts:
            for p in pos.tolist():
                changed[p][name] = j
    for entry in plan.derived:  # the one finalize, rows in step, when a window became final
        fin = timing.of(entry.grid).finalized
        if fin <= int(entry.state.fin[entry.r0]):
            continue
        found = finalize(Target(group.blocks[entry.name].cols, entry.state, entry.grid), entry.at, fin)
        if found is not None and changed is not None:
            _note_finalized(changed, entry.name, entry.perm, found)
    if changed is not None:
        _emit_bars(events, members, changed)
    _uniform_quality(events, group, memo, plan, timing, InStep(t, nb, t))
    return True


def _uniform_steps(cache: _Cache, plan: UniformPlan, t: int) -> list[UniformStep] | None:
    """Each derived interval's move for a bar at ``t``; None when one does not simply extend."""
    steps = []
    for entry in plan.derived:
        n_d, last, own_fin, _, front = entry.state.ints[CONTROL, entry.r0].tolist()
        w = entry.grid.window_of_one(t)
        if w < 0 or w < last or (w > last and w != front):  # (w < 0: in no window, the general pass skips it)
            return None
        steps.append(UniformStep(entry, n_d, last, own_fin, w))
    return steps


def _uniform_base(state: StateTable, plan: UniformPlan, w_b: int, nb: int) -> None:
    """The base bar is stored: mark its window present, remember it, clear the dirty state."""
    state.last[plan.at] = w_b
    state.front[plan.at] = w_b + 1
    for b in plan.bases:
        b.updated = False
        b.dirty_from = nb


def _uniform_derive(
    group: SymbolGroup, plan: UniformPlan, steps: list[UniformStep], nb: int, memo: _Memo, timing: PassTiming
) -> list[tuple[str, np.ndarray, int]]:
    """Update or open the newest window of every derived interval (the kernel, one decision for all
    rows); returns (name, positions, bar)."""
    bc = group.blocks[group.base_name].cols
    gathered: slice | np.ndarray | None = None
    seg: Segments | None = None
    firsts: list[tuple[str, np.ndarray, int]] = []
    for step in steps:
        entry = step.interval
        ix = entry.at
        if seg is None or gathered is not ix:  # the new base bars of the rows at ``ix``
            seg = _column_bars(bc, ix, nb - 1)
            gathered = ix
        block = group.blocks[entry.name]
        opens = step.window != step.last
        if opens and step.n >= block.cap:
            block.grow_cols(step.n + 1)
        final = timing.of(entry.grid).finalized if opens else 0  # (a fold reads no final count)
        first = advance(
            Target(block.cols, entry.state, entry.grid), ix, step.window, seg, final, memo.at(entry.name, entry.perm),
            timing.clock,
        )
        if opens:
            block.set_lengths(ix, step.n + 1)
        firsts.append((entry.name, entry.pos, int(first)))
    return firsts


def _column_bars(cols: dict[str, np.ndarray], rows: slice | np.ndarray, col: int) -> Segments:
    """The base bars in column ``col`` of ``rows``, one segment each."""
    return Segments(cols["open"][rows, col], cols["high"][rows, col], cols["low"][rows, col],
                    cols["close"][rows, col], cols["volume"][rows, col], 1)


def _uniform_quality(
    events: SessionEvents, group: SymbolGroup, memo: _Memo, plan: UniformPlan, timing: PassTiming, step: InStep
) -> None:
    """Quality, gaps and incomplete counts after a uniform pass (every row got one base bar, ``step``):
    the one refresh, decided once for all rows where it can be, else row by row."""
    members = memo.members
    count = len(members)
    quality_events: list[list[str]] | None = [[] for _ in range(count)] if events.quality_changed else None
    base_name = group.base_name
    base_state = group.tables[base_name]
    base_ts = group.blocks[base_name].cols["ts"]
    base_grid = plan.bases[0].grid
    target = Target(group.blocks[base_name].cols, base_state, base_grid)
    elapsed = timing.of(base_grid).elapsed
    found = refresh_in_step(target, plan.at, plan.r0, step, elapsed, True)
    if found is not None:
        _note_quality(quality_events, base_name, plan.perm, found)
    else:
        everyone = np.arange(count)
        base_rows = BaseRows(base_ts, np.full(count, step.nb), np.ones(count, bool), np.full(count, step.t))
        found = refresh(target, plan.rows, base_rows, elapsed, True, memo.at(base_name, everyone))
        _note_quality(quality_events, base_name, everyone, found)
    for entry in plan.derived:
        elapsed = timing.of(entry.grid).elapsed
        if not needs_refresh(entry.grid, int(entry.state.el[entry.r0]), elapsed, True, step.t, False):
            continue  # (every row: the same answer)
        target = Target(group.blocks[entry.name].cols, entry.state, entry.grid)
        found = refresh_in_step(target, entry.at, entry.r0, step, elapsed, False)
        if found is not None:
            _note_quality(quality_events, entry.name, entry.perm, found)
            continue
        k = len(entry.pos)
        base_rows = BaseRows(base_ts, np.full(k, step.nb), np.ones(k, bool), np.full(k, step.t))
        found = refresh(target, plan.rows[entry.pos], base_rows, elapsed, False, memo.at(entry.name, entry.pos))
        _note_quality(quality_events, entry.name, entry.pos, found)
    if quality_events is not None:
        _emit_quality(events, members, quality_events)


def _establish_uniform(
    cache: _Cache,
    group: SymbolGroup,
    members: list[SymbolSessionData],
    rows: np.ndarray,
    bases: list[BarIntervalData],
) -> None:
    """Mark the group uniform when every member holds every interval with equal control state."""
    if members is not group.member_list() or group.stale or len(members) < 2:
        return
    base_name = group.base_name
    base = _uniform_rows(cache.states[base_name], rows, None)
    if base is None:
        return
    base_index, base_r0, _, _ = base
    derived = []
    for name in group.blocks:
        if name == base_name:
            continue
        state = cache.states[name]
        found = _uniform_rows(state, rows, (base_index, base_r0))
        if found is None:
            return
        index, r0, pos, r = found
        if not len(pos):
            continue
        # member positions and intervals in the order of ``index`` (ascending rows)
        perm = pos[np.argsort(r, kind="stable")]
        grid = members[int(perm[0])].bars[name].grid
        derived.append(UniformInterval(name, pos, state, grid, index, r0, perm))
    cache.uni = UniformPlan(rows, base_index, base_r0, np.argsort(rows, kind="stable"), bases, derived)
    cache.uniform = members


def _uniform_rows(
    state: StateTable, rows: np.ndarray, base: tuple[slice | np.ndarray, int] | None
) -> tuple[slice | np.ndarray, int, np.ndarray, np.ndarray] | None:
    """``(index, first row, member positions, rows)`` of the members holding the interval of
    ``state`` when they all hold the same control state, else None (no positions: nobody holds it).
    A full interval reuses the base's ``index`` object (the pass then gathers the new bars once)."""
    has = state.has[rows]
    full = bool(has.all())
    pos = np.arange(len(rows)) if full else np.flatnonzero(has)
    if not len(pos):
        return (slice(0, 0), 0, pos, pos)
    r = rows if full else rows[pos]
    control = state.ints[CONTROL, r]
    if not (control == control[:, :1]).all():
        return None
    if full and base is not None:
        return base[0], base[1], pos, r
    ordered = np.sort(r)
    r0 = int(ordered[0])
    index = slice(r0, r0 + len(r)) if int(ordered[-1]) == r0 + len(r) - 1 else ordered
    return index, r0, pos, r


def _finalize_rows(
    blocks: dict[str, RowBlock], memo: _Memo, rows: np.ndarray, derived: list[IntervalRows], timing: PassTiming,
    changed: Changes | None,
) -> None:
    """The windows of ``derived`` that became final stop forming (the one finalize, rows out of step)."""
    for name, pos, state in derived:
        grid = memo.grid(name, pos)
        found = finalize(Target(blocks[name].cols, state, grid), rows[pos], timing.of(grid).finalized)
        if found is not None and changed is not None:
            _note_finalized(changed, name, pos, found)


def _note_finalized(changed: Changes, name: str, positions: np.ndarray, found: Finalized) -> None:
    """Record the first bar that stopped forming for each member (``positions`` map the rows to members)."""
    for a, fi in zip(found.at, found.first, strict=True):
        ch = changed[int(positions[a])]
        ch[name] = min(ch.get(name, fi), fi)
