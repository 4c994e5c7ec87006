"""The vectorised live pass: one processor pass over every member of a ``SymbolGroup`` at once.

A group's members store each interval in one row of a shared ``RowBlock``, so the live
path (each member's base got at most one new bar, after its newest) is a handful of
numpy operations per field and interval across all rows, instead of per-symbol scalar
work. It produces exactly what ``DataProcessor._process_symbol`` produces for the same
members (bars, flags, quality, gaps, incomplete counts, events); members that do not fit
(a new bar before a derived interval's newest window) are handed back untouched.

The per-row state the pass needs (bar counts, newest windows, finalized/elapsed windows,
gap-tracker frontier and runs, quality…) is mirrored in per-group arrays (``_Cache``), so
a pass reads it with one numpy gather instead of one Python attribute read per row; the
pass writes every change through to the objects (plain attribute writes, only where a
value changed). A row whose objects changed elsewhere (``add_base_bars``, the per-symbol
path, a new member) is in ``group.stale`` and re-read before the pass.

The live steady state has its own path: while every member row holds the same control
state (bar counts, newest windows, frontiers, finalized and elapsed windows; per interval,
among the members holding it) the group is *uniform*; when every member then gets one bar
starting at the same time (``_Cache.append_uniform``, called by ``add_base_rows``) the pass
(``_uniform_pass``) decides once with Python scalars and writes all rows with one numpy
operation per column, using the general steps only for finalizing and quality refreshes
that have work. Anything else takes the general pass, which re-checks uniformity after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.bars import BAR_FIELDS, FORMING, PRICE_FIELDS, REVISED, BarArrays
from core.derive.finalize import finalize_bars
from core.derive.timing import PassTiming

if TYPE_CHECKING:
    from core.events import SessionEvents
    from core.session_data import BarIntervalData, SymbolGroup, SymbolSessionData

__all__ = ["process_group"]

_FORMING = np.uint8(FORMING)
_NOT_FORMING = np.uint8(~np.uint8(FORMING))
_REVISED = np.uint8(REVISED)
#: widest tail (in bars) the vectorised finalize scans; rows needing more go one by one
_TAIL = 8



#: per-row int state, one row of ``_Cache.ints[name]`` each; the first five drive the pass's control
#: flow (the uniform fast path needs them equal on every row); ``zero`` stays 0 so that
#: ``(nruns, closed, zero)`` lines up with ``(gaps, missing, incomplete)`` for one comparison
_INT_FIELDS = ("n", "last", "fin", "el", "front", "nruns", "closed", "zero", "gaps", "missing", "incomplete")
_CONTROL = 5
_RUNS = _INT_FIELDS.index("nruns")
_GAPS = _INT_FIELDS.index("gaps")


class _Memo:
    """The member list of a pass resolved to rows and interval objects (reused while it is the same list)."""

    __slots__ = ("_ivs", "bases", "members", "rows")

    def __init__(self, members: list[SymbolSessionData], base_name: str) -> None:
        self.members = members
        self.rows = np.fromiter((d.group_row for d in members), np.intp, len(members))
        self.bases = [d.bars[base_name] for d in members]
        self._ivs: dict[str, list] = {base_name: self.bases}

    def ivs(self, name: str) -> list:
        """Each member's interval ``name`` (None where it holds none), in member order."""
        found = self._ivs.get(name)
        if found is None:
            found = self._ivs[name] = [d.bars.get(name) for d in self.members]
        return found


