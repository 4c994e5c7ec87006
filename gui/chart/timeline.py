"""The chart's time axis without Qt: exchange time ↔ chart x, and where the labels go.

Trading tools fold the time when nothing can trade (nights, weekends, holidays, lunch
breaks) so a chart shows bars, not empty evenings. A :class:`Timeline` keeps the sessions
a chart shows as trading spans (``[open, break_start)``, ``[break_end, close)``) laid
end to end: a Friday's close and the next Monday's open are one x apart from nothing.
Inside a span one second of exchange time is one unit of x, so bars keep their widths
and a missing bar inside a session still leaves a hole (its gap band). The x of the
newest session's open is that open itself, so a live session's bars sit at their own
timestamps (no copy of the current session is needed until a lunch break).

A linear timeline (``folded=False``) is the identity: x is exchange time.

With extended hours a session's ``open``/``close`` are the pre-market open and the
after-hours close, and its segments are contiguous, so the whole extended day is one
span: folding takes the nights away and keeps every segment (gui/chart/segments.py shades them).

:func:`time_ticks` places the axis labels: session dates at session opens (thinned to
weeks, months or years so they never collide), wall-clock times in between, all in the
exchange's zone and all at least a label's width apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from session_monitor.core.calendar import Session

__all__ = ["TickLevel", "Timeline", "time_ticks"]


@dataclass(frozen=True, slots=True)
class Timeline:
    """Maps exchange time (UTC epoch seconds) to chart x and back.

    ``starts``/``ends`` are the trading spans in time, ``x_starts`` where each begins on
    the chart; all three are empty for a linear timeline.
    """

    folded: bool
    starts: np.ndarray
    ends: np.ndarray
    x_starts: np.ndarray

    @classmethod
    def linear(cls) -> Timeline:
        empty = np.empty(0, np.int64)
        return cls(False, empty, empty, empty)

    @classmethod
    def of_sessions(cls, sessions: Sequence[Session], folded: bool = True) -> Timeline:
        """Fold away everything outside ``sessions`` (sorted by date); the last session's
        open keeps its own time as x."""
        if not folded or not sessions:
            return cls.linear()
        spans: list[tuple[int, int]] = []
        for session in sessions:
            if session.break_start is not None and session.break_end is not None:
                spans += [(session.open, session.break_start), (session.break_end, session.close)]
            else:
                spans.append((session.open, session.close))
        starts = np.array([s for s, _ in spans], np.int64)
        ends = np.array([e for _, e in spans], np.int64)
        lengths = ends - starts
        x_starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        anchor = int(np.searchsorted(starts, sessions[-1].open))
        x_starts += starts[anchor] - x_starts[anchor]
        return cls(True, starts, ends, x_starts)

    # -- mapping -------------------------------------------------------------------------
    def to_x(self, ts: np.ndarray) -> np.ndarray:
        """Chart x of each time; time between spans collapses onto the next span's start,
        time before the first or after the last span runs on linearly."""
        if not self.folded:
            return ts
        values = np.asarray(ts)
        k = np.searchsorted(self.starts, values, side="right") - 1
        inside = np.clip(k, 0, len(self.starts) - 1)
        offset = values - self.starts[inside]
        # between spans (after span k ended): pinned to the end of k, which is the x of k + 1
        offset = np.minimum(offset, self.ends[inside] - self.starts[inside])
        x = self.x_starts[inside] + offset
        before = k < 0
        if before.any():
            x = np.where(before, self.x_starts[0] - (self.starts[0] - values), x)
        last = len(self.starts) - 1
        after = values > self.ends[last]
        if after.any():
            x = np.where(after, self.x_starts[last] + (values - self.starts[last]), x)
        return x

    def is_identity(self, t0: float, t1: float) -> bool:
        """True when every time in ``[t0, t1]`` is its own x (no fold in between): a
        linear timeline, or one span of the anchored session."""
        if not self.folded:
            return True
        k = int(np.searchsorted(self.starts, t0, side="right")) - 1
        if k < 0 or self.x_starts[k] != self.starts[k]:
            return False
        return k == len(self.starts) - 1 or t1 < self.ends[k]

    def x_of(self, ts: float) -> float:
        """:meth:`to_x` of one time."""
        return float(self.to_x(np.array([ts], np.float64))[0])

    def time_of(self, x: float) -> float:
        """Exchange time at chart ``x`` (a span boundary is the later span's start: the open)."""
        if not self.folded:
            return x
        k = int(np.searchsorted(self.x_starts, x, side="right")) - 1
        if k < 0:
            return float(self.starts[0] - (self.x_starts[0] - x))
        return float(self.starts[k] + (x - self.x_starts[k]))

    def spans_between(self, x0: float, x1: float) -> list[tuple[float, float]]:
        """Trading spans (in time) overlapping chart ``[x0, x1]``; the whole range when linear."""
        if not self.folded:
            return [(x0, x1)]
        lo = max(int(np.searchsorted(self.x_starts, x0, side="right")) - 1, 0)
        hi = int(np.searchsorted(self.x_starts, x1, side="right"))
        t0, t1 = self.time_of(x0), self.time_of(x1)
        out = []
        for k in range(lo, hi):
            start = max(float(self.starts[k]), t0)
            end = min(float(self.ends[k]), t1)
            if k == len(self.starts) - 1:
                end = t1  # time after the newest close still runs on
            if end > start:
                out.append((start, end))
        if t0 < self.starts[0]:
            out.insert(0, (t0, min(float(self.starts[0]), t1)))
        return out


@dataclass(frozen=True, slots=True)
class TickLevel:
    """One level of axis ticks: chart x of each tick and its label."""

    spacing: float
    values: list[float]
    labels: list[str]


#: wall-clock label steps (seconds) for times between session dates
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200)


