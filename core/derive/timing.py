"""Which windows a pass's clock has closed: elapsed (end passed) and final (end + grace passed)."""

from __future__ import annotations

from bisect import bisect_right
from typing import NamedTuple

from session_monitor.core.windows import WindowGrid

__all__ = ["PassTiming", "WindowTiming"]


class WindowTiming(NamedTuple):
    """Window counts of one grid at the pass's clock."""

    #: windows whose end is at or before the clock (quality and gaps count these)
    elapsed: int
    #: windows whose end plus grace is at or before the clock (their bars are final)
    finalized: int


class PassTiming:
    """One pass's clock, with each grid's window counts computed once and shared by every symbol."""

    __slots__ = ("_memo", "clock", "grace")

    def __init__(self, clock: float, grace: float) -> None:
        self.clock = clock
        self.grace = grace
        self._memo: dict[int, WindowTiming] = {}

    def of(self, grid: WindowGrid) -> WindowTiming:
        """The counts for ``grid`` (grids are shared per session, so the memo is keyed by identity)."""
        key = id(grid)
        found = self._memo.get(key)
        if found is None:
            ends = grid.ends_list
            found = self._memo[key] = WindowTiming(
                bisect_right(ends, self.clock), bisect_right(ends, self.clock - self.grace)
            )
        return found