class _Cache:
    """Per interval of a group: the state of every row as arrays (valid for rows not stale)."""

    def __init__(self) -> None:
        self.size = 0
        self.f: dict[str, dict[str, np.ndarray]] = {}
        #: per interval: the int fields as one (field × row) array; ``f[name][field]`` are its rows
        self.ints: dict[str, np.ndarray] = {}
        #: the member list (``SymbolGroup.member_list``) while every member row holds every interval
        #: with equal control state (n, last windows, finalized, elapsed, frontier), else None:
        #: the uniform fast path's precondition
        self.uniform: list | None = None
        #: while uniform: the start of the bar members got since the last pass (all the same), or None;
        #: how many members got it (the uniform pass needs all), and their bar count before it
        self.pending: int | None = None
        self.pending_rows = 0
        self.pending_n = 0
        #: what the uniform pass needs, built when uniformity is established: ``(rows, index, first
        #: row, base intervals, their trackers, [(name, member positions, fields, intervals, grid)])``
        self.uni: tuple | None = None
        #: per interval: the elapsed / finalized window count every cached row holds, when uniform
        self.el_all: dict[str, int] = {}
        self.fin_all: dict[str, int] = {}
        #: the last pass's members, reused for the same list object
        self.memo: _Memo | None = None

    def ensure(self, group: SymbolGroup) -> None:
        size = max(self.size, 16)
        while size < group._next:
            size *= 2
        for name in group.blocks:
            f = self.f.get(name)
            if f is None:
                f = self.f[name] = {"quality": np.zeros(0, np.float64), "has": np.zeros(0, bool)}
                self.ints[name] = np.zeros((len(_INT_FIELDS), 0), np.int64)
            old = self.ints[name]
            if old.shape[1] < size:
                ints = self.ints[name] = np.zeros((len(_INT_FIELDS), size), np.int64)
                ints[:, : old.shape[1]] = old
                for k, row in zip(_INT_FIELDS, ints, strict=True):
                    f[k] = row
                for k in ("quality", "has"):
                    arr = f[k]
                    new = np.full(size, np.nan) if k == "quality" else np.zeros(size, arr.dtype)
                    new[: len(arr)] = arr
                    f[k] = new
        self.size = size

    def appended(self, name: str, rows: np.ndarray, n: np.ndarray) -> None:
        self.uniform, self.pending = None, None
        f = self.f.get(name)
        if f is not None:
            inside = rows < len(f["n"])
            f["n"][rows[inside]] = n[inside]

    def appended_one(self, name: str, row: int, n: int, ts: int | None = None) -> None:
        """``row``'s base now holds ``n`` bars, the newest (starting at ``ts``) appended after the
        previous newest by ``add_base_bars``; one bar per member at the same ``ts`` keeps the
        group on the uniform path, as ``append_uniform`` does."""
        f = self.f.get(name)
        if f is None or row >= len(f["n"]):
            self.uniform = self.pending = None
            return
        keep = False
        if self.uniform is not None and ts is not None:
            if self.pending is None:
                keep = n - 1 == int(f["n"][self.uni[2]])  # type: ignore[index]  # every row holds that many
                if keep:
                    self.pending, self.pending_rows, self.pending_n = ts, 0, n - 1
            else:
                keep = ts == self.pending and n - 1 == self.pending_n and int(f["n"][row]) == n - 1
        if keep:
            self.pending_rows += 1
        else:
            self.uniform = self.pending = None
        f["n"][row] = n

    def append_uniform(
        self, group: SymbolGroup, rows: np.ndarray, index: slice | np.ndarray, ivs: list, bars: BarArrays
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
        base = group.base
        if base.is_daily:
            return False
        ts = bars.ts
        t = int(ts[0])
        session = group.session
        step = base.seconds
        if not session.open <= t < session.close or (t - session.open) % step:
            return False
        if session.break_start is not None and session.break_start <= t < session.break_end:
            return False
        ints = self.ints[group.base_name]
        r0 = self.uni[2]  # type: ignore[index]
        n = int(ints[0, r0])
        if n and (t - session.open) // step <= int(ints[1, r0]):
            return False  # not after the newest bar (every row's newest is in that same window)
        if not (ts == t).all():
            return False
        block = group.blocks[group.base_name]
        if n >= block.cap:
            block.grow_cols(n + 1)
        cols = block.cols
        for name, values in zip(BAR_FIELDS, bars, strict=True):
            cols[name][index, n] = values
        ints[0, index] = n + 1
        for iv in ivs:
            iv.data._n = n + 1
            iv.updated = True
            iv.dirty_from = n
            iv.dirty_appended_only = True
        self.pending, self.pending_rows, self.pending_n = t, len(rows), n
        return True

    def sync(self, row: int, data: SymbolSessionData) -> None:
        self.uniform, self.pending = None, None
        self.el_all.clear()
        self.fin_all.clear()
        for name, f in self.f.items():
            iv = data.bars.get(name)
            if iv is None:
                f["has"][row] = False
                continue
            f["has"][row] = True
            self.sync_interval(f, row, iv)

    @staticmethod
    def sync_interval(f: dict[str, np.ndarray], row: int, iv: BarIntervalData) -> None:
        t = iv.tracker
        f["n"][row] = iv.data._n
        f["last"][row] = iv.last_window
        f["fin"][row] = iv.finalized
        f["el"][row] = iv.elapsed
        f["front"][row] = t._frontier
        f["nruns"][row] = len(t._runs)
        f["closed"][row] = t._closed_missing
        f["quality"][row] = np.nan if iv.quality is None else iv.quality
        f["gaps"][row] = iv.gap_count
        f["missing"][row] = iv.missing
        f["incomplete"][row] = iv.incomplete
        iv.live = None  # the pass writes bars without keeping the per-symbol live mirror

    @staticmethod
    def sync_tracker(f: dict[str, np.ndarray], row: int, iv: BarIntervalData) -> None:
        t = iv.tracker
        f["front"][row] = t._frontier
        f["nruns"][row] = len(t._runs)
        f["closed"][row] = t._closed_missing


def process_group(
    events: SessionEvents,
    group: SymbolGroup,
    members: list[SymbolSessionData],
    timing: PassTiming,
) -> list[SymbolSessionData]:
    """Run one pass for ``members``; returns the members that must take the per-symbol path."""
    cache = group.cache
    if not isinstance(cache, _Cache):
        cache = group.cache = _Cache()
    cache.ensure(group)
    stale = group.stale
    if stale:
        for d in members:
            row = d.group_row
            if row in stale:
                cache.sync(row, d)
                stale.discard(row)
    base_name = group.base_name
    blocks = group.blocks
    bb = blocks[base_name]
    fb = cache.f[base_name]
    count = len(members)
    memo = cache.memo
    if memo is None or memo.members is not members:
        memo = cache.memo = _Memo(members, base_name)
    rows, bases = memo.rows, memo.bases
    if (
        cache.uniform is members
        and cache.pending is not None
        and cache.pending_rows == count
        and _uniform_pass(events, group, cache, members, timing)
    ):
        return []
    cache.uniform = cache.pending = None
    n_b = fb["n"][rows]
    live = np.flatnonzero(np.fromiter((b.updated for b in bases), bool, count))
    base_grid = bases[0].grid

    # the derived intervals, each with the member positions that hold it
    derived: list[tuple[str, np.ndarray, dict[str, np.ndarray]]] = []
    for name in blocks:
        if name == base_name:
            continue
        f = cache.f[name]
        has = f["has"][rows]
        pos = np.arange(count) if has.all() else np.flatnonzero(has)
        if len(pos):
            derived.append((name, pos, f))

    cap_b = bb.cap
    if len(live):
        lr = rows[live]
        flat_i = lr * cap_b + (n_b[live] - 1)
        cols = bb.cols
        new_ts = cols["ts"].reshape(-1)[flat_i]
        new_o, new_h, new_l, new_c, new_v = (
            cols[f].reshape(-1)[flat_i] for f in PRICE_FIELDS
        )
        # members whose bar lands before a derived interval's newest window take the slow path
        everyone = len(live) == count
        if not everyone:
            at_live = np.full(count, -1, np.intp)
            at_live[live] = np.arange(len(live))
        bad = None
        prepared: dict[str, tuple] = {}
        for name, pos, f in derived:
            if everyone and len(pos) == count:
                k, psel, r = pos, pos, rows
            else:
                k = pos if everyone else at_live[pos]
                sel = np.flatnonzero(k >= 0)
                if not len(sel):
                    continue
                k, psel = k[sel], pos[sel]
                r = rows[psel]
            grid = members[int(psel[0])].bars[name].grid
            w = grid.window_of(new_ts if k is pos and everyone and len(pos) == count else new_ts[k])
            last = f["last"][r]
            behind = w < last
            if behind.any():
                if bad is None:
                    bad = np.zeros(count, bool)
                bad[psel[behind]] = True
            prepared[name] = (k, psel, r, grid, w, last)
        if bad is not None:
            keep = [d for d, b in zip(members, bad.tolist(), strict=True) if not b]
            rest = [d for d, b in zip(members, bad.tolist(), strict=True) if b]
            if keep:
                rest.extend(process_group(events, group, keep, timing))
            return rest

    want_bars = bool(events.bars_changed)
    changed: list[dict[str, int]] | None = [{} for _ in range(count)] if want_bars else None
    base_changed = np.zeros(count, bool)

    # -- base: the bar is stored; mark its window present, remember it, clear the dirty state
    if len(live):
        base_changed[live] = True
        w_b = base_grid.window_of(new_ts)
        front = fb["front"][lr]
        fb["last"][lr] = w_b
        simple = w_b == front
        fb["front"][lr[simple]] = w_b[simple] + 1
        for b, w, n, s in zip(
            [bases[k] for k in live.tolist()], w_b.tolist(), n_b[live].tolist(), simple.tolist(), strict=True
        ):
            if s:
                b.tracker._frontier = w + 1
            else:
                b.tracker.mark_present(w)
                _Cache.sync_tracker(fb, b.data._row, b)
            b.last_window = w
            b.updated = False
            b.dirty_from = n

    # -- derived: update or open the newest window of every live member
    if len(live):
        for name, _, f in derived:
            found = prepared.get(name)
            if found is None:
                continue
            k, psel, r, grid, w, last = found
            _, fin = timing.of(grid)
            block = blocks[name]
            n_d = f["n"][r]
            own_fin = f["fin"][r]
            same = w == last
            grow = ~same
            if grow.any() and int(n_d[grow].max()) >= block.cap:
                block.grow_cols(int(n_d[grow].max()) + 1)
            cap = block.cap
            c = block.cols
            if same.any():
                i = r[same] * cap + (n_d[same] - 1)
                ks = k[same]
                col = c["high"].reshape(-1)
                old = col[i]
                h = new_h[ks]
                col[i] = np.where(h > old, h, old)
                col = c["low"].reshape(-1)
                old = col[i]
                lo = new_l[ks]
                col[i] = np.where(lo < old, lo, old)
                c["close"].reshape(-1)[i] = new_c[ks]
                col = c["volume"].reshape(-1)
                col[i] = col[i] + new_v[ks]
                col = c["count"].reshape(-1)
                col[i] = col[i] + 1
                revised = w[same] < own_fin[same]
                if revised.any():
                    col = c["flags"].reshape(-1)
                    ir = i[revised]
                    col[ir] = col[ir] | _REVISED
            if grow.any():
                rg = r[grow]
                ng = n_d[grow]
                i = rg * cap + ng
                kg, wg = k[grow], w[grow]
                c["ts"].reshape(-1)[i] = grid.starts[wg]
                c["open"].reshape(-1)[i] = new_o[kg]
                c["high"].reshape(-1)[i] = new_h[kg]
                c["low"].reshape(-1)[i] = new_l[kg]
                c["close"].reshape(-1)[i] = new_c[kg]
                c["volume"].reshape(-1)[i] = new_v[kg]
                c["count"].reshape(-1)[i] = 1
                c["expected"].reshape(-1)[i] = grid.expected[wg]
                c["flags"].reshape(-1)[i] = np.where(wg >= np.maximum(fin, own_fin[grow]), _FORMING, np.uint8(0))
                f["n"][rg] = ng + 1
                f["last"][rg] = wg
                front = f["front"][rg]
                simple = wg == front
                f["front"][rg[simple]] = wg[simple] + 1
                ivs = memo.ivs(name)
                for p, wi, s in zip(psel[grow].tolist(), wg.tolist(), simple.tolist(), strict=True):
                    iv = ivs[p]
                    iv.data._n += 1
                    if s:
                        iv.tracker._frontier = wi + 1
                    else:
                        iv.tracker.mark_present(wi)
                        _Cache.sync_tracker(f, iv.data._row, iv)
                    iv.last_window = wi
            if changed is not None:
                first = np.where(same, n_d - 1, n_d).tolist()
                for p, fi in zip(psel.tolist(), first, strict=True):
                    changed[p][name] = fi

    # -- derived: clear the forming flag of windows that became final
    _finalize_rows(cache, blocks, members, rows, derived, timing, changed)

    if changed is not None:
        events.bars_changed.emit_many(
            [(d.symbol, name, fi) for d, ch in zip(members, changed, strict=True) for name, fi in ch.items()]
        )

    # -- quality, gaps and incomplete counts
    quality_events: list[list[str]] | None = [[] for _ in range(count)] if events.quality_changed else None
    ctx = (timing, members, rows, n_b, base_changed, quality_events, bb, cache)
    _refresh(ctx, base_name, bb, fb, np.arange(count), True)
    for name, pos, f in derived:
        _refresh(ctx, name, blocks[name], f, pos, False)
    if quality_events is not None:
        events.quality_changed.emit_many(
            [(d.symbol, name) for d, names in zip(members, quality_events, strict=True) for name in names]
        )
    _establish_uniform(cache, group, members, rows, bases)
    return []


def _uniform_pass(
    events: SessionEvents,
    group: SymbolGroup,
    cache: _Cache,
    members: list[SymbolSessionData],
    timing: PassTiming,
) -> bool:
    """The steady state: every member of a uniform group got one bar, all at ``cache.pending``.

    Every row holds the same counts, newest windows, frontiers, finalized and elapsed windows,
    so the pass decides once (Python scalars) and writes all rows with one numpy operation per
    column; finalizing and quality refreshes that have work take the general vectorised steps.
    Returns False, having changed nothing, when the bar does not simply extend every interval.
    """
    rows, index, r0, bases, trackers, derived = cache.uni  # type: ignore[misc]
    t = cache.pending
    assert t is not None
    base_name = group.base_name
    blocks = group.blocks
    ints = cache.ints
    ib = ints[base_name]
    nb, _, _, el_b, front_b = ib[:_CONTROL, r0].tolist()
    base_grid = bases[0].grid
    w_b = base_grid.window_of_one(t)
    if w_b != front_b or not nb:
        return False  # the bar leaves a gap behind it
    plan = []
    for name, pos, _, ivs, grid, d_index, d_r0, _ in derived:
        n_d, last, own_fin, _, front = ints[name][:_CONTROL, d_r0].tolist()
        w = grid.window_of_one(t)
        if w < last or (w > last and w != front):
            return False
        plan.append((name, pos, ivs, grid, n_d, last, own_fin, w, d_index))
    cache.pending = None

    # -- base: the bar is stored; mark its window present, remember it, clear the dirty state
    ib[1, index] = w_b
    ib[4, index] = w_b + 1
    for b, tracker in zip(bases, trackers, strict=True):
        tracker._frontier = w_b + 1
        b.last_window = w_b
        b.updated = False
        b.dirty_from = nb
    bc = blocks[base_name].cols
    gathered = None

    # -- derived: update or open the newest window
    firsts: list[tuple[str, np.ndarray, int]] = []
    for name, pos, ivs, grid, n_d, last, own_fin, w, ix in plan:
        if gathered is not ix:  # the new base bars of the rows at ``ix``
            new_o, new_h, new_l, new_c, new_v = (bc[f][ix, nb - 1] for f in PRICE_FIELDS)
            gathered = ix
        sl = ix.__class__ is slice
        block = blocks[name]
        c = block.cols
        if w == last:
            j = n_d - 1
            col = c["high"]
            v = col[ix, j]
            np.copyto(v, new_h, where=new_h > v)
            if not sl:
                col[ix, j] = v
            col = c["low"]
            v = col[ix, j]
            np.copyto(v, new_l, where=new_l < v)
            if not sl:
                col[ix, j] = v
            c["close"][ix, j] = new_c
            col = c["volume"]
            col[ix, j] = col[ix, j] + new_v
            col = c["count"]
            col[ix, j] = col[ix, j] + 1
            if w < own_fin:
                col = c["flags"]
                col[ix, j] = col[ix, j] | _REVISED
            firsts.append((name, pos, j))
            continue
        j = n_d
        if j >= block.cap:
            block.grow_cols(j + 1)
            c = block.cols
        _, fin = timing.of(grid)
        c["ts"][ix, j] = grid.starts[w]
        c["open"][ix, j] = new_o
        c["high"][ix, j] = new_h
        c["low"][ix, j] = new_l
        c["close"][ix, j] = new_c
        c["volume"][ix, j] = new_v
        c["count"][ix, j] = 1
        c["expected"][ix, j] = grid.expected[w]
        c["flags"][ix, j] = _FORMING if w >= max(fin, own_fin) else 0
        state = ints[name]
        state[0, ix] = j + 1
        state[1, ix] = w
        state[4, ix] = w + 1
        for iv in ivs:
            iv.data._n = j + 1
            iv.tracker._frontier = w + 1
            iv.last_window = w
        firsts.append((name, pos, j))

    changed: list[dict[str, int]] | None = None
    if events.bars_changed:
        changed = [{} for _ in members]
        for name, pos, j in firsts:
            for p in pos.tolist():
                changed[p][name] = j
    # -- derived: clear the forming flag of windows that became final
    for entry in derived:
        if not _uniform_finalize(cache, blocks, entry, timing, changed):
            _finalize_rows(cache, blocks, members, rows, [entry[:3]], timing, changed)
    if changed is not None:
        events.bars_changed.emit_many(
            [(d.symbol, name, fi) for d, ch in zip(members, changed, strict=True) for name, fi in ch.items()]
        )

    # -- quality, gaps and incomplete counts
    count = len(members)
    quality_events: list[list[str]] | None = [[] for _ in range(count)] if events.quality_changed else None
    fb = cache.f[base_name]
    ctx = (timing, members, rows, fb["n"][rows], np.ones(count, bool), quality_events, blocks[base_name], cache)
    elapsed, _ = timing.of(base_grid)
    el = max(elapsed, el_b)
    if el != el_b:
        ib[3, index] = el
        for b in bases:
            b.elapsed = el
    if not _base_unchanged(base_grid, ib, fb["quality"], index, t, nb, el, w_b + 1):
        _refresh(ctx, base_name, blocks[base_name], fb, np.arange(count), True)
    for entry in derived:
        name, pos, f, _, grid, _, d_r0, _ = entry
        elapsed, _ = timing.of(grid)
        # ``_refresh`` also revisits rows at 0 elapsed windows whose base changed, but with no
        # window elapsed its outcome (no quality, no gaps, nothing incomplete) is what they hold
        if int(ints[name][3, d_r0]) != elapsed and not _uniform_refresh(
            cache, blocks[name], entry, elapsed, t, nb, quality_events
        ):
            _refresh(ctx, name, blocks[name], f, pos, False)
    if quality_events is not None:
        events.quality_changed.emit_many(
            [(d.symbol, name) for d, names in zip(members, quality_events, strict=True) for name in names]
        )
    return True


def _uniform_finalize(cache: _Cache, blocks: dict, entry: tuple, timing: PassTiming, changed) -> bool:
    """``_finalize_rows`` for one derived interval of a uniform group; False leaves it to that.

    Every row holds the same count, newest window and finalized count, so the bars to look at
    are the same columns of every row (their windows may still differ between rows).
    """
    name, _, _, ivs, grid, index, r0, perm = entry
    _, fin = timing.of(grid)
    state = cache.ints[name]
    n, last, own_fin = state[:3, r0].tolist()
    if fin <= own_fin:
        return True  # nothing became final
    tail = min(n, last - own_fin + 1) if last >= own_fin else 0
    if tail > _TAIL:
        return False
    state[2, index] = fin
    for iv in ivs:
        iv.finalized = fin
    cache.fin_all[name] = fin
    if not tail:
        return True
    lo = n - tail
    cols = blocks[name].cols
    flags = cols["flags"][index, lo:n]
    ts = cols["ts"][index, lo:n]
    win = np.zeros(ts.shape, np.int64) if grid.interval.is_daily else (ts - grid.session.open) // grid.interval.seconds
    clear = (win >= own_fin) & (win < fin) & ((flags & _FORMING) > 0)
    if not clear.any():
        return True
    flags[clear] = flags[clear] & _NOT_FORMING
    if index.__class__ is not slice:
        cols["flags"][index, lo:n] = flags
    if changed is not None:
        hit = clear.any(axis=1)
        firsts = lo + np.argmax(clear, axis=1)
        for p, h, fi in zip(perm.tolist(), hit.tolist(), firsts.tolist(), strict=True):
            if h:
                ch = changed[p]
                ch[name] = min(ch.get(name, fi), fi)
    return True


def _uniform_refresh(cache: _Cache, block, entry: tuple, elapsed: int, t: int, nb: int, quality_events) -> bool:
    """``_refresh`` of one derived interval of a uniform group whose elapsed count moved past
    every row's newest window and newest base bar (``t``, ``nb`` bars per row): the live case
    at a window's end. False (nothing changed) leaves it to ``_refresh``."""
    name, _, f, ivs, grid, index, r0, perm = entry
    state = cache.ints[name]
    n, last, _, old_el, front = state[:_CONTROL, r0].tolist()
    if elapsed <= old_el or last >= elapsed or elapsed < front - 1:
        return False  # (a newest window not elapsed has its bar's base bars after ``until``: ``_refresh``)
    until = int(grid.ends[elapsed - 1])
    expected = int(grid.cum_expected[elapsed])
    trailing = elapsed > front
    if t >= until or not expected or (trailing and grid.has_empty_windows):
        return False
    state[3, index] = elapsed
    for iv in ivs:
        iv.elapsed = elapsed
    cache.el_all[name] = elapsed
    quality = 100.0 * nb / expected
    # (gaps, missing, incomplete): the closed runs plus the trailing one, and short bars held
    counts = state[_RUNS:_GAPS, index].copy()
    if trailing:
        counts[0] += 1
        counts[1] += int(grid.cum_slots[elapsed] - grid.cum_slots[min(front, grid.size)])
    if n:  # every bar's window has elapsed
        cols = block.cols
        counts[2] = (cols["count"][index, :n] < cols["expected"][index, :n]).sum(axis=1)
    diff = (f["quality"][index] != quality) | (counts != state[_GAPS:, index]).any(axis=0)
    if not diff.any():
        return True
    k = np.flatnonzero(diff)
    rows = (k + index.start) if index.__class__ is slice else index[k]
    f["quality"][rows] = quality
    counts = counts[:, k]
    state[_GAPS:, rows] = counts
    gap_counts, missings, incompletes = counts.tolist()
    for j, g, m, i in zip(k.tolist(), gap_counts, missings, incompletes, strict=True):
        iv = ivs[j]
        iv.quality = quality
        iv.gap_count = g
        iv.missing = m
        iv.incomplete = i
        if quality_events is not None:
            quality_events[int(perm[j])].append(name)
    return True


def _base_unchanged(grid, ints: np.ndarray, quality: np.ndarray, index, t: int, n: int, el: int, front: int) -> bool:
    """True when the base's quality, gaps and counts stay as stored (rows of a uniform pass).

    Every row holds ``n`` bars, the newest starting at ``t``, and the frontier ``front``; only
    the common case is decided here (False sends the rows through ``_refresh``).
    """
    if not el or t >= int(grid.ends[el - 1]) or el < front - 1:
        return False
    expected = int(grid.cum_expected[el])
    if not expected:
        return False
    q = 100.0 * n / expected
    if not (quality[index] == q).all():
        return False
    runs = ints[_RUNS:_GAPS, index]
    if el > front:
        if grid.has_empty_windows:
            return False
        runs = runs + np.array([[1], [int(grid.cum_slots[el] - grid.cum_slots[min(front, grid.size)])], [0]])
    return not (ints[_GAPS:, index] != runs).any()


def _establish_uniform(
    cache: _Cache, group: SymbolGroup, members: list[SymbolSessionData], rows: np.ndarray, bases: list
) -> None:
    """Mark the group uniform when every member holds every interval with equal control state."""
    if members is not group.member_list() or group.stale or len(members) < 2:
        return
    ints = cache.ints
    base_name = group.base_name
    count = len(rows)
    everyone = np.arange(count)
    derived = []
    base_index = base_r0 = None
    for name in (base_name, *(n for n in cache.f if n != base_name)):
        f = cache.f[name]
        has = f["has"][rows]
        full = bool(has.all())
        pos = everyone if full else np.flatnonzero(has)
        if not len(pos):
            continue
        r = rows if full else rows[pos]
        state = ints[name][:_CONTROL, r]
        if not (state == state[:, :1]).all():
            return
        if full and base_index is not None:
            index, r0 = base_index, base_r0  # the same object: the pass gathers the new bars once for these
        else:
            ordered = np.sort(r)
            r0 = int(ordered[0])
            index = slice(r0, r0 + len(r)) if int(ordered[-1]) == r0 + len(r) - 1 else ordered
        if name == base_name:
            base_index, base_r0 = index, r0
            continue
        # member positions and intervals in the order of ``index`` (ascending rows)
        perm = pos[np.argsort(r, kind="stable")]
        ivs = [members[p].bars[name] for p in perm.tolist()]
        derived.append((name, pos, f, ivs, ivs[0].grid, index, r0, perm))
    cache.uni = (rows, base_index, base_r0, bases, [b.tracker for b in bases], derived)
    cache.uniform = members


def _finalize_rows(
    cache: _Cache,
    blocks: dict,
    members: list[SymbolSessionData],
    rows: np.ndarray,
    derived: list[tuple[str, np.ndarray, dict[str, np.ndarray]]],
    timing: PassTiming,
    changed: list[dict[str, int]] | None,
) -> None:
    """Clear the forming flag of the windows of ``derived`` that became final, vectorised."""
    for name, pos, f in derived:
        grid = members[int(pos[0])].bars[name].grid
        _, fin = timing.of(grid)
        if cache.fin_all.get(name) == fin:
            continue
        rp = rows[pos]
        own_fin = f["fin"][rp]
        need = np.flatnonzero(fin > own_fin)
        if int(own_fin.max()) <= fin:
            cache.fin_all[name] = fin  # every row is (about to be) at ``fin``
        if not len(need):
            continue
        rn = rp[need]
        prev = own_fin[need]
        n_d = f["n"][rn]
        last = f["last"][rn]
        tail = np.where(last >= prev, np.minimum(n_d, last - prev + 1), 0)
        f["fin"][rn] = fin
        ivs = cache.memo.ivs(name)  # type: ignore[union-attr]
        nivs = [ivs[p] for p in pos[need].tolist()]
        for iv in nivs:
            iv.finalized = fin
        slow = tail > _TAIL
        if slow.any():
            for j in np.flatnonzero(slow).tolist():
                iv = nivs[j]
                iv.finalized = int(prev[j])
                fi = finalize_bars(iv, fin)
                if fi is not None and changed is not None:
                    p = int(pos[need[j]])
                    changed[p][name] = min(changed[p].get(name, fi), fi)
        fast = np.flatnonzero(~slow & (tail > 0))
        if not len(fast):
            continue
        block = blocks[name]
        cap = block.cap
        width = int(tail[fast].max())
        r = rn[fast]
        n = n_d[fast]
        j = n[:, None] - width + np.arange(width)[None, :]
        valid = j >= (n - tail[fast])[:, None]
        jc = np.maximum(j, 0)
        flat = r[:, None] * cap + jc
        fl_col = block.cols["flags"].reshape(-1)
        flags = fl_col[flat]
        win = grid.window_of(block.cols["ts"].reshape(-1)[flat].ravel()).reshape(j.shape)
        clear = valid & (win >= prev[fast][:, None]) & (win < fin) & ((flags & _FORMING) > 0)
        if not clear.any():
            continue
        fl_col[flat[clear]] = flags[clear] & _NOT_FORMING
        if changed is not None:
            hit = clear.any(axis=1)
            firsts = jc[np.arange(len(fast)), np.argmax(clear, axis=1)]
            for p, h, fi in zip(pos[need[fast]].tolist(), hit.tolist(), firsts.tolist(), strict=True):
                if h:
                    changed[p][name] = min(changed[p].get(name, fi), fi)


def _refresh(ctx, name: str, block, f: dict[str, np.ndarray], pos: np.ndarray, is_base: bool) -> None:
    """``_refresh_quality`` for the members at ``pos`` whose state calls for it, vectorised."""
    timing, members, rows, n_b, base_changed, quality_events, bb, cache = ctx
    grid = members[int(pos[0])].bars[name].grid
    elapsed, _ = timing.of(grid)
    if not is_base and cache.el_all.get(name) == elapsed and elapsed:
        return  # every row already refreshed at this elapsed count, and no row needs its first
    rp = rows[pos]
    old_el = f["el"][rp]
    if int(old_el.max()) <= elapsed:
        cache.el_all[name] = elapsed
    changed_base = base_changed[pos]
    if is_base:
        cond = changed_base | (old_el != elapsed) | np.isnan(f["quality"][rp])
    else:
        cond = (old_el != elapsed) | (changed_base & (old_el == 0))
    if cond.all():
        p, r, old = pos, rp, old_el  # every row: no gathers
        sel = np.arange(len(pos))
    else:
        sel = np.flatnonzero(cond)
        if not len(sel):
            return
        p = pos[sel]
        r = rp[sel]
        old = old_el[sel]
    ivs = cache.memo.ivs(name)
    if int(old.max()) <= elapsed:  # the common case: every row moves to the grid's count
        el = elapsed
        moved = np.flatnonzero(old != elapsed)
        if len(moved):
            f["el"][r[moved]] = elapsed
            for j in p[moved].tolist():
                ivs[j].elapsed = elapsed
        has = elapsed > 0
        until = int(grid.ends[elapsed - 1]) if has else grid.session.open
        expected = int(grid.cum_expected[elapsed])
    else:
        el = np.maximum(elapsed, old)
        moved = np.flatnonzero(el != old)
        if len(moved):
            f["el"][r[moved]] = el[moved]
            for j, e in zip(p[moved].tolist(), el[moved].tolist(), strict=True):
                ivs[j].elapsed = e
        has = el > 0
        until = np.where(has, grid.ends[np.maximum(el - 1, 0)], grid.session.open)
        expected = grid.cum_expected[el]
    # base bars present before ``until``: all of them when the newest is before it
    nb = n_b[p]
    last_ts = bb.cols["ts"].reshape(-1)[r * bb.cap + np.maximum(nb - 1, 0)]
    present = nb.copy()
    if isinstance(el, int) and (not has or int(last_ts.max()) < until):
        behind = ()  # every newest bar is before ``until`` (the live case)
    else:
        behind = np.flatnonzero(has & (nb > 0) & (last_ts >= until))
    if len(behind):
        for j in behind.tolist():
            d = members[int(p[j])]
            present[j] = d.base.data.count_before(int(np.broadcast_to(until, nb.shape)[j]))
    if isinstance(el, int):
        quality = 100.0 * present / expected if has and expected else np.full(len(sel), np.nan)
    else:
        ok = has & (expected > 0)
        quality = np.where(ok, 100.0 * present / np.where(ok, expected, 1), np.nan)
    # gap count and missing windows from the trackers
    frontier = f["front"][r]
    gap_count = f["nruns"][r].copy()
    missing = f["closed"][r].copy()
    trailing = el > frontier
    gap_count += trailing
    missing += np.where(trailing, grid.cum_slots[el] - grid.cum_slots[np.minimum(frontier, grid.size)], 0)
    slow = el < frontier - 1
    if grid.has_empty_windows:
        slow |= trailing
    if slow.any():
        for j in np.flatnonzero(slow).tolist():
            gap_count[j], missing[j] = ivs[int(p[j])].tracker.missing(
                int(np.broadcast_to(el, frontier.shape)[j])
            )
    # incomplete derived bars among the elapsed windows
    if is_base:
        incomplete = np.zeros(len(sel), np.int64)
    else:
        n_d = f["n"][r]
        width = int(n_d.max())
        if width:
            c = block.cols
            cols = np.arange(width)[None, :]
            stored = cols < n_d[:, None]
            held = ((c["ts"][r, :width] < np.reshape(until, (-1, 1))) & stored).sum(axis=1)
            short = (c["count"][r, :width] < c["expected"][r, :width]) & (cols < held[:, None])
            incomplete = np.where(has, short.sum(axis=1), 0)
        else:
            incomplete = np.zeros(len(sel), np.int64)
    counts = np.stack((gap_count, missing, incomplete))
    ints = cache.ints[name]
    old_q = f["quality"][r]
    same_q = (quality == old_q) | (np.isnan(quality) & np.isnan(old_q))
    diff = np.flatnonzero(~same_q | (counts != ints[_GAPS:, r]).any(axis=0))
    if not len(diff):
        return
    rd = r[diff]
    quality = quality[diff]
    counts = counts[:, diff]
    f["quality"][rd] = quality
    ints[_GAPS:, rd] = counts
    gap_counts, missings, incompletes = counts.tolist()
    for pj, q, g, m, i in zip(p[diff].tolist(), quality.tolist(), gap_counts, missings, incompletes, strict=True):
        iv = ivs[pj]
        iv.quality = None if q != q else q
        iv.gap_count = g
        iv.missing = m
        iv.incomplete = i
        if quality_events is not None:
            quality_events[pj].append(name)
