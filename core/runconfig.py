"""Turning user arguments into a runnable setup, shared by the headless CLI and the GUI.

Every check that can fail on user input happens here, before anything starts, with a
one-line reason: nothing starts half-configured.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass

from core.calendar import CalendarError, Session, SessionCalendar, get_calendar
from core.clock import parse_speed
from core.coordinator import SymbolError, normalise_symbol
from core.intervals import Interval, IntervalError, parse_intervals
from core.sources.base import BarSource, SourceError
from core.streams import determine_stream

__all__ = ["RunSetup", "UsageError", "add_run_arguments", "resolve_run"]

DEFAULT_SYMBOLS = ("SPY", "AAPL", "MSFT")
DEFAULT_INTERVALS = "1m,5m,15m,1h"


class UsageError(ValueError):
    """Bad arguments: shown as one line, exit code 2."""


@dataclass
class RunSetup:
    source: BarSource
    calendar: SessionCalendar
    sessions: list[Session]
    symbols: list[str]
    intervals: list[Interval]
    speed: float | None


def add_run_arguments(parser: argparse.ArgumentParser, source_required: bool) -> None:
    """The arguments ``replay`` and the GUI share."""
    parser.add_argument(
        "source",
        nargs=None if source_required else "?",
        default=None if source_required else "demo",
        help="a Lean resolution folder (e.g. data/lean/equity/usa/minute), a CSV/Parquet file or folder, or 'demo'",
    )
    parser.add_argument("--symbols", help="comma-separated symbols, e.g. SPY,GOOG")
    parser.add_argument("--intervals", help=f"comma-separated intervals (default {DEFAULT_INTERVALS})")
    parser.add_argument("--start", help="first session date, YYYY-MM-DD")
    parser.add_argument("--end", help="last session date, YYYY-MM-DD")
    parser.add_argument("--calendar", help="exchange calendar (default XNYS, or 24/7 for crypto data)")
    parser.add_argument("--speed", help="'max' or N times real time, e.g. 600")
    parser.add_argument("--base", help="base interval of a CSV/Parquet source (default: its smallest step)")


def _date(text: str | None, what: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--{what} {text!r} is not a date (use YYYY-MM-DD)") from None


def resolve_run(args: argparse.Namespace, default_speed: float | None) -> RunSetup:
    """Validate everything the user asked for; raise UsageError/SourceError with one line."""
    from core.sources.factory import open_source

    try:
        base = None
        if args.base:
            base = args.base
        source = open_source(args.source, base=base)
    except (IntervalError, ValueError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise UsageError(str(exc)) from None
    # a file source defaults to everything it holds, the demo to a small watchlist
    requested = args.symbols.split(",") if args.symbols is not None else source.symbols() or list(DEFAULT_SYMBOLS)
    try:
        symbols = [normalise_symbol(s) for s in requested]
    except SymbolError as exc:
        raise UsageError(str(exc)) from None
    if len(set(symbols)) != len(symbols):
        raise UsageError(f"--symbols names a symbol twice: {args.symbols}")
    try:
        intervals = parse_intervals(args.intervals or DEFAULT_INTERVALS)
    except IntervalError as exc:
        raise UsageError(str(exc)) from None
    try:
        speed = parse_speed(args.speed) if args.speed is not None else default_speed
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for symbol in symbols:
        bases = source.base_intervals(symbol)
        if not bases:
            raise UsageError(f"{symbol}: the source has no data for this symbol")
        try:
            determine_stream(symbol, intervals, bases)
        except IntervalError as exc:
            raise UsageError(str(exc)) from None
    calendar_name = args.calendar or source.calendar_hint or "XNYS"
    start, end = _date(args.start, "start"), _date(args.end, "end")
    known = sorted({d for s in symbols for d in source.dates(s)})
    try:
        calendar = get_calendar(calendar_name, earliest=min(filter(None, [start, *known[:1]]), default=None))
        if start is None and end is None:
            if known:
                start, end = known[0], known[-1]
            else:
                latest = calendar.latest_session()
                start = end = latest.date
        elif start is None:
            start = known[0] if known else end
        elif end is None:
            end = known[-1] if known and known[-1] >= start else start
        assert start is not None and end is not None
        sessions = calendar.sessions_between(start, end)
    except CalendarError as exc:
        raise UsageError(str(exc)) from None
    if not sessions:
        raise UsageError(f"no {calendar_name} sessions between {start} and {end}")
    return RunSetup(source, calendar, sessions, symbols, intervals, speed)
