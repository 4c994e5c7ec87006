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


def resolve_run(args: argparse.Namespace, default_speed: float | None) -> RunSetup:
    """Validate everything the user asked for; raise UsageError/SourceError with one line."""
    from core.config import ConfigError, SessionConfig, load_config
    from core.sources.factory import open_source

    try:
        config = load_config(args.config) if getattr(args, "config", None) else SessionConfig()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    spec = args.source or (config.source if getattr(args, "config", None) else getattr(args, "default_source", None))
    if spec is None:
        raise UsageError("name a SOURCE (a Lean folder, a CSV/Parquet file or folder, or 'demo') or --config")
    try:
        source = open_source(spec, base=args.base or config.base)
    except (IntervalError, ValueError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise UsageError(str(exc)) from None
    try:
        intervals = parse_intervals(args.intervals or DEFAULT_INTERVALS)
    except IntervalError as exc:
        raise UsageError(str(exc)) from None
    if args.symbols is not None:
        requested = [(s, intervals) for s in args.symbols.split(",")]
    elif config.watchlist:
        requested = [(w.symbol, parse_intervals(args.intervals) if args.intervals else parse_intervals(w.intervals))
                     for w in config.watchlist]
    else:  # a file source defaults to everything it holds, the demo to a small watchlist
        requested = [(s, intervals) for s in source.symbols() or DEFAULT_SYMBOLS]
    try:
        watchlist = [(normalise_symbol(s), ivs) for s, ivs in requested]
    except SymbolError as exc:
        raise UsageError(str(exc)) from None
    symbols = [s for s, _ in watchlist]
    if len(set(symbols)) != len(symbols):
        raise UsageError(f"--symbols names a symbol twice: {args.symbols}")
    speed_text = args.speed if args.speed is not None else config.speed
    try:
        speed = parse_speed(speed_text) if speed_text is not None else default_speed
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for symbol, wanted in watchlist:
        bases = source.base_intervals(symbol)
        if not bases:
            raise UsageError(f"{symbol}: the source has no data for this symbol")
        try:
            determine_stream(symbol, wanted, bases)
        except IntervalError as exc:
            raise UsageError(str(exc)) from None
    calendar_name = args.calendar or config.calendar or source.calendar_hint or "XNYS"
    if source.live:
        if args.start or args.end or config.start or config.end:
            raise UsageError(f"{source.name} is live: it watches today's session, --start/--end do not apply")
        try:
            calendar = get_calendar(calendar_name)
            sessions = [calendar.current_or_next_session()]
        except CalendarError as exc:
            raise UsageError(str(exc)) from None
        return RunSetup(source, calendar, sessions, watchlist, 1.0, source_spec=spec,
                        record=not getattr(args, "no_record", False), live=True,
                        record_as=getattr(args, "record_as", "").strip())
    start = _date(args.start, "start") or config.start
    end = _date(args.end, "end") or config.end
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
    return RunSetup(
        source, calendar, sessions, watchlist, speed, source_spec=spec, record=not getattr(args, "no_record", False),
        record_as=getattr(args, "record_as", "").strip(),
    )
