"""What the feed gateway writes to Redis and the ``bus:`` source reads: entries, state, lease, fenced appends.

One stream per symbol (``sm:{feed}:bars:SYM``) holds every base bar the gateway accepted,
corrections included, each entry ``{v: schema, e: epoch, m: msgpack}`` with ``m`` =
``{d: session date, b: base seconds, p: wall time published, r: [ts, o, h, l, c, v] columns}``.
The state stream carries the connection's state and the gateway's heartbeat (between two
sessions: ``idle`` with the next open). An engine's requests (``add``/``rm`` a symbol on the
command stream) are *claims* that last while the engine keeps its key ``sm:{feed}:engine:ID``
alive (:data:`CLAIM_LEASES` gateway leases), so a killed engine's symbols are dropped. Every append
is one Lua script that first checks the caller still holds the lease with its epoch
(*fencing*: a gateway that lost its lease can never write again), and readers also ignore an
entry whose epoch is below one they already saw on that stream.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus.codec import decode, encode
from session_monitor.core.bus.layout import FEED_KEYS, FEED_SCHEMA_VERSION
from session_monitor.core.bus.shardlog import _ACQUIRE, _RELEASE, _RENEW, LeaseLost, Retake, keeper_connection, retake

__all__ = [
    "BARS_MAXLEN", "CLAIM_LEASES", "COMMANDS_MAXLEN", "STATE_MAXLEN", "FeedEntry", "FeedLease", "FeedSchemaError",
    "FeedState", "GatewayState", "bars_of", "bars_payload", "command_payload", "parse_entry", "state_of",
    "state_payload",
]

log = logging.getLogger(__name__)

#: entries kept per symbol stream (``MAXLEN ~``): an entry holds one or more bars, so at 1m bars
#: a 24-hour session is at most 1,440 entries and the stream keeps several sessions
BARS_MAXLEN = 10_000
#: state entries kept (a heartbeat every third of the lease: over half an hour at the default)
STATE_MAXLEN = 1_000
#: engines' add/remove requests kept (a new gateway reads them all to know what is watched)
COMMANDS_MAXLEN = 10_000
#: an engine's claims last this many gateway leases after its last renewal (the gateway's
#: ``claim_ms`` in the meta hash says how long that is; an engine renews every third of it)
CLAIM_LEASES = 3

_APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return redis.error_reply('FENCED this gateway no longer holds the feed lease')
end
local ids = {}
for i = 2, #KEYS do
    ids[i - 1] = redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[2], '*',
        'v', ARGV[3], 'e', ARGV[4], 'm', ARGV[i + 3])
end
return ids
"""


class FeedState(enum.Enum):
    """The gateway's connection, as engines see it."""

    #: the stream is up with every subscription sent
    CONNECTED = "connected"
    #: the connection dropped (or is being made); the gateway reconnects and backfills the gap
    RETRYING = "retrying"
    #: refused for good (credentials, plan), or — seen by a reader — no gateway heartbeat
    DOWN = "down"
    #: no symbol watched yet, or between two sessions (``next_open`` says when the next opens)
    IDLE = "idle"
    #: the last session is over (or the gateway was stopped between sessions); it has stopped
    ENDED = "ended"


class FeedSchemaError(RuntimeError):
    """An entry of another schema version: the gateway and this engine are different releases."""


class FeedEntry(NamedTuple):
    """One entry of a feed stream: its id, the gateway epoch that wrote it, and its message."""

    id: str
    epoch: int
    message: dict[str, Any]


class GatewayState(NamedTuple):
    """A state entry's message, read back."""

    state: FeedState
    reason: str
    #: wall time the gateway wrote it
    time: float
    #: newest time the source connection proved alive (any message), or None
    alive: float | None
    #: the gateway's lease in ms: a reader that hears nothing for that long calls the feed down
    lease_ms: int
    #: while idle between sessions: when the next one opens (UTC epoch seconds)
    next_open: float | None = None


def bars_payload(session_date: str, base_seconds: int, bars: BarArrays, published: float) -> bytes:
    """One entry's message: ``bars`` of a session, as columns (ts int, prices and volume float)."""
    columns = [bars.ts.tolist(), *(col.tolist() for col in bars[1:])]
    return encode({"d": session_date, "b": base_seconds, "p": published, "r": columns})


def bars_of(message: Mapping[str, Any]) -> BarArrays:
    ts, *values = message["r"]
    return BarArrays(np.asarray(ts, np.int64), *(np.asarray(col, np.float64) for col in values))


def state_payload(state: FeedState, reason: str, now: float, alive: float | None, lease_ms: int,
                  next_open: float | None = None) -> bytes:
    return encode({"st": state.value, "why": reason, "t": now, "a": alive, "l": lease_ms, "n": next_open})


