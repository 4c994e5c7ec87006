"""Session-anchored windows: which bars a session expects, per interval.

Window ``k`` of an interval ``I`` is ``[open + k*I, min(open + (k+1)*I, close))``; ``1d``
is the whole session. Every interval (the streamed base included) is measured against
its own grid, so quality and gaps are one computation for base and derived alike.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval

__all__ = ["WindowGrid", "window_grid"]


@dataclass(frozen=True, eq=False)
class WindowGrid:
    """The windows of ``interval`` in ``session``, and how many ``base`` bars each expects."""

    session: Session
    interval: Interval
    base: Interval
    starts: np.ndarray
    ends: np.ndarray
    expected: np.ndarray
    #: cumulative expected base bars: ``cum_expected[k]`` = sum over windows ``< k``
    cum_expected: np.ndarray = field(repr=False)
    #: cumulative expected windows (windows expecting at least one base bar)
    cum_slots: np.ndarray = field(repr=False)
    has_empty_windows: bool = False

    @property
    def size(self) -> int:
        return len(self.starts)

    @property
    def step(self) -> int:
        return self.interval.seconds or (self.session.close - self.session.open)

    def window_of(self, ts: np.ndarray) -> np.ndarray:
        """Window index of each start time, in the shape of ``ts`` (caller passes in-session times only)."""
        if self.interval.is_daily:
            return np.zeros(np.shape(ts), np.int64)
        return (np.asarray(ts, np.int64) - self.session.open) // self.interval.seconds

    def window_of_one(self, ts: int) -> int:
        return 0 if self.interval.is_daily else (ts - self.session.open) // self.interval.seconds

    @cached_property
    def ends_list(self) -> list[int]:
        """``ends`` as Python ints (``bisect`` on it is several times cheaper than ``searchsorted``)."""
        ends: list[int] = self.ends.tolist()
        return ends

    def elapsed(self, clock: float) -> int:
        """Number of windows whose end is at or before ``clock``."""
        return int(np.searchsorted(self.ends, clock, side="right"))

    def finalized(self, clock: float, grace: float) -> int:
        """Number of windows that are final: end + grace at or before ``clock``."""
        return int(np.searchsorted(self.ends, clock - grace, side="right"))


def _build(session: Session, interval: Interval, base: Interval) -> WindowGrid:
    step = interval.seconds or (session.close - session.open)
    starts = np.arange(session.open, session.close, step, dtype=np.int64)
    ends = np.minimum(starts + step, session.close)
    expected = np.fromiter(
        (session.expected_slots(base.seconds, int(s), int(e)) for s, e in zip(starts, ends, strict=True))
        if session.break_start is not None
        else (),
        dtype=np.int64,
        count=len(starts) if session.break_start is not None else 0,
    )
    if session.break_start is None:
        # No break: every window expects ceil(length / base) slots (the last may be short).
        expected = -(-(ends - starts) // base.seconds)
    cum_expected = np.concatenate(([0], np.cumsum(expected)))
    cum_slots = np.concatenate(([0], np.cumsum(expected > 0)))
    return WindowGrid(
        session=session,
        interval=interval,
        base=base,
        starts=starts,
        ends=ends,
        expected=expected,
        cum_expected=cum_expected,
        cum_slots=cum_slots,
        has_empty_windows=bool(np.any(expected == 0)),
    )


_lock = threading.Lock()
_cache: dict[tuple[Session, Interval, Interval], WindowGrid] = {}
_CACHE_LIMIT = 4096


def window_grid(session: Session, interval: Interval, base: Interval) -> WindowGrid:
    """The shared grid for ``(session, interval, base)``; symbols of one session reuse it."""
    key = (session, interval, base)
    with _lock:
        grid = _cache.get(key)
        if grid is None:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            grid = _cache[key] = _build(session, interval, base)
        return grid
