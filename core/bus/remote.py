"""A coordinator stand-in for a GUI connected to Redis: the window talks to it as to a local run.

The window asks a coordinator for status, adds and removes symbols and listens to its
run events. Here the run belongs to the engines: status comes from their heartbeats,
adding or removing a symbol is a command on the owning shard's command stream (the
result shows when the engine publishes it), and pause/speed are the engines' to set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis

from session_monitor.core.bus.codec import encode, health_change_from
from session_monitor.core.bus.layout import DEPLOYMENT_KEY, ShardKeys, shard_of
from session_monitor.core.bus.replica import Replica, ShardStatus
from session_monitor.core.calendar import Session, SessionCalendar, get_calendar
from session_monitor.core.clock import ClockState
from session_monitor.core.coordinator import CoordinatorStatus
from session_monitor.core.events import Event
from session_monitor.core.health import HealthMonitor
from session_monitor.core.intervals import Interval
from session_monitor.core.session_data import SessionData, SymbolSessionData
from session_monitor.core.symbols import SymbolError, normalise_symbol

__all__ = ["RemoteCoordinator"]

#: wall seconds a GUI waits for the engine to publish a symbol it asked for
COMMAND_TIMEOUT = 15.0
#: run states in the order a session goes through them
_PROGRESS = [ClockState.PRE_OPEN, ClockState.OPEN, ClockState.PAUSED, ClockState.CLOSED, ClockState.FINISHED]


class RemoteSource:
    """The window offers a source's symbols for completion; the engines' sources are elsewhere."""

    name = "redis"

    def symbols(self) -> list[str]:
        return []


@dataclass
class RemoteClock:
    """What the controls read from a clock: the engines' speed and session time."""

    now: float = 0.0
    speed: float | None = None


