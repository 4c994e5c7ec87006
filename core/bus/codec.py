"""Messages of the shard log, as plain msgpack maps: built from SessionData, applied to a replica.

A message is one change: ``session`` (a session started), ``add``/``rm`` (a symbol), and,
each for many symbols at once as columns: ``bb`` (an interval's bars from each member's
index ``f`` on, with a per-interval revision ``r``), ``qb`` (an interval's quality, counts
and gap-tracker state), ``sn`` (feed notes and counters), ``hs`` (feed health); then ``hc``
(a health change, what alerts are made of), ``feed`` (a feed went down or up), ``msg`` (a
warning), ``hb`` (heartbeat) and ``end`` (a session closed; ``last`` when the engine has
nothing more). A snapshot is made of the same messages. Bar columns travel outside msgpack,
as raw little-endian bytes in one blob per entry (:func:`encode_batch`): msgpack copies big
binaries at ~150 MB/s; the blob is filled once, straight from the engine's arrays.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import fields
from typing import Any, NamedTuple

import msgpack
import numpy as np

from session_monitor.core.bars import BarSeries
from session_monitor.core.calendar import Segment, Session
from session_monitor.core.causes import FeedNotes
from session_monitor.core.derive.table import FIN, INCOMPLETE
from session_monitor.core.health import HealthChange, HealthState, SymbolHealth
from session_monitor.core.intervals import parse_interval
from session_monitor.core.session_data import BarIntervalData, Revision, SymbolSessionData

__all__ = [
    "DERIVED_COLUMNS",
    "BlobPool",
    "ColumnSource",
    "ColumnsAt",
    "Message",
    "bars_block_message",
    "blob_bytes",
    "block_columns",
    "block_revisions",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "health_block_message",
    "notes_block_message",
    "quality_block_message",
    "quality_columns",
    "session_from_wire",
    "session_to_wire",
    "symbol_added_message",
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
    """``(msgpack of the messages, blob of their bar columns)``; ``bb`` messages say where their columns are.

    The columns are copied once, straight from the engine's arrays into one buffer, and
    for all series of a row block at once: one copy per column (of the block's rows)
    instead of one small copy per series and column, whose per-call overhead dominated
    at many symbols. A ``bb`` message's columns are laid out one after the other, each a
    (member × stride) array whose stride is the most rows a member sends; each member sends
    its own rows from its own ``first`` (members' lengths differ by the bars their feeds
    missed: a common start made every member re-send up to the difference, 13× the new bars
    at 1s) and leaves the rest of its stride unused.
    """
    groups = [message for message in messages if message["k"] == "bb"]
    total = 0
    for message in groups:
        sources: list[ColumnSource] = message["c"]
        stride = max((src.stop - src.first for src in sources), default=0)
        total += len(sources) * stride * _ROW_BYTES[sources[0].series.with_counts]
    blob = pool.take(total) if pool is not None else np.empty(total, np.uint8)
    pos = 0
    for message in groups:
        pos = _copy_group(blob, pos, message)
    return encode(messages), memoryview(blob.data)


def _copy_group(blob: np.ndarray, pos: int, message: Message) -> int:
    """Copy one ``bb`` message's columns into ``blob`` at ``pos``; returns the position after them."""
    sources: list[ColumnSource] = list(message["c"])
    stride = max((src.stop - src.first for src in sources), default=0)
    count = len(sources)
    columns: list[int] = []
    gather = _Gather.of(sources, stride)
    for name, dtype in _COLUMNS[sources[0].series.with_counts]:
        out = blob[pos : pos + count * stride * dtype.itemsize].view(dtype).reshape(count, stride)
        gather.copy(out, name)
        columns.append(pos)
        pos += count * stride * dtype.itemsize
    message["c"], message["st"] = columns, stride
    message["f"] = [src.first for src in sources]
    message["n"] = [src.stop - src.first for src in sources]
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
    """Where a decoded ``bb`` message's columns are: ``rows`` values at each of ``offsets`` in ``blob``."""

    blob: bytes | memoryview
    offsets: list[int]
    rows: int


def decode_batch(meta: bytes, blob: bytes | memoryview) -> list[Message]:
    """The messages of :func:`encode_batch`; a ``bb`` message's columns stay in ``blob`` (no copy)."""
    messages: list[Message] = decode(meta)
    for message in messages:
        if message["k"] == "bb":
            message["c"] = ColumnsAt(blob, message["c"], len(message["s"]) * int(message["st"]))
        elif message["k"] == "qb":
            decode_runs(message)
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


#: interval names as a snapshot spells them, parsed once (its ``add`` messages name the same few)
_interval = functools.lru_cache(maxsize=64)(parse_interval)


def build_symbol(message: Message) -> SymbolSessionData:
    """The symbol's empty bar structure, on its own session hours (``hr``: a watchlist entry's, or None)."""
    base = _interval(message["b"])
    held = [_interval(name) for name in message["h"]]
    return SymbolSessionData.create(
        message["s"], base, [i for i in held if i != base], session_from_wire(message["d"]),
        requested=[_interval(name) for name in message["r"]], hours=message["hr"],
    )


def bars_block_message(name: str, members: list[tuple[str, BarIntervalData, int]], revisions: list[int]) -> Message:
    """Interval ``name``'s bars of several symbols (one row block's) at once: each member's from its
    ``first`` changed index on, with its next revision number (read when the batch is encoded).

    After encoding: ``f`` each member's first index, ``st`` the stride, ``n`` each member's row
    count, ``c`` where each column's (member × stride) array is in the blob; ``rv`` lists
    ``[member, revisions]`` only for members with revised bars (sparse: late bars, corrections).
    """
    revised = [[k, [[ts, r.count, r.last] for ts, r in interval.revisions.items()]]
               for k, (_, interval, _) in enumerate(members) if interval.revisions]
    return {"k": "bb", "i": name, "s": [symbol for symbol, _, _ in members], "r": revisions, "rv": revised,
            "c": [ColumnSource(interval.data, first, len(interval.data)) for _, interval, first in members]}


def block_columns(message: Message, with_counts: bool) -> dict[str, np.ndarray]:
    """A decoded ``bb`` message's columns by name, each a (member × stride) view of the blob."""
    at: ColumnsAt = message["c"]
    shape = (len(message["s"]), int(message["st"]))
    return {name: np.frombuffer(at.blob, dtype, at.rows, offset).reshape(shape)
            for (name, dtype), offset in zip(_COLUMNS[with_counts], at.offsets, strict=True)}


def block_revisions(message: Message) -> dict[int, dict[int, Revision]]:
    """A ``bb`` message's revised bars by member (members missing here have none)."""
    return {int(k): {int(ts): Revision(int(count), float(last)) for ts, count, last in revised}
            for k, revised in message["rv"]}


def _runs_from(raw: bytes) -> list[tuple[int, int]]:
    pairs = np.frombuffer(raw, "<i8").reshape(-1, 2)
    return list(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), strict=True))


