"""Session-anchored windows: which bars a session expects, per interval.

Window ``k`` of an interval ``I`` is ``[open + k*I, min(open + (k+1)*I, close))``; ``1d``
is the whole session. Every interval (the streamed base included) is measured against
its own grid, so quality and gaps are one computation for base and derived alike.

With extended hours the windows are anchored at each segment's start (pre-market 04:00,
regular 09:30, post-market 16:00 or the early close): a window never straddles two
segments and the last window of a segment may be short. ``1d`` stays the regular
session's bar, so a bar outside it has no ``1d`` window (:meth:`WindowGrid.window_of` gives
-1 and the engine leaves it out of that interval).

:meth:`WindowGrid.window_of` / :meth:`WindowGrid.window_of_one` are the only place a
window index is computed from a time.
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
    #: window ``k`` starts at ``open + k * step`` for every ``k`` (regular hours, and extended
    #: grids whose segments all start on it): the index is plain arithmetic
    arithmetic: bool = True
    #: some in-session times lie in no window (``1d`` with extended hours): ``window_of`` gives -1
    partial: bool = False

    @property
    def size(self) -> int:
        return len(self.starts)

    @property
    def step(self) -> int:
        return self.interval.seconds or (self.session.close - self.session.open)

    def window_of(self, ts: np.ndarray) -> np.ndarray:
        """Window index of each start time, in the shape of ``ts`` (caller passes in-session times
        only); -1 for a time in no window (only on a ``partial`` grid)."""
        if self.partial:
            ts = np.asarray(ts, np.int64)
            index = np.searchsorted(self.starts, ts, side="right") - 1
            inside = (index >= 0) & (ts < self.ends[np.maximum(index, 0)])
            return np.where(inside, index, -1).astype(np.int64)
        if self.interval.is_daily:
            return np.zeros(np.shape(ts), np.int64)
        if self.arithmetic:
            return (np.asarray(ts, np.int64) - self.session.open) // self.interval.seconds
        return (np.searchsorted(self.starts, np.asarray(ts, np.int64), side="right") - 1).astype(np.int64)

    def window_of_one(self, ts: int) -> int:
        """:meth:`window_of` for one time."""
        if self.partial:
            index = int(np.searchsorted(self.starts, ts, side="right")) - 1
            return index if index >= 0 and ts < int(self.ends[index]) else -1
        if self.interval.is_daily:
            return 0
        if self.arithmetic:
            return (ts - self.session.open) // self.interval.seconds
        return int(np.searchsorted(self.starts, ts, side="right")) - 1

    def windows_from(self, ts: int) -> int:
        """The first window ending after ``ts`` (``size`` when none): where bars from ``ts`` on go."""
        return int(np.searchsorted(self.ends, ts, side="right"))

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


def _segment_windows(session: Session, interval: Interval) -> tuple[np.ndarray, np.ndarray]:
    """Window starts and ends: per segment ``arange(start, end, step)``, each cut at its segment's end."""
    if interval.is_daily:
        regular = session.regular
        return np.array([regular.start], np.int64), np.array([regular.end], np.int64)
    step = interval.seconds
    parts = [np.arange(seg.start, seg.end, step, dtype=np.int64) for seg in session.segments]
    starts = np.concatenate(parts)
    ends = np.concatenate([np.minimum(p + step, seg.end) for p, seg in zip(parts, session.segments, strict=True)])
    return starts, ends


def _build(session: Session, interval: Interval, base: Interval) -> WindowGrid:
    if session.segments:
        return _build_segmented(session, interval, base)
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
    return _grid(session, interval, base, starts, ends, expected)


def _build_segmented(session: Session, interval: Interval, base: Interval) -> WindowGrid:
    """The grid of an extended session: windows anchored per segment (``1d``: the regular session)."""
    starts, ends = _segment_windows(session, interval)
    # every window starts on its segment's base grid (an interval is a multiple of its base)
    expected = -(-(ends - starts) // base.seconds)
    step = interval.seconds
    arithmetic = not interval.is_daily and bool(np.all(starts == session.open + step * np.arange(len(starts))))
    return _grid(session, interval, base, starts, ends, expected, arithmetic=arithmetic, partial=interval.is_daily)


def _grid(
    session: Session,
    interval: Interval,
    base: Interval,
    starts: np.ndarray,
    ends: np.ndarray,
    expected: np.ndarray,
    *,
    arithmetic: bool = True,
    partial: bool = False,
) -> WindowGrid:
    """A grid from its windows and their expected base bars; the running sums follow from those."""
    return WindowGrid(
        session=session,
        interval=interval,
        base=base,
        starts=starts,
        ends=ends,
        expected=expected,
        cum_expected=np.concatenate(([0], np.cumsum(expected))),
        cum_slots=np.concatenate(([0], np.cumsum(expected > 0))),
        has_empty_windows=bool(np.any(expected == 0)),
        arithmetic=arithmetic,
        partial=partial,
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
