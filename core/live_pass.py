"""The vectorised live pass: one processor pass over every member of a ``SymbolGroup`` at once.

A group's members store each interval in one row of a shared ``RowBlock``, so the live
path (each member's base got at most one new bar, after its newest) is a handful of
numpy operations per field and interval across all rows, instead of per-symbol scalar
work. It produces exactly what ``DataProcessor._process_symbol`` produces for the same
members (bars, flags, quality, gaps, incomplete counts, events); members that do not fit
(a new bar before a derived interval's newest window) are handed back untouched.

Per-row Python is kept to plain attribute reads and writes (``_n``, ``last_window``,
gap-tracker frontier, ``elapsed``…), which cost tens of nanoseconds, never numpy scalars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.bars import FORMING, REVISED

if TYPE_CHECKING:
    from core.processor import DataProcessor
    from core.session_data import BarIntervalData, SymbolGroup, SymbolSessionData

__all__ = ["process_group"]

_FORMING = np.uint8(FORMING)
_NOT_FORMING = np.uint8(~np.uint8(FORMING))
_REVISED = np.uint8(REVISED)
#: widest tail (in bars) the vectorised finalize scans; rows needing more go one by one
_TAIL = 8


def _ints(values) -> np.ndarray:
    return np.fromiter(values, np.int64)


def process_group(
    proc: DataProcessor,
    group: SymbolGroup,
    members: list[SymbolSessionData],
    clock: float,
    timing: dict[int, tuple[int, int]],
) -> list[SymbolSessionData]:
    """Run one pass for ``members``; returns the members that must take the per-symbol path."""
    base_name = group.base.name
    blocks = group.blocks
    bb = blocks[base_name]
    count = len(members)
    rows = np.fromiter((d.group_row for d in members), np.intp, count)
    bases = [d.bars[base_name] for d in members]
    n_b = _ints(b.data._n for b in bases)
    live = np.flatnonzero(np.fromiter((b.updated for b in bases), bool, count))
    base_grid = bases[0].grid

    # the derived intervals, each with the member positions that hold it
    derived: list[tuple[str, np.ndarray, list[BarIntervalData]]] = []
    for name in blocks:
        if name == base_name:
            continue
        held = [d.bars.get(name) for d in members]
        if all(iv is not None for iv in held):
            derived.append((name, np.arange(count), held))  # type: ignore[arg-type]
        else:
            pos = np.fromiter((k for k, iv in enumerate(held) if iv is not None), np.intp)
            if len(pos):
                derived.append((name, pos, [iv for iv in held if iv is not None]))

    # the new base bar of each live member
    if len(live):
        lr, li = rows[live], n_b[live] - 1
        cols = bb.cols
        new_ts = cols["ts"][lr, li]
        new_o, new_h, new_l, new_c, new_v = (cols[f][lr, li] for f in ("open", "high", "low", "close", "volume"))
        # members whose bar lands before a derived interval's newest window take the slow path
        at_live = np.full(count, -1, np.intp)
        at_live[live] = np.arange(len(live))
        bad = np.zeros(count, bool)
        for _, pos, ivs in derived:
            k = at_live[pos]
            sel = k >= 0
            if not sel.any():
                continue
            w = ivs[0].grid.window_of(new_ts[k[sel]])
            last = _ints(ivs[j].last_window for j in np.flatnonzero(sel).tolist())
            if (w < last).any():
                bad[pos[sel][w < last]] = True
        if bad.any():
            keep = [d for d, b in zip(members, bad.tolist(), strict=True) if not b]
            rest = [d for d, b in zip(members, bad.tolist(), strict=True) if b]
            if keep:
                rest.extend(process_group(proc, group, keep, clock, timing))
            return rest
    else:
        at_live = None

    events = proc.session_data.events
    want_bars = bool(events.bars_changed)
    changed: list[dict[str, int]] | None = [{} for _ in range(count)] if want_bars else None
    base_changed = np.zeros(count, bool)

    # -- base: the bar is stored; mark its window present, remember it, clear the dirty state
    if len(live):
        base_changed[live] = True
        w_b = base_grid.window_of(new_ts)
        live_bases = [bases[k] for k in live.tolist()]
        for b, w, n in zip(live_bases, w_b.tolist(), n_b[live].tolist(), strict=True):
            tracker = b.tracker
            if w == tracker._frontier:
                tracker._frontier = w + 1
            else:
                tracker.mark_present(w)
            b.last_window = w
            b.updated = False
            b.dirty_from = n

    # -- derived: update or open the newest window of every live member
    if len(live):
        for name, pos, ivs in derived:
            k = at_live[pos]
            sel = np.flatnonzero(k >= 0)
            if not len(sel):
                continue
            k = k[sel]
            sivs = [ivs[j] for j in sel.tolist()] if len(sel) != len(ivs) else ivs
            grid = sivs[0].grid
            _, fin = proc._timing(grid, clock, timing)
            block = blocks[name]
            r = rows[pos[sel]]
            n_d = _ints(iv.data._n for iv in sivs)
            last = _ints(iv.last_window for iv in sivs)
            own_fin = _ints(iv.finalized for iv in sivs)
            w = grid.window_of(new_ts[k])
            same = w == last
            grow = ~same
            c = block.cols
            if same.any():
                rs, i = r[same], n_d[same] - 1
                ks = k[same]
                old = c["high"][rs, i]
                h = new_h[ks]
                c["high"][rs, i] = np.where(h > old, h, old)
                old = c["low"][rs, i]
                lo = new_l[ks]
                c["low"][rs, i] = np.where(lo < old, lo, old)
                c["close"][rs, i] = new_c[ks]
                c["volume"][rs, i] = c["volume"][rs, i] + new_v[ks]
                c["count"][rs, i] = c["count"][rs, i] + 1
                revised = w[same] < own_fin[same]
                if revised.any():
                    rr, ir = rs[revised], i[revised]
                    c["flags"][rr, ir] = c["flags"][rr, ir] | _REVISED
            if grow.any():
                rg, i = r[grow], n_d[grow]
                if int(i.max()) >= block.cap:
                    block.grow_cols(int(i.max()) + 1)
                    c = block.cols
                kg, wg = k[grow], w[grow]
                c["ts"][rg, i] = grid.starts[wg]
                c["open"][rg, i] = new_o[kg]
                c["high"][rg, i] = new_h[kg]
                c["low"][rg, i] = new_l[kg]
                c["close"][rg, i] = new_c[kg]
                c["volume"][rg, i] = new_v[kg]
                c["count"][rg, i] = 1
                c["expected"][rg, i] = grid.expected[wg]
                c["flags"][rg, i] = np.where(wg >= np.maximum(fin, own_fin[grow]), _FORMING, np.uint8(0))
            first = np.where(same, n_d - 1, n_d).tolist()
            for iv, is_new, wi in zip(sivs, grow.tolist(), w.tolist(), strict=True):
                iv.live = None
                if is_new:
                    iv.data._n += 1
                    tracker = iv.tracker
                    if wi == tracker._frontier:
                        tracker._frontier = wi + 1
                    else:
                        tracker.mark_present(wi)
                    iv.last_window = wi
            if changed is not None:
                for p, f in zip(pos[sel].tolist(), first, strict=True):
                    changed[p][name] = f

    # -- derived: clear the forming flag of windows that became final
    for name, pos, ivs in derived:
        grid = ivs[0].grid
        _, fin = proc._timing(grid, clock, timing)
        own_fin = _ints(iv.finalized for iv in ivs)
        need = np.flatnonzero(fin > own_fin)
        if not len(need):
            continue
        nivs = [ivs[j] for j in need.tolist()]
        prev = own_fin[need]
        n_d = _ints(iv.data._n for iv in nivs)
        last = _ints(iv.last_window for iv in nivs)
        tail = np.where(last >= prev, np.minimum(n_d, last - prev + 1), 0)
        for iv in nivs:
            iv.finalized = fin
        slow = tail > _TAIL
        if slow.any():
            for j in np.flatnonzero(slow).tolist():
                iv = nivs[j]
                iv.finalized = int(prev[j])
                f = proc._finalize(iv, fin)
                if f is not None and changed is not None:
                    p = int(pos[need[j]])
                    changed[p][name] = min(changed[p].get(name, f), f)
        fast = np.flatnonzero(~slow & (tail > 0))
        if not len(fast):
            continue
        width = int(tail[fast].max())
        r = rows[pos[need[fast]]]
        n = n_d[fast]
        j = n[:, None] - width + np.arange(width)[None, :]
        valid = j >= (n - tail[fast])[:, None]
        jc = np.maximum(j, 0)
        c = blocks[name].cols
        rr = np.broadcast_to(r[:, None], j.shape)
        flags = c["flags"][rr, jc]
        win = grid.window_of(c["ts"][rr, jc].ravel()).reshape(j.shape)
        clear = valid & (win >= prev[fast][:, None]) & (win < fin) & ((flags & _FORMING) > 0)
        if not clear.any():
            continue
        c["flags"][rr[clear], jc[clear]] = flags[clear] & _NOT_FORMING
        if changed is not None:
            hit = clear.any(axis=1)
            firsts = jc[np.arange(len(fast)), np.argmax(clear, axis=1)]
            for p, h, f in zip(pos[need[fast]].tolist(), hit.tolist(), firsts.tolist(), strict=True):
                if h:
                    changed[p][name] = min(changed[p].get(name, f), f)

    if changed is not None:
        for d, ch in zip(members, changed, strict=True):
            for name, f in ch.items():
                events.bars_changed.emit(d.symbol, name, f)

    # -- quality, gaps and incomplete counts
    quality_events: list[list[str]] | None = [[] for _ in range(count)] if events.quality_changed else None
    _refresh(proc, bb, bases, np.arange(count), rows, n_b, base_changed, True, base_name, clock, timing, quality_events)
    for name, pos, ivs in derived:
        _refresh(
            proc, blocks[name], ivs, pos, rows, n_b, base_changed, False, name, clock, timing, quality_events,
            bases=bases, base_block=bb,
        )
    if quality_events is not None:
        for d, names in zip(members, quality_events, strict=True):
            for name in names:
                events.quality_changed.emit(d.symbol, name)
    return []


def _refresh(
    proc: DataProcessor,
    block,
    ivs: list[BarIntervalData],
    pos: np.ndarray,
    rows: np.ndarray,
    n_b: np.ndarray,
    base_changed: np.ndarray,
    is_base: bool,
    name: str,
    clock: float,
    timing: dict[int, tuple[int, int]],
    quality_events: list[list[str]] | None,
    bases: list[BarIntervalData] | None = None,
    base_block=None,
) -> None:
    """``_refresh_quality`` for the members at ``pos`` whose state calls for it, vectorised."""
    grid = ivs[0].grid
    elapsed, _ = proc._timing(grid, clock, timing)
    old_el = _ints(iv.elapsed for iv in ivs)
    changed_base = base_changed[pos]
    if is_base:
        old_q = np.array([iv.quality for iv in ivs], np.float64)
        cond = changed_base | (old_el != elapsed) | np.isnan(old_q)
    else:
        cond = (old_el != elapsed) | (changed_base & (old_el == 0))
    sel = np.flatnonzero(cond)
    if not len(sel):
        return
    sivs = [ivs[j] for j in sel.tolist()] if len(sel) != len(ivs) else ivs
    el = np.maximum(elapsed, old_el[sel])
    for iv, e, o in zip(sivs, el.tolist(), old_el[sel].tolist(), strict=True):
        if e != o:
            iv.elapsed = e
    p = pos[sel]
    has = el > 0
    until = np.where(has, grid.ends[np.maximum(el - 1, 0)], grid.session.open)
    expected = grid.cum_expected[el]
    # base bars present before ``until``: all of them when the newest is before it
    nb = n_b[p]
    bcols = (block if is_base else base_block).cols
    last_ts = bcols["ts"][rows[p], np.maximum(nb - 1, 0)]
    present = nb.copy()
    behind = np.flatnonzero(has & (nb > 0) & (last_ts >= until))
    if len(behind):
        base_ivs = ivs if is_base else bases
        for j in behind.tolist():
            present[j] = base_ivs[int(p[j])].data.count_before(int(until[j]))
    ok = has & (expected > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        quality = np.where(ok, 100.0 * present / np.where(ok, expected, 1), np.nan)
    # gap count and missing windows from the trackers
    trackers = [iv.tracker for iv in sivs]
    frontier = _ints(t._frontier for t in trackers)
    gap_count = _ints(len(t._runs) for t in trackers)
    missing = _ints(t._closed_missing for t in trackers)
    trailing = el > frontier
    gap_count += trailing
    missing += np.where(trailing, grid.cum_slots[el] - grid.cum_slots[np.minimum(frontier, grid.size)], 0)
    slow = el < frontier - 1
    if grid.has_empty_windows:
        slow |= trailing
    if slow.any():
        for j in np.flatnonzero(slow).tolist():
            gap_count[j], missing[j] = trackers[j].missing(int(el[j]))
    # incomplete derived bars among the elapsed windows
    if is_base:
        incomplete = np.zeros(len(sel), np.int64)
    else:
        n_d = _ints(iv.data._n for iv in sivs)
        width = int(n_d.max()) if len(n_d) else 0
        if width:
            c = block.cols
            r = rows[p]
            cols = np.arange(width)[None, :]
            stored = cols < n_d[:, None]
            held = ((c["ts"][r, :width] < until[:, None]) & stored).sum(axis=1)
            short = (c["count"][r, :width] < c["expected"][r, :width]) & (cols < held[:, None])
            incomplete = np.where(has, short.sum(axis=1), 0)
        else:
            incomplete = np.zeros(len(sel), np.int64)
    old_q = np.array([iv.quality for iv in sivs], np.float64)
    old_g = _ints(iv.gap_count for iv in sivs)
    old_m = _ints(iv.missing for iv in sivs)
    old_i = _ints(iv.incomplete for iv in sivs)
    same_q = (quality == old_q) | (np.isnan(quality) & np.isnan(old_q))
    diff = np.flatnonzero(~same_q | (gap_count != old_g) | (missing != old_m) | (incomplete != old_i))
    for j in diff.tolist():
        iv = sivs[j]
        q = float(quality[j])
        iv.quality = None if q != q else q
        iv.gap_count = int(gap_count[j])
        iv.missing = int(missing[j])
        iv.incomplete = int(incomplete[j])
        if quality_events is not None:
            quality_events[int(p[j])].append(name)
