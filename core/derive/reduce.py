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


def fold_segments(values: np.ndarray, starts: np.ndarray, initial: float | None = None) -> np.ndarray:
    """Each segment's values added one after the other in time order, ``((a0 + a1) + a2) + ...``,
    the first segment onto ``initial`` when given (a window's volume so far).

    That is the sum a pass folding one bar at a time reaches, so a derived volume does not
    depend on how many bars a pass brings (numpy's reductions add pairwise: their last bit
    depends on where passes cut a window). ``starts`` as for :func:`reduce_segments`.
    """
    n = len(values)
    lead = 0 if initial is None else 1
    if len(starts) == 1:
        column = values if initial is None else np.concatenate((np.array([initial], values.dtype), values))
        return np.add.accumulate(column)[-1:]
    lengths = np.diff(starts, append=n)
    owner = np.repeat(np.arange(len(starts)), lengths)
    # one column per segment, padded after its values with zeros (x + 0.0 == x): accumulate runs
    # down each column in order
    table = np.zeros((int(lengths.max()) + lead, len(starts)), values.dtype)
    table[np.arange(n) - starts[owner] + lead, owner] = values
    if initial is not None:
        table[0, 0] = initial
    folded: np.ndarray = np.add.accumulate(table, axis=0)[-1]
    return folded


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
