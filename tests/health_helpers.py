"""A scripted run for the health and alert tests: demo bars (no drops), faults on a timeline."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from session_monitor.core.calendar import Session, get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.feeds import FaultSchedule
from session_monitor.core.health import HealthChange
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.base import BarSource
from session_monitor.core.sources.demo import DemoSource
from session_monitor.core.sources.faulty import FaultySource


def at(session: Session, hhmm: str) -> float:
    """Exchange-time ``HH:MM`` of ``session`` as session-clock seconds."""
    hour, minute = map(int, hhmm.split(":"))
    local = dt.datetime.combine(session.date, dt.time(hour, minute), ZoneInfo(session.tz))
    return local.timestamp()


def hhmm(session: Session, t: float) -> str:
    return dt.datetime.fromtimestamp(t, ZoneInfo(session.tz)).strftime("%H:%M")


@dataclass
class Run:
    session_data: SessionData
    coordinator: SessionCoordinator
    changes: list[HealthChange] = field(default_factory=list)

    def timeline(self, symbol: str, routine: bool = False) -> list[tuple[str, str]]:
        """``(HH:MM, state)`` transitions of ``symbol`` (live/quiet flips left out unless ``routine``)."""
        session = self.coordinator.session
        out = []
        for change in self.changes:
            if change.symbol != symbol:
                continue
            if not routine and {change.state.value, change.previous.value} <= {"live", "quiet"}:
                continue
            out.append((hhmm(session, change.time), change.state.value))
        return out


def scripted_run(
    date: dt.date,
    symbols: dict[str, FaultSchedule | None],
    *,
    calendar: str = "XNYS",
    inner: BarSource | None = None,
    max_chunk: float = 60.0,
    intervals: tuple[str, ...] = ("1m", "5m"),
    extra: object = None,
    hours: str = "regular",
) -> Run:
    """Replay ``symbols`` over ``date`` at ``--speed max`` in chunks of ``max_chunk`` session seconds."""
    cal = get_calendar(calendar, earliest=date, hours=hours)
    session = cal.session(date)
    schedules = {s: f for s, f in symbols.items() if f is not None}
    source = FaultySource(inner or DemoSource(drop_rate=0.0), schedules)

    async def scenario() -> Run:
        sd = SessionData()
        coord = SessionCoordinator(sd, source, cal, [session], max_chunk=max_chunk, retry_base=0.0, retry_max=0.0)
        run = Run(sd, coord)
        coord.health.changed.connect(run.changes.append)
        if callable(extra):
            extra(run)
        for symbol in symbols:
            await coord.add_symbol(symbol, list(intervals))
        await coord.run()
        return run

    return asyncio.run(scenario())


class SparseSource(BarSource):
    """The demo feed with only every ``every``-th bar of the listed symbols, declared to omit
    intervals without trades (as Lean and Alpaca do): a naturally sparse symbol."""

    def __init__(self, every: dict[str, int], omits_empty: bool = True) -> None:
        self.inner = DemoSource(drop_rate=0.0)
        self.every = every
        self.name = "sparse demo"
        self.omits_empty_intervals = omits_empty

    @property
    def key(self) -> str:
        return f"sparse:{sorted(self.every.items())}"

    def base_intervals(self, symbol: str):  # type: ignore[no-untyped-def]
        return self.inner.base_intervals(symbol)

    def load_session(self, symbol, base, session):  # type: ignore[no-untyped-def]
        loaded = self.inner.load_session(symbol, base, session)
        step = self.every.get(symbol)
        if step:
            slot = (loaded.bars.ts - session.open) // base.seconds
            loaded.bars = loaded.bars.take(slot % step == 0)
        return loaded
