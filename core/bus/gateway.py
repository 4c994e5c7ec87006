"""``session-monitor serve alpaca --gateway``: the one process that holds a live source's connection.

Alpaca allows one stream connection per account, so engines do not connect: the gateway
holds the connection under a lease (a standby gateway takes over when it expires) and
appends every base bar it accepts to ``sm:{feed}:bars:SYM``; engines read their symbols
from there through the ``bus:`` source. It is the Alpaca source the engines would use
(REST history on subscribe, backfill after a reconnect, corrections), polled for new bars;
the gateway only adds what the streams do not hold yet, so a gateway that takes over
(or restarts) publishes each bar once. The connection's state and a heartbeat go to the
state stream; while Redis is unreachable the gateway queues its entries and sends them in
order once it is back, and a server that comes back without its data gets the session's
bars again.

It runs every day: each session of its calendar on a fresh connection, from the open to the
close and a grace for late bars and corrections, then ``idle`` (no connection, the next open
in the state) until the next one, holding its lease throughout (renewed from a thread of its
own while its event loop shows progress, as an engine's: :mod:`~core.bus.lease`); ``--end DATE``
stops it after that day's session, SIGINT/SIGTERM at any time. Engines' requests for symbols are
claims that lapse when an engine stops renewing them (see :mod:`~core.bus.gateway_wire`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import numpy as np
import redis.asyncio as aioredis

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus.gateway_wire import (
    BARS_MAXLEN,
    CLAIM_LEASES,
    STATE_MAXLEN,
    FeedLease,
    FeedState,
    bars_of,
    bars_payload,
    parse_entry,
    state_payload,
)
from session_monitor.core.bus.lease import LeaseKeeper, stall_limit
from session_monitor.core.bus.shardlog import TRANSIENT, LeaseLost, read_log
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.core.calendar import CalendarError, Session, SessionCalendar
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
#: after the close, corrections may still come: the gateway serves a session this long after it
#: (or, when the next session opens sooner, until :data:`LIVE_GRACE_SECONDS` after the close)
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
    #: bar entries (replaced by a resync after a data loss), not state
    bars: bool = False


@dataclass
class GatewayOptions:
    #: the first session's connection (opened, and so checked, at start)
    source: AlpacaSource
    #: a fresh connection for each later session
    open_source: Callable[[], AlpacaSource]
    calendar: SessionCalendar
    calendar_name: str
    symbols: list[str]
    url: str
    lease_seconds: float
    #: seconds without event-loop progress after which the lease is left to expire (``--stall-seconds``)
    stall_seconds: float
    #: the last session to serve (``--end``); None: every session until stopped
    end: dt.date | None = None


@dataclass
class Gateway:
    """The watched symbols' feeds, what their streams hold, and the appends still to send."""

    lease: FeedLease
    base: Interval
    #: the session being served and its connection; None between two sessions
    session: Session | None = None
    source: AlpacaSource | None = None
    feeds: dict[str, SymbolFeed] = field(default_factory=dict)
    #: per symbol, the values its stream holds for each bar start of the session
    published: dict[str, dict[int, Row]] = field(default_factory=dict)
    #: per symbol, who asked for it (engine ids, and :data:`OWN`)
    claims: dict[str, set[str]] = field(default_factory=dict)
    #: per engine with claims, since when (monotonic) its key has been seen missing
    missing: dict[str, float] = field(default_factory=dict)
    #: symbols whose session is being loaded (claimed again meanwhile: loaded once)
    loading: set[str] = field(default_factory=set)
    pending: list[Append] = field(default_factory=list)
    state: tuple[FeedState, str] = (FeedState.IDLE, "")
    next_open: float | None = None
    #: bars appended (for the report at exit)
    bars_sent: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: the lease's retakes the streams have been checked after (see :meth:`resync`)
    _synced: int = 0
    _meta: dict[Any, str | int] = field(default_factory=dict)

    @property
    def client(self) -> aioredis.Redis:
        return self.lease.client

    @property
    def claim_ms(self) -> int:
        """How long an engine's claims outlive its last renewal."""
        return CLAIM_LEASES * self.lease.lease_ms

    # -- sessions --------------------------------------------------------------------------
    async def start_session(self, session: Session, source: AlpacaSource) -> None:
        """Serve ``session`` on ``source``: every claimed symbol is watched (side by side)."""
        self.session, self.source, self.next_open = session, source, None
        self.published, self.feeds, self.loading = {}, {}, set()
        self.state = (FeedState.RETRYING, f"connecting to {source.name}")
        self.queue_state()
        await asyncio.gather(*(self._watch(symbol) for symbol in list(self.claims)))

    def end_session(self, next_open: float | None) -> None:
        """The session is over: its last bars queued, the connection closed, ``idle`` until ``next_open``."""
        self.collect()
        source, self.source, self.session = self.source, None, None
        self.feeds, self.published = {}, {}
        if source is not None:
            source.close()
        self.go_idle(next_open)

    def go_idle(self, next_open: float | None) -> None:
        if self.state[0] is FeedState.IDLE and self.next_open == next_open:
            return  # said already
        self.next_open = next_open
        when = "" if next_open is None else dt.datetime.fromtimestamp(next_open, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        self.state = (FeedState.IDLE, f"between sessions: the next opens {when}" if when else "no session to serve")
        self.queue_state()

    # -- symbols ---------------------------------------------------------------------------
    async def claim(self, symbol: str, by: str) -> None:
        """``by`` needs ``symbol``: watch it if nobody did (now if a session is being served)."""
        owners = self.claims.setdefault(symbol, set())
        owners.add(by)
        self.missing.pop(by, None)  # it just spoke
        if symbol not in self.feeds and self.session is not None:
            await self._watch(symbol)

    def release(self, symbol: str, by: str) -> None:
        """``by`` no longer needs ``symbol``: stop watching it once nobody does."""
        owners = self.claims.get(symbol, set())
        owners.discard(by)
        if owners:
            return
        self.claims.pop(symbol, None)
        if self.feeds.pop(symbol, None) is not None and self.source is not None:
            self.source.close_feed(symbol)

    def release_engine(self, engine: str) -> list[str]:
        """Drop every claim of ``engine`` (it stopped renewing them); returns its symbols."""
        symbols = sorted(s for s, owners in self.claims.items() if engine in owners)
        for symbol in symbols:
            self.release(symbol, engine)
        self.missing.pop(engine, None)
        return symbols

    def engines(self) -> list[str]:
        """Engines with claims (not the gateway's own watchlist)."""
        return sorted({by for owners in self.claims.values() for by in owners} - {OWN})

    async def _watch(self, symbol: str) -> None:
        """Learn what the stream holds, then subscribe (the source fetches the session so far)."""
        session, source = self.session, self.source
        if session is None or source is None or symbol in self.feeds or symbol in self.loading:
            return
        self.loading.add(symbol)
        try:
            held = await self._held(symbol, session)
            loaded = await asyncio.get_running_loop().run_in_executor(
                None, source.load_session, symbol, self.base, session)
        except SourceError as exc:  # refused credentials: the state says so (down), nothing to watch
            log.error("feed gateway: %s: %s", symbol, exc)
            return
        finally:
            self.loading.discard(symbol)
        if self.source is not source or symbol not in self.claims:
            return  # the session ended, or the symbol was released, meanwhile
        for problem in loaded.problems:
            log.warning("%s", problem)
        self.published[symbol] = held
        self.feeds[symbol] = source.open_feed(loaded)

    async def _held(self, symbol: str, session: Session) -> dict[int, Row]:
        """The values ``symbol``'s stream holds for ``session`` (a previous gateway's, or ours)."""
        held: dict[int, Row] = {}
        date = session.date.isoformat()
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
        if self.session is None:
            return
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
            self._queue(Append(streams, payloads, BARS_MAXLEN, bars=True))
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
        source = self.source
        if source is None:
            return self.state
        if source.error is not None:
            return FeedState.DOWN, str(source.error)
        if not self.feeds:
            return FeedState.IDLE, "no symbol is watched"
        if not source.connected:
            return FeedState.RETRYING, f"connecting to {source.name}"
        return FeedState.CONNECTED, ""

    def alive(self) -> float | None:
        """Newest time the source's connection proved alive (a message for any symbol)."""
        times = [t for t in (feed.alive_until for feed in self.feeds.values()) if t is not None]
        return max(times, default=None)

    def queue_state(self, state: FeedState | None = None, reason: str = "") -> None:
        """Queue a state entry (the current state when ``state`` is None): also the heartbeat."""
        current, why = (state, reason) if state is not None else self.state
        payload = state_payload(current, why, WALL_CLOCK.now(), self.alive(), self.lease.lease_ms, self.next_open)
        self._queue(Append([self.lease.keys.state], [payload], STATE_MAXLEN))

    def _queue(self, append: Append) -> None:
        self.pending.append(append)
        self._wake.set()

    # -- sending -------------------------------------------------------------------------------
    async def send(self, drained: asyncio.Event) -> None:
        """Send queued appends in order; through a Redis outage keep them and retry (LeaseLost ends it).
        Once ``drained`` is set, stop when the queue is empty."""
        delay = 0.05
        while not (drained.is_set() and not self.pending):
            if not self.pending:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            try:
                if self.lease.retakes != self._synced:
                    await self.resync()
                    continue
                await self.lease.append(self.pending[0].streams, self.pending[0].payloads, self.pending[0].maxlen)
            except TRANSIENT as exc:
                log.warning("feed gateway: Redis unreachable (%s); %d entr(ies) queued, retrying", exc,
                            len(self.pending))
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            except LeaseLost:
                if not await self.lease.retake():
                    raise
                continue  # the lease expired while Redis was away and nobody took it: ours again
            delay = 0.05
            self.pending.pop(0)

    async def write_meta(self, source_name: str, calendar: str, omits: bool) -> None:
        """What the engines' ``bus:`` source needs to know (written again after a data loss)."""
        self._meta = {"source": source_name, "base": self.base.seconds, "calendar": calendar, "omits": int(omits),
                      "claim_ms": self.claim_ms}
        await self.client.hset(self.lease.keys.meta, mapping=self._meta)

    async def resync(self) -> None:
        """The lease had vanished (a server that lost its data, or one away past the lease): make the
        streams hold every bar of the session this gateway accepted, each once.

        The gateway's own record (:attr:`published`) holds every bar it accepted this session, the
        queued ones included; after reading what each stream still holds, the queued bar entries are
        replaced, in one step, by the rows the streams lack.
        """
        retakes = self.lease.retakes
        await self.client.hset(self.lease.keys.meta, mapping=self._meta)
        session = self.session
        held = {symbol: await self._held(symbol, session) for symbol in list(self.published)} if session else {}
        # from here on, nothing awaits: no poll can queue a bar between the reading and the queueing
        self.pending = [append for append in self.pending if not append.bars]
        streams: list[str] = []
        payloads: list[bytes] = []
        now = WALL_CLOCK.now()
        lacking = 0
        for symbol, rows in held.items():
            missing = sorted((ts, values) for ts, values in self.published.get(symbol, {}).items()
                             if rows.get(ts) != values)
            if missing and session is not None:
                streams.append(self.lease.keys.bars(symbol))
                payloads.append(bars_payload(session.date.isoformat(), self.base.seconds, _bars(missing), now))
                lacking += len(missing)
        if streams:
            self._queue(Append(streams, payloads, BARS_MAXLEN, bars=True))
        self._synced = retakes
        log.warning("feed gateway: epoch %d: the streams lacked %d bar(s) of the session; published again",
                    self.lease.epoch, lacking)



def _rows(bars: BarArrays) -> dict[int, Row]:
    return {int(row[0]): tuple(row[1:]) for row in zip(*(col.tolist() for col in bars), strict=True)}


def _bars(rows: list[tuple[int, Row]]) -> BarArrays:
    """Rows ``(start, (o, h, l, c, v))`` in order as columns."""
    values = np.array([v for _, v in rows], np.float64).reshape(len(rows), 5)
    return BarArrays(np.array([t for t, _ in rows], np.int64), *(np.ascontiguousarray(col) for col in values.T))


async def _pump(gateway: Gateway, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        gateway.collect()
        await asyncio.sleep(POLL_SECONDS)


async def _heartbeat(gateway: Gateway, keeper: LeaseKeeper, stopping: asyncio.Event) -> None:
    """Every third of the lease: if the lease keeper found the lease not ours, take it back when it is
    free (it expired while Redis was away) or stop (LeaseLost); then queue a heartbeat.

    The heartbeat stays on the loop: it carries the connection's state and liveness, read where they
    change, and a late one truthfully shows a busy gateway. The lease is renewed on the keeper's
    thread, so a busy loop no longer costs the feed.
    """
    lease = gateway.lease
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), keeper.period)
            return
        if keeper.lapsed() and not await lease.retake():
            raise LeaseLost(f"feed gateway epoch {lease.epoch}: another gateway took the lease")
        gateway.queue_state()


