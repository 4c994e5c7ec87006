"""Messages of the shard log, as plain msgpack maps: built from SessionData, applied to a replica.

A message is one change: ``session`` (a session started), ``add``/``rm`` (a symbol),
``bars`` (an interval's bars from index ``f`` on, with a per-interval revision ``r``),
``q`` (an interval's quality, counts and gap-tracker state), ``sym`` (a symbol's feed
notes and counters), ``health`` (a symbol's feed health), ``hc`` (a health change, what
alerts are made of), ``feed`` (a feed went down or up), ``msg`` (a warning), ``hb``
(heartbeat) and ``end`` (a session closed; ``last`` when the engine has nothing more).
Bar columns travel outside msgpack, as raw little-endian bytes in one blob per entry
(:func:`encode_batch`): msgpack copies big binaries at ~150 MB/s; the blob is filled once,
straight from the engine's arrays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from typing import Any, NamedTuple

import msgpack
import numpy as np

from session_monitor.core.bars import BarArrays, BarSeries
from session_monitor.core.calendar import Segment, Session
from session_monitor.core.gaps import GapState
from session_monitor.core.health import HealthChange, HealthState, SymbolHealth
from session_monitor.core.intervals import parse_interval
from session_monitor.core.session_data import BarIntervalData, Revision, SymbolSessionData

__all__ = [
    "DERIVED_COLUMNS",
    "BlobPool",
    "ColumnSource",
    "ColumnsAt",
    "Message",
    "bars_message",
    "blob_bytes",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "quality_message",
    "session_from_wire",
    "session_to_wire",
    "symbol_added_message",
    "symbol_notes_message",
]

Message = dict[str, Any]

#: column name -> dtype on the wire (every bar has the first six; derived bars all nine)
BASE_COLUMNS = {"ts": "<i8", "open": "<f8", "high": "<f8", "low": "<f8", "close": "<f8", "volume": "<f8"}
DERIVED_COLUMNS = {**BASE_COLUMNS, "count": "<i4", "expected": "<i4", "flags": "u1"}
#: with_counts -> (name, dtype) of each column, and the bytes of one row
_COLUMNS = {False: [(k, np.dtype(v)) for k, v in BASE_COLUMNS.items()],
            True: [(k, np.dtype(v)) for k, v in DERIVED_COLUMNS.items()]}
_ROW_BYTES = {flag: sum(dtype.itemsize for _, dtype in cols) for flag, cols in _COLUMNS.items()}


def encode(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


def decode(payload: bytes) -> Any:
    return msgpack.unpackb(payload, raw=False, strict_map_key=False)


class ColumnSource(NamedTuple):
    """Rows ``[first, stop)`` of a series, copied into the batch's blob when it is encoded."""

    series: BarSeries
    first: int
    stop: int


def blob_bytes(series: BarSeries, rows: int) -> int:
    """Bytes ``rows`` bars of ``series`` take in a blob (what a snapshot part is sized by)."""
    return rows * _ROW_BYTES[series.with_counts]


def _group_key(source: ColumnSource) -> int:
    """The series of one row block are copied together (one copy per column); others each alone."""
    block = source.series.block
    return id(block) if block is not None else id(source.series)


