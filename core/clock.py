"""The session clock: session time (UTC epoch seconds) advancing at a chosen speed."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

__all__ = ["MAX_SPEED", "MIN_SPEED", "WALL_CLOCK", "ClockState", "SessionClock", "WallClock", "parse_speed"]


class WallClock:
    """The one place live code reads the wall clock (UTC epoch seconds).

    ``offset`` shifts it: a test (or a rehearsal) runs a live session at a chosen
    historical moment through the real code path, with nothing else changed.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


#: the process's wall clock; live sessions, the calendar's "today" and live sources read it
WALL_CLOCK = WallClock()


class ClockState(enum.Enum):
    PRE_OPEN = "pre-open"
    OPEN = "open"
    CLOSED = "closed"
    PAUSED = "paused"
    FINISHED = "finished"


#: the slowest and fastest finite speeds: below the minimum a replay seems stuck (1e-300 never
#: moves), above the maximum a finite speed is ``max`` in all but name
MIN_SPEED = 0.01
MAX_SPEED = 1_000_000.0


def parse_speed(text: str | float | None) -> float | None:
    """``max`` (as fast as possible) -> None, else a multiple of real time within the bounds."""
    if text is None:
        return None
    if isinstance(text, str) and text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"speed {text!r} is not a number or 'max'") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"speed {text!r} must be a positive number of times real time, or 'max'")
    if not MIN_SPEED <= value <= MAX_SPEED:
        raise ValueError(
            f"speed {text!r} is out of range: use {MIN_SPEED:g} to {MAX_SPEED:,.0f} times real time, or 'max'"
        )
    return value


@dataclass
class SessionClock:
    """Session time that advances ``speed`` times faster than the wall clock while running.

    ``speed is None`` means as fast as possible: the coordinator moves ``now`` in chunks.
    """

    now: float = 0.0
    speed: float | None = None
    paused: bool = False
    #: a live session: ``now`` is the wall clock itself (UTC epoch seconds)
    live: bool = False
    _wall: float = 0.0

    def reset(self, now: float) -> None:
        self.now = WALL_CLOCK.now() if self.live else now
        self._wall = time.monotonic()

    def advance(self, limit: float, chunk: float) -> float:
        """Move towards ``limit``: by real elapsed time × speed, or by ``chunk`` at max speed."""
        if self.live:
            self.now = min(limit, WALL_CLOCK.now())
            return self.now
        wall = time.monotonic()
        elapsed, self._wall = wall - self._wall, wall
        if self.paused:
            return self.now
        step = chunk if self.speed is None else elapsed * self.speed
        self.now = min(limit, self.now + step)
        return self.now

    def resync(self) -> None:
        """Forget wall time spent paused or blocked, so the clock does not jump."""
        self._wall = time.monotonic()