async def _expire_claims(gateway: Gateway, stopping: asyncio.Event) -> None:
    """Drop the claims of an engine whose key has been gone for half a claim time.

    The key lives a claim time after the engine's last renewal, so a killed engine's symbols
    go within about 1.5 claim times. After Redis was away, or came back without its data (the
    keys gone too), nobody's claims are dropped for a claim time: the engines renew theirs
    within a third of it once they reach the server again.
    """
    period = gateway.claim_ms / 6000
    not_before = time.monotonic()
    retakes = gateway.lease.retakes
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), period)
            return
        engines = gateway.engines()
        try:
            async with gateway.client.pipeline(transaction=False) as pipe:
                for engine in engines:
                    pipe.exists(gateway.lease.keys.engine(engine))
                alive = [bool(n) for n in await pipe.execute()] if engines else []
        except TRANSIENT:
            not_before = math.inf  # set once Redis answers again
            continue
        now = time.monotonic()
        if not_before == math.inf or retakes != gateway.lease.retakes:
            not_before, retakes = now + gateway.claim_ms / 1000, gateway.lease.retakes
            gateway.missing.clear()
        for engine, here in zip(engines, alive, strict=True):
            if here:
                gateway.missing.pop(engine, None)
                continue
            since = gateway.missing.setdefault(engine, now)
            if now >= not_before and now - since >= gateway.claim_ms / 2000:
                dropped = gateway.release_engine(engine)
                log.warning("feed gateway: engine %s stopped renewing its requests; released %s", engine,
                            ",".join(dropped) or "nothing")


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


