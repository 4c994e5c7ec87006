"""The one update rule of a derived interval: a new base bar folds into its row's newest window
or opens the next one, written once for any set of rows.

Every path calls :func:`advance`: a group's rows in step (a slice, one decision for all), a
group's rows out of step (an index array, one decision per row), and one symbol on its own
(its row of the group's block, or its own series seen as a one-row block). Several appended
bars of one row are first reduced per window (:func:`core.derive.reduce.reduce_by_key`),
so a pass costs one call per touched window, never a re-read of the newest window. A bar
before a row's newest window is not this rule's: the caller re-aggregates the touched windows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from session_monitor.core.bars import BAR_FIELDS, FORMING, REVISED, BarArrays, BarSeries
from session_monitor.core.derive.reduce import fold_segments, reduce_by_key
from session_monitor.core.derive.table import CONTROL, StateTable, Target

if TYPE_CHECKING:
    from session_monitor.core.session_data import BarIntervalData
    from session_monitor.core.windows import WindowGrid

__all__ = [
    "UNTOUCHED", "Rows", "Segments", "Target", "advance", "advance_one", "base_present", "segments_of", "target_of",
]

_COLUMNS = (*BAR_FIELDS, "count", "expected", "flags")
_FORMING = np.uint8(FORMING)
_REVISED = np.uint8(REVISED)
_ONE = np.zeros(1, np.intp)
#: a pass left an interval's bars as they were: every new base bar lies in none of its windows
#: (1d with extended hours: a pre- or post-market bar)
UNTOUCHED = -1

#: rows of a (row × bar) block: a slice when the rows are consecutive and in step, else an index array
Rows = slice | np.ndarray
#: the intervals at some positions of the advanced rows (to mark gaps and note revisions on)
IntervalsAt = Callable[[np.ndarray], "list[BarIntervalData]"]


class Segments(NamedTuple):
    """Base bars reduced per window, one per advanced row (a single base bar holds ``count`` 1)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    held: np.ndarray | int  # base bars in each segment
    #: ``volume`` is already the window's whole volume (the bars folded onto the newest bar's, in order)
    volume_is_total: bool = False


def target_of(interval: BarIntervalData, extra: int) -> Target:
    """``interval`` as one row of a target, with room for ``extra`` more bars: its row of the group's
    block, or its own series as a one-row block (row 0 of its own one-row table either way)."""
    series: BarSeries = interval.data
    if extra:
        series.reserve(extra)
    block = series.block
    if block is not None:
        return Target(block.cols, interval.table, interval.grid)
    ts = series.buffer("ts")
    found = interval.own_target
    if found is None or found.cols["ts"].base is not ts:  # (re)allocated since: new views
        cols = {name: series.buffer(name)[None, :] for name in (_COLUMNS if series.with_counts else BAR_FIELDS)}
        found = interval.own_target = Target(cols, interval.table, interval.grid)
    return found


def segments_of(bars: BarArrays, window: np.ndarray) -> tuple[Segments, np.ndarray]:
    """Sorted base bars of one row reduced per window: the segments and their windows."""
    m = len(window)
    if m == 1:
        return Segments(bars.open, bars.high, bars.low, bars.close, bars.volume, 1), window
    if window[0] == window[-1]:  # one window (a tick of a few bars): plain reductions beat reduceat
        one = Segments(bars.open[:1], np.maximum.reduce(bars.high, keepdims=True),
                       np.minimum.reduce(bars.low, keepdims=True), bars.close[-1:],
                       fold_segments(bars.volume, _ONE), m)
        return one, window[:1]
    firsts, reduced = reduce_by_key(window, bars.open, bars.high, bars.low, bars.close, bars.volume)
    segments = Segments(reduced.open, reduced.high, reduced.low, reduced.close, reduced.volume, reduced.count)
    return segments, window[firsts]


def advance(
    target: Target,
    rows: Rows,
    window: int | np.ndarray,
    seg: Segments,
    final: int,
    intervals: IntervalsAt,
    clock: float,
) -> int | np.ndarray:
    """Fold ``seg`` into each row's newest bar (its window is ``window``) or open window ``window``
    after it; returns the changed bar index (one for all rows in step, else one per row).

    ``rows`` in step (a slice, ``window`` one int, every row holding the same state) take one
    decision for all; otherwise each row decides. No row's ``window`` may be before its newest.
    Bars of windows before ``final`` (or the row's own final count) are final when opened;
    folding into a final bar marks it revised (noted on ``intervals(positions)`` at ``clock``).
    """
    state = target.state
    if isinstance(window, int):
        r0 = rows.start if isinstance(rows, slice) else int(rows[0])
        values: list[int] = state.ints[CONTROL, r0].tolist()
        n, last, own_fin, _, front = values
        if window == last:
            revised = window < own_fin
            _fold(target.cols, rows, n - 1, seg, revised)
            if revised:
                _note_revised(intervals(_all(state, rows)), int(target.grid.starts[window]), clock)
            return n - 1
        if window < last:
            raise ValueError(f"a bar of window {window} behind the newest window {last}")
        _open(target, rows, n, window, seg, max(final, own_fin))
        if window == front:  # the common case: no gap left behind
            state.n[rows], state.last[rows], state.front[rows] = n + 1, window, window + 1
        else:
            _opened(state, rows, n, window, intervals)
        return n
    assert isinstance(rows, np.ndarray)
    return _advance_rows(target, rows, window, seg, final, intervals, clock)