def state_of(message: Mapping[str, Any]) -> GatewayState:
    alive, next_open = message.get("a"), message.get("n")
    return GatewayState(FeedState(message["st"]), str(message.get("why", "")), float(message["t"]),
                        None if alive is None else float(alive), int(message["l"]),
                        None if next_open is None else float(next_open))


def command_payload(kind: str, symbol: str, engine: str) -> bytes:
    """An engine's request: ``add`` or ``rm`` ``symbol`` (``engine`` tells requesters apart)."""
    return encode({"k": kind, "s": symbol, "by": engine})


def parse_entry(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> FeedEntry:
    """A stream entry's fields read back; another schema version raises :class:`FeedSchemaError`."""
    version = int(fields[b"v"])
    if version != FEED_SCHEMA_VERSION:
        raise FeedSchemaError(
            f"the feed gateway writes schema {version}, this engine reads {FEED_SCHEMA_VERSION}: run one release"
        )
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return FeedEntry(text, int(fields[b"e"]), decode(fields[b"m"]))


class FeedLease:
    """The gateway's hold on the one source connection: lease, epoch and fenced appends.

    The same lease as a shard's (``SET NX PX`` of ``epoch:gateway`` under a fresh
    ``INCR``-ed epoch, renewed by compare-and-``PEXPIRE`` from a lease keeper's thread,
    :mod:`~core.bus.lease`): a second gateway stands by and takes the next epoch only when the
    first one's lease has expired.
    """

    def __init__(self, client: aioredis.Redis, lease_seconds: float) -> None:
        self.client = client
        self.keys = FEED_KEYS
        self.gateway = uuid.uuid4().hex[:12]
        self.lease_ms = max(100, int(lease_seconds * 1000))
        self.epoch = 0
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._keeper_client = keeper_connection(client, self.lease_ms)
        self._renew_now = self._keeper_client.register_script(_RENEW)
        self._append = client.register_script(_APPEND)
        self._retaking = asyncio.Lock()
        #: times the lease was taken again after it vanished (expired while Redis was away, or a
        #: server that lost its data): the streams may lack what was appended before
        self.retakes = 0

    @property
    def token(self) -> str:
        return f"{self.epoch}:{self.gateway}"

    async def try_acquire(self) -> bool:
        epoch = await self._acquire(keys=[self.keys.lease, self.keys.epoch],
                                    args=[self.gateway, self.lease_ms, self.epoch])
        if epoch is None:
            return False
        self.epoch = int(epoch)
        return True

    async def acquire(self, on_wait: Callable[[str], None]) -> int:
        """Wait until the lease is ours (a live gateway keeps it); ``on_wait`` hears the holder once."""
        told = False
        while not await self.try_acquire():
            if not told:
                owner = await self.client.get(self.keys.lease)
                on_wait(owner.decode() if isinstance(owner, bytes) else str(owner))
                told = True
            await asyncio.sleep(self.lease_ms / 4000)
        return self.epoch

    async def holds(self) -> bool:
        """The lease is ours under our current epoch."""
        return bool(await self.client.get(self.keys.lease) == self.token.encode())

    def renew_now(self) -> bool:
        """Renew the lease (compare-and-PEXPIRE), blocking: the lease keeper's thread calls it (core/bus/lease.py)."""
        return bool(self._renew_now(keys=[self.keys.lease], args=[self.token, self.lease_ms]))

    async def retake(self) -> bool:
        """After a renewal or an append found the lease not ours: take it again (the next epoch) if it
        expired and nobody took it meanwhile (:func:`~core.bus.shardlog.retake`, the engines' rule).

        False when another gateway holds it: this one must stop. One call at a time (the
        heartbeat and the sender both call it): a second caller then finds what the first took.
        """
        async with self._retaking:
            found = await retake(self)
            if found is Retake.TAKEN:
                log.warning("feed gateway: the lease had expired (Redis away?); taken again as epoch %d", self.epoch)
                self.retakes += 1
            return found is not Retake.LOST

    async def release(self) -> None:
        await self._release(keys=[self.keys.lease], args=[self.token])

    def close(self) -> None:
        """Close the lease keeper's connection (the async client is the caller's)."""
        self._keeper_client.close()

    async def append(self, streams: list[str], payloads: list[bytes], maxlen: int = BARS_MAXLEN) -> None:
        """Add one entry to each of ``streams`` (fenced, atomically); LeaseLost when not the holder."""
        try:
            await self._append(keys=[self.keys.lease, *streams],
                               args=[self.token, maxlen, FEED_SCHEMA_VERSION, self.epoch, *payloads])
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise LeaseLost(f"feed gateway epoch {self.epoch} lost its lease") from None
            raise

    async def publish_state(self, payload: bytes) -> None:
        await self.append([self.keys.state], [payload], STATE_MAXLEN)
