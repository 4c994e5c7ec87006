"""The engine side: collect SessionData's changes and hand them to the shard log in batches.

Events only mark what changed (cheap, in the engine's thread); :meth:`ShardPublisher.flush`
reads the marked state once and turns it into one batch (one log entry). Flushes happen
after processor passes (throttled: a forming bar is sent at most once per flush interval),
when a session closes, and on each heartbeat. Every so often a batch also carries a
snapshot of the whole shard, so readers catch up without the full log and the log can be
trimmed. The engine never waits for Redis: batches queue in :class:`ShardWriter`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from session_monitor.core.bus.codec import (
    BlobPool,
    Message,
    bars_message,
    blob_bytes,
    encode_batch,
    health_change_message,
    health_message,
    quality_message,
    session_to_wire,
    symbol_added_message,
    symbol_notes_message,
)
from session_monitor.core.calendar import Session
from session_monitor.core.health import HealthChange, SymbolHealth
from session_monitor.core.session_data import BarIntervalData, SessionData

__all__ = ["Batch", "ShardPublisher", "SnapshotPart"]

#: wall seconds between flushes while a session runs (the forming-bar throttle) ...
FLUSH_SECONDS = 0.05
#: ... unless new base bars arrived: they go out at the next pass this long after the last flush
#: (the desk's latency is base bar accepted → visible in a replica; at most 50 flushes a second)
NEW_BARS_FLUSH_SECONDS = 0.02
#: a snapshot at least every this many log entries ...
SNAPSHOT_ENTRIES = 400
#: ... or once the entries since the last one outweigh it this many times (and the floor below): the
#: snapshots then add at most 1/GROWTH to what the log carries, and a reader replays at most that much log
SNAPSHOT_GROWTH = 4
SNAPSHOT_MIN_BYTES = 4 << 20
#: a snapshot is stored in parts of whole symbols of about this many bytes of bars: a reader applies
#: the parts it has while the next ones arrive (and a window shows the first symbols at once)
SNAPSHOT_PART_BYTES = 16 << 20


class SnapshotPart(NamedTuple):
    """One part of an encoded snapshot: its messages (msgpack) and the blob of their bar columns."""

    meta: bytes
    blob: memoryview


@dataclass
class Batch:
    """One log entry: messages in order, and optionally the shard's snapshot after them.

    Encoded at once (the bar columns are views of the engine's arrays until then).
    """

    messages: list[Message]
    #: the shard after these messages, encoded in parts, or None
    snapshot: list[SnapshotPart] | None = None
    #: readers must reload the snapshot (a new owner, or a backlog replaced by a snapshot)
    reset: bool = False
    #: where the blob buffers come from and go back to once the batch is in Redis
    pool: BlobPool | None = field(default=None, repr=False)
    payload: bytes = field(init=False, default=b"")
    blob: memoryview = field(init=False, default=memoryview(b""))

    def __post_init__(self) -> None:
        self.payload, self.blob = encode_batch(self.messages, self.pool)
        self.messages = []  # encoded: what the engine changes from now on is the next batch's

    def release(self) -> None:
        """The batch is in Redis: its buffers may be reused (nothing reads them any more)."""
        if self.pool is not None:
            self.pool.give(self.blob)
            for part in self.snapshot or ():
                self.pool.give(part.blob)
        self.blob = memoryview(b"")
        self.snapshot = None

    @property
    def size(self) -> int:
        """Bytes of the entry itself."""
        return len(self.payload) + len(self.blob)

    @property
    def queued_bytes(self) -> int:
        """Bytes the batch holds while it waits to be sent (the entry and its snapshot)."""
        return self.size + sum(len(part.meta) + len(part.blob) for part in self.snapshot or ())


class ShardPublisher:
    """Turns one engine's ``SessionData`` changes into batches for its shard's log."""

    def __init__(self, session_data: SessionData, order: dict[str, float]) -> None:
        self.session_data = session_data
        #: symbol -> its place in the deployment's watchlist (rows of a replica follow it)
        self.order = order
        self._ops: list[Message] = []
        self._bars: dict[tuple[str, str], int] = {}
        self._quality: set[tuple[str, str]] = set()
        #: symbols whose health to send (the monitor moves every symbol's durations each pass)
        self._health: set[str] = set()
        self._revisions: dict[tuple[str, str], int] = {}
        #: the ``end`` messages of the current session (a late reader gets them with the snapshot)
        self._ended: list[Message] = []
        self._entries_since_snapshot = 0
        self._bytes_since_snapshot = 0
        self._last_snapshot_bytes = 0
        self._last_flush = 0.0
        #: symbol -> its base interval's name, and whether base bars arrived since the last flush
        self._base: dict[str, str] = {}
        self._new_base_bars = False
        self.pool = BlobPool()
        #: (list of batches) -> None: where finished batches go (the writer's queue)
        self.sink: Any = None
        events = session_data.events
        events.symbol_added.connect(self._on_symbol_added)
        events.symbol_removed.connect(self._on_symbol_removed)
        events.bars_changed.connect_batch(self._on_bars_changed)
        events.quality_changed.connect_batch(self._on_quality_changed)
        events.session_started.connect(self._on_session_started)
        events.message.connect(self._on_message)

    # -- event capture (engine thread, cheap) --------------------------------------------
    def _on_symbol_added(self, symbol: str, _row: int) -> None:
        data = self.session_data.get_symbol_data(symbol)
        if data is not None:
            order = self.order.setdefault(symbol, time.time())
            self._ops.append(symbol_added_message(data, order))
            self._base[symbol] = data.base_interval.name
            for name in data.bars:
                self._bars[(symbol, name)] = 0
                self._quality.add((symbol, name))

    def _on_symbol_removed(self, symbol: str, _row: int) -> None:
        self._ops.append({"k": "rm", "s": symbol})
        self._base.pop(symbol, None)
        for key in [k for k in self._bars if k[0] == symbol]:
            del self._bars[key]
        self._quality = {k for k in self._quality if k[0] != symbol}

    def _on_bars_changed(self, items: list[tuple[Any, ...]]) -> None:
        marked = self._bars
        base = self._base
        for symbol, name, first in items:
            if name == base.get(symbol):
                self._new_base_bars = True
            key = (symbol, name)
            old = marked.get(key)
            if old is None or first < old:
                marked[key] = first

    def _on_quality_changed(self, items: list[tuple[Any, ...]]) -> None:
        self._quality.update((symbol, name) for symbol, name in items)

    def _on_session_started(self, session: Session) -> None:
        self.flush()  # what is marked belongs to the session that just ended
        self._ops.append({"k": "session", "d": session_to_wire(session)})
        self._ended = []
        for data in self.session_data.all_symbol_data():
            for name in data.bars:
                self._bars[(data.symbol, name)] = 0
                self._quality.add((data.symbol, name))

    def _on_message(self, level: int, text: str) -> None:
        self._ops.append({"k": "msg", "l": level, "t": text})

    def health_updated(self, _clock: float) -> None:
        """After a pass: every symbol's health moved (durations); sent with the next flush."""
        self._health.update(self.session_data.get_active_symbols())

    def health_changed(self, items: list[tuple[HealthChange]]) -> None:
        """Health transitions, in order: what a replica's alerts are made of."""
        self._ops.extend(health_change_message(change) for (change,) in items)

    def feed_changed(self, symbol: str, connected: bool) -> None:
        self._ops.append({"k": "feed", "s": symbol, "up": connected})

    def heartbeat(self, clock: float, state: str, speed: float | None, rate: float) -> None:
        """The engine is alive: its session clock, run state, speed and base bars/s (status bars show them)."""
        self._ops.append({"k": "hb", "c": clock, "st": state, "sp": speed, "bps": rate, "w": time.time()})
        self.flush()

    def session_closed(self, session: Session, last: bool) -> None:
        """The session's final pass is done: send everything, with quality re-read for every interval."""
        for data in self.session_data.all_symbol_data():
            self._health.add(data.symbol)
            for name in data.bars:
                self._quality.add((data.symbol, name))
        self.flush()
        end = {"k": "end", "d": session.date.isoformat(), "last": last}
        self._ops.append(end)
        self._ended.append(end)
        self.flush()

    # -- batches ---------------------------------------------------------------------------
    def progress(self, *_args: Any) -> None:
        """After a processor pass: flush unless the last flush was very recent."""
        since = time.monotonic() - self._last_flush
        if since >= FLUSH_SECONDS or (self._new_base_bars and since >= NEW_BARS_FLUSH_SECONDS):
            self.flush()

    def flush(self, snapshot: bool = False) -> Batch | None:
        """Turn what changed since the last flush into one batch and hand it to the sink."""
        self._last_flush = time.monotonic()
        self._new_base_bars = False
        if not (self._ops or self._bars or self._quality or self._health) and not snapshot:
            return None
        messages = self._ops
        self._ops = []
        with self.session_data.lock:
            messages.extend(self._bar_messages())
            messages.extend(self._quality_messages())
            messages.extend(self._health_messages())
            self._bars = {}
            self._quality = set()
            self._health = set()
            batch = Batch(messages, pool=self.pool)
            self._entries_since_snapshot += 1
            self._bytes_since_snapshot += batch.size
            if snapshot or self._snapshot_due():
                batch.snapshot = self.snapshot_parts()
        self._emit(batch)
        return batch

    def _interval(self, symbol: str, name: str) -> BarIntervalData | None:
        data = self.session_data.get_symbol_data(symbol)
        return data.bars.get(name) if data is not None else None

    def _bar_messages(self) -> list[Message]:
        """The marked intervals' bars from the first changed index on, each with its next revision."""
        out = []
        for (symbol, name), first in self._bars.items():
            interval = self._interval(symbol, name)
            if interval is None:
                continue
            revision = self._revisions.get((symbol, name), 0) + 1
            self._revisions[(symbol, name)] = revision
            out.append(bars_message(symbol, interval, min(first, len(interval.data)), revision))
        return out

    def _quality_messages(self) -> list[Message]:
        """The marked intervals' quality, then the notes of each symbol they belong to."""
        out = []
        touched: set[str] = set()
        for symbol, name in self._quality:
            interval = self._interval(symbol, name)
            if interval is not None:
                out.append(quality_message(symbol, interval))
                touched.add(symbol)
        for symbol in touched:
            data = self.session_data.get_symbol_data(symbol)
            if data is not None:
                out.append(symbol_notes_message(data))
        return out

    def _health_messages(self) -> list[Message]:
        out = []
        for symbol in self._health:
            data = self.session_data.get_symbol_data(symbol)
            if data is not None and isinstance(data.health, SymbolHealth):
                out.append(health_message(symbol, data.health))
        return out

    def _snapshot_due(self) -> bool:
        return self._entries_since_snapshot >= SNAPSHOT_ENTRIES or self._bytes_since_snapshot >= max(
            SNAPSHOT_MIN_BYTES, SNAPSHOT_GROWTH * self._last_snapshot_bytes
        )

    def reset_batch(self) -> Batch:
        """A batch that makes readers reload the shard from a fresh snapshot (nothing marked is lost)."""
        self._ops = []
        self._bars = {}
        self._quality = set()
        self._health = set()
        batch = Batch([], reset=True, pool=self.pool)
        batch.snapshot = self.snapshot_parts()
        return batch

    def snapshot_messages(self) -> list[list[Message]]:
        """The whole shard as messages that rebuild it from nothing, in parts of whole symbols.

        A part holds about :data:`SNAPSHOT_PART_BYTES` of bars (at least one symbol); the first
        starts with the session, the last ends with the session's ``end`` messages.
        """
        sd = self.session_data
        parts: list[list[Message]] = [[]]
        size = 0
        with sd.lock:
            if sd.session is not None:
                parts[0].append({"k": "session", "d": session_to_wire(sd.session)})
            for data in sd.all_symbol_data():
                if size >= SNAPSHOT_PART_BYTES:
                    parts.append([])
                    size = 0
                out = parts[-1]
                symbol = data.symbol
                out.append(symbol_added_message(data, self.order.setdefault(symbol, time.time())))
                out.append(symbol_notes_message(data))
                for name, interval in data.bars.items():
                    key = (symbol, name)
                    out.append(bars_message(symbol, interval, 0, self._revisions.get(key, 0)))
                    out.append(quality_message(symbol, interval))
                    size += blob_bytes(interval.data, len(interval.data))
                if isinstance(data.health, SymbolHealth):
                    out.append(health_message(symbol, data.health))
        parts[-1].extend(self._ended)
        return parts

    def snapshot_parts(self) -> list[SnapshotPart]:
        parts = [SnapshotPart(*encode_batch(messages, self.pool)) for messages in self.snapshot_messages()]
        self.pool.keep = BlobPool.KEEP + len(parts)  # the next snapshot reuses these parts' buffers
        self._entries_since_snapshot = 0
        self._bytes_since_snapshot = 0
        self._last_snapshot_bytes = sum(len(part.meta) + len(part.blob) for part in parts)
        return parts

    def _emit(self, batch: Batch) -> None:
        if self.sink is not None:
            self.sink(batch)
