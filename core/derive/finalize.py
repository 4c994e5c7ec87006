"""Finalizing: a derived bar stops forming once its window's end plus grace has passed."""

from __future__ import annotations

import numpy as np

from core.bars import FORMING
from core.session_data import BarIntervalData

__all__ = ["finalize_bars"]


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
    flags = series.buffer("flags")
    forming = flags[lo:hi] & FORMING
    if not forming.any():
        return None
    flags[lo:hi] &= ~FORMING
    return lo + int(np.argmax(forming > 0))
