"""``bus:redis://HOST:PORT/DB``: a live source that reads the feed gateway's streams instead of connecting.

An engine behind a feed gateway (``serve alpaca --gateway``) opens no connection of its
own: ``load_session`` asks the gateway for the symbol (the command stream) and reads what
its stream holds for the session (the history), ``open_feed`` returns the same
:class:`~core.feeds.PushFeed` the Alpaca source gives, and one reader thread follows every
watched stream with a blocking ``XREAD`` from the last id it read, so a reconnect (or a
Redis restart) resumes where it was: nothing lost, nothing doubled. The gateway's state
stream drives the feeds: retrying or down disconnects them (the engine shows the symbols
down), connected reconnects them; no heartbeat for a lease's time means the gateway is gone
(a standby takes over when its lease expires) and is shown as down too. Fencing: an entry
of an epoch below one already read on that stream is ignored.

The requests are claims: the reader thread keeps the engine's key ``sm:{feed}:engine:ID``
alive (every third of the gateway's ``claim_ms``), and :meth:`BusSource.close` withdraws every
symbol (``rm``), so the gateway unsubscribes what no one needs any more; an engine that died
stops renewing and the gateway drops its claims once the key has been gone a while. A key
found gone at a renewal (the engine was paused that long, or the server lost its data) makes
the engine ask for its symbols again.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import redis

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus.gateway_wire import (
    COMMANDS_MAXLEN,
    FeedEntry,
    FeedSchemaError,
    FeedState,
    GatewayState,
    bars_of,
    command_payload,
    parse_entry,
    state_of,
)
from session_monitor.core.bus.layout import FEED_KEYS, FEED_SCHEMA_VERSION
from session_monitor.core.bus.shardlog import CALL_TIMEOUT, TRANSIENT
from session_monitor.core.calendar import Session
from session_monitor.core.clock import WALL_CLOCK
from session_monitor.core.feeds import PushFeed
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import BarSource, DataProblem, LoadedSession, SourceError

__all__ = ["BusSource", "BusStats"]

log = logging.getLogger(__name__)

#: ms one blocking read waits: a symbol added meanwhile is read from at most this much later
BLOCK_MS = 200
#: entries read per stream and call
READ_COUNT = 1000
#: the default base when no gateway has said what it serves yet (Alpaca's minute bars)
DEFAULT_BASE = Interval(60)
#: how long claims last when no gateway has said it yet (``claim_ms`` of its meta hash): short, so
#: the key is renewed often until the gateway's own time is read (at every renewal)
DEFAULT_CLAIM_MS = 3_000

Row = tuple[float, ...]


@dataclass
class BusStats:
    """Counts for diagnostics, tests and the latency figure."""

    #: bars pushed to feeds (new bars and corrections)
    received: int = 0
    #: entries ignored: an epoch below one already read on the stream (a fenced-out gateway)
    fenced: int = 0
    #: bars read again with the values already held (not pushed)
    repeated: int = 0
    #: wall seconds from the gateway's append to the push into the feed, newest last
    lags: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=100_000))


@dataclass
class _Watch:
    """One symbol's stream as this engine reads it: the cursor, the epoch, the values held."""

    symbol: str
    session: Session
    base_seconds: int
    cursor: str = "0"
    epoch: int = 0
    seen: dict[int, Row] = field(default_factory=dict)
    feed: PushFeed | None = None

    def take(self, entry: FeedEntry, stats: BusStats) -> BarArrays | None:
        """The entry's bars this watch does not hold yet (None: nothing new); moves the cursor."""
        self.cursor = entry.id
        if entry.epoch < self.epoch:
            stats.fenced += 1
            return None
        self.epoch = entry.epoch
        message = entry.message
        if message["d"] != self.session.date.isoformat() or int(message["b"]) != self.base_seconds:
            return None
        fresh: list[tuple[int, Row]] = []
        for row in zip(*(col.tolist() for col in bars_of(message)), strict=True):
            ts, values = int(row[0]), tuple(row[1:])
            if self.seen.get(ts) == values:
                stats.repeated += 1
                continue
            self.seen[ts] = values
            fresh.append((ts, values))
        return _bars(sorted(fresh)) if fresh else None


