"""``session-monitor serve alpaca --gateway``: the one process that holds a live source's connection.

Alpaca allows one stream connection per account, so engines do not connect: the gateway
holds the connection under a lease (a standby gateway takes over when it expires) and
appends every base bar it accepts to ``sm:{feed}:bars:SYM``; engines read their symbols
from there through the ``bus:`` source. It is the Alpaca source the engines would use
(REST history on subscribe, backfill after a reconnect, corrections), polled for new bars;
the gateway only adds what the streams do not hold yet, so a gateway that takes over
(or restarts) publishes each bar once. The connection's state and a heartbeat go to the
state stream; while Redis is unreachable the gateway queues its entries and sends them in
order once it is back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import numpy as np
import redis.asyncio as aioredis

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus.gateway_wire import (
    BARS_MAXLEN,
    STATE_MAXLEN,
    FeedLease,
    FeedState,
    bars_of,
    bars_payload,
    parse_entry,
    state_payload,
)
from session_monitor.core.bus.shardlog import TRANSIENT, LeaseLost, read_log
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.core.calendar import Session
from session_monitor.core.clock import WALL_CLOCK
from session_monitor.core.feeds import FeedError, FeedRejected, SymbolFeed
from session_monitor.core.intervals import Interval
from session_monitor.core.runconfig import LIVE_GRACE_SECONDS, UsageError, read_request
from session_monitor.core.sources.alpaca import AlpacaSource
from session_monitor.core.sources.base import SourceError
from session_monitor.core.symbols import SymbolError, normalise_symbol

__all__ = ["Gateway", "GatewayOptions", "gateway_main", "run_gateway"]

log = logging.getLogger(__name__)

PROG = "session-monitor serve --gateway"
#: wall seconds between two polls of the source's feeds (a bar waits at most this long)
POLL_SECONDS = 0.02
#: after the close, corrections may still come: the gateway stops this long after it
END_SECONDS = LIVE_GRACE_SECONDS + 30.0
#: exit code when another gateway took the lease over (as a shard's engine)
LEASE_LOST_EXIT = 3
#: the gateway's own watchlist (``--symbols``) in the claims, next to the engines' ids
OWN = "gateway"

Row = tuple[float, ...]


class Append(NamedTuple):
    """A queued fenced append: one entry per stream, each stream trimmed to about ``maxlen``."""

    streams: list[str]
    payloads: list[bytes]
    maxlen: int


@dataclass
class GatewayOptions:
    source: AlpacaSource
    session: Session
    calendar: str
    symbols: list[str]
    url: str
    lease_seconds: float


@dataclass
class Gateway:
    """The watched symbols' feeds, what their streams hold, and the appends still to send."""

    lease: FeedLease
    source: AlpacaSource
    session: Session
    base: Interval
    feeds: dict[str, SymbolFeed] = field(default_factory=dict)
    #: per symbol, the values its stream holds for each bar start of the session
    published: dict[str, dict[int, Row]] = field(default_factory=dict)
    #: per symbol, who asked for it (engine ids, and :data:`OWN`)
    claims: dict[str, set[str]] = field(default_factory=dict)
    pending: list[Append] = field(default_factory=list)
    state: tuple[FeedState, str] = (FeedState.IDLE, "")
    #: bars appended (for the report at exit)
    bars_sent: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def client(self) -> aioredis.Redis:
        return self.lease.client

    # -- symbols ---------------------------------------------------------------------------
    async def claim(self, symbol: str, by: str) -> None:
        """``by`` needs ``symbol``: watch it if nobody did."""
        owners = self.claims.setdefault(symbol, set())
        owners.add(by)
        if symbol not in self.feeds:
            await self._watch(symbol)

    def release(self, symbol: str, by: str) -> None:
        """``by`` no longer needs ``symbol``: stop watching it once nobody does."""
        owners = self.claims.get(symbol, set())
        owners.discard(by)
        if not owners and symbol in self.feeds:
            del self.feeds[symbol]
            self.claims.pop(symbol, None)
            self.source.close_feed(symbol)

    async def _watch(self, symbol: str) -> None:
        """Learn what the stream holds, then subscribe (the source fetches the session so far)."""
        self.published[symbol] = await self._held(symbol)
        loop = asyncio.get_running_loop()
        try:
            loaded = await loop.run_in_executor(None, self.source.load_session, symbol, self.base, self.session)
        except SourceError as exc:  # refused credentials: the state says so (down), nothing to watch
            log.error("feed gateway: %s: %s", symbol, exc)
            return
        for problem in loaded.problems:
            log.warning("%s", problem)
        self.feeds[symbol] = self.source.open_feed(loaded)

    async def _held(self, symbol: str) -> dict[int, Row]:
        """The values ``symbol``'s stream holds for this session (a previous gateway's, or ours)."""
        held: dict[int, Row] = {}
        date = self.session.date.isoformat()
        while True:
            try:
                raw = cast(list[Any], await self.client.xrange(self.lease.keys.bars(symbol)))
                break
            except TRANSIENT:
                await asyncio.sleep(0.5)
        for entry_id, fields in raw:
            entry = parse_entry(entry_id, fields)
            if entry.message["d"] == date:
                held.update(_rows(bars_of(entry.message)))
        return held

    # -- polling -------------------------------------------------------------------------------
    def collect(self) -> None:
        """Queue every bar the feeds brought that the streams do not hold, and a changed state."""
        streams: list[str] = []
        payloads: list[bytes] = []
        trouble: tuple[FeedState, str] | None = None
        now = WALL_CLOCK.now()
        for symbol, feed in self.feeds.items():
            try:
                bars = feed.poll(math.inf)
            except FeedRejected as exc:
                trouble = (FeedState.DOWN, str(exc))
                continue
            except FeedError as exc:
                trouble = trouble or (FeedState.RETRYING, str(exc))
                continue
            fresh = self._fresh(symbol, bars)
            if fresh is not None:
                streams.append(self.lease.keys.bars(symbol))
                payloads.append(bars_payload(self.session.date.isoformat(), self.base.seconds, fresh, now))
                self.bars_sent += len(fresh.ts)
        if streams:
            self._queue(Append(streams, payloads, BARS_MAXLEN))
        state = trouble or self._connection_state()
        if state != self.state:
            self.state = state
            self.queue_state()

    def _fresh(self, symbol: str, bars: BarArrays) -> BarArrays | None:
        """The rows of ``bars`` whose values the stream does not hold yet (new bars and corrections)."""
        if not len(bars.ts):
            return None
        held = self.published.setdefault(symbol, {})
        keep = np.zeros(len(bars.ts), bool)
        for k, (ts, values) in enumerate(_rows(bars).items()):
            if held.get(ts) != values:
                held[ts] = values
                keep[k] = True
        return bars.take(keep) if keep.any() else None

    def _connection_state(self) -> tuple[FeedState, str]:
        if self.source.error is not None:
            return FeedState.DOWN, str(self.source.error)
        if not self.feeds:
            return FeedState.IDLE, "no symbol is watched"
        if not self.source.connected:
            return FeedState.RETRYING, f"connecting to {self.source.name}"
        return FeedState.CONNECTED, ""

    def alive(self) -> float | None:
        """Newest time the source's connection proved alive (a message for any symbol)."""
        times = [t for t in (feed.alive_until for feed in self.feeds.values()) if t is not None]
        return max(times, default=None)

    def queue_state(self, state: FeedState | None = None, reason: str = "") -> None:
        """Queue a state entry (the current state when ``state`` is None): also the heartbeat."""
        current, why = (state, reason) if state is not None else self.state
        payload = state_payload(current, why, WALL_CLOCK.now(), self.alive(), self.lease.lease_ms)
        self._queue(Append([self.lease.keys.state], [payload], STATE_MAXLEN))

    def _queue(self, append: Append) -> None:
        self.pending.append(append)
        self._wake.set()

    # -- sending -------------------------------------------------------------------------------
    async def send(self, stopping: asyncio.Event) -> None:
        """Send queued appends in order; through a Redis outage keep them and retry (LeaseLost ends it)."""
        delay = 0.05
        while not (stopping.is_set() and not self.pending):
            if not self.pending:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            append = self.pending[0]
            try:
                await self.lease.append(append.streams, append.payloads, append.maxlen)
            except TRANSIENT as exc:
                log.warning("feed gateway: Redis unreachable (%s); %d entr(ies) queued, retrying", exc,
                            len(self.pending))
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            except LeaseLost:
                if not await self._keep_lease():
                    raise
                continue  # the lease expired while Redis was away and nobody took it: ours again
            delay = 0.05
            self.pending.pop(0)


    async def _keep_lease(self) -> bool:
        with contextlib.suppress(*TRANSIENT):
            return await self.lease.keep()
        return True  # Redis went away again: the next attempt tells


