"""Turning user arguments into a runnable setup, shared by the headless CLI and the GUI.

Every check that can fail on user input happens here, before anything starts, with a
one-line reason: nothing starts half-configured.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from session_monitor.core.calendar import HOURS, CalendarError, Session, SessionCalendar, get_calendar
from session_monitor.core.clock import parse_speed
from session_monitor.core.intervals import Interval, IntervalError, parse_intervals, same_intervals
from session_monitor.core.sources.base import BarSource, SourceError
from session_monitor.core.sources.validation import EARLIEST_DATE, LATEST_DATE
from session_monitor.core.streams import determine_stream
from session_monitor.core.symbols import SymbolError, distinct_symbols

if TYPE_CHECKING:
    from session_monitor.core.config import WatchItem

__all__ = [
    "LIVE_GRACE_SECONDS", "RunRequest", "RunSetup", "UsageError", "add_run_arguments", "read_request", "resolve_run",
]

DEFAULT_SYMBOLS = ("SPY", "AAPL", "MSFT")
DEFAULT_INTERVALS = "1m,5m,15m,1h"
#: a live feed delivers a minute bar a second or two after the minute ends
LIVE_GRACE_SECONDS = 5.0


class UsageError(ValueError):
    """Bad arguments: shown as one line, exit code 2."""


@dataclass
class RunSetup:
    source: BarSource
    calendar: SessionCalendar
    sessions: list[Session]
    #: what to watch, in order: each symbol with its own intervals
    watchlist: list[tuple[str, list[Interval]]]
    speed: float | None
    source_spec: str = "demo"
    #: record accepted bars for crash resume (``--no-record`` turns it off)
    record: bool = True
    #: a live source: today's session on the wall clock
    live: bool = False
    #: record under a key of its own (a second instance next to one recording the same source)
    record_as: str = ""
    #: per symbol, the sessions of the run its source has no data for (already said in ``warnings``)
    missing: dict[str, frozenset[dt.date]] = field(default_factory=dict)
    #: things the user should know before the run starts (skipped dates, missing days), one line each
    warnings: list[str] = field(default_factory=list)
    #: the run's session hours (``--hours``, the session file's, else regular)
    hours: str = "regular"
    #: per symbol, a watchlist entry's own ``hours`` (the calendar is extended when any is)
    symbol_hours: dict[str, str] = field(default_factory=dict)

    @property
    def grace(self) -> float:
        """How long after a bar's end the processor waits for it: only a live feed is late."""
        return LIVE_GRACE_SECONDS if self.live else 0.0

    @property
    def symbols(self) -> list[str]:
        return [symbol for symbol, _ in self.watchlist]

    @property
    def intervals(self) -> list[Interval]:
        """Every interval of the watchlist (the default for a symbol added by hand)."""
        return sorted({i for _, ivs in self.watchlist for i in ivs}, key=Interval.sort_key)


def add_run_arguments(parser: argparse.ArgumentParser, source_required: bool) -> None:
    """The arguments ``replay`` and the GUI share."""
    parser.add_argument(
        "source",
        nargs="?",
        default=None,
        help="a Lean resolution folder (e.g. data/lean/equity/usa/minute), a CSV/Parquet file or folder, or 'demo'",
    )
    parser.add_argument("--symbols", help="comma-separated symbols, e.g. SPY,GOOG")
    parser.add_argument("--intervals", help=f"comma-separated intervals (default {DEFAULT_INTERVALS})")
    parser.add_argument("--start", help="first session date, YYYY-MM-DD")
    parser.add_argument("--end", help="last session date, YYYY-MM-DD")
    parser.add_argument("--calendar", help="exchange calendar (default XNYS, or 24/7 for crypto data)")
    parser.add_argument("--hours", choices=HOURS,
                        help="session hours: regular (default) or extended (pre-market and after-hours too)")
    parser.add_argument("--speed", help="'max' or N times real time, e.g. 600")
    parser.add_argument("--base", help="base interval of a CSV/Parquet source (default: its smallest step)")
    parser.add_argument("--config", metavar="SESSION.toml", help="a session file; arguments given here override it")
    parser.add_argument("--no-record", action="store_true", help="do not record accepted bars (no crash resume)")
    parser.add_argument("--record-as", metavar="NAME", default="",
                        help="record under a key of its own (when another instance records this source)")
    parser.set_defaults(default_source=None if source_required else "demo")


