"""Per-symbol bar feeds: how a loaded session reaches SessionData as the clock passes.

A replay feed releases the bars of a loaded session whose end the clock has reached (no
look-ahead). Because it releases by cursor, bars missed while a feed was down come out
at the next successful poll: a replay source backfills for free. Faults are modelled by
raising :class:`FeedError` from :meth:`SymbolFeed.poll`.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.sources.loaded import LoadedSession

__all__ = [
    "FaultSchedule", "FaultyFeed", "FeedError", "FeedRejected", "FeedStalled", "PushFeed", "ReplayFeed", "SymbolFeed"
]


class FeedError(Exception):
    """The feed failed (disconnect, error from the source); the coordinator retries."""


class FeedStalled(FeedError):
    """The feed went silent for longer than its watchdog allows."""


class FeedRejected(FeedError):
    """The source refused us for good (bad credentials, a plan without this feed): no retries."""


class SymbolFeed(ABC):
    """Delivers one symbol's base bars for one session."""

    symbol: str
    #: the session this feed serves (set by the coordinator when it opens the feed)
    session: Session | None = None
    #: True when bars missed while down arrive after a reconnect (the span is backfilled)
    backfills: bool = True

    @abstractmethod
    def poll(self, clock: float) -> BarArrays:
        """Bars not delivered yet whose end is at or before ``clock``; raises FeedError on a fault."""

    @abstractmethod
    def skip_recorded(self, starts: np.ndarray) -> None:
        """Never deliver bars starting at ``starts`` (they were recorded already).

        Only those: a bar the recording lost (a damaged chunk) is delivered again, so a
        resume never leaves a hole the source could fill.
        """

    @property
    def ended_at(self) -> float | None:
        """End of the last bar once the source has no more data for the session, else None."""
        return None

    @property
    def alive_until(self) -> float | None:
        """Newest session-clock time the connection proved alive (live feeds), else None."""
        return None

    def polled_in_parts(self) -> None:
        """The session will be polled a part at a time (any run but a headless one stepping whole
        sessions): prepare for it now, while loading, rather than in the first tick."""
        return None  # (nothing to prepare: a streaming feed already comes in parts)


def _frozen_empty() -> BarArrays:
    """The empty batch every idle poll returns (read-only: it is shared)."""
    empty = BarArrays.empty()
    for column in empty:
        column.setflags(write=False)
    return empty


_EMPTY = _frozen_empty()


#: bars per piece of a replay feed: a piece is freed once delivered, so the feed's copy of a
#: session shrinks while SessionData's grows (never a second full copy of the session).
#: Measured at --speed max, 1s bars: 4,096-bar pieces peaked ~40 MiB higher at 500 symbols
#: (half a piece per symbol held after a step), 1,024-bar ones 2.3 GiB higher at 10,000
#: (every poll joining pieces, and 4x the small blocks); 2,048 is at the lower of both
PIECE_BARS = 2048


def _pieces(bars: BarArrays) -> deque[BarArrays]:
    """``bars`` copied into pieces of :data:`PIECE_BARS` (copies: a view would keep the whole alive)."""
    return deque(
        BarArrays(*(col[lo : lo + PIECE_BARS].copy() for col in bars)) for lo in range(0, len(bars.ts), PIECE_BARS)
    )


def _read_only(bars: BarArrays) -> BarArrays:
    views = BarArrays(*(col.view() for col in bars))
    for column in views:
        column.setflags(write=False)
    return views


class ReplayFeed(SymbolFeed):
    """A loaded session released on the clock; what was delivered is let go.

    The session stays whole until it is to be polled in parts (:meth:`polled_in_parts`, or a
    first poll that delivers only part of it): a poll that takes all of it (a whole-session step
    at max speed) hands it over as it is, with no copy; otherwise it is cut into pieces, freed
    one by one as they are delivered.
    """

    def __init__(self, loaded: LoadedSession) -> None:
        self.symbol = loaded.symbol
        self.base_seconds = loaded.base.seconds
        bars = loaded.bars
        #: end of the source's last bar (the session's open when it has none)
        self.last_end = float(bars.ts[-1] + self.base_seconds) if len(bars.ts) else float(loaded.session.open)
        #: the session not cut into pieces yet (None once cut, or delivered); read-only views, as
        #: the batch delivered may be the source's own arrays
        self._whole: BarArrays | None = _read_only(bars) if len(bars.ts) else None
        self._pending: deque[BarArrays] = deque()
        #: bars of the first pending piece already delivered
        self._cursor = 0

    def poll(self, clock: float) -> BarArrays:
        # due: end = start + base <= clock; an int bound, as a float one makes numpy cast the column
        newest_start = math.floor(clock) - self.base_seconds
        whole = self._whole
        if whole is not None:
            if int(whole.ts[-1]) <= newest_start:  # all of it: handed over whole
                self._whole = None
                return whole
            self.polled_in_parts()
        due: list[BarArrays] = []
        while self._pending:
            piece = self._pending[0]
            stop = int(piece.ts.searchsorted(newest_start, side="right"))
            if stop > self._cursor:
                due.append(piece.take(slice(self._cursor, stop)))
            if stop < len(piece.ts):
                self._cursor = stop
                break
            self._pending.popleft()
            self._cursor = 0
        if not due:
            return _EMPTY
        return due[0] if len(due) == 1 else BarArrays.concat(due)

    def polled_in_parts(self) -> None:
        whole = self._whole
        if whole is not None:
            self._whole, self._pending = None, _pieces(whole)

    @property
    def held_bars(self) -> int:
        """Bars the feed still holds in memory: the pending ones, and the delivered rest of one piece."""
        whole = 0 if self._whole is None else len(self._whole.ts)
        return whole + sum(len(piece.ts) for piece in self._pending)

    def _waiting(self) -> BarArrays:
        """Every bar not delivered yet, in one batch."""
        if self._whole is not None:
            return self._whole
        if not self._pending:
            return BarArrays.empty()
        first = self._pending[0].take(slice(self._cursor, None))
        return BarArrays.concat([first, *list(self._pending)[1:]])

    def skip_recorded(self, starts: np.ndarray) -> None:
        waiting = self._waiting()
        self._whole = None
        self._pending = _pieces(waiting.take(~np.isin(waiting.ts, starts)))
        self._cursor = 0

    @property
    def ended_at(self) -> float | None:
        return self.last_end if self._whole is None and not self._pending else None