def _rows(bars: BarArrays) -> dict[int, Row]:
    return {int(row[0]): tuple(row[1:]) for row in zip(*(col.tolist() for col in bars), strict=True)}


async def _pump(gateway: Gateway, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        gateway.collect()
        await asyncio.sleep(POLL_SECONDS)


async def _heartbeat(gateway: Gateway, stopping: asyncio.Event) -> None:
    """Renew the lease and queue a heartbeat every third of the lease."""
    lease = gateway.lease
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), lease.lease_ms / 3000)
            return
        try:
            if not await lease.keep():
                raise LeaseLost(f"feed gateway epoch {lease.epoch}: another gateway took the lease")
        except TRANSIENT:
            pass  # the sender reports the outage; the lease is checked again next beat
        gateway.queue_state()


async def _commands(gateway: Gateway, stopping: asyncio.Event, own: list[str]) -> None:
    """Watch ``own`` (side by side: each is a REST request), then the engines' add/remove requests,
    all of them from the start (what is watched), then as they come."""
    await asyncio.gather(*(gateway.claim(symbol, OWN) for symbol in own))
    cursor = "0"
    while not stopping.is_set():
        try:
            entries = await read_log(gateway.client, gateway.lease.keys.commands, cursor, 100, 500)
        except TRANSIENT:
            await asyncio.sleep(0.5)
            continue
        for entry in entries:
            cursor = entry.id
            command = parse_entry(entry.id, entry.fields).message
            try:
                symbol = normalise_symbol(str(command.get("s", "")))
            except SymbolError as exc:
                log.warning("feed gateway: ignored a request (%s)", exc)
                continue
            if command.get("k") == "add":
                await gateway.claim(symbol, str(command.get("by", "")))
            elif command.get("k") == "rm":
                gateway.release(symbol, str(command.get("by", "")))