#: the state-table fields a ``qb`` message carries per symbol (final and elapsed windows, gap frontier,
#: closed runs and their missing windows, gap count, missing windows, incomplete bars; and the constant 0
#: between them): one slice, so a reader writes a symbol's with one assignment (quality travels apart)
QUALITY_FIELDS = slice(FIN, INCOMPLETE + 1)
_QUALITY_FIELD_COUNT = INCOMPLETE + 1 - FIN


def quality_block_message(name: str, members: list[tuple[str, BarIntervalData]], whole: bool = False) -> Message:
    """Interval ``name``'s quality for several symbols at once, as columns, with only the gap runs that changed.

    ``members`` share one state table (a row block's symbols, or an ungrouped symbol alone),
    so the figures are one read of the table's columns. Each member's gap runs travel only
    from the first run that changed since the last message (:meth:`GapTracker.take_run_changes`):
    ``gr`` lists ``[member, runs kept, the runs after them]`` for members whose runs changed.
    ``whole`` (a snapshot): every member's runs, all of them, and what changed stays marked
    for the log.
    """
    table = members[0][1].table
    if any(interval.table is not table for _, interval in members):
        raise ValueError(f"{name}: the members of a quality message share one state table")
    rows = np.fromiter((interval.row for _, interval in members), np.intp, len(members))
    ints = table.ints[QUALITY_FIELDS][:, rows]
    quality = table.quality[rows]
    runs = []
    for k, (_, interval) in enumerate(members):
        changed = (0, interval.tracker.state().runs) if whole else interval.tracker.take_run_changes()
        if changed is not None:
            runs.append([k, changed[0], np.asarray(changed[1], "<i8").tobytes()])
    return {"k": "qb", "i": name, "s": [symbol for symbol, _ in members],
            "v": np.ascontiguousarray(ints, "<i8").tobytes(), "q": np.ascontiguousarray(quality, "<f8").tobytes(),
            "gr": runs}


def quality_columns(message: Message) -> tuple[np.ndarray, np.ndarray]:
    """A ``qb`` message's figures: (field × member) ints of :data:`QUALITY_FIELDS`, and quality per member."""
    ints = np.frombuffer(message["v"], "<i8").reshape(_QUALITY_FIELD_COUNT, len(message["s"]))
    return ints, np.frombuffer(message["q"], "<f8")


def decode_runs(message: Message) -> None:
    """A decoded ``qb`` message's changed gap runs as lists of (start, end) (they travel as bytes)."""
    message["gr"] = [[k, keep, _runs_from(raw)] for k, keep, raw in message["gr"]]


#: the feed notes' fields a ``sn`` message carries as columns (floats, None as NaN); ``outages`` travels
#: sparse; any other field of FeedNotes travels as it is, per symbol (none today)
_NOTE_FLOATS = ("ended_at", "bars_until", "alive_until")
_NOTE_OTHERS = tuple(f.name for f in fields(FeedNotes) if f.name not in {*_NOTE_FLOATS, "outages", "omits_empty"})