def _bars(rows: list[tuple[int, Row]]) -> BarArrays:
    """Rows ``(start, (o, h, l, c, v))`` in order as columns."""
    if not rows:
        return BarArrays.empty()
    values = np.array([v for _, v in rows], np.float64).reshape(len(rows), 5)
    return BarArrays(np.array([t for t, _ in rows], np.int64), *(np.ascontiguousarray(col) for col in values.T))


class BusSource(BarSource):
    """The feed gateway's bars for the symbols this engine watches (see the module docstring)."""

    def __init__(self, url: str, base: Interval | None = None) -> None:
        self.url = url
        self.live = True
        self.engine = uuid.uuid4().hex[:12]
        self.keys = FEED_KEYS
        self.stats = BusStats()
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT)
            raw_meta = cast(dict[bytes, bytes], self._client.hgetall(self.keys.meta))
        except (ValueError, *TRANSIENT) as exc:
            raise SourceError(f"cannot read the feed gateway at {url}: {exc}") from None
        meta = {k.decode(): v.decode() for k, v in raw_meta.items()}
        self._base = Interval(int(meta["base"])) if "base" in meta else base or DEFAULT_BASE
        if base is not None and base != self._base:
            raise SourceError(f"the feed gateway at {url} serves {self._base} bars, not {base}")
        self._calendar = meta.get("calendar")
        self._claim_ms = int(meta.get("claim_ms", DEFAULT_CLAIM_MS))
        self._renewed = -math.inf  # monotonic time of the last renewal of the engine's key
        self.omits_empty_intervals = bool(int(meta.get("omits", "1")))
        self.name = f"bus ({meta.get('source', 'feed gateway')})"
        self._lock = threading.Lock()
        self._watches: dict[str, _Watch] = {}
        self._loaded: dict[str, _Watch] = {}
        self._unsent: list[bytes] = []
        self._state = GatewayState(FeedState.DOWN, "waiting for the feed gateway", 0.0, None, 0)
        self._state_cursor = "0"
        self._state_epoch = 0
        self._heard = 0.0
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._read_state()

    # -- BarSource ------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return f"bus:{self.url}"

    @property
    def calendar_hint(self) -> str | None:
        return self._calendar

    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        return (self._base,)

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        """Ask the gateway for ``symbol`` and read what its stream holds for ``session`` so far."""
        sym = symbol.strip().upper()
        loaded = LoadedSession(sym, session, base, BarArrays.empty())
        if base != self._base:
            loaded.problems.append(DataProblem(f"the feed gateway serves {self._base} bars, not {base}", symbol=sym))
            return loaded
        self._command("add", sym)
        watch = _Watch(sym, session, base.seconds)
        try:
            for entry_id, fields in cast(list[Any], self._client.xrange(self.keys.bars(sym))):
                watch.take(parse_entry(entry_id, fields), self.stats)
        except TRANSIENT as exc:  # the reader goes on from the last entry read once Redis is back
            loaded.problems.append(DataProblem(f"could not read the feed ({exc}); it is read once back", symbol=sym))
        except FeedSchemaError as exc:
            raise SourceError(str(exc)) from None
        loaded.bars = _bars(sorted(watch.seen.items()))
        with self._lock:
            self._loaded[sym] = watch
        return loaded

    def open_feed(self, loaded: LoadedSession) -> PushFeed:
        """A PushFeed holding ``loaded``; the reader thread pushes the stream's next bars into it."""
        feed = PushFeed(loaded.symbol, loaded.base.seconds, history=loaded.bars)
        with self._lock:
            watch = self._loaded.pop(loaded.symbol, None) or _Watch(loaded.symbol, loaded.session, loaded.base.seconds)
            watch.feed = feed
            self._watches[loaded.symbol] = watch
            self._show(self._state, [watch])
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._read_loop, name="bus-feed-reader", daemon=True)
                self._thread.start()
        return feed

    def close_feed(self, symbol: str) -> None:
        sym = symbol.strip().upper()
        with self._lock:
            watch = self._watches.pop(sym, None)
        if watch is not None:
            self._command("rm", sym)

    def close(self) -> None:
        """Stop reading and withdraw every request, so the gateway stops watching what no one needs."""
        self._closed.set()
        thread = self._thread
        if thread is not None:
            thread.join(CALL_TIMEOUT + 1)
        with self._lock:
            symbols = sorted({*self._watches, *self._loaded})
            self._watches.clear()
            self._loaded.clear()
        for symbol in symbols:
            self._command("rm", symbol)
        with contextlib.suppress(*TRANSIENT):  # not reachable: the claims lapse on their own
            self._client.delete(self.keys.engine(self.engine))
        self._client.close()

    # -- the gateway's state ------------------------------------------------------------------------
    @property
    def gateway_state(self) -> GatewayState:
        """The gateway's state as this engine last read it."""
        return self._state

    def _read_state(self) -> None:
        """The newest state entry, read at start: a gateway that is up connects the feeds at once."""
        try:
            newest = cast(list[Any], self._client.xrevrange(self.keys.state, count=1))
        except TRANSIENT:
            return
        for entry_id, fields in newest:
            entry = parse_entry(entry_id, fields)
            self._state_cursor, self._state_epoch = entry.id, entry.epoch
            state = state_of(entry.message)
            self._heard = time.monotonic() - max(0.0, WALL_CLOCK.now() - state.time) / WALL_CLOCK.speed
            if state.state is FeedState.ENDED:  # a past run's last word: wait for this session's gateway
                state = state._replace(state=FeedState.DOWN, reason="waiting for the feed gateway (its last run ended)")
            self._state = state

    def _on_state(self, entry: FeedEntry) -> None:
        self._state_cursor = entry.id
        if entry.epoch < self._state_epoch:
            self.stats.fenced += 1
            return
        if entry.epoch > self._state_epoch:  # a new gateway: make sure it watches what this engine needs
            self._claim_again()
        self._state_epoch = entry.epoch
        self._heard = time.monotonic()
        self._state = state_of(entry.message)
        with self._lock:
            self._show(self._state, list(self._watches.values()))

    def _show(self, state: GatewayState, watches: list[_Watch]) -> None:
        """Reflect the gateway's state in the feeds: down or retrying disconnects them."""
        for watch in watches:
            feed = watch.feed
            if feed is None:
                continue
            if state.state in (FeedState.RETRYING, FeedState.DOWN):
                feed.disconnect(f"feed gateway: {state.state.value}: {state.reason}")
            else:
                feed.reconnect()
                if state.alive is not None:
                    feed.touch(state.alive)

    def _check_silence(self) -> None:
        """No heartbeat for a lease's time: the gateway is gone (a standby takes over at expiry)."""
        state = self._state
        if state.state in (FeedState.ENDED, FeedState.DOWN) or not state.lease_ms:
            return
        silent = time.monotonic() - self._heard
        if silent > state.lease_ms / 1000:
            self._state = GatewayState(FeedState.DOWN, f"no heartbeat from the feed gateway for {silent:.1f} s",
                                       state.time, state.alive, state.lease_ms)
            with self._lock:
                self._show(self._state, list(self._watches.values()))

    # -- commands -------------------------------------------------------------------------------
    def _command(self, kind: str, symbol: str) -> None:
        """Queue a request to the gateway and send what is queued (kept through an outage)."""
        with self._lock:
            self._unsent.append(command_payload(kind, symbol, self.engine))
        self._send_commands()

    def _send_commands(self) -> None:
        with self._lock:
            todo, self._unsent = self._unsent, []
        for k, payload in enumerate(todo):
            try:
                if k == 0:  # the claims stand from the first request on
                    self._renew(force=True)
                self._client.xadd(self.keys.commands, {"v": FEED_SCHEMA_VERSION, "e": 0, "m": payload},
                                  maxlen=COMMANDS_MAXLEN, approximate=True)
            except TRANSIENT:
                with self._lock:
                    self._unsent[:0] = todo[k:]
                return

    def _claim_again(self) -> None:
        """Ask for every watched symbol again (a new gateway, or claims that lapsed)."""
        with self._lock:
            symbols = list(self._watches)
        for symbol in symbols:
            self._command("add", symbol)

    def _renew(self, force: bool = False) -> None:
        """Keep the engine's key alive (every third of the claim time); a key found gone means the
        gateway may have dropped the claims: ask again. Raises a TRANSIENT error when Redis is away."""
        now = time.monotonic()
        if self._closed.is_set() or (not force and now - self._renewed < self._claim_ms / 3000):
            return
        with contextlib.suppress(ValueError, TypeError):  # the gateway's (one started after us, or another's)
            self._claim_ms = int(cast(bytes, self._client.hget(self.keys.meta, "claim_ms")) or DEFAULT_CLAIM_MS)
        key = self.keys.engine(self.engine)
        kept = self._client.set(key, 1, px=self._claim_ms, xx=True)
        self._renewed = now
        if not kept:
            self._client.set(key, 1, px=self._claim_ms)
            if not force and self._watches:
                log.warning("bus: the engine's requests had lapsed at the feed gateway; asking again")
                self._claim_again()

    # -- the reader thread ------------------------------------------------------------------------
    def _read_loop(self) -> None:
        reader = redis.Redis.from_url(self.url, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT)
        delay = 0.05
        try:
            while not self._closed.is_set():
                try:
                    self._read_once(reader)
                    delay = 0.05
                except TRANSIENT as exc:
                    self._redis_down(str(exc) or type(exc).__name__)
                    self._closed.wait(delay)
                    delay = min(2.0, delay * 2)
                except FeedSchemaError as exc:
                    log.error("bus: %s", exc)
                    self._redis_down(str(exc))
                    return
        finally:
            reader.close()

    def _read_once(self, reader: redis.Redis) -> None:
        if self._unsent:
            self._send_commands()
        self._renew()
        with self._lock:
            streams: dict[Any, Any] = {self.keys.bars(s): w.cursor for s, w in self._watches.items()}
        streams[self.keys.state] = self._state_cursor  # last: a state read with bars is applied after them
        reply = cast(list[Any], reader.xread(streams, count=READ_COUNT, block=BLOCK_MS)) or []
        for key, entries in reply:
            name = key.decode() if isinstance(key, bytes) else str(key)
            for entry_id, fields in entries:
                entry = parse_entry(entry_id, fields)
                if name == self.keys.state:
                    self._on_state(entry)
                else:
                    self._on_bars(name.removeprefix(self.keys.bars("")), entry)
        self._check_silence()

    def _on_bars(self, symbol: str, entry: FeedEntry) -> None:
        with self._lock:
            watch = self._watches.get(symbol)
        if watch is None or watch.feed is None:
            return  # removed meanwhile
        fresh = watch.take(entry, self.stats)
        if fresh is None:
            return
        watch.feed.push(fresh)
        self.stats.received += len(fresh.ts)
        self.stats.lags.append(WALL_CLOCK.now() - float(entry.message["p"]))

    def _redis_down(self, reason: str) -> None:
        """Redis is unreachable: every feed is down until the gateway's next heartbeat is read."""
        state = self._state
        if state.state is FeedState.ENDED:
            return
        self._state = GatewayState(FeedState.DOWN, f"Redis unreachable: {reason}", state.time, state.alive,
                                   state.lease_ms)
        with self._lock:
            self._show(self._state, list(self._watches.values()))
