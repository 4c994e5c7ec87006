"""The one OHLCV reduction: consecutive bars of a segment become one bar.

Open of the first, max high, min low, close of the last, volume added in time order
(:func:`fold_segments`, the one summation rule), summed base-bar counts. Live re-aggregation
(:mod:`core.derive.reaggregate`), several appended bars of one row
(:func:`core.derive.advance.segments_of`), batch history derivation (:mod:`core.batch`) and the
reconcile reference windows (:mod:`core.reconcile.windows`) all reduce sorted bars per window with
:func:`reduce_by_key` or :func:`reduce_segments`, so they agree bar for bar, volume to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Reduced", "adds_exactly", "fold_segments", "reduce_by_key", "reduce_segments", "segment_starts"]


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
#: an accumulation of one segment costs about this many vector additions of one position
_CALLS_PER_ACCUMULATION = 2


def fold_segments(
    values: np.ndarray, starts: np.ndarray, initial: float | None = None, exact: bool | None = None
) -> np.ndarray:
    """Each segment's values added one after the other in time order, ``((a0 + a1) + a2) + ...``,
    the first segment onto ``initial`` when given (a window's volume so far).

    This is the one summation rule of a derived volume: it is the sum a pass folding one bar at
    a time reaches, so a derived volume does not depend on how many bars a pass brings nor on
    which path derived it (numpy's reductions add pairwise: their last bit would depend on where
    passes cut a window). Whole numbers (share volumes) add up exactly in any order, so they take
    ``reduceat``; fractions go in order. ``exact`` says which the values are when the caller knows
    (None: look). ``starts`` as for :func:`reduce_segments`.
    """
    if exact is None:
        exact = adds_exactly(values, initial)
    if exact:
        sums: np.ndarray = np.add.reduceat(values, starts)
        if initial is not None:
            sums[0] += initial
        return sums
    if initial is not None:  # ``initial`` is the first segment's first term
        values = np.concatenate(([initial], values))
        starts = starts + 1
        starts[0] = 0
    return _in_order(values, starts)


def adds_exactly(values: np.ndarray, initial: float | None = None) -> bool:
    """True when every value (and ``initial``) is a whole number and their magnitudes add up to less
    than 2**52: every partial sum is then a whole number held exactly, whatever the order (and so
    is every sum of such sums)."""
    lead = 0.0 if initial is None else abs(initial)
    if not (float(lead).is_integer() and lead < _EXACT_BELOW):
        return False
    if not len(values):
        return True
    largest = max(float(values.max()), -float(values.min()))  # (two passes without a temporary: cheap)
    if lead + len(values) * largest >= _EXACT_BELOW and lead + float(np.add.reduce(np.abs(values))) >= _EXACT_BELOW:
        return False
    return bool((np.floor(values) == values).all())


def _in_order(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each segment's sum in time order, position by position: every segment's first value, then
    one vector addition per position across the segments that long (longest first, so they are a
    prefix); once few segments remain for many positions, each finishes with an accumulation of
    its own. No padding, so it costs about the values' own size however uneven the lengths."""
    if len(starts) == 1:
        one: np.ndarray = np.add.accumulate(values)[-1:]
        return one
    lengths = np.diff(starts, append=len(values))
    order = np.argsort(-lengths, kind="stable")
    first, length = starts[order], lengths[order]
    sums = values[first]
    width = int(length[0])
    longer = len(starts) - np.cumsum(np.bincount(length))  # longer[j]: how many segments outlast position j
    for j in range(1, width):
        k = int(longer[j])
        if _CALLS_PER_ACCUMULATION * k < width - j:
            for i, (a, m) in enumerate(zip(first[:k].tolist(), length[:k].tolist(), strict=True)):
                sums[i] = np.add.accumulate(np.concatenate((sums[i : i + 1], values[a + j : a + m])))[-1]
            break
        sums[:k] += values[first[:k] + j]
    folded: np.ndarray = np.empty_like(sums)
    folded[order] = sums
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
    volume_starts: np.ndarray | None = None,
    exact: bool | None = None,
) -> Reduced:
    """Reduce the bars ``[starts[k], starts[k + 1])`` (the last segment runs to the end) to one bar each.

    ``starts`` are sorted indices beginning with 0; ``count`` is the base bars each input bar
    holds (None: one each; integers, so their sums are exact in any order). The volumes are
    folded in time order (:func:`fold_segments`, ``exact`` passed on): ``volume`` is the input
    bars' own, or, with ``volume_starts`` (where each segment begins in it), the base bars' volumes
    under bars that are themselves reduced (a sum of sums is not the sum one bar at a time makes).
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
        fold_segments(volume, starts if volume_starts is None else volume_starts, exact=exact),
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