def _advance_rows(
    target: Target,
    rows: np.ndarray,
    window: np.ndarray,
    seg: Segments,
    final: int,
    intervals: IntervalsAt,
    clock: float,
) -> np.ndarray:
    """:func:`advance` for rows out of step: one decision per row."""
    state = target.state
    n = state.n[rows]
    last = state.last[rows]
    if (window < last).any():
        raise ValueError("a bar behind its row's newest window")
    same = window == last
    own_fin = state.fin[rows]
    if same.all():
        revised = window < own_fin
        _fold(target.cols, rows, n - 1, seg, revised)
        if revised.any():
            at = np.flatnonzero(revised)
            for iv, ts in zip(intervals(at), target.grid.starts[window[at]].tolist(), strict=True):
                iv.note_revised(ts, clock)
        folded: np.ndarray = n - 1
        return folded
    if not same.any():
        _open(target, rows, n, window, seg, np.maximum(final, own_fin))
        _opened(state, rows, n, window, intervals)
        opened: np.ndarray = n
        return opened
    fold, grow = np.flatnonzero(same), np.flatnonzero(~same)
    _advance_rows(target, rows[fold], window[fold], _take(seg, fold), final, lambda at: intervals(fold[at]), clock)
    _advance_rows(target, rows[grow], window[grow], _take(seg, grow), final, lambda at: intervals(grow[at]), clock)
    mixed: np.ndarray = np.where(same, n - 1, n)
    return mixed


def advance_one(interval: BarIntervalData, bars: BarArrays, final: int, clock: float) -> int | None:
    """Base bars appended after one symbol's newest, into its derived ``interval`` (its row, by
    :func:`advance`); the first changed bar index, or None (nothing written) when the first bar
    lands behind the newest window (the caller re-aggregates the touched windows); ``UNTOUCHED``
    when no bar lies in a window of ``interval``.

    The bars are reduced per window first, so the newest bar takes one fold and the later windows
    open in one write: a pass never re-reads the newest window (1d over 1s stays linear).
    """
    grid = interval.grid
    if grid.partial:
        bars = _in_windows(grid, bars)
        if not len(bars.ts):
            return UNTOUCHED
    if len(bars.ts) == 1:  # the live case
        seg, windows = Segments(bars.open, bars.high, bars.low, bars.close, bars.volume, 1), None
        head = grid.window_of_one(int(bars.ts[0]))
    else:
        seg, windows = segments_of(bars, grid.window_of(bars.ts))
        head = int(windows[0])
    row, state = interval.row, interval.table
    if head < int(state.last[row]):
        return None
    state.n[row] = len(interval.data)
    last = int(state.last[row])
    target = target_of(interval, (1 if windows is None else len(windows)) - (head == last))  # room for the opened
    rows = slice(row, row + 1)

    def owner(_: np.ndarray) -> list[BarIntervalData]:
        return [interval]

    first: int | None = None
    if windows is None or len(windows) == 1 or head == last:
        lead = seg if windows is None else _lead(seg, head == last, target, row, bars.volume)
        first = int(advance(target, rows, head, lead, final, owner, clock))
        windows = None if windows is None else windows[1:]
    if windows is not None and len(windows):  # the later windows open in one write
        n = int(state.n[row])
        _open(target, np.full(len(windows), row), n + np.arange(len(windows)), windows,
              _take(seg, slice(-len(windows), None)), max(final, int(state.fin[row])))
        state.n[row] = n + len(windows)
        state.last[row] = int(windows[-1])
        interval.tracker.mark_present_many(windows)
        first = n if first is None else first
    interval.data.set_length(int(state.n[row]))
    return first


def _lead(seg: Segments, onto_newest: bool, target: Target, row: int, volume: np.ndarray) -> Segments:
    """The first segment of several bars; when it lands in the row's newest window (``onto_newest``)
    and holds more than one bar, its volume is folded onto that bar's volume one bar after the
    other (as passes of one bar each would add them), so the sum does not depend on the pass."""
    lead = _take(seg, slice(0, 1))
    held = lead.held if isinstance(lead.held, int) else int(lead.held[0])
    if not onto_newest or held == 1:  # (newest + a: the fold's own addition)
        return lead
    newest = float(target.cols["volume"][row, int(target.state.n[row]) - 1])
    return lead._replace(volume=fold_segments(volume[:held], _ONE, newest), volume_is_total=True)


