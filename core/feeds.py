"""Per-symbol bar feeds: how a loaded session reaches SessionData as the clock passes.

A replay feed releases the bars of a loaded session whose end the clock has reached (no
look-ahead). Because it releases by cursor, bars missed while a feed was down come out
at the next successful poll: a replay source backfills for free. Faults are modelled by
raising :class:`FeedError` from :meth:`SymbolFeed.poll`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from core.bars import BarArrays
from core.sources.base import LoadedSession

__all__ = ["FaultSchedule", "FaultyFeed", "FeedError", "FeedStalled", "ReplayFeed", "SymbolFeed"]


class FeedError(Exception):
    """The feed failed (disconnect, error from the source); the coordinator retries."""


class FeedStalled(FeedError):
    """The feed went silent for longer than its watchdog allows."""


class SymbolFeed(ABC):
    """Delivers one symbol's base bars for one session."""

    symbol: str
    #: True when bars missed while down arrive after a reconnect (the span is backfilled)
    backfills: bool = True

    @abstractmethod
    def poll(self, clock: float) -> BarArrays:
        """Bars not delivered yet whose end is at or before ``clock``; raises FeedError on a fault."""

    @abstractmethod
    def skip_through(self, ts: int) -> None:
        """Never deliver bars starting at or before ``ts`` (they were recorded already)."""

    @property
    def ended_at(self) -> float | None:
        """End of the last bar once the source has no more data for the session, else None."""
        return None


class ReplayFeed(SymbolFeed):
    """A whole session loaded from a file source, released on the clock."""

    __slots__ = ("cursor", "ends", "loaded", "symbol")

    def __init__(self, loaded: LoadedSession) -> None:
        self.loaded = loaded
        self.symbol = loaded.symbol
        self.ends = loaded.bars.ts + loaded.base.seconds
        self.cursor = 0

    def poll(self, clock: float) -> BarArrays:
        stop = int(np.searchsorted(self.ends, clock, side="right"))
        if stop <= self.cursor:
            return BarArrays.empty()
        batch = self.loaded.bars.take(slice(self.cursor, stop))
        self.cursor = stop
        return batch

    def skip_through(self, ts: int) -> None:
        self.cursor = max(self.cursor, int(np.searchsorted(self.loaded.bars.ts, ts, side="right")))

    @property
    def ended_at(self) -> float | None:
        if not len(self.ends):
            return float(self.loaded.session.open)
        return float(self.ends[-1]) if self.cursor >= len(self.ends) else None


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """Session-clock windows ``[start, end)`` during which a feed raises, or stalls."""

    failures: tuple[tuple[float, float], ...] = ()
    stalls: tuple[tuple[float, float], ...] = ()

    def fault_at(self, clock: float) -> FeedError | None:
        for start, end in self.failures:
            if start <= clock < end:
                return FeedError(f"injected failure ({start:.0f}..{end:.0f})")
        for start, end in self.stalls:
            if start <= clock < end:
                return FeedStalled(f"injected stall ({start:.0f}..{end:.0f})")
        return None


class FaultyFeed(SymbolFeed):
    """Wraps a feed and fails on a schedule: for testing the coordinator's fault handling."""

    def __init__(self, inner: SymbolFeed, schedule: FaultSchedule) -> None:
        self.inner = inner
        self.symbol = inner.symbol
        self.schedule = schedule
        self.faults = 0
        self.backfills = inner.backfills

    def poll(self, clock: float) -> BarArrays:
        fault = self.schedule.fault_at(clock)
        if fault is not None:
            self.faults += 1
            raise fault
        return self.inner.poll(clock)

    def skip_through(self, ts: int) -> None:
        self.inner.skip_through(ts)

    @property
    def ended_at(self) -> float | None:
        return self.inner.ended_at
