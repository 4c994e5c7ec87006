"""Finalizing: a derived bar stops forming once its window's end plus grace has passed.

Written once, :func:`finalize`, over any set of rows of a :class:`~core.derive.table.Target`:
a group's rows in step (a slice: one decision for all), a group's rows out of step (an index
array), or one symbol's row (its row of the group's block, or its own series as a one-row
block). A row's bars that can still be forming are its newest ones, from the first window
not yet final on (one bar per window), so each row looks at that tail only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from session_monitor.core.bars import FORMING
from session_monitor.core.derive.table import FIN, N, Target
from session_monitor.core.windows import WindowGrid

__all__ = ["Cleared", "Finalized", "clear_forming", "finalize"]

#: widest tail (in bars) looked at for many rows at once; a row with a longer one is looked at alone
_TAIL = 8

_FORMING = np.uint8(FORMING)
_NOT_FORMING = np.uint8(~np.uint8(FORMING))


class Cleared(NamedTuple):
    """The bars that stopped forming, among the (row × bar) cells :func:`clear_forming` looked at."""

    clear: np.ndarray  # bool per looked-at cell
    bars: slice | np.ndarray  # the cells' bar indices: the same columns of every row, or one per cell

    def firsts(self) -> tuple[list[bool], list[int]]:
        """Per row: whether any bar stopped forming, and the first that did (where any did)."""
        at = np.argmax(self.clear, axis=1)
        bars = self.bars
        first = (bars.start + at) if isinstance(bars, slice) else bars[np.arange(len(at)), at]
        hit: list[bool] = np.asarray(self.clear.any(axis=1)).tolist()
        return hit, first.tolist()


def clear_forming(
    flags: np.ndarray,
    ts: np.ndarray,
    rows: slice | np.ndarray,
    lo: int | np.ndarray,
    n: int | np.ndarray,
    prev: int | np.ndarray,
    fin: int,
    grid: WindowGrid,
) -> Cleared | None:
    """Clear the forming flag of the bars in columns ``[lo, n)`` of ``rows`` whose window lies in
    ``[prev, fin)``; None when no bar changed.

    ``flags`` and ``ts`` are (row × bar) columns. ``lo`` and ``n`` are one int for every row (the
    same columns of each: rows in step, or a single row) or one value per row (``rows`` an index
    array); ``prev`` is each row's final window count before this pass (an int or one per row).
    """
    held: np.ndarray | None = None
    if isinstance(lo, int) and isinstance(n, int):
        bars: slice | np.ndarray = slice(lo, n)
        index: tuple[slice | np.ndarray, slice | np.ndarray] = (rows, bars)
    else:
        width = int(np.max(n - lo))
        cols = np.asarray(n)[:, None] - width + np.arange(width)[None, :]
        held = cols >= np.asarray(lo)[:, None]
        bars = np.maximum(cols, 0)
        index = (np.asarray(rows)[:, None], bars)
    fl = flags[index]  # a view when rows and bars are slices, else a copy written back below
    win = grid.window_of(ts[index])
    clear = (win >= (prev if isinstance(prev, int) else prev[:, None])) & (win < fin) & ((fl & _FORMING) > 0)
    if held is not None:
        clear &= held
    if not clear.any():
        return None
    fl[clear] &= _NOT_FORMING
    if not (isinstance(rows, slice) and isinstance(bars, slice)):
        flags[index] = fl
    return Cleared(clear, bars)


class Finalized(NamedTuple):
    """The rows (positions into the rows :func:`finalize` got) where a bar stopped forming, and the
    first such bar of each."""

    at: list[int]
    first: list[int]


def finalize(target: Target, rows: slice | np.ndarray, fin: int) -> Finalized | None:
    """Move ``rows`` to ``fin`` final windows (a row already there stays) and clear the forming flag
    of their bars in the windows that became final; None when no bar changed.

    A slice is rows in step (every row holds the same bar count, newest window and final count);
    the early exit (nothing became final) then costs one look at the first row.
    """
    state = target.state
    if isinstance(rows, slice):
        values: list[int] = state.ints[N : FIN + 1, rows.start].tolist()
        n, last, own = values
        if fin <= own:
            return None
        state.fin[rows] = fin
        tail = min(n, last - own + 1) if last >= own else 0
        if not tail:
            return None
        cleared = _clear(target, rows, n - tail, n, own, fin)
        return None if cleared is None else _found(np.arange(cleared.clear.shape[0]), cleared)
    own_rows = state.fin[rows]
    need = np.flatnonzero(own_rows < fin)
    if not len(need):
        return None
    r, prev = rows[need], own_rows[need]
    n_r, last_r = state.n[r], state.last[r]
    tails = np.where(last_r >= prev, np.minimum(n_r, last_r - prev + 1), 0)
    state.fin[r] = fin
    at: list[int] = []
    first: list[int] = []
    narrow = np.flatnonzero((tails > 0) & (tails <= _TAIL))
    if len(narrow):  # one look at the tails of these rows together
        cleared = _clear(target, r[narrow], n_r[narrow] - tails[narrow], n_r[narrow], prev[narrow], fin)
        found = None if cleared is None else _found(need[narrow], cleared)
        if found is not None:
            at, first = found
    for j in np.flatnonzero(tails > _TAIL).tolist():  # a long tail (a batch made many bars final): alone
        k, t = int(r[j]), int(n_r[j])
        cleared = _clear(target, slice(k, k + 1), t - int(tails[j]), t, int(prev[j]), fin)
        if cleared is not None:
            at.append(int(need[j]))
            first.append(cleared.firsts()[1][0])
    return Finalized(at, first) if at else None


def _clear(target: Target, rows: slice | np.ndarray, lo: int | np.ndarray, n: int | np.ndarray,
           prev: int | np.ndarray, fin: int) -> Cleared | None:
    cols = target.cols
    return clear_forming(cols["flags"], cols["ts"], rows, lo, n, prev, fin, target.grid)


def _found(positions: np.ndarray, cleared: Cleared) -> Finalized | None:
    hits, firsts = cleared.firsts()
    at = [p for p, h in zip(positions.tolist(), hits, strict=True) if h]
    first = [f for f, h in zip(firsts, hits, strict=True) if h]
    return Finalized(at, first) if at else None