class RemoteCoordinator:
    """The surface of :class:`~core.coordinator.SessionCoordinator` a window uses, over a replica."""

    #: the engines own the clock: the window disables pause and speed as for a live feed
    live = True

    def __init__(self, client: aioredis.Redis, session_data: SessionData | None = None) -> None:
        self.client = client
        self.replica = Replica(client, session_data)
        self.session_data = self.replica.session_data
        self.clock = RemoteClock()
        self.source = RemoteSource()
        self.calendar: SessionCalendar = get_calendar("XNYS")
        self.sessions: list[Session] = []
        self.state_changed = Event("state_changed")
        self.session_closed = Event("session_closed")
        self.feed_changed = Event("feed_changed")
        self.progress = Event("progress")
        #: the window's health events: the engines' health changes, replayed (never ``update()``-d here)
        self.health = HealthMonitor(self.session_data)
        self._state = ClockState.PRE_OPEN
        self._stop = asyncio.Event()
        self.replica.on_status = self._on_status
        self.replica.on_session_end = self._on_session_end

    async def connect(self) -> None:
        """Find the shards and catch up with all of them at once (snapshot, then the log after it)."""
        await self.replica.discover()
        calendar = await self.client.hget(DEPLOYMENT_KEY, "calendar")
        if isinstance(calendar, bytes):
            self.calendar = get_calendar(calendar.decode())
        await asyncio.gather(*(self.replica.catch_up(status) for status in self.replica.shards))
        self._refresh_sessions()

    async def run(self) -> None:
        """Follow the engines until :meth:`stop`."""
        follower = asyncio.create_task(self.replica.run())
        await self._stop.wait()
        self.replica.stop()
        await follower

    def stop(self) -> None:
        self._stop.set()

    # -- what the window reads ---------------------------------------------------------------
    @property
    def session(self) -> Session:
        """The session the engines publish (the calendar's latest until one is known)."""
        return self.session_data.session or self.calendar.latest_session()

    def status(self) -> CoordinatorStatus:
        shards = self.replica.shards
        clocks = [s.clock for s in shards if s.clock is not None]
        self.clock.now = min(clocks) if clocks else 0.0
        speeds = {s.speed for s in shards if s.clock is not None}
        self.clock.speed = speeds.pop() if len(speeds) == 1 else None
        self._refresh_sessions()
        done = sum(1 for s in self.sessions if all(s.date.isoformat() in sh.ended for sh in shards))
        return CoordinatorStatus(
            session=self.session_data.session,
            clock=self.clock.now,
            state=self._state,
            speed=self.clock.speed,
            bars_per_second=sum(s.bars_per_second for s in shards),
            lag=None,
            sessions_done=done,
            sessions_total=max(len(self.sessions), 1),
            disconnected=tuple(sorted(set().union(*(s.down for s in shards)))) if shards else (),
        )

    def is_connected(self, symbol: str) -> bool:
        return not any(symbol.upper() in s.down for s in self.replica.shards)

    def _refresh_sessions(self) -> None:
        session = self.session_data.session
        if session is not None and session not in self.sessions:
            self.sessions.append(session)

    # -- requests: commands to the owning engine ------------------------------------------------
    async def add_symbol(self, symbol: str, intervals: Iterable[str | Interval]) -> SymbolSessionData:
        """Ask the owning engine to watch ``symbol``; returns once it published it (or says why not)."""
        key = normalise_symbol(symbol)
        if key in self.session_data:
            raise SymbolError(f"{key} is already being watched")
        names = [i.name if isinstance(i, Interval) else str(i).strip() for i in intervals]
        refusal: list[str] = []

        def on_message(_level: int, text: str) -> None:
            if text.startswith(f"{key}:"):
                refusal.append(text)

        self.session_data.events.message.connect(on_message)
        try:
            await self._command({"k": "add", "s": key, "iv": [n for n in names if n]})
            deadline = time.monotonic() + COMMAND_TIMEOUT
            while time.monotonic() < deadline:
                data = self.session_data.get_symbol_data(key)
                if data is not None:
                    return data
                if refusal:
                    raise SymbolError(refusal[0])
                await asyncio.sleep(0.02)
        finally:
            self.session_data.events.message.disconnect(on_message)
        raise SymbolError(f"{key}: the engine of its shard did not answer within {COMMAND_TIMEOUT:g} s")

    def remove_symbol(self, symbol: str) -> bool:
        """Ask the owning engine to stop watching ``symbol``; it leaves the tree when the engine publishes it."""
        key = symbol.strip().upper()
        if key not in self.session_data:
            return False
        task = asyncio.ensure_future(self._command({"k": "rm", "s": key}))
        task.add_done_callback(lambda t: t.exception())
        return True

    async def _command(self, command: dict[str, object]) -> None:
        shards = self.replica.shards
        if not shards:
            raise SymbolError("not connected to any engine yet")
        shard = shards[shard_of(str(command["s"]), len(shards)) - 1].shard
        await self.client.xadd(ShardKeys(shard).commands, {"m": encode(command)}, maxlen=1000, approximate=True)

    # -- the engines cannot be paused from a GUI ------------------------------------------------
    def pause(self) -> None:
        """The engines own the clock (the window disables the control)."""

    def resume(self) -> None:
        """The engines own the clock (the window disables the control)."""

    def set_speed(self, _speed: float | None) -> None:
        """The engines own the clock (the window disables the control)."""

    # -- replica callbacks ------------------------------------------------------------------------
    def _on_status(self, _status: ShardStatus, message: dict[str, object]) -> None:
        if message["k"] == "feed":
            self.feed_changed.emit(message["s"], bool(message["up"]))
            return
        if message["k"] == "hc":
            self.health.changed.emit(health_change_from(message))
            return
        # the desk's state is the least advanced shard's (OPEN while any shard is open)
        states = [ClockState[s.state] for s in self.replica.shards if s.state in ClockState.__members__]
        if states:
            state = min(states, key=_PROGRESS.index)
            if state is not self._state:
                self._state = state
                self.state_changed.emit(state)

    def _on_session_end(self, _status: ShardStatus, date: str, _last: bool) -> None:
        session = self.session_data.session
        if session is not None and session.date.isoformat() == date and self.replica.all_ended(date):
            self.session_closed.emit(session)
            if self.replica.all_finished() and self._state is not ClockState.FINISHED:
                self._state = ClockState.FINISHED
                self.state_changed.emit(ClockState.FINISHED)
