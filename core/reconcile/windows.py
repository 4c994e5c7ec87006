"""Window conventions of bar vendors, and deriving bars on any of them.

Session Monitor anchors its windows at the session open (1h bars at 09:30, 10:30 …,
``1d`` stamped at the open). Many vendors align intraday windows to the clock instead
(Lean's "09:00" hour bar covers 09:30–10:00, then 10:00, 11:00 …) and stamp a daily bar at
local midnight. To compare like with like, a reference's convention is detected from its
stamps and our base bars are derived on the reference's own windows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.derive.reduce import reduce_by_key
from session_monitor.core.intervals import Interval

__all__ = [
    "Convention",
    "WindowBars",
    "Windows",
    "derive_on",
    "describe_convention",
    "detect_convention",
    "session_windows",
]


class Convention(StrEnum):
    """How a vendor lays out (and stamps) the windows of an interval within a session."""

    #: windows ``open + k*I`` cut at the close, stamped with their start; ``1d`` stamped at the open
    SESSION_ANCHORED = "session-anchored"
    #: windows on the local clock grid ``midnight + k*I`` cut to the session, stamped with the
    #: clock start; ``1d`` stamped at local midnight
    CLOCK_ALIGNED = "clock-aligned"


@dataclass(frozen=True, slots=True)
class Windows:
    """One session's windows ``[starts[k], ends[k])``; a bar of window ``k`` is stamped ``labels[k]``."""

    labels: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class WindowBars(NamedTuple):
    """Bars derived on :class:`Windows`: one row per window holding at least one base bar."""

    window: np.ndarray
    bars: BarArrays  # ts = the window's label
    counts: np.ndarray


def _wall_midnight(session: Session) -> int:
    """Epoch seconds of local midnight on the open's clock (the open's UTC offset, DST-safe)."""
    local = dt.datetime.fromtimestamp(session.open, ZoneInfo(session.tz or "UTC"))
    return session.open - (local.hour * 3600 + local.minute * 60 + local.second)


def session_windows(session: Session, interval: Interval, convention: Convention) -> Windows:
    """The windows of ``interval`` in ``session`` under ``convention``."""
    if interval.is_daily:  # the regular session's bar (with extended hours too)
        regular = session.regular
        label = regular.start if convention is Convention.SESSION_ANCHORED else _wall_midnight(session)
        one = np.array([label], np.int64)
        return Windows(one, np.array([regular.start], np.int64), np.array([regular.end], np.int64))
    step = interval.seconds
    if convention is Convention.SESSION_ANCHORED:  # ours: anchored at the open (at each segment's start)
        parts = [np.arange(seg.start, seg.end, step, dtype=np.int64) for seg in session.anchors]
        labels = np.concatenate(parts)
        ends = np.concatenate([np.minimum(p + step, seg.end) for p, seg in zip(parts, session.anchors, strict=True)])
        return Windows(labels, labels.copy(), ends)
    else:
        anchor = _wall_midnight(session)
        first = anchor + (session.open - anchor) // step * step
        labels = np.arange(first, session.close, step, dtype=np.int64)
    starts = np.maximum(labels, session.open)
    ends = np.minimum(labels + step, session.close)
    return Windows(labels, starts, ends)


def detect_convention(stamps: np.ndarray, sessions: list[Session], interval: Interval) -> Convention:
    """The convention whose labels match the most ``stamps`` (ties: session-anchored, ours)."""
    best, best_hits = Convention.SESSION_ANCHORED, -1
    for convention in Convention:
        labels = [session_windows(s, interval, convention).labels for s in sessions]
        hits = int(np.isin(stamps, np.concatenate(labels)).sum()) if labels else 0
        if hits > best_hits:
            best, best_hits = convention, hits
    return best


def describe_convention(convention: Convention, interval: Interval) -> str:
    """A short phrase for messages ("clock-aligned: the 09:00 bar covers 09:30–10:00")."""
    if interval.is_daily:
        return "stamped at the session open" if convention is Convention.SESSION_ANCHORED else (
            "stamped at local midnight"
        )
    if convention is Convention.SESSION_ANCHORED:
        return f"anchored at the open (windows open + k×{interval}, the last one cut at the close)"
    return f"clock-aligned (windows on the {interval} clock grid cut to the session, stamped with the clock time)"


def derive_on(base: BarArrays, windows: Windows) -> WindowBars:
    """Aggregate sorted base bars into ``windows`` as the engine does, with its one reduction
    (:func:`core.derive.reduce.reduce_by_key`: volumes added in time order, so a re-derivation on
    the engine's own windows matches its bars to the last bit); base bars outside every window
    are skipped.
    """
    ts = base.ts
    ids = np.searchsorted(windows.starts, ts, side="right") - 1
    inside = ids >= 0
    inside[inside] &= ts[inside] < windows.ends[ids[inside]]
    if not inside.all():
        base = base.take(inside)
        ids = ids[inside]
    if not len(ids):
        return WindowBars(np.empty(0, np.int64), BarArrays.empty(), np.empty(0, np.int32))
    firsts, reduced = reduce_by_key(ids, base.open, base.high, base.low, base.close, base.volume)
    window = ids[firsts]
    bars = BarArrays(windows.labels[window], reduced.open, reduced.high, reduced.low, reduced.close, reduced.volume)
    return WindowBars(window, bars, reduced.count.astype(np.int32))