class PushFeed(SymbolFeed):
    """Bars pushed by a streaming client from any thread, released on the clock.

    A live source's stream thread calls :meth:`push` (new bars and corrections alike: a
    bar with the start of one already delivered replaces it), and :meth:`disconnect` /
    :meth:`reconnect`; while disconnected, :meth:`poll` raises so the coordinator marks
    the symbol down. History fetched for a reconnect is pushed like any other bar.
    """

    def __init__(self, symbol: str, base_seconds: int, history: BarArrays | None = None) -> None:
        self.symbol = symbol
        self.base_seconds = base_seconds
        self._lock = threading.Lock()
        self._pending: list[BarArrays] = [history] if history is not None and len(history.ts) else []
        self._error: str | None = None
        self._fatal = False
        self._recorded: np.ndarray | None = None
        self._alive_until: float | None = None

    def touch(self, at: float) -> None:
        """The connection proved alive at ``at`` (a message for any symbol, a heartbeat)."""
        if self._alive_until is None or at > self._alive_until:
            self._alive_until = at

    @property
    def alive_until(self) -> float | None:
        return self._alive_until if self._error is None else None

    def push(self, bars: BarArrays) -> None:
        if len(bars.ts):
            with self._lock:
                self._pending.append(bars)

    def disconnect(self, reason: str, fatal: bool = False) -> None:
        """Mark the feed down; ``fatal`` when retrying cannot help (the coordinator stops retrying)."""
        with self._lock:
            self._error = reason
            self._fatal = fatal

    def reconnect(self) -> None:
        with self._lock:
            self._error = None
            self._fatal = False

    @property
    def connected(self) -> bool:
        return self._error is None

    def skip_recorded(self, starts: np.ndarray) -> None:
        with self._lock:
            self._recorded = np.unique(starts)

    def poll(self, clock: float) -> BarArrays:
        with self._lock:
            if self._error is not None:
                raise (FeedRejected if self._fatal else FeedError)(self._error)
            if not self._pending:
                return BarArrays.empty()
            merged = BarArrays.concat(self._pending)
            due = merged.ts + self.base_seconds <= clock
            if self._recorded is not None:
                fresh = ~np.isin(merged.ts, self._recorded)
                keep = ~due & fresh
                due &= fresh
            else:
                keep = ~due
            self._pending = [merged.take(keep)] if keep.any() else []
        out = merged.take(due)
        if len(out.ts) > 1:
            # arrival order decides between two values for one start: the last one wins
            order = np.argsort(out.ts, kind="stable")
            out = out.take(order)
            last = np.concatenate((out.ts[1:] != out.ts[:-1], [True]))
            out = out.take(last)
        return out


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """Session-clock windows ``[start, end)`` during which a feed raises, stalls, or falls silent.

    A silence raises nothing: the bars that would arrive in it (their end inside the
    window) are lost, as when a feed stops sending without dropping the connection.
    """

    failures: tuple[tuple[float, float], ...] = ()
    stalls: tuple[tuple[float, float], ...] = ()
    silences: tuple[tuple[float, float], ...] = ()

    def silenced(self, ends: np.ndarray) -> np.ndarray:
        """True for each bar end that falls in a silence."""
        lost = np.zeros(len(ends), bool)
        for start, end in self.silences:
            lost |= (ends >= start) & (ends < end)
        return lost

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
        self.base_seconds = loaded_base_seconds(inner)

    def poll(self, clock: float) -> BarArrays:
        fault = self.schedule.fault_at(clock)
        if fault is not None:
            self.faults += 1
            raise fault
        batch = self.inner.poll(clock)
        if self.schedule.silences and len(batch.ts):
            lost = self.schedule.silenced(batch.ts + self.base_seconds)
            if lost.any():
                batch = batch.take(~lost)
        return batch

    def skip_recorded(self, starts: np.ndarray) -> None:
        self.inner.skip_recorded(starts)

    def polled_in_parts(self) -> None:
        self.inner.polled_in_parts()

    @property
    def ended_at(self) -> float | None:
        return self.inner.ended_at

    @property
    def alive_until(self) -> float | None:
        return self.inner.alive_until


def loaded_base_seconds(feed: SymbolFeed) -> int:
    """Base interval seconds of a feed (0 when it does not say)."""
    return int(getattr(feed, "base_seconds", 0))