def base_present(
    state: StateTable, rows: int | np.ndarray, windows: int | np.ndarray, intervals: IntervalsAt
) -> None:
    """Base bars just stored hold their windows: one new bar per row (``windows[k]`` in ``rows[k]``;
    one int each for a single row's single bar), or several bars of one row (``rows`` one row,
    ``windows`` those bars' windows, oldest first). Each row remembers its newest window; the gap
    frontier moves past it (through the row's gap tracker where the bar skips windows or lands
    behind the frontier)."""
    if isinstance(windows, int):
        state.last[rows] = windows
        if windows == int(state.front[rows]):
            state.front[rows] = windows + 1
        elif windows >= 0:
            intervals(_ONE)[0].tracker.mark_present(windows)
        return
    assert isinstance(rows, np.ndarray)
    if len(windows) > len(rows):  # (a window -1: a bar in no window of a partial grid, skipped)
        intervals(_ONE)[0].tracker.mark_present_many(windows[windows >= 0])
        state.last[rows] = windows[-1]
        return
    front = state.front[rows]
    state.last[rows] = windows
    simple = windows == front
    if simple.all():
        state.front[rows] = windows + 1
        return
    state.front[rows[simple]] = windows[simple] + 1
    late = np.flatnonzero(~simple)
    for iv, w in zip(intervals(late), windows[late].tolist(), strict=True):
        iv.tracker.mark_present(w)


def _in_windows(grid: WindowGrid, bars: BarArrays) -> BarArrays:
    """The bars that lie in a window of a partial grid: the others (pre- and post-market bars for
    1d with extended hours) are not part of its interval."""
    inside = grid.window_of(bars.ts) >= 0
    return bars if inside.all() else BarArrays(*(col[inside] for col in bars))


def _take(seg: Segments, at: np.ndarray | slice) -> Segments:
    count = seg.held if isinstance(seg.held, int) else seg.held[at]
    return Segments(seg.open[at], seg.high[at], seg.low[at], seg.close[at], seg.volume[at], count, seg.volume_is_total)


def _all(state: StateTable, rows: Rows) -> np.ndarray:
    """Positions of every row of ``rows``."""
    count = len(range(*rows.indices(state.size))) if isinstance(rows, slice) else len(rows)
    return np.arange(count)


def _fold(
    cols: dict[str, np.ndarray], rows: Rows, col: int | np.ndarray, seg: Segments, revised: bool | np.ndarray
) -> None:
    """The newest bar at ``(rows, col)`` takes ``seg``: max high, min low, its close, summed volume and
    count. (Read, compute, write back: cheaper than in-place ufuncs on such small views.)"""
    at = (rows, col)
    c = cols["high"]
    c[at] = np.maximum(c[at], seg.high)
    c = cols["low"]
    c[at] = np.minimum(c[at], seg.low)
    cols["close"][at] = seg.close
    c = cols["volume"]
    c[at] = seg.volume if seg.volume_is_total else c[at] + seg.volume
    c = cols["count"]
    c[at] = c[at] + seg.held
    if isinstance(revised, bool):
        if revised:
            c = cols["flags"]
            c[at] = c[at] | _REVISED
    elif revised.any():
        c = cols["flags"]
        c[at] = c[at] | np.where(revised, _REVISED, np.uint8(0))


def _open(
    target: Target, rows: Rows, col: int | np.ndarray, window: int | np.ndarray, seg: Segments, final: int | np.ndarray
) -> None:
    """A new bar at ``(rows, col)`` holding ``seg`` in window ``window``, forming unless final."""
    cols, grid = target.cols, target.grid
    cols["ts"][rows, col] = grid.starts[window]
    cols["open"][rows, col] = seg.open
    cols["high"][rows, col] = seg.high
    cols["low"][rows, col] = seg.low
    cols["close"][rows, col] = seg.close
    cols["volume"][rows, col] = seg.volume
    cols["count"][rows, col] = seg.held
    cols["expected"][rows, col] = grid.expected[window]
    if isinstance(window, int) and isinstance(final, int):
        cols["flags"][rows, col] = _FORMING if window >= final else 0
    else:
        cols["flags"][rows, col] = np.where(np.asarray(window) >= final, _FORMING, np.uint8(0))


def _opened(
    state: StateTable, rows: Rows, n: int | np.ndarray, window: int | np.ndarray, intervals: IntervalsAt
) -> None:
    """Rows hold one more bar, the newest in ``window``: the gap frontier moves past it (a window
    not at the frontier goes through the row's gap tracker, which closes the runs it skipped)."""
    state.n[rows] = n + 1
    state.last[rows] = window
    front = state.front[rows]
    simple = np.asarray(window == front)
    if simple.all():
        state.front[rows] = np.asarray(window) + 1
        return
    if isinstance(window, int):
        for iv in intervals(_all(state, rows)):
            iv.tracker.mark_present(window)
        return
    assert isinstance(rows, np.ndarray)
    state.front[rows[simple]] = window[simple] + 1
    late = np.flatnonzero(~simple)
    for iv, w in zip(intervals(late), window[late].tolist(), strict=True):
        iv.tracker.mark_present(w)


def _note_revised(intervals: list[BarIntervalData], ts: int, clock: float) -> None:
    for iv in intervals:
        iv.note_revised(ts, clock)