def notes_block_message(datas: list[SymbolSessionData]) -> Message:
    """Several symbols' feed notes and counters (what :func:`symbol_notes_message` carries) as columns."""
    floats = np.array([[_nan(getattr(d.notes, name)) for name in _NOTE_FLOATS] for d in datas], "<f8")
    ints = np.array([[d.notes.omits_empty, d.outside_session, d.rejected] for d in datas], "<i8")
    message: Message = {"k": "sn", "s": [d.symbol for d in datas], "x": floats.tobytes(), "c": ints.tobytes(),
                        "out": [[k, _plain(d.notes.outages)] for k, d in enumerate(datas) if d.notes.outages]}
    if _NOTE_OTHERS:
        message["etc"] = [{name: _plain(getattr(d.notes, name)) for name in _NOTE_OTHERS} for d in datas]
    return message


def apply_notes_block(datas: list[SymbolSessionData | None], message: Message) -> None:
    """A ``sn`` message onto each member (None: a symbol this reader does not hold)."""
    count = len(datas)
    floats = np.frombuffer(message["x"], "<f8").reshape(count, len(_NOTE_FLOATS)).tolist()
    ints = np.frombuffer(message["c"], "<i8").reshape(count, 3).tolist()
    outages = {int(k): value for k, value in message["out"]}
    others = message.get("etc")
    for k, data in enumerate(datas):
        if data is None:
            continue
        notes = data.notes
        for name, value in zip(_NOTE_FLOATS, floats[k], strict=True):
            setattr(notes, name, None if value != value else value)
        omits, data.outside_session, data.rejected = ints[k]
        notes.omits_empty = bool(omits)
        found = outages.get(k)
        if found is not None or notes.outages:
            notes.outages = found if found is not None else []
        if others is not None:
            for name, value in others[k].items():
                setattr(notes, name, value)


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def _plain(value: Any) -> Any:
    """A copy without shared lists (the engine keeps mutating its outages)."""
    return [_plain(v) for v in value] if isinstance(value, list) else value


_HEALTH_STATES = list(HealthState)
_HEALTH_CODE = {state: code for code, state in enumerate(_HEALTH_STATES)}


def health_block_message(members: list[tuple[str, SymbolHealth]]) -> Message:
    """Several symbols' feed health as columns (the fields of :func:`health_message`).

    ``x``: per symbol since, time, heard and then the seconds in each state (in
    ``HealthState`` order), as float64; ``c``: state code, down flag; ``thr``: thresholds;
    ``sd``: ``[member, seconds per state per segment]`` for members with extended hours.
    """
    floats = np.array([[h.since, h.time, h.heard, *(h.durations.get(state, 0.0) for state in _HEALTH_STATES)]
                       for _, h in members], "<f8")
    codes = np.array([[_HEALTH_CODE[h.state], h.down] for _, h in members], "u1")
    thresholds = np.array([h.threshold for _, h in members], "<i8")
    segments = [[k, {name: {state.value: seconds for state, seconds in durations.items()}
                     for name, durations in h.segment_durations.items()}]
                for k, (_, h) in enumerate(members) if h.segment_durations]
    return {"k": "hs", "s": [symbol for symbol, _ in members], "x": floats.tobytes(), "c": codes.tobytes(),
            "thr": thresholds.tobytes(), "sd": segments}


def apply_health_block(datas: list[SymbolSessionData | None], message: Message) -> None:
    """An ``hs`` message onto each member (None: a symbol this reader does not hold)."""
    count = len(datas)
    floats = np.frombuffer(message["x"], "<f8").reshape(count, 3 + len(_HEALTH_STATES)).tolist()
    codes = np.frombuffer(message["c"], "u1").reshape(count, 2).tolist()
    thresholds = np.frombuffer(message["thr"], "<i8").tolist()
    segments = {int(k): durations for k, durations in message["sd"]}
    for k, (data, row, (code, down), threshold) in enumerate(zip(datas, floats, codes, thresholds, strict=True)):
        if data is not None:
            data.health = SymbolHealth(
                session=data.session, state=_HEALTH_STATES[code], since=row[0],
                durations=dict(zip(_HEALTH_STATES, row[3:], strict=True)),
                threshold=threshold, time=row[1], heard=row[2], down=bool(down),
                segment_durations={str(name): {HealthState(s): float(v) for s, v in durations.items()}
                                   for name, durations in segments.get(k, {}).items()},
            )


def health_change_message(change: HealthChange) -> Message:
    return {"k": "hc", **change.as_dict()}


def health_change_from(message: Message) -> HealthChange:
    return HealthChange(str(message["symbol"]), float(message["time"]), HealthState(message["state"]),
                        HealthState(message["previous"]), int(message["silent_slots"]))