def _date(text: str | None, what: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--{what} {text!r} is not a date (use YYYY-MM-DD)") from None


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for: the command line over the session file, merged in one place.

    Values stay as the user typed them (dates and speed as text) so each is checked where it
    is used, in the order :func:`resolve_run` reports problems.
    """

    spec: str
    base: str | None
    #: ``--symbols`` as typed; None: the session file's watchlist, else everything the source holds
    symbols: str | None
    #: ``--intervals`` as typed; None: each watchlist entry's own, else the default
    intervals: str | None
    watchlist: list[WatchItem]
    speed: str | None
    calendar: str | None
    start: str | None
    end: str | None
    config_start: dt.date | None
    config_end: dt.date | None
    record: bool
    record_as: str
    #: session hours (``--hours``, else the session file's, else regular)
    hours: str = "regular"

    @property
    def calendar_hours(self) -> str:
        """The hours the run's calendar and clock need: extended when the run or an entry is."""
        return "extended" if "extended" in (self.hours, *self.symbol_hours.values()) else "regular"

    @property
    def symbol_hours(self) -> dict[str, str]:
        """Watchlist entries' own ``hours`` (used only when the watchlist is, not with ``--symbols``)."""
        if self.symbols is not None:
            return {}
        return {w.symbol: w.hours for w in self.watchlist if w.hours is not None}

    @property
    def dated(self) -> bool:
        """A date range was asked for (on the command line or in the session file)."""
        return bool(self.start or self.end or self.config_start or self.config_end)

    def date_range(self) -> _DateRange:
        """The asked-for range; an end left open stays None (:func:`_fill_range` completes it)."""
        return _DateRange(
            _date(self.start, "start") or self.config_start, _date(self.end, "end") or self.config_end
        )


class _DateRange(NamedTuple):
    """A range as asked for: either end may be open."""

    start: dt.date | None
    end: dt.date | None


class _FullRange(NamedTuple):
    start: dt.date
    end: dt.date


class _SessionPlan(NamedTuple):
    calendar: SessionCalendar
    sessions: list[Session]


#: one symbol's requested intervals, before the symbol is normalised
_Requested = list[tuple[str, list[Interval]]]


def resolve_run(args: argparse.Namespace, default_speed: float | None) -> RunSetup:
    """Validate everything the user asked for; raise UsageError/SourceError with one line."""
    request = read_request(args)
    source = _open(request)
    watchlist = _watchlist(request, source)
    speed = _speed(request.speed, default_speed)
    _check_streams(source, watchlist)
    calendar_name = request.calendar or source.calendar_hint or "XNYS"
    if source.live:
        return _live_setup(request, source, watchlist, calendar_name)
    return _replay_setup(request, source, watchlist, speed, calendar_name)


def read_request(args: argparse.Namespace) -> RunRequest:
    """The session file (``--config``) read and checked, with every given argument over it."""
    from session_monitor.core.config import ConfigError, SessionConfig, load_config

    config_path = getattr(args, "config", None)
    try:
        config = load_config(config_path) if config_path else SessionConfig()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    spec = args.source or (config.source if config_path else getattr(args, "default_source", None))
    if spec is None:
        raise UsageError("name a SOURCE (a Lean folder, a CSV/Parquet file or folder, or 'demo') or --config")
    return RunRequest(
        spec=spec,
        base=args.base or config.base,
        symbols=args.symbols,
        intervals=args.intervals,
        watchlist=config.watchlist,
        speed=args.speed if args.speed is not None else config.speed,
        calendar=args.calendar or config.calendar,
        start=args.start,
        end=args.end,
        config_start=config.start,
        config_end=config.end,
        record=not getattr(args, "no_record", False),
        record_as=getattr(args, "record_as", "").strip(),
        hours=getattr(args, "hours", None) or config.hours or "regular",
    )


def _open(request: RunRequest) -> BarSource:
    """The source; a bad spec or base is a usage error, a source that fails to open says why itself."""
    from session_monitor.core.sources.factory import open_source

    try:
        return open_source(request.spec, base=request.base)
    except SourceError:
        raise
    except ValueError as exc:  # IntervalError, a bad spec
        raise UsageError(str(exc)) from None


def _intervals(text: str | list[str]) -> list[Interval]:
    try:
        return parse_intervals(text)
    except IntervalError as exc:
        raise UsageError(str(exc)) from None


def _requested(request: RunRequest, source: BarSource) -> _Requested:
    """Symbols with their intervals: ``--symbols``, else the watchlist, else what the source holds.

    A file source defaults to everything it holds, the demo to a small watchlist.
    """
    intervals = _intervals(request.intervals or DEFAULT_INTERVALS)
    if request.symbols is not None:
        return [(s, intervals) for s in request.symbols.split(",")]
    if request.watchlist:
        return [(w.symbol, intervals if request.intervals else _intervals(w.intervals)) for w in request.watchlist]
    listed = source.symbols()
    if not listed:
        _refuse_unusable(source, None)
    return [(s, intervals) for s in listed or DEFAULT_SYMBOLS]


def _watchlist(request: RunRequest, source: BarSource) -> list[tuple[str, list[Interval]]]:
    """The requested symbols normalised; one named twice (``SPY,spy``) is refused."""
    requested = _requested(request, source)
    try:
        symbols, duplicates = distinct_symbols(s for s, _ in requested)
    except SymbolError as exc:
        raise UsageError(str(exc)) from None
    if duplicates:
        raise UsageError(f"--symbols names a symbol twice: {'; '.join(d.describe() for d in duplicates)}")
    return [(symbol, ivs) for symbol, (_, ivs) in zip(symbols, requested, strict=True)]


def _speed(text: str | None, default: float | None) -> float | None:
    try:
        return parse_speed(text) if text is not None else default
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_streams(source: BarSource, watchlist: list[tuple[str, list[Interval]]]) -> None:
    """Every symbol has data, and a base the source streams that its intervals derive from."""
    source.prepare([symbol for symbol, _ in watchlist])  # a folder's files parsed side by side, not one by one
    for symbol, wanted in watchlist:
        bases = source.base_intervals(symbol)
        if not bases:
            _refuse_unusable(source, symbol)
            raise UsageError(f"{symbol}: the source has no data for this symbol")
        try:
            determine_stream(symbol, wanted, bases)
        except IntervalError as exc:
            raise UsageError(str(exc)) from None


def _live_setup(
    request: RunRequest, source: BarSource, watchlist: list[tuple[str, list[Interval]]], calendar_name: str
) -> RunSetup:
    """A live source watches today's session (or the next) in real time, and with ``--end`` every
    session after it through that date (an engine behind a feed gateway that runs every day)."""
    if request.start or request.config_start:
        raise UsageError(f"{source.name} is live: it watches from today's session, --start does not apply")
    try:
        calendar = get_calendar(calendar_name, hours=request.calendar_hours)
        sessions = [calendar.current_or_next_session()]
        end = request.date_range().end
        if end is not None:
            if end < sessions[0].date:
                raise UsageError(f"--end {end} is before the live session of {sessions[0].date}")
            sessions = calendar.sessions_between(sessions[0].date, end)
    except CalendarError as exc:
        raise UsageError(str(exc)) from None
    return RunSetup(source, calendar, sessions, watchlist, 1.0, source_spec=request.spec,
                    record=request.record, live=True, record_as=request.record_as,
                    warnings=[calendar.hours_note] if calendar.hours_note else [],
                    hours=request.hours, symbol_hours=request.symbol_hours)


def _replay_setup(
    request: RunRequest,
    source: BarSource,
    watchlist: list[tuple[str, list[Interval]]],
    speed: float | None,
    calendar_name: str,
) -> RunSetup:
    """A replay: the asked-for sessions (or those the data covers), with what the user should know."""
    asked = request.date_range()
    symbols = [symbol for symbol, _ in watchlist]
    warnings: list[str] = same_intervals(request.intervals) if request.intervals else []
    warnings.extend(note for symbol in symbols for note in source.notes(symbol))
    dates = _supported_dates({s: source.dates(s) for s in symbols}, warnings)
    plan = _plan_sessions(calendar_name, request.calendar_hours, asked, dates, warnings)
    missing = _missing_days(plan.sessions, dates, warnings)
    return RunSetup(
        source, plan.calendar, plan.sessions, watchlist, speed, source_spec=request.spec, record=request.record,
        record_as=request.record_as, missing=missing, warnings=warnings, hours=request.hours,
        symbol_hours=request.symbol_hours,
    )


def _plan_sessions(
    calendar_name: str, hours: str, asked: _DateRange, dates: dict[str, list[dt.date]], warnings: list[str]
) -> _SessionPlan:
    """The calendar and the run's sessions: with no range asked, those the data has; else the range."""
    known = sorted({d for days in dates.values() for d in days})
    span: _DateRange | _FullRange = asked
    try:
        earliest = min(filter(None, [asked.start, *known[:1]]), default=None)
        calendar = get_calendar(calendar_name, earliest=earliest, hours=hours)
        if calendar.hours_note:
            warnings.append(calendar.hours_note)
        if asked.start is None and asked.end is None and known:
            sessions = _data_sessions(calendar, dates, warnings)
        else:
            span = _fill_range(calendar, asked, known)
            sessions = calendar.sessions_between(span.start, span.end)
    except CalendarError as exc:
        raise UsageError(str(exc)) from None
    if not sessions:
        raise UsageError(f"no {calendar_name} sessions between {span.start} and {span.end}")
    return _SessionPlan(calendar, sessions)


def _fill_range(calendar: SessionCalendar, asked: _DateRange, known: list[dt.date]) -> _FullRange:
    """An open end taken from the data: no range is the latest session, no start the data's first
    date, no end the data's last (or the start itself when the data ends before it)."""
    start, end = asked
    if start is None and end is None:
        latest = calendar.latest_session().date
        return _FullRange(latest, latest)
    if start is None:
        assert end is not None
        return _FullRange(known[0] if known else end, end)
    if end is None:
        return _FullRange(start, known[-1] if known and known[-1] >= start else start)
    return _FullRange(start, end)


def _refuse_unusable(source: BarSource, symbol: str | None) -> None:
    """A source whose data is there but unusable fails with the first reason (file, row): exit 1, not "no data"."""
    problems = source.unusable(symbol)
    if not problems:
        return
    extra = len(problems) - 1
    more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
    raise SourceError(f"{symbol + ': ' if symbol else ''}no usable data: {problems[0]}{more}")


def _supported_dates(dates: dict[str, list[dt.date]], warnings: list[str]) -> dict[str, list[dt.date]]:
    """Each symbol's dates inside the supported range; any other date is said once and dropped."""
    kept: dict[str, list[dt.date]] = {}
    for symbol, days in dates.items():
        kept[symbol] = [d for d in days if EARLIEST_DATE <= d <= LATEST_DATE]
        dropped = [d for d in days if not EARLIEST_DATE <= d <= LATEST_DATE]
        if dropped:
            warnings.append(
                f"{symbol}: data dated {_list_days(dropped)} is outside the supported range "
                f"{EARLIEST_DATE}..{LATEST_DATE}; skipped"
            )
    return kept


def _data_sessions(
    calendar: SessionCalendar, dates: dict[str, list[dt.date]], warnings: list[str]
) -> list[Session]:
    """The default range: the sessions on which at least one watched symbol has data.

    A symbol's dates that are not sessions of the calendar (a weekend, a holiday, past the
    calendar's last date) are named once per symbol.
    """
    chosen: set[dt.date] = set()
    for symbol, days in dates.items():
        sessions = [d for d in days if calendar.is_session(d)]
        chosen.update(sessions)
        other = sorted(set(days) - set(sessions))
        if other:
            warnings.append(
                f"{symbol}: data dated {_list_days(other)} is not in a {calendar.name} session "
                f"(the calendar covers {calendar.first_date}..{calendar.last_date}); skipped"
            )
    return [calendar.session(d) for d in sorted(chosen)]


def _missing_days(
    sessions: list[Session], dates: dict[str, list[dt.date]], warnings: list[str]
) -> dict[str, frozenset[dt.date]]:
    """Per symbol, the sessions of the run it has no data for, said once as a summary."""
    missing: dict[str, frozenset[dt.date]] = {}
    for symbol, days in dates.items():
        if not days:  # a source that cannot list its dates (the demo): nothing to say in advance
            continue
        have = set(days)
        absent = [s.date for s in sessions if s.date not in have]
        if absent:
            missing[symbol] = frozenset(absent)
            warnings.append(f"{symbol}: no data on {len(absent)} of the {len(sessions)} sessions: {_list_days(absent)}")
    return missing


def _list_days(days: list[dt.date], shown: int = 10) -> str:
    """``2013-10-04, 2013-10-07 and 4 more`` (sorted)."""
    days = sorted(days)
    text = ", ".join(d.isoformat() for d in days[:shown])
    return f"{text} and {len(days) - shown} more" if len(days) > shown else text
