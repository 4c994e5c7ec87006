"""The Redis side of one shard: the owner's lease (with a fencing epoch) and fenced appends.

The lease is ``SET NX PX`` of ``epoch:engine`` (the epoch is ``INCR``-ed by each new
owner), kept alive by a compare-and-renew script. Every append checks that the caller
still holds the lease with its epoch atomically with adding the entry (a WATCH-ed
MULTI/EXEC; for a batch carrying a snapshot one Lua script, which also stores the
snapshot's parts under the entry's id, names that id as the current snapshot, drops the
snapshot before the previous one and trims the log behind the previous one): the
snapshot always matches the log position it names, and an engine that lost its lease
(paused, partitioned) can never write again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple, Protocol, cast

import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from session_monitor.core.bus.layout import DEPLOYMENT_KEY, SCHEMA_VERSION, ShardKeys, ShardSpec
from session_monitor.core.bus.publisher import Batch

__all__ = ["TRANSIENT", "DeploymentError", "LeaseLost", "Retake", "ShardLog", "ShardWriter", "keeper_connection",
           "retake"]

log = logging.getLogger(__name__)

#: errors after which a call is simply tried again (a restarting or unreachable server)
TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
#: hard cap of a shard log (entries); snapshots trim far earlier (MINID), this bounds a runaway
LOG_MAXLEN = 100_000
#: queued batches beyond which the backlog is replaced by one snapshot (bounded engine memory) ...
MAX_BACKLOG = 2_000
#: ... or queued bytes beyond this and twice the last such snapshot (a snapshot then halves the
#: backlog at least; at max speed on a busy machine the server falls behind the engine)
MAX_BACKLOG_BYTES = 256 << 20

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
if epoch <= tonumber(ARGV[3]) then  -- a server that lost its data must not hand out an old epoch again
    epoch = tonumber(ARGV[3]) + 1
    redis.call('SET', KEYS[2], epoch)
end
redis.call('SET', KEYS[1], epoch .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])
return epoch
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return redis.error_reply('FENCED this engine no longer holds the lease')
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
    'v', ARGV[3], 'e', ARGV[4], 'n', ARGV[5], 'x', ARGV[6], 'm', ARGV[7], 'b', ARGV[8])
local parts = tonumber(ARGV[9])
if parts > 0 then
    -- part keys: ShardKeys.snapshot_part (KEYS[3]:pos:k); the previous snapshot stays for readers
    -- still reading it, the one before it goes
    local snap = KEYS[3]
    local previous = redis.call('HMGET', snap, 'pos', 'parts', 'prev', 'prevparts')
    if previous[3] then
        for k = 0, tonumber(previous[4]) - 1 do redis.call('DEL', snap .. ':' .. previous[3] .. ':' .. k) end
    end
    for k = 0, parts - 1 do
        redis.call('HSET', snap .. ':' .. id .. ':' .. k, 'm', ARGV[10 + 2 * k], 'b', ARGV[11 + 2 * k])
    end
    redis.call('HSET', snap, 'pos', id, 'parts', parts, 'v', ARGV[3], 'e', ARGV[4], 'n', ARGV[5])
    if previous[1] then
        redis.call('HSET', snap, 'prev', previous[1], 'prevparts', previous[2])
        redis.call('XTRIM', KEYS[2], 'MINID', '~', previous[1])
    end
end
return id
"""


#: seconds a single Redis call may take before it counts as a transient failure (and is retried):
#: after a server restart a half-open connection would otherwise hang its caller for good
CALL_TIMEOUT = 5.0


def connect(url: str) -> aioredis.Redis:
    """A client for ``url`` whose calls never hang (every engine, follower and GUI uses this)."""
    return aioredis.from_url(url, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT)


def connect_blocking(client: aioredis.Redis, timeout: float = CALL_TIMEOUT) -> redis.Redis:
    """A blocking client for the server ``client`` talks to (the appends' and the lease keeper's own
    connections), whose calls give up after ``timeout`` seconds."""
    kwargs = client.connection_pool.connection_kwargs
    return redis.Redis(
        host=kwargs.get("host", "localhost"), port=kwargs.get("port", 6379), db=kwargs.get("db", 0),
        username=kwargs.get("username"), password=kwargs.get("password"),
        socket_timeout=timeout, socket_connect_timeout=timeout,
    )


def keeper_connection(client: aioredis.Redis, lease_ms: int) -> redis.Redis:
    """The lease keeper's own blocking connection (never queued behind an append). A renewal answered
    late by a busy server still counts, so it waits up to a lease for the reply (giving up sooner
    drops the connection and sends the next renewal to the back of the queue)."""
    return connect_blocking(client, timeout=min(CALL_TIMEOUT, max(0.1, lease_ms / 1000)))


class LogEntry(NamedTuple):
    """One stream entry: its id and raw fields."""

    id: str
    fields: dict[bytes, bytes]


