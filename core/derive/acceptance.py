"""The rules a streamed base bar must pass to be stored as a plain append, in one place.

A base bar is taken when it starts inside the session (the break excluded,
:meth:`Session.contains`; with extended hours: inside any segment, pre-market to
post-market), on the base interval's grid anchored at the open (at its segment's start
with extended hours), and after the
symbol's newest bar. Storage applies them to one bar (:func:`appends_one`, the scalar live
path) or to one bar for each of many rows (:func:`appends`); a bar that fails takes the
general merge path, which tells apart out-of-session, off-grid, late bars and corrections.
"""

from __future__ import annotations

import numpy as np

from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval

__all__ = ["appends", "appends_one", "on_grid"]


def on_grid(session: Session, base: Interval, ts: np.ndarray) -> np.ndarray:
    """Which starts fall on the ``base`` grid anchored at the session open (at each segment's start)."""
    if session.segments:
        starts = np.array([seg.start for seg in session.segments], np.int64)
        anchor = starts[np.maximum(np.searchsorted(starts, ts, side="right") - 1, 0)]
        segmented: np.ndarray = (ts - anchor) % base.seconds == 0
        return segmented
    result: np.ndarray = (ts - session.open) % base.seconds == 0
    return result


def appends_one(session: Session, base: Interval, ts: int, newest: int | None) -> bool:
    """True when a bar starting at ``ts`` is in session, on the grid and after ``newest`` (None: no bar)."""
    if not session.contains(ts) or (newest is not None and ts <= newest):
        return False
    if session.segments:
        segment = session.segment_of(ts)
        return segment is not None and (ts - segment.start) % base.seconds == 0
    return (ts - session.open) % base.seconds == 0


def appends(session: Session, base: Interval, ts: np.ndarray, newest: np.ndarray, held: np.ndarray) -> np.ndarray:
    """:func:`appends_one` for one bar per row: row ``k`` holds ``held[k]`` bars, the newest at ``newest[k]``."""
    taken: np.ndarray = session.in_session_mask(ts) & on_grid(session, base, ts) & ((held == 0) | (ts > newest))
    return taken
