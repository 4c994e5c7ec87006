"""The reader side: a replica ``SessionData`` kept equal to the engines' through their shard logs.

Per shard: read the snapshot, apply it, then read the log from the entry the snapshot is
current to. Each entry carries (epoch, sequence number): an entry from a lower epoch (a
fenced-out writer) is ignored, one already applied is skipped, and a gap in the sequence
(entries trimmed while this reader was away), a higher epoch (a new owner) or a reset
entry make the reader reload that shard's snapshot. The replica is a plain SessionData:
the same events fire as in the engine, so a GUI cannot tell the difference.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from session_monitor.core.bus.codec import (
    Message,
    apply_health_block,
    apply_notes_block,
    build_symbol,
    decode_batch,
    session_from_wire,
)
from session_monitor.core.bus.layout import DEPLOYMENT_KEY, SCHEMA_VERSION, ShardKeys, ShardSpec
from session_monitor.core.bus.rows import ReplicaRows
from session_monitor.core.bus.shardlog import TRANSIENT, LogEntry, read_log
from session_monitor.core.bus.snapshot_reader import PartBuffers, SnapshotHeader, SnapshotPartRead, read_snapshot
from session_monitor.core.session_data import BarIntervalData, SessionData, SymbolSessionData

__all__ = ["Replica", "SchemaError", "ShardStatus"]

log = logging.getLogger(__name__)

#: how long one XREAD waits for news (ms); also how often a reader notices it should stop
BLOCK_MS = 500
#: entries per XREAD
READ_COUNT = 200


class SchemaError(RuntimeError):
    """A message written by a different schema version: this reader cannot apply it."""


@dataclass
class ShardStatus:
    """What a reader knows about one shard."""

    shard: ShardSpec
    epoch: int = -1
    seq: int = -1
    cursor: str = "0-0"
    symbols: set[str] = field(default_factory=set)
    #: dates of the sessions whose end this shard published
    ended: set[str] = field(default_factory=set)
    #: the shard published the end of its last session
    finished: bool = False
    #: newest heartbeat: session clock, engine state (a ClockState name), speed, base bars/s
    clock: float | None = None
    state: str = ""
    speed: float | None = None
    bars_per_second: float = 0.0
    #: symbols whose feed is down at the engine
    down: set[str] = field(default_factory=set)
    #: the engine's wall time (``time.time()`` there) at its newest heartbeat, and the seconds
    #: between two (sent with each beat): a window judges from them when an engine has gone silent
    beat_wall: float | None = None
    beat_period: float | None = None
    snapshots_loaded: int = 0


class Replica:
    """Keeps ``session_data`` equal to what every shard's engine publishes."""

    def __init__(self, client: aioredis.Redis, session_data: SessionData | None = None) -> None:
        self.client = client
        self.session_data = session_data if session_data is not None else SessionData(group_rows=False)
        self.shards: list[ShardStatus] = []
        #: symbol -> its place in the watchlist (rows are kept in this order), and those places sorted
        self._order: dict[str, float] = {}
        self._ranked: list[float] = []
        #: the storage of the bars of the replica's current session (one block per interval)
        self._rows = ReplicaRows()
        #: symbol -> data while a batch is applied (columnar messages name hundreds of symbols each)
        self._datas: dict[str, SymbolSessionData] | None = None
        #: (shard status, session date, last) once a shard's session ended
        self.on_session_end: Callable[[ShardStatus, str, bool], None] | None = None
        #: (shard status, message) for every heartbeat, feed change or other status message
        self.on_status: Callable[[ShardStatus, Message], None] | None = None
        self._stopping = False

    # -- discovery --------------------------------------------------------------------------
    async def discover(self, poll: float = 0.2) -> list[ShardStatus]:
        """Wait until an engine has recorded the shard count, then track every shard."""
        while True:
            with contextlib.suppress(*TRANSIENT):
                count = await self.client.hget(DEPLOYMENT_KEY, "shards")
                if count is not None:
                    break
            await asyncio.sleep(poll)
        self.shards = [ShardStatus(ShardSpec(i, int(count))) for i in range(1, int(count) + 1)]
        return self.shards

    def shard_of_symbol(self, symbol: str) -> ShardStatus | None:
        return next((s for s in self.shards if symbol.upper() in s.symbols), None)

    # -- reading ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Follow every shard until :meth:`stop` (reconnecting through server restarts)."""
        if not self.shards:
            await self.discover()
        await asyncio.gather(*(self._follow(status) for status in self.shards))

    def stop(self) -> None:
        self._stopping = True

    async def _follow(self, status: ShardStatus) -> None:
        keys = ShardKeys(status.shard)
        while not self._stopping:
            try:
                if status.epoch < 0:
                    await self.load_snapshot(status)
                entries = await read_log(self.client, keys.log, status.cursor, READ_COUNT, BLOCK_MS)
            except TRANSIENT as exc:
                log.warning("shard %s: Redis unreachable (%s); retrying", status.shard, exc)
                await asyncio.sleep(0.2)
                continue
            for entry in entries:
                if not self._apply_entry(status, entry):
                    status.epoch = -1  # reload the snapshot before reading on
                    break

    async def catch_up(self, status: ShardStatus) -> None:
        """Load the snapshot and apply every log entry after it (no waiting): the state of now."""
        keys = ShardKeys(status.shard)
        with _COLLECTIONS.paused():
            await self.load_snapshot(status)
            while True:
                entries = await read_log(self.client, keys.log, status.cursor, READ_COUNT)
                if not entries:
                    return
                for entry in entries:
                    if not self._apply_entry(status, entry):
                        await self.load_snapshot(status)
                        break

    async def load_snapshot(self, status: ShardStatus) -> None:
        """Make the shard's part of the replica equal to its snapshot, part by part as the parts arrive.

        A worker thread reads the parts in order on one connection while this applies those
        already read; a snapshot replaced twice while it was read (its parts gone) is read anew.
        """
        with _COLLECTIONS.paused():
            while not await self._load_once(status):
                log.info("shard %s: the snapshot was replaced while it was read; reading the new one", status.shard)
                await asyncio.sleep(0.01)

    async def _load_once(self, status: ShardStatus) -> bool:
        """One try of :meth:`load_snapshot`; False if the snapshot was replaced before all of it was read."""
        loop = asyncio.get_running_loop()
        arrived: asyncio.Queue[object] = asyncio.Queue()
        buffers = PartBuffers()

        def deliver(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits for it
                loop.call_soon_threadsafe(arrived.put_nowait, item)

        reader = loop.run_in_executor(None, read_snapshot, self.client, ShardKeys(status.shard), buffers, deliver)
        try:
            return await self._apply_snapshot(status, arrived, buffers)
        finally:
            buffers.stopped.set()  # a reader waiting for a buffer gives up
            await reader

    async def _apply_snapshot(self, status: ShardStatus, arrived: asyncio.Queue[object], buffers: PartBuffers) -> bool:
        """Apply the snapshot whose header and parts come through ``arrived``; False if a part was gone."""
        header = await _next(arrived)
        if header is None:
            status.epoch, status.seq, status.cursor = 0, -1, "0-0"  # nothing published yet: read from the start
            return True
        assert isinstance(header, SnapshotHeader)
        self._check_version(header.version)
        status.ended.clear()
        status.finished = False
        present: set[str] = set()
        ends: list[Message] = []
        for _ in range(header.parts):
            part = await _next(arrived)
            assert isinstance(part, SnapshotPartRead)
            if part.meta is None or part.blob is None or part.buffer is None:
                return False
            messages = decode_batch(part.meta, part.blob)
            added = [m["s"] for m in messages if m["k"] == "add"]
            present.update(added)
            # room in the blocks for about every symbol at once (parts hold about equally many)
            self._rows.expected_symbols = max(self._rows.expected_symbols, len(added) * header.parts)
            ends.extend(m for m in messages if m["k"] == "end")
            self.apply_messages(status, [m for m in messages if m["k"] != "end"])
            del messages  # the bars are copied out: nothing reads the buffer any more
            buffers.give(part.buffer)
        for symbol in sorted(status.symbols - present):  # symbols the shard no longer has
            self._forget(symbol)
            status.symbols.discard(symbol)
        self.apply_messages(status, ends)  # a session's end once the shard's part equals the snapshot
        status.epoch, status.seq, status.cursor = header.epoch, header.seq, header.pos
        status.snapshots_loaded += 1
        return True

    @staticmethod
    def _check_version(raw: bytes | int) -> None:
        if int(raw) != SCHEMA_VERSION:
            raise SchemaError(f"the engine writes schema version {int(raw)}; this reader knows {SCHEMA_VERSION}")

    def _apply_entry(self, status: ShardStatus, entry: LogEntry) -> bool:
        """Apply one entry; False when the reader must reload the snapshot instead."""
        fields = entry.fields
        self._check_version(fields[b"v"])
        epoch, seq, reset = int(fields[b"e"]), int(fields[b"n"]), fields[b"x"] == b"1"
        if epoch < status.epoch or (epoch == status.epoch and seq <= status.seq):
            status.cursor = entry.id  # a fenced-out writer's entry, or one already applied
            return True
        if epoch > status.epoch or reset or seq != status.seq + 1:
            return False
        self.apply_messages(status, decode_batch(fields[b"m"], fields[b"b"]))
        status.seq = seq
        status.cursor = entry.id
        return True

    # -- applying ------------------------------------------------------------------------------
    def apply_messages(self, status: ShardStatus, messages: list[Message]) -> None:
        sd = self.session_data
        self._datas = None
        with sd.lock:
            for message in messages:
                kind = message["k"]
                handler = _HANDLERS.get(kind)
                if handler is not None:
                    handler(self, status, message)

    def _session(self, _status: ShardStatus, message: Message) -> None:
        session = session_from_wire(message["d"])
        sd = self.session_data
        if sd.session is None or session.date > sd.session.date:
            sd.start_session(session)

    def _add(self, status: ShardStatus, message: Message) -> None:
        sd = self.session_data
        symbol = message["s"]
        existing = sd.get_symbol_data(symbol)
        if existing is not None:
            same = (
                existing.base_interval.name == message["b"]
                and list(existing.bars) == message["h"]
                and [i.name for i in existing.requested] == message["r"]
                and existing.hours == message["hr"]
            )
            if same:
                status.symbols.add(symbol)
                return
            self._forget(symbol)
        data = build_symbol(message)
        self._datas = None
        order = float(message["o"])
        row = bisect.bisect_right(self._ranked, order)
        sd.register_symbol_data(data, row=row)
        self._ranked.insert(row, order)
        self._order[symbol] = order
        status.symbols.add(symbol)

    def _forget(self, symbol: str) -> None:
        """Remove ``symbol`` from the replica and from the row order."""
        order = self._order.pop(symbol, None)
        if order is not None:
            del self._ranked[bisect.bisect_left(self._ranked, order)]
        data = self.session_data.get_symbol_data(symbol)
        if data is not None:
            self._rows.release(list(data.bars.values()))
        self._datas = None
        self.session_data.remove_symbol(symbol)

    def _remove(self, status: ShardStatus, message: Message) -> None:
        symbol = message["s"]
        status.symbols.discard(symbol)
        self._forget(symbol)

    def _bars_block(self, _status: ShardStatus, message: Message) -> None:
        block = self._block(message)
        if block is None:
            return
        self._rows.apply_bars(block.date, block.members, message)
        firsts = message["f"]
        self.session_data.events.bars_changed.emit_many(
            [(message["s"][k], block.interval, int(firsts[k])) for k, _ in block.members]
        )

    def _members(self, message: Message) -> list[SymbolSessionData | None]:
        """The data of each symbol a columnar message names (None: not held here)."""
        datas = self._datas
        if datas is None:
            datas = self._datas = {data.symbol: data for data in self.session_data.all_symbol_data()}
        return [datas.get(symbol) for symbol in message["s"]]

    def _block(self, message: Message) -> _Block | None:
        """The interval a columnar message is about in each symbol it names that is held here."""
        name = message["i"]
        datas = self._members(message)
        members = [(k, data.bars[name]) for k, data in enumerate(datas) if data is not None and name in data.bars]
        if not members:
            return None
        date = datas[members[0][0]].session.date  # type: ignore[union-attr]  # members hold data
        return _Block(name, date, members)

    def _quality_block(self, _status: ShardStatus, message: Message) -> None:
        block = self._block(message)
        if block is None:
            return
        self._rows.apply_quality(block.date, block.members, message)
        changed = [(message["s"][k], block.interval) for k, _ in block.members]
        self.session_data.events.quality_changed.emit_many(changed)

    def _notes_block(self, _status: ShardStatus, message: Message) -> None:
        apply_notes_block(self._members(message), message)

    def _health_block(self, _status: ShardStatus, message: Message) -> None:
        apply_health_block(self._members(message), message)

    def _message(self, _status: ShardStatus, message: Message) -> None:
        self.session_data.events.message.emit(int(message["l"]), str(message["t"]))

    def _status(self, status: ShardStatus, message: Message) -> None:
        kind = message["k"]
        if kind == "hb":
            status.clock, status.state = float(message["c"]), str(message["st"])
            status.speed, status.bars_per_second = message["sp"], float(message["bps"])
            wall = float(message["w"])
            if "per" in message:  # the engine says how often it beats
                status.beat_period = float(message["per"])
            elif status.beat_wall is not None and wall > status.beat_wall:  # an engine from before it did
                status.beat_period = wall - status.beat_wall
            status.beat_wall = wall
        elif kind == "hc":
            pass  # for on_status (a window's health column and alerts)
        elif message["up"]:
            status.down.discard(message["s"])
        else:
            status.down.add(message["s"])
        if self.on_status is not None:
            self.on_status(status, message)

    def _end(self, status: ShardStatus, message: Message) -> None:
        date = str(message["d"])
        last = bool(message["last"])
        if date in status.ended and (status.finished or not last):
            return
        status.ended.add(date)
        status.finished = status.finished or last
        if self.on_session_end is not None:
            self.on_session_end(status, date, last)

    def all_ended(self, date: str) -> bool:
        return bool(self.shards) and all(date in s.ended for s in self.shards)

    def all_finished(self) -> bool:
        return bool(self.shards) and all(s.finished for s in self.shards)


class _CollectionPause:
    """No automatic garbage collection while a replica builds its state from a snapshot.

    What a snapshot builds lives on (symbols, series, gap runs), and each automatic
    collection walks a heap that only grows: at 1,000 symbols they cost ~0.7 s of CPU, a
    third of loading the snapshot. What is dropped meanwhile (decoded messages) holds no
    cycles and is freed at once. Nested and concurrent loads (several shards) share one
    pause; the collector's state before the first is restored after the last.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._was_enabled = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        if self._depth == 0:
            self._was_enabled = gc.isenabled()
            gc.disable()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


_COLLECTIONS = _CollectionPause()


class _Block(NamedTuple):
    """A columnar message's interval in the symbols it names that this replica holds."""

    interval: str
    date: dt.date
    members: list[tuple[int, BarIntervalData]]  # (position in the message, that symbol's interval)


async def _next(arrived: asyncio.Queue[object]) -> object:
    """The next item the snapshot reader delivered (raising the error it delivered)."""
    item = await arrived.get()
    if isinstance(item, Exception):
        raise item
    return item


_HANDLERS: dict[str, Callable[[Replica, ShardStatus, Message], Any]] = {
    "session": Replica._session,
    "add": Replica._add,
    "rm": Replica._remove,
    "bb": Replica._bars_block,
    "qb": Replica._quality_block,
    "sn": Replica._notes_block,
    "msg": Replica._message,
    "hs": Replica._health_block,
    "hc": Replica._status,
    "hb": Replica._status,
    "feed": Replica._status,
    "end": Replica._end,
}