async def _until(when: float) -> None:
    """Sleep until the (session) clock reaches ``when``."""
    while WALL_CLOCK.now() < when:
        await asyncio.sleep(min(1.0, max(0.01, (when - WALL_CLOCK.now()) / WALL_CLOCK.speed)))


def _following(calendar: SessionCalendar, session: Session) -> Session | None:
    """The session after ``session`` (None past the calendar's end)."""
    try:
        return calendar.current_or_next_session(dt.datetime.fromtimestamp(session.close, dt.UTC))
    except CalendarError:
        return None


def served_until(session: Session, following: Session | None) -> float:
    """When the gateway stops serving ``session``: :data:`END_SECONDS` after its close, sooner
    when the next session opens before that (a 24/7 calendar), but never before the close's grace."""
    end = session.close + END_SECONDS
    if following is not None:
        end = min(end, max(float(following.open), session.close + LIVE_GRACE_SECONDS))
    return end


async def _sessions(gateway: Gateway, options: GatewayOptions, quiet: bool) -> None:
    """Serve each session of the calendar from now on (through ``options.end``), idle in between."""
    session: Session | None = options.calendar.current_or_next_session()
    source = options.source
    if options.end is not None and session is not None and session.date > options.end:
        session = None  # refused up front by gateway_options; here for a caller that did not ask it
    while session is not None:
        if WALL_CLOCK.now() < session.open:
            gateway.go_idle(session.open)
            await _until(session.open)
        if not quiet:
            print(f"feed gateway: serving the session of {session.date}", file=sys.stderr, flush=True)
        await gateway.start_session(session, source)
        following = _following(options.calendar, session)
        await _until(served_until(session, following))
        if following is not None and options.end is not None and following.date > options.end:
            following = None
        gateway.end_session(None if following is None else float(following.open))
        if not quiet:
            print(f"feed gateway: the session of {session.date} is over", file=sys.stderr, flush=True)
        session = following
        if session is not None:
            source = options.open_source()


