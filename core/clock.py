"""The session clock: session time (UTC epoch seconds) advancing at a chosen speed."""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass

__all__ = [
    "CLOCK_VARIABLE", "MAX_SPEED", "MIN_SPEED", "WALL_CLOCK", "ClockState", "SessionClock", "WallClock", "parse_speed",
]

#: ``CLOCK,WALL,SPEED``: a rehearsal clock that read CLOCK (UTC epoch seconds) at wall time WALL and
#: runs SPEED times as fast; every process given the same value shares the same clock
CLOCK_VARIABLE = "SESSION_MONITOR_CLOCK"


class WallClock:
    """The one place live code reads the wall clock (UTC epoch seconds).

    ``offset`` shifts it: a test (or a rehearsal) runs a live session at a chosen
    historical moment through the real code path, with nothing else changed. ``speed``
    (with its ``anchor``, the wall time it turns around) makes it run faster, so live
    processes (a feed gateway and its engines) can go through a session's close and the
    next open in seconds; :data:`CLOCK_VARIABLE` sets both for a process and its children.
    """

    def __init__(self, offset: float = 0.0, speed: float = 1.0, anchor: float = 0.0) -> None:
        self.offset = offset
        self.speed = speed
        self.anchor = anchor

    def now(self) -> float:
        wall = time.time()
        return wall + self.offset + (wall - self.anchor) * (self.speed - 1.0)

    @classmethod
    def from_environment(cls, value: str | None = None) -> WallClock:
        """The clock :data:`CLOCK_VARIABLE` asks for (the real one when unset); ValueError names it."""
        text = (os.environ.get(CLOCK_VARIABLE, "") if value is None else value).strip()
        if not text:
            return cls()
        try:
            clock, wall, speed = (float(part) for part in text.split(","))
        except ValueError:
            raise ValueError(f"{CLOCK_VARIABLE}={text!r} is not CLOCK,WALL,SPEED (epoch seconds, a speed)") from None
        if not 0 < speed <= MAX_SPEED:
            raise ValueError(f"{CLOCK_VARIABLE}={text!r}: the speed must be above 0 and at most {MAX_SPEED:g}")
        return cls(offset=clock - wall, speed=speed, anchor=wall)


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


#: the process's wall clock; live sessions, the calendar's "today" and live sources read it
WALL_CLOCK = WallClock.from_environment()


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