async def read_log(
    client: aioredis.Redis, stream: str, cursor: str, count: int, block: int | None = None
) -> list[LogEntry]:
    """Entries of ``stream`` after ``cursor`` (waiting up to ``block`` ms for the first)."""
    reply = cast(list[Any], await client.xread({stream: cursor}, count=count, block=block))
    return [LogEntry(entry_id.decode(), fields) for _stream, entries in reply or () for entry_id, fields in entries]


class LeaseLost(RuntimeError):
    """Another engine owns the shard now: this one must stop publishing."""


class Retake(enum.Enum):
    """What :func:`retake` found."""

    #: the lease is ours under the epoch we hold (or Redis is away: the next append or renewal tells)
    HELD = "held"
    #: nobody held it (it expired while Redis was away, or the owner was stalled and no standby
    #: came): ours again under a new epoch, so what the old epoch wrote may be missing
    TAKEN = "taken"
    #: another owner holds it: stop
    LOST = "lost"


class OwnedLease(Protocol):
    """An owner's side of a lease (a shard's :class:`ShardLog`, the feed gateway's ``FeedLease``)."""

    async def holds(self) -> bool: ...

    async def try_acquire(self) -> bool: ...


async def retake(lease: OwnedLease) -> Retake:
    """The one rule after an append or a renewal found the lease not ours: keep it if it still is,
    take it back if nobody holds it, else it is lost. Callers run it one at a time (the second then
    finds the lease held under the epoch the first took)."""
    try:
        if await lease.holds():
            return Retake.HELD
        if await lease.try_acquire():
            return Retake.TAKEN
    except TRANSIENT:
        return Retake.HELD
    return Retake.LOST


class DeploymentError(RuntimeError):
    """Engines disagree on the deployment (e.g. the shard count)."""


class ShardLog:
    """One engine's handle on its shard: lease, epoch, fenced appends.

    Appends run on a thread of their own with a blocking client: it writes a batch's blob
    to the socket straight from the engine's buffer (``sendall`` without the GIL), where
    the asyncio client joins every command into one new bytes object and buffers what the
    socket does not take at once; at max speed those copies (and the fresh memory they
    fault in) cost the engine's thread more than encoding the batch.
    """

    def __init__(self, client: aioredis.Redis, shard: ShardSpec, lease_seconds: float) -> None:
        self.client = client
        self.blocking = connect_blocking(client)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"shard-{shard.index}-append")
        self.shard = shard
        self.keys = ShardKeys(shard)
        self.engine = uuid.uuid4().hex[:12]
        self.lease_ms = max(100, int(lease_seconds * 1000))
        self.epoch = 0
        self.seq = 0
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._append = self.blocking.register_script(_APPEND)
        self._keeper_client = keeper_connection(client, self.lease_ms)
        self._renew_now = self._keeper_client.register_script(_RENEW)

    @property
    def token(self) -> str:
        return f"{self.epoch}:{self.engine}"

    async def register_deployment(self) -> None:
        """Record the shard count; a different count already recorded is refused."""
        await self.client.hsetnx(DEPLOYMENT_KEY, "shards", self.shard.count)
        recorded = int(cast(bytes, await self.client.hget(DEPLOYMENT_KEY, "shards")))
        if recorded != self.shard.count:
            raise DeploymentError(
                f"this Redis already serves {recorded} shard(s); --shard {self.shard} says {self.shard.count}"
            )

    async def try_acquire(self) -> bool:
        epoch = await self._acquire(
            keys=[self.keys.lease, self.keys.epoch], args=[self.engine, self.lease_ms, self.epoch]
        )
        if epoch is None:
            return False
        self.epoch, self.seq = int(epoch), 0
        return True

    async def acquire(self, on_wait: Callable[[str], None] | None = None) -> int:
        """Wait until the shard is ours (a live owner keeps it); returns our epoch."""
        told = False
        while not await self.try_acquire():
            if not told and on_wait is not None:
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

    def _lost(self) -> LeaseLost:
        return LeaseLost(f"shard {self.shard}: epoch {self.epoch} lost its lease")

    def _append_plain(self, batch: Batch) -> Any:
        fields: dict[Any, Any] = {"v": SCHEMA_VERSION, "e": self.epoch, "n": self.seq, "x": int(batch.reset),
                                  "m": batch.payload, "b": batch.blob}
        while True:
            with self.blocking.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(self.keys.lease)  # type: ignore[no-untyped-call]
                    if pipe.get(self.keys.lease) != self.token.encode():
                        raise self._lost()
                    pipe.multi()
                    pipe.xadd(self.keys.log, fields, maxlen=LOG_MAXLEN, approximate=True)
                    return pipe.execute()[0]
                except WatchError:
                    continue  # the lease key was touched (our own renewal, most likely): check again

    async def release(self) -> None:
        await self._release(keys=[self.keys.lease], args=[self.token])

    async def append(self, batch: Batch) -> str:
        """Append ``batch`` as the next entry (fenced); raises LeaseLost when not the owner.

        A batch with a snapshot goes through the Lua script (the snapshot must name the new
        entry's id). A plain batch, the bulk of the bytes, is a WATCH-fenced MULTI/EXEC: the
        server then copies its payload once instead of through Lua strings (half the CPU).
        """
        return await asyncio.wrap_future(self.submit(batch))

    def submit(self, batch: Batch) -> Future[str]:
        """Start appending ``batch`` on the append thread now (see :meth:`append`); its future."""
        return self._thread.submit(self._append_now, batch)

    def _append_now(self, batch: Batch) -> str:
        if batch.snapshot is None:
            entry = self._append_plain(batch)
        else:
            args: list[Any] = [
                self.token, LOG_MAXLEN, SCHEMA_VERSION, self.epoch, self.seq, int(batch.reset), batch.payload,
                batch.blob, len(batch.snapshot), *(field for part in batch.snapshot for field in part),
            ]
            try:
                entry = self._append(keys=[self.keys.lease, self.keys.log, self.keys.snapshot], args=args)
            except ResponseError as exc:
                if "FENCED" in str(exc):
                    raise self._lost() from None
                raise
        self.seq += 1
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def close(self) -> None:
        """Close the appends' connection and thread (the async client is the caller's)."""
        self._thread.shutdown(wait=False, cancel_futures=True)
        self.blocking.close()
        self._keeper_client.close()


