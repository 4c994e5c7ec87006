"""A connected window notices an engine that has gone silent, and says so.

An engine that dies publishes nothing more: without this watch its symbols would sit in
the tree looking merely quiet. Every engine heartbeats every third of its lease, so an
engine whose shard log has taken no entry for three of its heartbeat periods — as long
as its lease — by the server's clock, while this window has read all of that log, has
died, hung or lost its connection. Its symbols are then shown as disconnected (the
tree's feed state, as for a feed that is down) and the status bar names the engine, until
a heartbeat from it (or from an engine that took its shard over) arrives again. A window
that is merely behind (more entries to read) never calls an engine silent, and an engine
that published the end of its last session is finished, not silent.

A shard that nothing was ever published to, and whose lease no engine holds, has no engine
running: the status bar says so as long (its symbols are unknown, so the tree cannot show
them). An engine still loading its symbols holds the lease, so it is not called missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QStatusBar

from session_monitor.core.bus.layout import ShardKeys, ShardSpec
from session_monitor.core.bus.remote import RemoteCoordinator
from session_monitor.core.bus.replica import ShardStatus
from session_monitor.core.bus.shardlog import TRANSIENT
from session_monitor.gui import theme

__all__ = ["EngineWatch"]

#: how often the shards' heartbeats are looked at (ms)
CHECK_MS = 500
#: heartbeat periods without a heartbeat after which an engine is silent (its lease is three)
SILENT_PERIODS = 3.0
#: the period assumed for a shard before any engine's heartbeat said how often it beats: a 15 s
#: lease's, the longest the project runs with (the default lease of 5 s beats every 1.7 s)
UNKNOWN_PERIOD_SECONDS = 5.0
#: the id of a log's newest entry, the server's clock and whether the shard's lease is held, in one
#: round trip (no entry's fields; the log and the lease share a hash slot)
_NEWEST = """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local now = redis.call('TIME')
return {newest[1] and newest[1][1] or false, now[1], now[2], redis.call('EXISTS', KEYS[2])}
"""


@dataclass
class _Heard:
    """When this window last saw a new heartbeat of one shard's engine."""

    beat_wall: float | None
    at: float
    silent: bool = False
    #: silent without ever having published: no engine is running for the shard
    missing: bool = False
    #: the symbols shown disconnected while it is silent (given back when it is heard again)
    marked: frozenset[str] = frozenset()


class EngineWatch(QObject):
    """Marks the symbols of a silent engine's shard as disconnected and names the engine in the status bar."""

    def __init__(self, remote: RemoteCoordinator, bar: QStatusBar, post: Callable[[int, str], None]) -> None:
        super().__init__(bar)
        self.remote = remote
        self._post = post
        self._heard: dict[ShardSpec, _Heard] = {}
        self._newest = remote.client.register_script(_NEWEST)
        self._checking: asyncio.Future[None] | None = None
        self.label = QLabel(bar)
        self.label.setStyleSheet(f"color: {theme.QUALITY_BAD.name()};")
        self.label.setToolTip(
            "No heartbeat from these engines for longer than their lease: each has died, hung or lost\n"
            "its connection to Redis. Their symbols show as disconnected until one is heard again\n"
            "(a restarted engine resumes its shard; a standby takes it over). 'Not running': nothing was\n"
            "ever published for that shard and no engine holds its lease (start serve --shard I/N)."
        )
        self.label.setVisible(False)
        bar.addPermanentWidget(self.label)
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_MS)
        self.timer.timeout.connect(self._schedule)
        self.timer.start()

    def silent(self) -> list[ShardSpec]:
        """The shards whose engine this window has stopped hearing from."""
        return [shard for shard, heard in self._heard.items() if heard.silent]

    def _schedule(self) -> None:
        if self._checking is None or self._checking.done():
            self._checking = asyncio.ensure_future(self.check())

    async def check(self) -> None:
        """Heard again on a new heartbeat; silent when the server confirms nothing came for three periods."""
        now = time.monotonic()
        shards = self.remote.replica.shards
        # a shard not heard from yet is judged by the period its deployment's engines beat at
        deployment = max((s.beat_period for s in shards if s.beat_period is not None), default=UNKNOWN_PERIOD_SECONDS)
        for status in shards:
            heard = self._heard.get(status.shard)
            if heard is None:
                heard = self._heard[status.shard] = _Heard(status.beat_wall, now)
            period = status.beat_period or deployment
            if status.beat_wall != heard.beat_wall:
                heard.beat_wall, heard.at = status.beat_wall, now
                silent = False
            elif status.finished:
                silent = False
            elif (heard.silent and not heard.missing) or now - heard.at <= SILENT_PERIODS * period:
                silent = heard.silent
            else:  # nothing new here for that long: the engine's silence, or this window behind?
                silent = await self._quiet(status, heard, SILENT_PERIODS * period)
            if silent != heard.silent:
                heard.silent = silent
                self._changed(status, heard, now - heard.at)
                self._show(now)  # at once: the next shard's check may wait on the server
        self._show(now)

    async def _quiet(self, status: ShardStatus, heard: _Heard, seconds: float) -> bool:
        """Whether this window has read the shard's whole log and its newest entry is ``seconds`` old,
        or nothing was ever published for the shard and no engine holds its lease."""
        keys = ShardKeys(status.shard)
        try:
            newest, now_s, now_us, leased = await self._newest(keys=[keys.log, keys.lease])
        except TRANSIENT:
            return False  # Redis itself is away: the replica says so; no engine is judged meanwhile
        if newest is None:  # nothing in the log: an engine starting (it holds the lease) or none at all
            missing = not leased and status.beat_wall is None and status.snapshots_loaded == 0
            heard.missing = heard.missing or missing  # cleared once it is heard (or started)
            return missing
        if self._decoded(newest) != status.cursor:
            return False  # more to read: this window is behind, not the engine
        newest_ms = int(self._decoded(newest).split("-")[0])
        return int(now_s) + int(now_us) / 1e6 - newest_ms / 1000 > seconds

    @staticmethod
    def _decoded(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    def _changed(self, status: ShardStatus, heard: _Heard, quiet: float) -> None:
        silent = heard.silent
        symbols = heard.marked | status.symbols
        heard.marked = frozenset(status.symbols) if silent else frozenset()
        for symbol in sorted(symbols):
            if silent or symbol not in status.down:  # a feed the engine reports down stays down
                self.remote.feed_changed.emit(symbol, not silent)
        if silent and heard.missing:
            self._post(logging.WARNING, f"engine of shard {status.shard}: not running (nothing published for "
                                        f"{quiet:.0f} s and no engine holds its lease); start serve --shard "
                                        f"{status.shard}")
        elif silent:
            self._post(logging.WARNING, f"engine of shard {status.shard}: no heartbeat for {quiet:.0f} s; "
                                        f"its {len(status.symbols)} symbols are shown disconnected")
        else:  # a missing one is back once an engine holds its lease (loading) or has published
            self._post(logging.INFO, f"engine of shard {status.shard}: {'started' if heard.missing else 'heard again'}")
            heard.missing = False

    def _show(self, now: float) -> None:
        silent = [(shard, heard) for shard, heard in self._heard.items() if heard.silent]
        self.label.setVisible(bool(silent))
        if silent:
            self.label.setText("engine " + ", ".join(
                f"{shard} not running" if heard.missing else f"{shard} silent {now - heard.at:.0f} s"
                for shard, heard in silent))

    async def stop(self) -> None:
        """No more checks (before the connection closes)."""
        self.timer.stop()
        if self._checking is not None:
            await self._checking