async def _hold(options: GatewayOptions, gateway: Gateway, keeper: LeaseKeeper, quiet: bool) -> None:
    """Wait for the lease, have ``keeper`` renew it from then on, then say what this gateway serves."""
    lease = gateway.lease
    await lease.acquire(lambda owner: print(f"the feed is held by gateway {owner}; standing by", file=sys.stderr))
    keeper.start()
    source = options.source
    if not quiet:
        print(f"feed gateway: holding the {source.name} connection as epoch {lease.epoch}", file=sys.stderr, flush=True)
    await gateway.write_meta(source.name, options.calendar_name, source.omits_empty_intervals)


async def run_gateway(options: GatewayOptions, quiet: bool = False) -> int:
    """Hold the source's connection and publish its bars, session after session, until the last
    (``--end``) is over or a signal stops it (0, also while standing by), or the lease is lost (3)."""
    client = connect_redis(options.url)
    lease = FeedLease(client, options.lease_seconds)
    gateway = Gateway(lease, options.source.base_intervals("")[0])
    keeper = LeaseKeeper(lease.renew_now, options.lease_seconds, options.stall_seconds, "feed gateway")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        holding = asyncio.create_task(_hold(options, gateway, keeper, quiet), name="hold")
        stopped = asyncio.create_task(stop.wait(), name="stopped")
        await asyncio.wait([holding, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not holding.done():  # a standby asked to stop before it took over
            holding.cancel()
            print("feed gateway: stopped while standing by", file=sys.stderr)
            return 0
        holding.result()
        return await _serve(gateway, keeper, options, stop, quiet)
    finally:
        keeper.stop()
        lease.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if gateway.source is not None:
            gateway.source.close()
        options.source.close()
        await client.aclose()


async def _serve(gateway: Gateway, keeper: LeaseKeeper, options: GatewayOptions, stop: asyncio.Event,
                 quiet: bool) -> int:
    """The lease is ours: serve until the last session is over, ``stop`` is set or a helper fails."""
    stopping = asyncio.Event()
    drained = asyncio.Event()  # the sender stops once its queue is empty after this: the last state is in it
    sender = asyncio.create_task(gateway.send(drained), name="send")
    helpers = [asyncio.create_task(_pump(gateway, stopping)),
               asyncio.create_task(_heartbeat(gateway, keeper, stopping)),
               asyncio.create_task(_commands(gateway, stopping, options.symbols)),
               asyncio.create_task(_expire_claims(gateway, stopping))]
    served = asyncio.create_task(_sessions(gateway, options, quiet), name="sessions")
    stopped = asyncio.create_task(stop.wait(), name="stopped")
    try:
        done, _ = await asyncio.wait([served, stopped, sender, *helpers], return_when=asyncio.FIRST_COMPLETED)
        code = _outcome(done)
        stopping.set()
        serving = gateway.session is not None
        for task in (served, stopped):
            task.cancel()
        await asyncio.wait(helpers, timeout=3)
        gateway.collect()
        gateway.queue_state(*_last_word(served in done, stopped in done, serving))
        drained.set()
        if code == 0:
            await asyncio.wait_for(sender, 10)
            keeper.stop()
            await gateway.lease.release()
        if not quiet:
            print(f"feed gateway: {gateway.bars_sent} bar(s) published", file=sys.stderr, flush=True)
        return code
    finally:
        stopping.set()
        drained.set()


def _last_word(over: bool, stopped: bool, serving: bool) -> tuple[FeedState, str]:
    """The state the gateway leaves: ``down`` when it stopped mid-session (the engines must not take
    the silence for a quiet feed) or failed, ``ended`` when its last session is over or it was
    stopped between sessions."""
    if not (over or stopped):
        return FeedState.DOWN, "the feed gateway stopped"
    if serving:
        return FeedState.DOWN, "the feed gateway was stopped"
    return FeedState.ENDED, "the last session is over" if over else "the feed gateway was stopped"


def _outcome(done: set[asyncio.Task[Any]]) -> int:
    """0 when the sessions ended or a signal stopped it; 3 when the lease went to another gateway;
    re-raise anything else."""
    for task in done:
        if task.cancelled():
            continue
        failed = task.exception()
        if isinstance(failed, LeaseLost):
            print(f"{PROG}: {failed}; stopping", file=sys.stderr)
            return LEASE_LOST_EXIT
        if failed is not None:
            raise failed
    return 0


def gateway_options(args: argparse.Namespace, url: str) -> GatewayOptions:
    """``serve SOURCE --gateway``'s arguments: a live source, its calendar, the symbols, the last day."""
    from session_monitor.core.calendar import get_calendar
    from session_monitor.core.sources.factory import open_source
    from session_monitor.core.symbols import distinct_symbols

    request = read_request(args)
    stall_seconds = stall_limit(args.lease_seconds, args.stall_seconds)  # checked before a connection opens

    def open_alpaca() -> AlpacaSource:
        source = open_source(request.spec, base=request.base)
        if not isinstance(source, AlpacaSource):
            source.close()
            raise UsageError(f"--gateway holds a live source's connection (alpaca); {request.spec} is not one")
        return source

    source = open_alpaca()
    calendar_name = request.calendar or source.calendar_hint or "XNYS"
    try:
        if request.start or request.config_start:
            raise UsageError("--gateway serves every session from today's: --start does not apply (--end does)")
        calendar = get_calendar(calendar_name, hours=request.calendar_hours)
        first = calendar.current_or_next_session()
        end = request.date_range().end
        if end is not None and end < first.date:
            raise UsageError(f"--end {end} is before the session the gateway would serve first ({first.date})")
        symbols, _ = distinct_symbols(request.symbols.split(",")) if request.symbols else ([], [])
    except (CalendarError, SymbolError, UsageError) as exc:
        source.close()
        raise UsageError(str(exc)) from None
    return GatewayOptions(source, open_alpaca, calendar, calendar_name, symbols, url, args.lease_seconds,
                          stall_seconds, end)


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