def _date_grade(dates: list[dt.date]) -> list[int]:
    """How coarse a date boundary each session opens: 0 day, 1 week, 2 month, 3 year."""
    grades = []
    previous: dt.date | None = None
    for date in dates:
        if previous is None or date.year != previous.year:
            grades.append(3)
        elif date.month != previous.month:
            grades.append(2)
        elif date.isocalendar()[1] != previous.isocalendar()[1]:
            grades.append(1)
        else:
            grades.append(0)
        previous = date
    return grades


#: label formats by date grade (day, week, month, year)
_DATE_FORMATS = ("%a %d", "%d %b", "%b", "%Y")
#: (grade, stride) from fine to coarse: which session opens carry a date label; a stride
#: keeps every n-th month or year by number, so labels stay put while panning
_DATE_LEVELS = ((0, 1), (1, 1), (2, 1), (2, 2), (2, 3), (2, 6), (3, 1), (3, 2), (3, 5), (3, 10))


def _keeps(date: dt.date, grade: int, stride: int) -> bool:
    if stride == 1:
        return True
    return (date.month - 1) % stride == 0 if grade == 2 else date.year % stride == 0


def time_ticks(
    timeline: Timeline,
    sessions: Sequence[Session],
    x0: float,
    x1: float,
    pixels: float,
    date_px: float = 80.0,
    time_px: float = 60.0,
) -> list[TickLevel]:
    """Labelled ticks for chart ``[x0, x1]`` drawn ``pixels`` wide.

    Dates first: every session open if they are ``date_px`` apart, else only the first
    session of each week, month (every 2nd, 3rd, 6th) or year (every 2nd, 5th, 10th).
    Then wall-clock times on the finest step that keeps them ``time_px`` apart, inside
    trading time when folded, never closer than ``time_px`` to a date label.
    """
    if pixels <= 0 or x1 <= x0:
        return []
    per_px = (x1 - x0) / pixels
    tz = ZoneInfo(sessions[-1].tz) if sessions else ZoneInfo("UTC")
    # -- session dates ------------------------------------------------------------------
    opens = list(sessions)
    xs = timeline.to_x(np.array([s.open for s in opens], np.float64)) if opens else np.empty(0)
    grades = _date_grade([s.date for s in opens])
    date_values: list[float] = []
    date_labels: list[str] = []
    for grade, stride in _DATE_LEVELS:
        chosen = [i for i, g in enumerate(grades) if g >= grade and _keeps(opens[i].date, grade, stride)]
        gaps = np.diff(xs[chosen]) / per_px if len(chosen) > 1 else np.array([np.inf])
        if len(chosen) and gaps.min() >= date_px:
            for i in chosen:
                if x0 <= xs[i] <= x1:
                    date_values.append(float(xs[i]))
                    own = grades[i]
                    date_labels.append(opens[i].date.strftime(_DATE_FORMATS[own if own >= 2 else grade]))
            break
    levels = [TickLevel(date_px * per_px, date_values, date_labels)]
    # -- wall-clock times -----------------------------------------------------------------
    step = next((s for s in TIME_STEPS if s / per_px >= time_px), None)
    if step is None:
        return levels
    values: list[float] = []
    labels: list[str] = []
    taken = np.array(sorted(date_values), np.float64)
    fmt = "%H:%M:%S" if step < 60 else "%H:%M"
    session_dates = {s.date for s in opens}
    last_x = -np.inf
    for start, end in timeline.spans_between(x0, x1):
        offset = dt.datetime.fromtimestamp(start, tz).utcoffset() or dt.timedelta(0)
        shift = offset.total_seconds()
        first = np.ceil((start + shift) / step) * step - shift
        for t in np.arange(first, end, step):
            x = timeline.x_of(float(t))
            if x < x0 or x > x1 or (x - last_x) / per_px < time_px:
                continue
            if len(taken):
                k = int(np.searchsorted(taken, x))
                near = [taken[j] for j in (k - 1, k) if 0 <= j < len(taken)]
                if any(abs(x - d) / per_px < time_px for d in near):
                    continue
            wall = dt.datetime.fromtimestamp(float(t), tz)
            midnight = wall.time() == dt.time(0)
            if midnight and wall.date() in session_dates:
                continue  # that day's open carries its date
            values.append(x)
            # midnight (linear time shows nights) reads as the day it starts
            labels.append(wall.strftime("%a %d" if midnight else fmt))
            last_x = x
    levels.append(TickLevel(float(step), values, labels))
    return levels
