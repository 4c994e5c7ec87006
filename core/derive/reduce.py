"""The one OHLCV reduction: consecutive bars of a segment become one bar.

Open of the first, max high, min low, close of the last, summed volume, summed base-bar
counts. Live re-aggregation (:mod:`core.derive.reaggregate`), several appended bars of one row
(:func:`core.derive.advance.segments_of`) and batch history derivation (:mod:`core.batch`) all
reduce sorted bars per window with :func:`reduce_by_key` (a window index, or a window start over
many sessions), so they agree bar for bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Reduced", "fold_segments", "reduce_by_key", "reduce_segments", "segment_starts"]


def segment_starts(key: np.ndarray) -> np.ndarray:
    """Where a run of equal ``key`` values (a window index, a window start) begins: the segments'
    first indices, 0 first (``key`` non-empty)."""
    if len(key) == 1:
        return np.zeros(1, np.intp)
    change = np.empty(len(key), bool)
    change[0] = True
    np.not_equal(key[1:], key[:-1], out=change[1:])
    return np.flatnonzero(change)


#: integer values whose magnitudes add up to less than this sum exactly in any order
_EXACT_BELOW = float(2**52)


def fold_segments(values: np.ndarray, starts: np.ndarray, initial: float | None = None) -> np.ndarray:
    """Each segment's values added one after the other in time order, ``((a0 + a1) + a2) + ...``,
    the first segment onto ``initial`` when given (a window's volume so far).

    That is the sum a pass folding one bar at a time reaches, so a derived volume does not
    depend on how many bars a pass brings (numpy's reductions add pairwise: their last bit
    depends on where passes cut a window). Whole numbers (share volumes) add up exactly in
    any order, so they take ``reduceat``; fractions go in order. ``starts`` as for
    :func:`reduce_segments`.
    """
    if _whole_numbers(values, initial):
        sums: np.ndarray = np.add.reduceat(values, starts)
        if initial is not None:
            sums[0] += initial
        return sums
    n = len(values)
    lead = 0 if initial is None else 1
    lengths = np.diff(starts, append=n)
    # one row per segment, its values first (after ``initial`` in the first), zeros after them
    # (x + 0.0 == x): accumulate runs along each row in order
    width = int(lengths.max()) + lead
    table = np.zeros((len(starts), width), values.dtype)
    shift = np.arange(len(starts)) * width - starts + lead
    table.reshape(-1)[np.arange(n) + np.repeat(shift, lengths)] = values
    if initial is not None:
        table[0, 0] = initial
    folded: np.ndarray = np.add.accumulate(table, axis=1)[:, -1]
    return folded


def _whole_numbers(values: np.ndarray, initial: float | None) -> bool:
    """True when every value (and ``initial``) is a whole number and their magnitudes add up to less
    than 2**52: every partial sum is then a whole number held exactly, whatever the order."""
    if initial is not None and not (float(initial).is_integer() and abs(initial) < _EXACT_BELOW):
        return False
    magnitude = float(np.add.reduce(np.abs(values))) + (0.0 if initial is None else abs(initial))
    return magnitude < _EXACT_BELOW and bool((np.floor(values) == values).all())


@dataclass(frozen=True, slots=True)
class Reduced:
    """One bar per segment."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    count: np.ndarray  # base bars held


def reduce_segments(
    starts: np.ndarray,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    count: np.ndarray | None = None,
) -> Reduced:
    """Reduce the bars ``[starts[k], starts[k + 1])`` (the last segment runs to the end) to one bar each.

    ``starts`` are sorted indices beginning with 0; ``count`` is the base bars each input bar
    holds (None: one each).
    """
    n = len(open)
    lasts = np.empty_like(starts)
    lasts[:-1] = starts[1:] - 1
    lasts[-1] = n - 1
    held = np.diff(starts, append=n) if count is None else np.add.reduceat(count, starts)
    return Reduced(
        open[starts],
        np.maximum.reduceat(high, starts),
        np.minimum.reduceat(low, starts),
        close[lasts],
        np.add.reduceat(volume, starts),
        held,
    )


def reduce_by_key(
    key: np.ndarray,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    count: np.ndarray | None = None,
) -> tuple[np.ndarray, Reduced]:
    """Sorted bars reduced per run of equal ``key`` (each bar's window): the runs' first indices and
    one bar per run (``key`` non-empty)."""
    starts = segment_starts(key)
    return starts, reduce_segments(starts, open, high, low, close, volume, count)
