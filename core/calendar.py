"""Trading sessions from exchange_calendars, as plain integers (UTC epoch seconds).

A calendar is expensive to build (~0.1-0.4 s, plus ~0.15 s to import exchange_calendars),
so each one is built once per process and widened only when a date before its first
session is asked for; its table of sessions is also kept in the per-user cache for the day
(:func:`_table`), so a later run that day needs neither the build nor the import.

Regular sessions come from exchange_calendars. With ``hours="extended"`` a session also
holds its segments (pre-market, regular, post-market), the pre/post times taken from
pandas_market_calendars (exchange_calendars has none); its ``open``/``close`` then span
the extended day, so the clock, feeds and acceptance run from the pre-market open to the
post-market close, while :attr:`Session.regular_open` / :attr:`Session.regular_close`
keep the regular session (``1d`` is its bar).
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import threading
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from session_monitor.core.clock import WALL_CLOCK

__all__ = ["HOURS", "CalendarError", "Segment", "Session", "SessionCalendar", "get_calendar", "no_extended_hours"]

_DEFAULT_FIRST_YEAR = 2000

#: the session-hours choices: ``regular`` (the default) or ``extended`` (pre + regular + post)
HOURS = ("regular", "extended")
#: exchange_calendars name -> the pandas_market_calendars calendar with pre/post-market times
#: (its ``XNYS`` alias has none: ``schedule(start="pre")`` raises; ``NYSE`` has them)
_EXTENDED_CALENDARS = {"XNYS": "NYSE", "XNAS": "NASDAQ"}
#: after-hours trading ends at 17:00 New York time on early-close days (pandas_market_calendars
#: issue 387: some releases end it at the early close instead)
_EARLY_CLOSE_POST_END = dt.time(17, 0)


class CalendarError(ValueError):
    """Unknown calendar or a date the calendar cannot place."""


class Segment(NamedTuple):
    """One part of an extended session: ``pre``, ``regular`` or ``post``, ``[start, end)`` in UTC seconds."""

    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Session:
    """One session: ``open <= t < close``, minus ``[break_start, break_end)`` if any.

    ``segments`` is empty for regular hours; with extended hours it holds the pre-market,
    regular and post-market segments, contiguous, from ``open`` to ``close`` (so "inside
    any segment" is ``open <= t < close``), and windows are anchored at each segment's start.
    """

    date: dt.date
    open: int
    close: int
    break_start: int | None = None
    break_end: int | None = None
    tz: str = "UTC"
    segments: tuple[Segment, ...] = ()

    @property
    def extended(self) -> bool:
        return bool(self.segments)

    @property
    def regular(self) -> Segment:
        """The regular session (``1d`` is its bar)."""
        for segment in self.segments:
            if segment.name == "regular":
                return segment
        return Segment("regular", self.open, self.close)

    @property
    def regular_open(self) -> int:
        return self.regular.start

    @property
    def regular_close(self) -> int:
        return self.regular.end

    @property
    def anchors(self) -> tuple[Segment, ...]:
        """The spans windows are anchored in: the segments, or the whole session."""
        return self.segments or (Segment("regular", self.open, self.close),)

    def in_hours(self, hours: str) -> Session:
        """This day's session for ``hours``: ``regular`` keeps the regular segment only (what a
        regular-hours calendar gives for the date), so a watchlist entry on regular hours can
        run next to extended ones; ``extended`` is the session as it is."""
        if hours == "extended" or not self.segments:
            return self
        regular = self.regular
        return Session(self.date, regular.start, regular.end, self.break_start, self.break_end, self.tz)

    def segment_of(self, ts: int) -> Segment | None:
        """The segment holding ``ts`` (the whole session for regular hours), None outside."""
        for segment in self.anchors:
            if segment.start <= ts < segment.end:
                return segment
        return None

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
        """Slots of ``step`` seconds (grid anchored at open, or at each segment's start) starting
        in ``[start, end)`` and in session."""
        if self.segments:
            return sum(_slots(seg.start, seg.end, step, start, end) for seg in self.segments)
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


def _slots(anchor: int, stop: int, step: int, start: int, end: int) -> int:
    """Slots of a ``step`` grid anchored at ``anchor`` below ``stop`` that start in ``[start, end)``."""
    first = max(0, -(-(start - anchor) // step))
    last = -(-(min(end, stop) - anchor) // step)
    return max(0, last - first)


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


class SessionCalendar:
    """A thin, cached view of one exchange_calendars calendar.

    ``hours`` is what was asked for; :attr:`hours` is what the calendar gives (``regular``
    when it has no extended hours, with the reason in :attr:`hours_note`).
    """

    def __init__(self, name: str, first_year: int = _DEFAULT_FIRST_YEAR, hours: str = "regular") -> None:
        table = _table(name, first_year)
        self.name = name
        self.first_year = first_year
        self._tz_name = table.tz
        self._dates: list[dt.date] = table.days.tolist()
        self._date_index = {d: i for i, d in enumerate(self._dates)}
        self._opens = table.opens
        self._closes = table.closes
        self._break_starts = table.break_starts if len(table.break_starts) else None
        self._break_ends = table.break_ends if len(table.break_ends) else None
        #: regular open/close; ``_opens``/``_closes`` become the extended span when extended
        self._regular_opens, self._regular_closes = self._opens, self._closes
        self.hours = "regular"
        self.hours_note: str | None = None
        if hours == "extended":
            has_break = self._break_starts is not None and bool(np.any(self._break_starts != _NAT))
            reason = no_extended_hours(name, has_break)
            if reason is not None:
                self.hours_note = f"{reason}: using its regular sessions"
            else:
                extended = _EXTENDED_CALENDARS[name]
                self._opens, self._closes = _extended_span(extended, self._dates, self._opens, self._closes, self.tz)
                self.hours = "extended"

    @property
    def scope(self) -> str:
        """What recordings are keyed by: the name, plus the hours when extended (kept apart)."""
        return self.name if self.hours == "regular" else f"{self.name} {self.hours}"

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self._tz_name)

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
        segments: tuple[Segment, ...] = ()
        open_, close = int(self._opens[index]), int(self._closes[index])
        if self.hours == "extended":
            regular_open, regular_close = int(self._regular_opens[index]), int(self._regular_closes[index])
            parts = (Segment("pre", open_, regular_open), Segment("regular", regular_open, regular_close),
                     Segment("post", regular_close, close))
            segments = tuple(part for part in parts if part.end > part.start)
        return Session(
            date=self._dates[index],
            open=open_,
            close=close,
            break_start=bs,
            break_end=be,
            tz=self._tz_name,
            segments=segments,
        )


class _Table(NamedTuple):
    """A calendar's sessions as plain arrays: all :class:`SessionCalendar` keeps of exchange_calendars."""

    days: np.ndarray  # datetime64[D]
    opens: np.ndarray
    closes: np.ndarray
    #: empty when the calendar has no lunch breaks
    break_starts: np.ndarray
    break_ends: np.ndarray
    tz: str


def _table(name: str, first_year: int) -> _Table:
    """The calendar's table: from the per-user cache when exchange_calendars built it today
    (its sessions run to a year after the day it is built), else built and cached."""
    path = _cached_table_path(name, first_year)
    if path is not None and path.exists():
        try:
            with np.load(path) as stored:
                return _Table(stored["days"], stored["opens"], stored["closes"], stored["break_starts"],
                              stored["break_ends"], str(stored["tz"]))
        except (OSError, ValueError, KeyError):
            pass  # unreadable (a partial write of another version): built again below
    table = _build_table(name, first_year)
    if path is not None:
        _store_table(path, table)
    return table


def _cached_table_path(name: str, first_year: int) -> Path | None:
    """Where today's table of ``name`` is kept (``SESSION_MONITOR_CACHE_DIR`` overrides the folder),
    keyed by the exchange_calendars release so an upgrade rebuilds it; None if it has none."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("exchange_calendars")
    except PackageNotFoundError:
        return None
    override = os.environ.get("SESSION_MONITOR_CACHE_DIR")
    if override:
        folder = Path(override)
    else:
        from platformdirs import user_cache_dir

        folder = Path(user_cache_dir("session-monitor", appauthor=False))
    label = name.replace("/", "-")
    return folder / "calendars" / f"{label}-{first_year}-xcals{release}" / f"{dt.date.today().isoformat()}.npz"


def _store_table(path: Path, table: _Table) -> None:
    """Write the table whole or not at all, in place of earlier days' (a cache: a failure only
    costs the next run a build)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob("????-??-??.npz"):
            if old != path:
                old.unlink(missing_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")
        np.savez(partial, days=table.days, opens=table.opens, closes=table.closes,
                 break_starts=table.break_starts, break_ends=table.break_ends, tz=np.array(table.tz))
        os.replace(partial, path)
    except OSError:
        pass


def _build_table(name: str, first_year: int) -> _Table:
    import exchange_calendars as xcals

    try:
        with warnings.catch_warnings():
            # exchange_calendars reads Series.values, which pandas 3.1 deprecates; harmless here.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            calendar = xcals.get_calendar(name, start=f"{first_year}-01-01")
    except xcals.errors.InvalidCalendarName as exc:
        raise CalendarError(f"unknown calendar {name!r} (try XNYS, or 24/7 for crypto)") from exc
    schedule = calendar.schedule
    none = np.zeros(0, np.int64)
    return _Table(
        days=schedule.index.to_numpy().astype("datetime64[D]"),
        opens=_seconds(schedule["open"]),
        closes=_seconds(schedule["close"]),
        break_starts=_seconds(schedule["break_start"]) if "break_start" in schedule else none,
        break_ends=_seconds(schedule["break_end"]) if "break_end" in schedule else none,
        tz=str(calendar.tz),
    )


def no_extended_hours(name: str, has_break: bool = False) -> str | None:
    """Why calendar ``name`` has no extended hours (None when it has): only the calendars
    pandas_market_calendars gives pre- and post-market times for, and none with a lunch break.
    Cheap (no calendar is built), so a window can say it before a run asks for them."""
    if name in _EXTENDED_CALENDARS and not has_break:
        return None
    return f"the {name} calendar has no extended hours"


_NAT = np.iinfo(np.int64).min


def _seconds(column: pd.Series) -> np.ndarray:
    values = column.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    out = np.where(values == _NAT, _NAT, values // 1_000_000_000)
    return out


def _extended_span(
    name: str, dates: list[dt.date], opens: np.ndarray, closes: np.ndarray, tz: ZoneInfo
) -> tuple[np.ndarray, np.ndarray]:
    """Pre-market opens and post-market closes for the sessions ``dates`` (regular ``opens``/``closes``).

    A session pandas_market_calendars does not list, or lists with other regular times, keeps
    its regular open (close). On an early close the post-market runs to 17:00 (issue 387).
    """
    import pandas_market_calendars as mcal  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        schedule = _extended_schedule(mcal, name, dates[0], dates[-1])
    index = {d.date(): i for i, d in enumerate(schedule.index)}
    pre, post = _seconds(schedule["pre"]), _seconds(schedule["post"])
    regular_open, regular_close = _seconds(schedule["market_open"]), _seconds(schedule["market_close"])
    span_open, span_close = opens.copy(), closes.copy()
    for i, date in enumerate(dates):
        j = index.get(date)
        if j is None or (regular_open[j], regular_close[j]) != (opens[i], closes[i]):
            continue
        span_open[i] = min(pre[j], opens[i])
        end = int(post[j])
        local_close = dt.datetime.fromtimestamp(int(closes[i]), tz).time()
        if local_close < dt.time(16, 0):  # an early close: after-hours still to 17:00
            end = max(end, int(dt.datetime.combine(date, _EARLY_CLOSE_POST_END, tz).timestamp()))
        span_close[i] = max(end, int(closes[i]))
    return span_open, span_close


def _extended_schedule(mcal: object, name: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    calendar = mcal.get_calendar(name)  # type: ignore[attr-defined]
    schedule: pd.DataFrame = calendar.schedule(first.isoformat(), last.isoformat(), start="pre", end="post")
    return schedule


_lock = threading.Lock()
_cache: dict[tuple[str, str], SessionCalendar] = {}


def get_calendar(name: str = "XNYS", earliest: dt.date | None = None, hours: str = "regular") -> SessionCalendar:
    """The process-wide calendar ``name`` for ``hours``, rebuilt once if ``earliest`` precedes it."""
    if hours not in HOURS:
        raise CalendarError(f"unknown session hours {hours!r}: use regular or extended")
    key = name.upper() if name != "24/7" else name
    with _lock:
        cal = _cache.get((key, hours))
        if cal is None or (earliest is not None and earliest.year < cal.first_year):
            first_year = min(_DEFAULT_FIRST_YEAR, earliest.year if earliest else _DEFAULT_FIRST_YEAR)
            cal = SessionCalendar(key, first_year=first_year, hours=hours)
            _cache[(key, hours)] = cal
        return cal
