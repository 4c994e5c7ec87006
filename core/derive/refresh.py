"""Quality, gaps and incomplete bars at the pass's clock, written once over any rows of a Target.

An interval's quality is the base bars present before the end of its last elapsed window over
the base bars those windows expect; its gaps are the tracker's closed runs plus the open run
from the frontier to the elapsed count; incomplete bars are elapsed bars holding fewer base
bars than expected. :func:`needs_refresh` says which rows can have changed (the elapsed count
moved, or the base changed before the end of the last elapsed window), :func:`refresh` recomputes
them for any rows (a group's rows, or one symbol's row), and :func:`refresh_in_step` is its
shortcut for rows in step (one decision for all; None leaves them to :func:`refresh`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from session_monitor.core.derive.table import CONTROL, EL, OUTCOME, RUN_TOTALS, StateTable, Target
from session_monitor.core.windows import WindowGrid

if TYPE_CHECKING:
    from session_monitor.core.session_data import BarIntervalData

__all__ = ["BaseRows", "InStep", "needs_refresh", "refresh", "refresh_in_step"]

IntervalsAt = Callable[[np.ndarray], "list[BarIntervalData]"]
_NOTHING = np.empty(0, np.intp)
_NOTHING.flags.writeable = False


class BaseRows(NamedTuple):
    """The base bars the refreshed rows count, one entry per refreshed row."""

    ts: np.ndarray  # the base interval's (row × bar) start column (the same rows as the interval's)
    n: np.ndarray  # base bars each row holds
    changed: np.ndarray  # bool: the row's base changed in this pass
    since: np.ndarray  # start of the row's first changed base bar (where changed)


class InStep(NamedTuple):
    """What rows in step share: every row holds ``nb`` base bars, the newest starting at ``t``, and
    its base changed from the bar starting at ``since`` on (None: unchanged)."""

    t: int
    nb: int
    since: int | None


def until_of(grid: WindowGrid, el: int | np.ndarray) -> int | np.ndarray:
    """The end of the last of ``el`` elapsed windows (the open when none), per row or for one."""
    if isinstance(el, int):
        return int(grid.ends_list[el - 1]) if el else grid.session.open
    ends: np.ndarray = np.where(el > 0, grid.ends[np.maximum(el - 1, 0)], grid.session.open)
    return ends


def needs_refresh(
    grid: WindowGrid, old_el: int | np.ndarray, elapsed: int, changed: bool | np.ndarray, since: int | np.ndarray,
    is_base: bool,
) -> bool | np.ndarray:
    """Which rows' quality, gaps or incomplete count can have changed: the elapsed count moved, the
    base changed with a bar before the end of the last elapsed window (a late bar, or a bar that
    came after the clock passed its window), or (base rows) the base changed. With no window
    elapsed a derived row holds no quality, gaps or incomplete bars whatever its base holds.
    Works on one row (Python scalars) or many (arrays)."""
    moved = old_el != elapsed
    if is_base:
        return moved | changed
    return moved | (changed & (since < until_of(grid, old_el)))


def refresh(
    target: Target, rows: np.ndarray, base: BaseRows, elapsed: int, is_base: bool, intervals: IntervalsAt
) -> np.ndarray:
    """Recompute the rows :func:`needs_refresh` names (a row with no quality yet too, for the base);
    returns the positions (into ``rows``) whose outcome changed."""
    state, grid = target.state, target.grid
    old_el = state.el[rows]
    need = needs_refresh(grid, old_el, elapsed, base.changed, base.since, is_base)
    if is_base:
        need = need | np.isnan(state.quality[rows])
    sel = np.flatnonzero(need)
    if not len(sel):
        return sel
    r, old = rows[sel], old_el[sel]
    span = _advance_elapsed(state, grid, r, old, elapsed)
    quality = _quality(base.ts, r, base.n[sel], span, int(grid.starts[0]) if grid.partial else None)
    gap_count, missing = _gap_counts(state, grid, r, span.el, lambda at: intervals(sel[at]))
    incomplete = np.zeros(len(sel), np.int64) if is_base else _incomplete(target.cols, state, r, span)
    counts = np.stack((gap_count, missing, incomplete))
    old_q = state.quality[r]
    same_q = (quality == old_q) | (np.isnan(quality) & np.isnan(old_q))
    diff = np.flatnonzero(~same_q | (counts != state.ints[OUTCOME, r]).any(axis=0))
    if len(diff):
        state.quality[r[diff]] = quality[diff]
        state.ints[OUTCOME, r[diff]] = counts[:, diff]
    out: np.ndarray = sel[diff]
    return out


def refresh_in_step(
    target: Target, rows: slice | np.ndarray, r0: int, step: InStep, elapsed: int, is_base: bool
) -> np.ndarray | None:
    """:func:`refresh` for rows in step (the same control state in every row, ``r0`` the first), decided
    once; the positions (into ``rows``) whose outcome changed, or None when only :func:`refresh` can
    tell (no window elapsed, a closed run past the elapsed count, a base bar at or after the last
    elapsed end, nothing expected, or an open gap over a grid with empty windows)."""
    state, grid = target.state, target.grid
    old_el = int(state.ints[EL, r0])
    if not is_base and not needs_refresh(grid, old_el, elapsed, step.since is not None, step.since or 0, False):
        return _NOTHING
    values: list[int] = state.ints[CONTROL, r0].tolist()
    n, _, _, _, front = values
    el = max(elapsed, old_el)  # the clock never runs backwards
    found = _in_step(grid, el, front, step.t, step.nb)
    if found is None:
        return None
    if el != old_el:
        state.el[rows] = el
    # (gaps, missing, incomplete): the closed runs plus the open one, and short bars held
    counts = state.ints[RUN_TOTALS, rows].copy()
    if found.open_gaps:
        counts[0] += 1
        counts[1] += found.open_missing
    if not is_base and n:  # every bar's window has elapsed (the newest base bar's has)
        cols = target.cols
        counts[2] = (cols["count"][rows, :n] < cols["expected"][rows, :n]).sum(axis=1)
    diff = np.flatnonzero((state.quality[rows] != found.quality) | (counts != state.ints[OUTCOME, rows]).any(axis=0))
    if len(diff):
        at = (diff + rows.start) if isinstance(rows, slice) else rows[diff]
        state.quality[at] = found.quality
        state.ints[OUTCOME, at] = counts[:, diff]
    return diff


class _InStep(NamedTuple):
    """The quality and open gap of rows in step at some elapsed window count (see ``_in_step``)."""

    quality: float
    open_gaps: int  # 1 when a gap is open from the frontier to the elapsed count, else 0
    open_missing: int  # the windows it misses


def _in_step(grid: WindowGrid, el: int, front: int, t: int, nb: int) -> _InStep | None:
    """Quality and the open gap at ``el`` elapsed windows of rows each holding ``nb`` base bars, the
    newest starting at ``t``, and the gap frontier ``front``; None when only :func:`refresh` can tell."""
    if not el or el < front - 1 or t >= int(grid.ends_list[el - 1]) or grid.partial:
        return None
    expected = int(grid.cum_expected[el])
    if not expected:
        return None
    if el <= front:
        return _InStep(100.0 * nb / expected, 0, 0)
    if grid.has_empty_windows:
        return None
    return _InStep(100.0 * nb / expected, 1, int(grid.cum_slots[el] - grid.cum_slots[min(front, grid.size)]))


class _Elapsed(NamedTuple):
    """The elapsed windows of the refreshed rows: one int for all, or one per row."""

    el: int | np.ndarray
    has: bool | np.ndarray  # any window elapsed
    until: int | np.ndarray  # the end of the last elapsed window (the open when none)
    expected: int | np.ndarray  # base bars the elapsed windows expect


def _advance_elapsed(state: StateTable, grid: WindowGrid, r: np.ndarray, old: np.ndarray, elapsed: int) -> _Elapsed:
    """Move the rows to ``elapsed`` windows (the clock never runs backwards: a row ahead stays)."""
    if int(old.max()) <= elapsed:  # the common case: every row moves to the grid's count
        moved = np.flatnonzero(old != elapsed)
        if len(moved):
            state.el[r[moved]] = elapsed
        return _Elapsed(elapsed, elapsed > 0, until_of(grid, elapsed), int(grid.cum_expected[elapsed]))
    el = np.maximum(elapsed, old)
    moved = np.flatnonzero(el != old)
    if len(moved):
        state.el[r[moved]] = el[moved]
    return _Elapsed(el, el > 0, until_of(grid, el), grid.cum_expected[el])


def _quality(base_ts: np.ndarray, r: np.ndarray, nb: np.ndarray, span: _Elapsed, first: int | None) -> np.ndarray:
    """Quality per row: base bars present before ``until`` (and from ``first`` on, the start of a
    partial grid's first window: 1d with extended hours) over the base bars expected."""
    last_ts = base_ts[r, np.maximum(nb - 1, 0)]
    present = nb.copy()
    if isinstance(span.el, int) and (not span.has or int(last_ts.max()) < int(span.until)):
        behind = np.zeros(0, np.intp)  # every newest bar is before ``until`` (the live case)
    else:
        behind = np.flatnonzero(span.has & (nb > 0) & (last_ts >= span.until))
    if len(behind):
        until = np.broadcast_to(span.until, nb.shape)
        for j in behind.tolist():
            present[j] = int(np.searchsorted(base_ts[r[j], : nb[j]], until[j], side="left"))
    if first is not None:  # base bars before the first window are not part of this interval
        before = (np.searchsorted(base_ts[r[j], : nb[j]], first) for j in range(len(r)))
        present -= np.fromiter(before, np.int64, len(r))
    if isinstance(span.el, int):
        if span.has and span.expected:
            return np.asarray(100.0 * present / span.expected)
        return np.full(len(r), np.nan)
    ok = span.has & (span.expected > 0)
    quality: np.ndarray = np.where(ok, 100.0 * present / np.where(ok, span.expected, 1), np.nan)
    return quality


def _gap_counts(
    state: StateTable, grid: WindowGrid, r: np.ndarray, el: int | np.ndarray, intervals: IntervalsAt
) -> tuple[np.ndarray, np.ndarray]:
    """Gap count and missing windows per row, from the frontier and closed runs (the tracker itself
    where a closed run reaches past the elapsed count, or empty windows split the open run)."""
    frontier = state.front[r]
    gap_count = state.nruns[r].copy()
    missing = state.closed[r].copy()
    trailing = el > frontier
    gap_count += trailing
    missing += np.where(trailing, grid.cum_slots[el] - grid.cum_slots[np.minimum(frontier, grid.size)], 0)
    slow = el < frontier - 1
    if grid.has_empty_windows:
        slow |= trailing
    if slow.any():
        els = np.broadcast_to(el, frontier.shape)
        at = np.flatnonzero(slow)
        for j, iv in zip(at.tolist(), intervals(at), strict=True):
            gap_count[j], missing[j] = iv.tracker.missing(int(els[j]))
    return gap_count, missing


def _incomplete(cols: dict[str, np.ndarray], state: StateTable, r: np.ndarray, span: _Elapsed) -> np.ndarray:
    """Incomplete derived bars among the elapsed windows, per row."""
    n_d = state.n[r]
    width = int(n_d.max())
    if not width:
        return np.zeros(len(r), np.int64)
    at = np.arange(width)[None, :]
    stored = at < n_d[:, None]
    held = ((cols["ts"][r, :width] < np.reshape(span.until, (-1, 1))) & stored).sum(axis=1)
    short = (cols["count"][r, :width] < cols["expected"][r, :width]) & (at < held[:, None])
    return np.asarray(np.where(span.has, short.sum(axis=1), 0))
