"""A source wrapper that fails on a schedule, to prove the coordinator survives feed faults."""

from __future__ import annotations

import datetime as dt

from session_monitor.core.calendar import Session
from session_monitor.core.feeds import FaultSchedule, FaultyFeed, SymbolFeed
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import BarSource, LoadedSession

__all__ = ["FaultySource"]


class FaultySource(BarSource):
    """Delegates to ``inner``; the feeds of the scheduled symbols raise or stall on time."""

    def __init__(self, inner: BarSource, schedules: dict[str, FaultSchedule]) -> None:
        self.inner = inner
        self.schedules = {symbol.upper(): schedule for symbol, schedule in schedules.items()}
        self.name = f"faulty {inner.name}"
        self.omits_empty_intervals = inner.omits_empty_intervals
        self.feeds: dict[str, FaultyFeed] = {}

    @property
    def key(self) -> str:
        return self.inner.key

    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        return self.inner.base_intervals(symbol)

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        return self.inner.load_session(symbol, base, session)

    def symbols(self) -> list[str]:
        return self.inner.symbols()

    def dates(self, symbol: str) -> list[dt.date]:
        return self.inner.dates(symbol)

    @property
    def calendar_hint(self) -> str | None:
        return self.inner.calendar_hint

    def open_feed(self, loaded: LoadedSession) -> SymbolFeed:
        feed = self.inner.open_feed(loaded)
        schedule = self.schedules.get(loaded.symbol.upper())
        if schedule is None:
            return feed
        faulty = FaultyFeed(feed, schedule)
        self.feeds[loaded.symbol.upper()] = faulty
        return faulty
