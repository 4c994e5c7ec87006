"""The engine side: collect SessionData's changes and hand them to the shard log in batches.

Events only mark what changed (cheap, in the engine's thread); :meth:`ShardPublisher.flush`
reads the marked state once and turns it into one batch (one log entry). Flushes happen
after processor passes (throttled: a forming bar is sent at most once per flush interval),
when a session closes, and on each heartbeat. Every so often a batch also carries a
snapshot of the whole shard, so readers catch up without the full log and the log can be
trimmed. The engine never waits for Redis: batches queue in :class:`ShardWriter`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from session_monitor.core.bus.codec import (
    BlobPool,
    Message,
    bars_block_message,
    blob_bytes,
    encode_batch,
    health_block_message,
    health_change_message,
    notes_block_message,
    quality_block_message,
    session_to_wire,
    symbol_added_message,
)
from session_monitor.core.calendar import Session
from session_monitor.core.health import HealthChange, SymbolHealth
from session_monitor.core.session_data import BarIntervalData, SessionData, SymbolSessionData

__all__ = ["Batch", "FlushPart", "ShardPublisher", "SnapshotPart", "snapshot_due"]

#: wall seconds between flushes while a session runs (the forming-bar throttle) ...
FLUSH_SECONDS = 0.05
#: ... unless new base bars arrived: they go out right after the pass that derived from them (before
#: the feed-health update), at most this often (the desk's latency is base bar accepted → visible in a
#: replica; at most 50 such flushes a second)
NEW_BARS_FLUSH_SECONDS = 0.02
#: every symbol's health (its seconds per state move with each pass) at most this often; a symbol
#: whose health changed goes with the next flush
HEALTH_SECONDS = 1.0
#: a snapshot once the log since the last one has grown by this fraction of the last snapshot's bytes
#: (and at least the floor below): a joining reader then replays at most that much log after the
#: snapshot, and the engine's copy of the whole shard costs it at most 1/FRACTION of what it publishes
#: anyway. An eighth, not a half: a reader applies live-speed entries (one bar per symbol, 1,000
#: symbols an entry: ~4.5 ms each, ~35 MB/s) ~10× slower per byte than a snapshot (~350 MB in
#: ~0.6 s), so the log after a snapshot takes a joiner up to ~1.2 s more (with a half, ~5 s). At
#: 1,000 symbols × 2 h of 1s (a ~350 MB snapshot, ~0.5 MB of log a second) that is one snapshot
#: every ~90 s, where a count of 400 entries took one every 10-25 s ...
SNAPSHOT_FRACTION = 0.125
SNAPSHOT_MIN_BYTES = 4 << 20
#: ... but at most one every this many wall seconds: a snapshot copies the whole shard on the engine's
#: thread, so a replay at max speed (whole sessions in seconds) is not held up by copies of state it
#: is about to outgrow; readers meanwhile replay the log from the last snapshot (nothing is trimmed
#: before a newer snapshot is in) ...
SNAPSHOT_MIN_SECONDS = 10.0
#: ... unless the log since the last one outgrows this many times the snapshot, and this many bytes
#: (bounds Redis memory and a reader's replay)
SNAPSHOT_OVERRIDE_GROWTH = 4
SNAPSHOT_MAX_BYTES = 256 << 20


def snapshot_due(log_bytes: int, snapshot_bytes: int, seconds: float) -> bool:
    """Whether the engine takes a snapshot now: ``log_bytes`` appended to the log since the last
    snapshot, which took ``snapshot_bytes`` and was taken ``seconds`` ago (the rule is spelled above)."""
    if log_bytes >= max(SNAPSHOT_MAX_BYTES, SNAPSHOT_OVERRIDE_GROWTH * snapshot_bytes):
        return True
    return seconds >= SNAPSHOT_MIN_SECONDS and log_bytes >= max(SNAPSHOT_MIN_BYTES, SNAPSHOT_FRACTION * snapshot_bytes)


#: a snapshot is stored in parts of whole symbols of about this many bytes of bars: a reader applies
#: the parts it has while the next ones arrive (and a window shows the first symbols at once)
SNAPSHOT_PART_BYTES = 16 << 20


class SnapshotPart(NamedTuple):
    """One part of an encoded snapshot: its messages (msgpack) and the blob of their bar columns."""

    meta: bytes
    blob: memoryview


class FlushPart(enum.Enum):
    """What a partial flush sends (after the structural changes marked before it)."""

    #: the base intervals' bars: a feed's bars as soon as they are accepted
    BASE_BARS = enum.auto()
    #: every marked interval's bars: what a pass derived
    BARS = enum.auto()


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

    def __init__(self, session_data: SessionData, order: dict[str, float], beat_period: float | None = None) -> None:
        self.session_data = session_data
        #: symbol -> its place in the deployment's watchlist (rows of a replica follow it)
        self.order = order
        #: the seconds between two heartbeats, sent with each: a window knows from the first one it
        #: reads when the next is late (it had to assume a period until it had seen two)
        self.beat_period = beat_period
        self._ops: list[Message] = []
        self._bars: dict[tuple[str, str], int] = {}
        self._quality: set[tuple[str, str]] = set()
        #: symbols whose health to send (the monitor moves every symbol's durations each pass)
        self._health: set[str] = set()
        self._revisions: dict[tuple[str, str], int] = {}
        #: the ``end`` messages of the current session (a late reader gets them with the snapshot)
        self._ended: list[Message] = []
        self._bytes_since_snapshot = 0
        self._last_snapshot_bytes = 0
        self._last_snapshot = time.monotonic()
        self._last_flush = 0.0
        self._last_health = 0.0
        #: symbol -> its base interval's name, and whether base bars arrived since the last flush
        self._base: dict[str, str] = {}
        self._new_base_bars = False
        #: base bars arrived since the last pass: :meth:`passed` sends what the pass derived from them
        self._derive_pending = False
        #: () -> whether the engine runs at a pace (live, or a finite speed): then a feed's base bars go
        #: the moment they are accepted; at max speed they wait for the pass (an extra batch per step
        #: there cost as much again as publishing itself, and nobody waits for a bar)
        self.paced: Callable[[], bool] = lambda: True
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
        """Mark what changed; new base bars (a feed's, handed over) go at once, before the pass derives
        from them (at most every :data:`NEW_BARS_FLUSH_SECONDS`; the derived bars follow at :meth:`passed`)."""
        marked = self._bars
        base = self._base
        arrived = False
        for symbol, name, first in items:
            if name == base.get(symbol):
                arrived = True
            key = (symbol, name)
            old = marked.get(key)
            if old is None or first < old:
                marked[key] = first
        if arrived:
            self._new_base_bars = self._derive_pending = True
            if self.paced() and time.monotonic() - self._last_flush >= NEW_BARS_FLUSH_SECONDS:
                self.flush(part=FlushPart.BASE_BARS)

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
        """After a pass: every symbol's health moved (its seconds per state); sent at most every
        :data:`HEALTH_SECONDS` (a changed one goes at once: :meth:`health_changed`)."""
        now = time.monotonic()
        if now - self._last_health >= HEALTH_SECONDS:
            self._last_health = now
            self._health.update(self.session_data.get_active_symbols())

    def health_changed(self, items: list[tuple[HealthChange]]) -> None:
        """Health transitions, in order: what a replica's alerts are made of (and its health, next flush)."""
        self._ops.extend(health_change_message(change) for (change,) in items)
        self._health.update(change.symbol for (change,) in items)

    def feed_changed(self, symbol: str, connected: bool) -> None:
        self._ops.append({"k": "feed", "s": symbol, "up": connected})

    def heartbeat(self, clock: float, state: str, speed: float | None, rate: float) -> None:
        """The engine is alive: its session clock, run state, speed and base bars/s (status bars show them)."""
        beat: Message = {"k": "hb", "c": clock, "st": state, "sp": speed, "bps": rate, "w": time.time()}
        if self.beat_period is not None:
            beat["per"] = self.beat_period
        self._ops.append(beat)
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
    def passed(self, *_args: Any) -> None:
        """After a tick's processor pass, before its slower rest (feed health): the bars derived from
        the tick's new base bars go now (quality, notes and health follow after the tick)."""
        if self._derive_pending:
            self._derive_pending = False
            self.flush(part=FlushPart.BARS)

    def progress(self, *_args: Any) -> None:
        """After a tick (its passes and health update): flush unless the last flush was very recent."""
        since = time.monotonic() - self._last_flush
        if since >= FLUSH_SECONDS or (self._new_base_bars and since >= NEW_BARS_FLUSH_SECONDS):
            self.flush()

    def flush(self, snapshot: bool = False, part: FlushPart | None = None) -> Batch | None:
        """Turn what changed since the last flush into one batch and hand it to the sink.

        ``snapshot``: the batch carries one; otherwise it does when one is due. ``part``: only
        the structural changes and the bars (or only the base intervals' bars) go; what else
        is marked waits for the next flush, and no snapshot is taken.
        """
        self._last_flush = time.monotonic()
        self._new_base_bars = False
        if part is not None and not (self._ops or self._bars):
            return None
        if not (self._ops or self._bars or self._quality or self._health) and not snapshot:
            return None
        messages = self._ops
        self._ops = []
        with self.session_data.lock:
            messages.extend(self._bar_messages(base_only=part is FlushPart.BASE_BARS))
            if part is None:
                messages.extend(self._quality_messages())
                messages.extend(self._health_messages())
                self._quality = set()
                self._health = set()
            batch = Batch(messages, pool=self.pool)
            self._bytes_since_snapshot += batch.size
            if snapshot or (part is None and self._snapshot_due()):
                batch.snapshot = self.snapshot_parts()
        self._emit(batch)
        return batch

    def _bar_messages(self, base_only: bool = False) -> list[Message]:
        """The marked intervals' bars from the first changed index on, each with its next revision:
        one columnar message per interval and row block (an ungrouped symbol's interval alone).
        The marks are taken (``base_only``: only the base intervals'; the others stay marked).

        At 1,000 symbols a tick marks 5,000 intervals, so the loop below is the whole
        per-symbol cost of a flush: a few dictionary reads per interval, nothing more.
        """
        marked = self._bars
        if base_only:
            base = self._base
            taken = {key: first for key, first in marked.items() if key[1] == base.get(key[0])}
            self._bars = {key: first for key, first in marked.items() if key not in taken}
        else:
            taken, self._bars = marked, {}
        datas = self._datas()
        blocks: dict[tuple[str, int], list[tuple[str, BarIntervalData, int]]] = {}
        for (symbol, name), first in taken.items():
            data = datas.get(symbol)
            interval = None if data is None else data.bars.get(name)
            if interval is None:
                continue
            series = interval.data
            block = series.block
            held = len(series)
            blocks.setdefault((name, id(block if block is not None else series)), []).append(
                (symbol, interval, first if first < held else held))
        out = []
        revisions = self._revisions
        for (name, _), members in blocks.items():
            numbers = []
            for symbol, _, _ in members:
                number = revisions[(symbol, name)] = revisions.get((symbol, name), 0) + 1
                numbers.append(number)
            out.append(bars_block_message(name, members, numbers))
        return out

    def _quality_messages(self) -> list[Message]:
        """The marked intervals' quality, one columnar message per interval and state table (a row
        block's symbols together), then the notes of the symbols they belong to (one message)."""
        datas = self._datas()
        blocks: dict[tuple[str, int], list[tuple[str, BarIntervalData]]] = {}
        touched: dict[str, SymbolSessionData] = {}
        for symbol, name in self._quality:
            data = datas.get(symbol)
            if data is None or name not in data.bars:
                continue
            interval = data.bars[name]
            blocks.setdefault((name, id(interval.table)), []).append((symbol, interval))
            touched[symbol] = data
        out = [quality_block_message(name, members) for (name, _), members in blocks.items()]
        if touched:
            out.append(notes_block_message(list(touched.values())))
        return out

    def _datas(self) -> dict[str, SymbolSessionData]:
        """Symbol -> its data, read once per flush (one lookup per marked interval after that)."""
        return {data.symbol: data for data in self.session_data.all_symbol_data()}

    def _health_messages(self) -> list[Message]:
        members = []
        for symbol in self._health:
            data = self.session_data.get_symbol_data(symbol)
            if data is not None and isinstance(data.health, SymbolHealth):
                members.append((symbol, data.health))
        return [health_block_message(members)] if members else []

    def _snapshot_due(self) -> bool:
        return snapshot_due(self._bytes_since_snapshot, self._last_snapshot_bytes,
                            time.monotonic() - self._last_snapshot)

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
        starts with the session, the last ends with the session's ``end`` messages. A part is
        columnar, as the log is: its symbols (``add``), their notes and health (one message
        each), then per interval and row block their bars (``bb``) and per interval and state
        table their whole quality and gap runs (``qb``); at 1,000 symbols that is ~300
        messages instead of ~12,000, and a reader writes each column of a part's symbols at once.
        """
        sd = self.session_data
        parts: list[list[Message]] = []
        with sd.lock:
            datas: list[SymbolSessionData] = []
            size = 0
            for data in sd.all_symbol_data():
                if datas and size >= SNAPSHOT_PART_BYTES:
                    parts.append(self._snapshot_part(datas))
                    datas, size = [], 0
                datas.append(data)
                size += sum(blob_bytes(interval.data, len(interval.data)) for interval in data.bars.values())
            parts.append(self._snapshot_part(datas))
            if sd.session is not None:
                parts[0].insert(0, {"k": "session", "d": session_to_wire(sd.session)})
        parts[-1].extend(self._ended)
        return parts

    def _snapshot_part(self, datas: list[SymbolSessionData]) -> list[Message]:
        """One part of a snapshot: everything about ``datas`` (see :meth:`snapshot_messages`)."""
        if not datas:
            return []
        order = self.order
        out = [symbol_added_message(data, order.setdefault(data.symbol, time.time())) for data in datas]
        out.append(notes_block_message(datas))
        healths = [(data.symbol, data.health) for data in datas if isinstance(data.health, SymbolHealth)]
        if healths:
            out.append(health_block_message(healths))
        bars: dict[tuple[str, int], list[tuple[str, BarIntervalData, int]]] = {}
        quality: dict[tuple[str, int], list[tuple[str, BarIntervalData]]] = {}
        for data in datas:
            for name, interval in data.bars.items():
                block = interval.data.block  # the members of a ``bb`` message share a row block
                storage = block if block is not None else interval.data
                bars.setdefault((name, id(storage)), []).append((data.symbol, interval, 0))
                quality.setdefault((name, id(interval.table)), []).append((data.symbol, interval))
        revisions = self._revisions
        for (name, _), members in bars.items():
            numbers = [revisions.get((symbol, name), 0) for symbol, _, _ in members]
            out.append(bars_block_message(name, members, numbers))
        out.extend(quality_block_message(name, members, whole=True) for (name, _), members in quality.items())
        return out

    def snapshot_parts(self) -> list[SnapshotPart]:
        parts = [SnapshotPart(*encode_batch(messages, self.pool)) for messages in self.snapshot_messages()]
        self.pool.keep = BlobPool.KEEP + len(parts)  # the next snapshot reuses these parts' buffers
        self._last_snapshot = time.monotonic()
        self._bytes_since_snapshot = 0
        self._last_snapshot_bytes = sum(len(part.meta) + len(part.blob) for part in parts)
        return parts

    def _emit(self, batch: Batch) -> None:
        if self.sink is not None:
            self.sink(batch)
