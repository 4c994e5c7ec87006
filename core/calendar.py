"""Trading sessions from exchange_calendars, as plain integers (UTC epoch seconds).

A calendar is expensive to build (~0.1-0.4 s), so each one is built once per process
and widened only when a date before its first session is asked for.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import warnings
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from session_monitor.core.clock import WALL_CLOCK

__all__ = ["CalendarError", "Session", "SessionCalendar", "get_calendar"]

_DEFAULT_FIRST_YEAR = 2000


class CalendarError(ValueError):
    """Unknown calendar or a date the calendar cannot place."""


@dataclass(frozen=True, slots=True)
class Session:
    """One regular session: ``open <= t < close``, minus ``[break_start, break_end)`` if any."""

    date: dt.date
    open: int
    close: int
    break_start: int | None = None
    break_end: int | None = None
    tz: str = "UTC"

    @property
    def length(self) -> int:
        return self.close - self.open - self.break_seconds

    @property
    def break_seconds(self) -> int:
        if self.break_start is None or self.break_end is None:
            return 0
        return self.break_end - self.break_start

    def contains(self, ts: int) -> bool:
        if not self.open <= ts < self.close:
            return False
        return not (self.break_start is not None and self.break_start <= ts < self.break_end)  # type: ignore[operator]

    def in_session_mask(self, ts: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`contains`."""
        mask = (ts >= self.open) & (ts < self.close)
        if self.break_start is not None:
            mask &= ~((ts >= self.break_start) & (ts < self.break_end))
        return mask

    def seconds_before(self, t: float) -> float:
        """Regular-session seconds in ``[open, t)`` (break excluded)."""
        t = min(max(t, self.open), self.close)
        elapsed = t - self.open
        if self.break_start is not None and self.break_end is not None and t > self.break_start:
            elapsed -= min(t, self.break_end) - self.break_start
        return elapsed

    def expected_slots(self, step: int, start: int, end: int) -> int:
        """Slots of ``step`` seconds (grid anchored at open) starting in ``[start, end)`` and in session."""
        first = max(0, -(-(start - self.open) // step))
        last = -(-(min(end, self.close) - self.open) // step)
        count = max(0, last - first)
        if count and self.break_start is not None and self.break_end is not None:
            b0 = max(first, -(-(self.break_start - self.open) // step))
            b1 = min(last, -(-(self.break_end - self.open) // step))
            count -= max(0, b1 - b0)
        return count

    def iso_open(self) -> str:
        return _iso(self.open)

    def iso_close(self) -> str:
        return _iso(self.close)


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


class SessionCalendar:
    """A thin, cached view of one exchange_calendars calendar."""

    def __init__(self, name: str, first_year: int = _DEFAULT_FIRST_YEAR) -> None:
        try:
            with warnings.catch_warnings():
                # exchange_calendars reads Series.values, which pandas 3.1 deprecates; harmless here.
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                self._cal = xcals.get_calendar(name, start=f"{first_year}-01-01")
        except xcals.errors.InvalidCalendarName as exc:
            raise CalendarError(f"unknown calendar {name!r} (try XNYS, or 24/7 for crypto)") from exc
        self.name = name
        self.first_year = first_year
        schedule = self._cal.schedule
        self._dates: list[dt.date] = [d.date() for d in schedule.index]
        self._date_index = {d: i for i, d in enumerate(self._dates)}
        self._opens = _seconds(schedule["open"])
        self._closes = _seconds(schedule["close"])
        self._break_starts = _seconds(schedule["break_start"]) if "break_start" in schedule else None
        self._break_ends = _seconds(schedule["break_end"]) if "break_end" in schedule else None

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(str(self._cal.tz))

    @property
    def first_date(self) -> dt.date:
        return self._dates[0]

    @property
    def last_date(self) -> dt.date:
        return self._dates[-1]

    def session(self, date: dt.date) -> Session:
        index = self._date_index.get(date)
        if index is None:
            raise CalendarError(f"{date.isoformat()} is not a {self.name} session (holiday or weekend)")
        return self._session_at(index)

    def is_session(self, date: dt.date) -> bool:
        return date in self._date_index

    def sessions_between(self, start: dt.date, end: dt.date) -> list[Session]:
        """Every session with ``start <= date <= end``; a range outside the calendar is an error."""
        if end < start:
            raise CalendarError(f"end date {end} is before start date {start}")
        if start > self.last_date or end < self.first_date:
            raise CalendarError(
                f"{start}..{end} lies outside the {self.name} calendar ({self.first_date}..{self.last_date})"
            )
        lo = bisect.bisect_left(self._dates, start)
        hi = bisect.bisect_right(self._dates, end)
        return [self._session_at(i) for i in range(lo, hi)]

    def latest_session(self, now: dt.datetime | None = None) -> Session:
        """The newest session that has opened by ``now`` (the default demo day)."""
        now_ts = now.timestamp() if now is not None else WALL_CLOCK.now()
        index = int(np.searchsorted(self._opens, now_ts, side="right")) - 1
        return self._session_at(max(index, 0))

    def current_or_next_session(self, now: dt.datetime | None = None) -> Session:
        """The session open at ``now``, else the next one to open (what a live run watches)."""
        now_ts = now.timestamp() if now is not None else WALL_CLOCK.now()
        index = int(np.searchsorted(self._closes, now_ts, side="right"))
        if index >= len(self._closes):
            raise CalendarError(f"the {self.name} calendar has no session after {dt.datetime.fromtimestamp(now_ts)}")
        return self._session_at(index)

    def session_for(self, ts: float) -> Session | None:
        """The session whose ``[open, close)`` holds ``ts``, if any."""
        index = int(np.searchsorted(self._opens, ts, side="right")) - 1
        if index < 0 or ts >= self._closes[index]:
            return None
        return self._session_at(index)

    def _session_at(self, index: int) -> Session:
        bs = be = None
        if self._break_starts is not None and self._break_starts[index] != _NAT:
            bs, be = int(self._break_starts[index]), int(self._break_ends[index])  # type: ignore[index]
        return Session(
            date=self._dates[index],
            open=int(self._opens[index]),
            close=int(self._closes[index]),
            break_start=bs,
            break_end=be,
            tz=str(self._cal.tz),
        )


_NAT = np.iinfo(np.int64).min


def _seconds(column: pd.Series) -> np.ndarray:
    values = column.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    out = np.where(values == _NAT, _NAT, values // 1_000_000_000)
    return out


_lock = threading.Lock()
_cache: dict[str, SessionCalendar] = {}


def get_calendar(name: str = "XNYS", earliest: dt.date | None = None) -> SessionCalendar:
    """The process-wide calendar ``name``, rebuilt once if ``earliest`` precedes it."""
    key = name.upper() if name != "24/7" else name
    with _lock:
        cal = _cache.get(key)
        if cal is None or (earliest is not None and earliest.year < cal.first_year):
            first_year = min(_DEFAULT_FIRST_YEAR, earliest.year if earliest else _DEFAULT_FIRST_YEAR)
            cal = SessionCalendar(key, first_year=first_year)
            _cache[key] = cal
        return cal