class BlobPool:
    """Blob buffers used again once their batch is in Redis.

    A fresh buffer of a few MB costs the engine a page fault per page on its first write
    (at max speed that was most of what encoding cost); a kept one does not. At most
    :attr:`keep` buffers are kept (:data:`KEEP`, plus the parts of the last snapshot: the
    next snapshot reuses them); one is reused for a blob between half its size and all of it.
    """

    KEEP = 4

    def __init__(self) -> None:
        self._free: list[np.ndarray] = []
        self.keep = self.KEEP

    def take(self, size: int) -> np.ndarray:
        """A buffer of exactly ``size`` bytes (a view of a kept one when one fits)."""
        fits = [k for k, buf in enumerate(self._free) if size <= len(buf) <= 2 * size]
        if fits:
            return self._free.pop(min(fits, key=lambda k: len(self._free[k])))[:size]
        return np.empty(size + size // 4, np.uint8)[:size]

    def give(self, blob: memoryview) -> None:
        """``blob`` (from :meth:`take`) is no longer read by anyone: keep its buffer."""
        array = blob.obj
        buffer = array.base if isinstance(array, np.ndarray) and isinstance(array.base, np.ndarray) else array
        if isinstance(buffer, np.ndarray) and len(buffer) >= 1 << 16:
            self._free.append(buffer)
            if len(self._free) > self.keep:
                self._free.sort(key=len)
                del self._free[0]


def encode_batch(messages: list[Message], pool: BlobPool | None = None) -> tuple[bytes, memoryview]:
    """``(msgpack of the messages, blob of their bar columns)``; each ``bars`` message keeps where its columns are.

    The columns are copied once, straight from the engine's arrays into one buffer, and
    for all series of a row block at once: one copy per column (of the block's rows)
    instead of one small copy per series and column, whose per-call overhead dominated
    at many symbols. A group is laid out column by column, each a (series × stride) array
    whose stride is the most rows a member sends; each member sends its own rows from its
    own ``first`` (members' lengths differ by the bars their feeds missed: a common start
    made every member re-send up to the difference, 13× the new bars at 1s) and leaves the
    rest of its stride unused.
    """
    groups: dict[int, list[Message]] = {}
    for message in messages:
        if message["k"] == "bars":
            groups.setdefault(_group_key(message["c"]), []).append(message)
    total = 0
    for members in groups.values():
        stride = max(m["c"].stop - m["c"].first for m in members)
        total += len(members) * stride * _ROW_BYTES[members[0]["c"].series.with_counts]
    blob = pool.take(total) if pool is not None else np.empty(total, np.uint8)
    pos = 0
    for members in groups.values():
        pos = _copy_group(blob, pos, members)
    return encode(messages), memoryview(blob.data)


def _copy_group(blob: np.ndarray, pos: int, members: list[Message]) -> int:
    """Copy one group's columns into ``blob`` at ``pos``; returns the position after them."""
    sources: list[ColumnSource] = [m["c"] for m in members]
    stride = max(src.stop - src.first for src in sources)
    count = len(sources)
    offsets: list[list[int]] = [[] for _ in sources]
    gather = _Gather.of(sources, stride)
    for name, dtype in _COLUMNS[sources[0].series.with_counts]:
        row_bytes = stride * dtype.itemsize
        out = blob[pos : pos + count * row_bytes].view(dtype).reshape(count, stride)
        gather.copy(out, name)
        for k, where in enumerate(offsets):
            where.append(pos + k * row_bytes)
        pos += count * row_bytes
    for message, src, where in zip(members, sources, offsets, strict=True):
        message["c"] = where
        message["f"] = src.first
        message["n"] = src.stop - src.first
    return pos


class _Gather(NamedTuple):
    """How one group's rows are read from its columns, the same for every column.

    ``first`` when every member starts at the same index (a strided copy of the block's rows;
    a snapshot, or symbols of equal length), else ``flat``: each member's own ``stride``
    indices into the flattened block (clipped at its capacity; what lies past a member's
    own rows is never read back).
    """

    sources: list[ColumnSource]
    stride: int
    first: int | None
    rows: np.ndarray | None
    flat: np.ndarray | None

    @classmethod
    def of(cls, sources: list[ColumnSource], stride: int) -> _Gather:
        series = sources[0].series
        block = series.block
        if block is None or len(sources) == 1:
            return cls(sources, stride, sources[0].first, None, None)
        rows = np.fromiter((src.series.row for src in sources), np.intp, len(sources))
        firsts = np.fromiter((src.first for src in sources), np.intp, len(sources))
        if bool(np.all(firsts == firsts[0])):
            return cls(sources, stride, int(firsts[0]), rows, None)
        cap = block.cap
        columns = np.minimum(firsts[:, None] + np.arange(stride, dtype=np.intp), cap - 1)
        return cls(sources, stride, None, rows, rows[:, None] * cap + columns)

    def copy(self, out: np.ndarray, name: str) -> None:
        """Column ``name`` of the group's series into ``out`` (series × stride)."""
        series = self.sources[0].series
        block = series.block
        if self.rows is None or block is None:
            first = self.first or 0
            out[0] = series.buffer(name)[first : first + self.stride]
            return
        column = block.cols[name]
        if self.flat is not None:
            np.take(column.reshape(-1), self.flat, out=out)
            return
        first = self.first or 0
        window = column[:, first : first + self.stride]
        rows = self.rows
        if rows[-1] - rows[0] == len(rows) - 1 and bool(np.all(np.diff(rows) == 1)):
            out[:] = window[rows[0] : rows[0] + len(rows)]  # consecutive rows (the usual case): one strided copy
        else:
            out[:] = window[rows]


class ColumnsAt(NamedTuple):
    """Where a decoded ``bars`` message's columns are: ``rows`` values at each of ``offsets`` in ``blob``."""

    blob: bytes | memoryview
    offsets: list[int]
    rows: int


def decode_batch(meta: bytes, blob: bytes | memoryview) -> list[Message]:
    """The messages of :func:`encode_batch`; a ``bars`` message's columns stay in ``blob`` (no copy)."""
    messages: list[Message] = decode(meta)
    for message in messages:
        if message["k"] == "bars":
            message["c"] = ColumnsAt(blob, message["c"], int(message["n"]))
    return messages


def session_to_wire(session: Session) -> Message:
    wire: Message = {"date": session.date.isoformat(), "open": session.open, "close": session.close,
                     "bs": session.break_start, "be": session.break_end, "tz": session.tz}
    if session.segments:  # extended hours: [name, start, end] per segment (absent for regular hours)
        wire["sg"] = [list(segment) for segment in session.segments]
    return wire


def session_from_wire(wire: Message) -> Session:
    segments = tuple(Segment(str(n), int(a), int(b)) for n, a, b in wire.get("sg", ()))
    return Session(dt.date.fromisoformat(wire["date"]), int(wire["open"]), int(wire["close"]),
                   wire["bs"], wire["be"], wire["tz"], segments)


def symbol_added_message(data: SymbolSessionData, order: float) -> Message:
    """Everything needed to build the symbol's empty bar structure; ``order`` places its row."""
    return {
        "k": "add", "s": data.symbol, "o": order, "b": data.base_interval.name,
        "h": [name for name in data.bars], "r": [i.name for i in data.requested],
        "d": session_to_wire(data.session), "hr": data.hours,
    }


def build_symbol(message: Message) -> SymbolSessionData:
    """The symbol's empty bar structure, on its own session hours (``hr``: a watchlist entry's, or None)."""
    base = parse_interval(message["b"])
    held = [parse_interval(name) for name in message["h"]]
    return SymbolSessionData.create(
        message["s"], base, [i for i in held if i != base], session_from_wire(message["d"]),
        requested=[parse_interval(name) for name in message["r"]], hours=message["hr"],
    )


def bars_message(symbol: str, interval: BarIntervalData, first: int, revision: int) -> Message:
    """The interval's bars from index ``first`` on (read when the batch is encoded, at once)."""
    series = interval.data
    source = ColumnSource(series, first, len(series))
    revised = [[ts, r.count, r.last] for ts, r in interval.revisions.items()]  # sparse: late bars, corrections
    return {"k": "bars", "s": symbol, "i": interval.name, "f": first, "r": revision, "c": source, "rv": revised}


def apply_bars(interval: BarIntervalData, message: Message) -> None:
    """Replace the interval's bars from index ``f`` on with the message's."""
    series = interval.data
    first = int(message["f"])
    if first > len(series):
        raise ValueError(f"{message['s']} {message['i']}: bars from {first} but only {len(series)} held")
    at: ColumnsAt = message["c"]
    arrays = [np.frombuffer(at.blob, dtype, at.rows, offset)
              for (_, dtype), offset in zip(_COLUMNS[series.with_counts], at.offsets, strict=True)]
    series.truncate(first)
    if series.with_counts:
        series.extend(BarArrays(*arrays[:6]), count=arrays[6], expected=arrays[7], flags=arrays[8])
    else:
        series.extend(BarArrays(*arrays))
    interval.revisions = {int(ts): Revision(int(count), float(last)) for ts, count, last in message["rv"]}


def quality_message(symbol: str, interval: BarIntervalData) -> Message:
    state = interval.tracker.state()
    return {
        "k": "q", "s": symbol, "i": interval.name, "q": interval.quality, "n": interval.incomplete,
        "g": interval.gap_count, "m": interval.missing, "e": interval.elapsed, "z": interval.finalized,
        "t": [state.frontier, np.asarray(state.runs, "<i8").tobytes(), state.closed_missing],
    }


def apply_quality(interval: BarIntervalData, message: Message) -> None:
    interval.quality = message["q"]
    interval.incomplete = message["n"]
    interval.gap_count = message["g"]
    interval.missing = message["m"]
    interval.elapsed = message["e"]
    interval.finalized = message["z"]
    frontier, runs, closed = message["t"]
    pairs = np.frombuffer(runs, "<i8").reshape(-1, 2)
    starts, ends = pairs[:, 0].tolist(), pairs[:, 1].tolist()
    interval.tracker.restore(GapState(frontier, list(zip(starts, ends, strict=True)), closed))


def symbol_notes_message(data: SymbolSessionData) -> Message:
    """The symbol's feed notes (every field: gap causes and coverage depend on them) and counters."""
    notes = {f.name: _plain(getattr(data.notes, f.name)) for f in fields(data.notes)}
    return {"k": "sym", "s": data.symbol, "notes": notes, "os": data.outside_session, "rj": data.rejected}


def apply_symbol_notes(data: SymbolSessionData, message: Message) -> None:
    notes = data.notes
    known = {f.name for f in fields(notes)}
    for name, value in message["notes"].items():
        if name in known:
            setattr(notes, name, value)
    data.outside_session = message["os"]
    data.rejected = message["rj"]


def _plain(value: Any) -> Any:
    """A copy without shared lists (the engine keeps mutating its outages)."""
    return [_plain(v) for v in value] if isinstance(value, list) else value


def health_message(symbol: str, health: SymbolHealth) -> Message:
    """What a replica shows and exports of a symbol's feed health (not the monitor's own rhythm state)."""
    return {
        "k": "health", "s": symbol, "st": health.state.value, "since": health.since,
        "dur": {state.value: seconds for state, seconds in health.durations.items()},
        "thr": health.threshold, "t": health.time, "h": health.heard, "down": health.down,
        "sd": {name: {state.value: seconds for state, seconds in durations.items()}
               for name, durations in health.segment_durations.items()},  # extended hours: per segment
    }


def apply_health(data: SymbolSessionData, message: Message) -> None:
    data.health = SymbolHealth(
        session=data.session, state=HealthState(message["st"]), since=float(message["since"]),
        durations={HealthState(k): float(v) for k, v in message["dur"].items()},
        threshold=int(message["thr"]), time=float(message["t"]), heard=float(message["h"]), down=bool(message["down"]),
        segment_durations={str(name): {HealthState(k): float(v) for k, v in durations.items()}
                           for name, durations in message["sd"].items()},
    )


def health_change_message(change: HealthChange) -> Message:
    return {"k": "hc", **change.as_dict()}


def health_change_from(message: Message) -> HealthChange:
    return HealthChange(str(message["symbol"]), float(message["time"]), HealthState(message["state"]),
                        HealthState(message["previous"]), int(message["silent_slots"]))
