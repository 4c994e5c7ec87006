"""Finalizing: a derived bar stops forming once its window's end plus grace has passed.

The rule is written once, :func:`clear_forming`, over any set of rows of (row × bar)
columns: a group's ``RowBlock`` (the vectorised pass, its rows in step or not) or one
symbol's series seen as a one-row block (:func:`finalize_bars`, the per-symbol path).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from session_monitor.core.bars import FORMING
from session_monitor.core.session_data import BarIntervalData
from session_monitor.core.windows import WindowGrid

__all__ = ["Cleared", "clear_forming", "finalize_bars"]

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


def finalize_bars(derived: BarIntervalData, finalized: int) -> int | None:
    """Clear the forming flag of ``derived``'s bars in windows ``[derived.finalized, finalized)``.

    Records ``finalized`` as the interval's final window count and returns the index of the
    first bar that changed, or None when none did.
    """
    grid = derived.grid
    previous = derived.finalized
    derived.finalized = finalized
    series = derived.data
    lo = series.count_before(grid.starts[previous]) if previous < grid.size else len(series)
    hi = series.count_before(grid.ends[finalized - 1])
    if hi <= lo:
        return None
    one_row = slice(0, 1)
    cleared = clear_forming(
        series.buffer("flags")[None, :], series.buffer("ts")[None, :], one_row, lo, hi, previous, finalized, grid
    )
    return None if cleared is None else cleared.firsts()[1][0]