async def _until_session_end(session: Session) -> None:
    while WALL_CLOCK.now() < session.close + END_SECONDS:
        await asyncio.sleep(min(1.0, max(0.01, session.close + END_SECONDS - WALL_CLOCK.now())))


async def _hold(options: GatewayOptions, lease: FeedLease, quiet: bool) -> None:
    """Wait for the lease, then say what this gateway serves."""
    await lease.acquire(lambda owner: print(f"the feed is held by gateway {owner}; standing by", file=sys.stderr))
    if not quiet:
        print(f"feed gateway: holding the {options.source.name} connection as epoch {lease.epoch}", file=sys.stderr)
    base = options.source.base_intervals("")[0]  # a live source streams one base for every symbol
    await lease.client.hset(lease.keys.meta, mapping={
        "source": options.source.name, "base": base.seconds, "calendar": options.calendar,
        "omits": int(options.source.omits_empty_intervals),
    })


async def run_gateway(options: GatewayOptions, quiet: bool = False) -> int:
    """Hold the source's connection and publish its bars until the session is over (0) or the lease is lost (3)."""
    client = connect_redis(options.url)
    lease = FeedLease(client, options.lease_seconds)
    stopping = asyncio.Event()
    gateway = Gateway(lease, options.source, options.session, options.source.base_intervals("")[0])
    code = 0
    try:
        await _hold(options, lease, quiet)
        sender = asyncio.create_task(gateway.send(stopping), name="send")
        helpers = [asyncio.create_task(_pump(gateway, stopping)), asyncio.create_task(_heartbeat(gateway, stopping)),
                   asyncio.create_task(_commands(gateway, stopping, options.symbols))]
        ended = asyncio.create_task(_until_session_end(options.session))
        done, _ = await asyncio.wait([ended, sender, *helpers], return_when=asyncio.FIRST_COMPLETED)
        code = _outcome(done)
        stopping.set()
        await asyncio.wait(helpers, timeout=3)
        gateway.collect()
        gateway.queue_state(FeedState.ENDED if ended in done else FeedState.DOWN,
                            "the session is over" if ended in done else "the feed gateway stopped")
        if code == 0:
            await asyncio.wait_for(sender, 10)
            await lease.release()
        if not quiet:
            print(f"feed gateway: {gateway.bars_sent} bar(s) published", file=sys.stderr)
    finally:
        stopping.set()
        options.source.close()
        await client.aclose()
    return code


def _outcome(done: set[asyncio.Task[None]]) -> int:
    """0 when the session ended; 3 when the lease went to another gateway; re-raise anything else."""
    for task in done:
        failed = task.exception()
        if isinstance(failed, LeaseLost):
            print(f"{PROG}: {failed}; stopping", file=sys.stderr)
            return LEASE_LOST_EXIT
        if failed is not None:
            raise failed
    return 0


def gateway_options(args: argparse.Namespace, url: str) -> GatewayOptions:
    """``serve SOURCE --gateway``'s arguments: a live source, its calendar's current session, the symbols."""
    from session_monitor.core.calendar import CalendarError, get_calendar
    from session_monitor.core.sources.factory import open_source
    from session_monitor.core.symbols import distinct_symbols

    request = read_request(args)
    source = open_source(request.spec, base=request.base)
    if not isinstance(source, AlpacaSource):
        source.close()
        raise UsageError(f"--gateway holds a live source's connection (alpaca); {request.spec} is not one")
    calendar_name = request.calendar or source.calendar_hint or "XNYS"
    try:
        calendar = get_calendar(calendar_name, hours=request.calendar_hours)
        session = calendar.current_or_next_session()
        symbols, _ = distinct_symbols(request.symbols.split(",")) if request.symbols else ([], [])
    except (CalendarError, SymbolError) as exc:
        source.close()
        raise UsageError(str(exc)) from None
    return GatewayOptions(source, session, calendar_name, symbols, url, args.lease_seconds)


def gateway_main(args: argparse.Namespace) -> int:
    """``serve SOURCE --gateway --redis URL``: run the feed gateway."""
    if args.redis is None:
        print(f"{PROG}: error: --gateway needs --redis URL (the server the engines read)", file=sys.stderr)
        return 2
    try:
        options = gateway_options(args, args.redis)
    except SourceError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except (UsageError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_gateway(options))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