class ShardWriter:
    """Sends queued batches in order, retrying through server restarts; never blocks the engine."""

    def __init__(self, shard_log: ShardLog, reset: Callable[[], Batch]) -> None:
        self.shard_log = shard_log
        #: builds a batch that replaces everything queued (a fresh snapshot)
        self.reset = reset
        self.pending: list[Batch] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._stopped = False
        self.sent = 0
        #: bytes of the last snapshot that replaced the backlog
        self._reset_bytes = 0
        #: the batch being appended on the append thread, and its future
        self._sending: tuple[Batch, Future[str]] | None = None
        #: waiting out a backoff after a failed append (nothing is started meanwhile)
        self._backing_off = False
        self._retaking = asyncio.Lock()

    def put(self, batch: Batch) -> None:
        self.pending.append(batch)
        if len(self.pending) > MAX_BACKLOG or self._backlog_too_big():
            replacement = self.reset()
            self._reset_bytes = replacement.queued_bytes
            self.pending = [replacement]
        self._send_next()
        self._wake.set()

    def _send_next(self) -> None:
        """Start the first queued batch on the append thread unless one is under way: from
        :meth:`put` at once, not when the engine next lets its event loop run :meth:`run` (a
        tick at 1,000 symbols holds the loop ~20 ms, which every new bar waited for)."""
        if self._sending is None and self.pending and not (self._stopped or self._backing_off):
            batch = self.pending[0]
            self._sending = (batch, self.shard_log.submit(batch))

    def _backlog_too_big(self) -> bool:
        if len(self.pending) < 2:
            return False
        limit = max(MAX_BACKLOG_BYTES, 2 * self._reset_bytes)
        return sum(batch.queued_bytes for batch in self.pending) > limit

    async def run(self) -> None:
        delay = 0.05
        while not self._stopped:
            if not self.pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self._send_next()
            assert self._sending is not None  # pending is not empty
            batch, sending = self._sending
            try:
                await asyncio.wrap_future(sending)
            except TRANSIENT as exc:
                self._sending = None
                log.warning("shard %s: Redis unreachable (%s); %d batch(es) queued, retrying",
                            self.shard_log.shard, exc, len(self.pending))
                self._backing_off = True
                await asyncio.sleep(delay)
                self._backing_off = False
                delay = min(2.0, delay * 2)
                continue
            except LeaseLost:
                self._sending = None
                # the lease may have vanished with a server that lost its data: take it back if free
                if await self.retake():
                    continue
                raise
            self._sending = None
            delay = 0.05
            if self.pending and self.pending[0] is batch:  # not replaced by a snapshot meanwhile
                self.pending.pop(0)
            batch.release()
            self.sent += 1

    async def retake(self) -> bool:
        """After an append or a renewal found the lease not ours: take it back if nobody holds it (it
        expired while Redis was away, or the engine was stalled and no standby came), replacing the
        queue by a snapshot under the new epoch. False when another engine holds it: stop.

        Both callers (the writer and the heartbeat) go through :func:`retake` (the feed gateway's
        rule too), one call at a time.
        """
        async with self._retaking:
            found = await retake(self.shard_log)
            if found is Retake.TAKEN:
                log.warning("shard %s: lease re-taken as epoch %d", self.shard_log.shard, self.shard_log.epoch)
                self.pending = [self.reset()]
            return found is not Retake.LOST

    async def drain(self) -> None:
        """Let :meth:`run` return once everything queued is in Redis."""
        self._closing = True
        self._wake.set()

    def stop(self) -> None:
        """Let :meth:`run` return at once (what is still queued is dropped)."""
        self._stopped = True
        self._wake.set()
