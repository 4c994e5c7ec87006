"""Crash-safe recording of accepted base bars: append-only segment files indexed in SQLite (WAL).

A base bar is *accepted* once the transaction indexing it has committed; only then is it
appended to SessionData. Each processor pass writes one packed blob per symbol to that
recording's segment file (a memcpy, not a row per bar), flushes it to the OS, and then
commits one SQLite transaction holding each blob's offset, length and CRC. Bytes written
but never indexed (a kill between the two steps) are ignored, and a blob whose CRC does
not match is dropped on load. Keeping the bar bytes out of SQLite avoids writing them
twice (WAL, then checkpoint): recording costs a few percent instead of a third.
Recordings are keyed by source, calendar, base interval, symbol and session date, so
nothing resumes someone else's data.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from core.bars import BAR_FIELDS, BarArrays

__all__ = ["Recorder", "RecordingKey", "default_recording_path"]

RecordingKey = tuple[str, str, str, str, str]  # source, calendar, base, symbol, session date

_SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL, calendar TEXT NOT NULL, base TEXT NOT NULL,
    symbol TEXT NOT NULL, session_date TEXT NOT NULL,
    UNIQUE (source, calendar, base, symbol, session_date)
);
CREATE TABLE IF NOT EXISTS chunks (
    recording INTEGER NOT NULL REFERENCES recordings(id),
    seq INTEGER NOT NULL,
    bars INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    PRIMARY KEY (recording, seq)
) WITHOUT ROWID;
"""

_DTYPE = np.dtype([("ts", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
                   ("volume", "<f8")])


def default_recording_path() -> Path:
    """Per-user data directory (``SESSION_MONITOR_DATA_DIR`` overrides it, e.g. in tests)."""
    override = os.environ.get("SESSION_MONITOR_DATA_DIR")
    if override:
        base = Path(override)
    else:
        from platformdirs import user_data_dir

        base = Path(user_data_dir("session-monitor", appauthor=False))
    return base / "recordings.sqlite3"


def _pack(bars: BarArrays) -> bytes:
    packed = np.empty(len(bars.ts), _DTYPE)
    for name, column in zip(BAR_FIELDS, bars, strict=True):
        packed[name] = column
    return packed.tobytes()


def _unpack(payloads: Iterable[bytes]) -> BarArrays:
    parts = [np.frombuffer(p, _DTYPE) for p in payloads]
    if not parts:
        return BarArrays.empty()
    rows = np.concatenate(parts)
    # later chunks win (corrections), then sort by start
    _, last = np.unique(rows["ts"][::-1], return_index=True)
    rows = rows[::-1][last]
    return BarArrays(*(np.ascontiguousarray(rows[name]) for name in BAR_FIELDS))


class Recorder:
    """One SQLite file in WAL mode; safe to call from the coordinator's thread only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL survives a killed process (not a power cut) and keeps commits cheap.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.segments = self.path.parent / f"{self.path.stem}-segments"
        self.segments.mkdir(parents=True, exist_ok=True)
        self._ids: dict[RecordingKey, int] = {}
        self._seq: dict[int, int] = {}
        self._files: dict[int, BinaryIO] = {}
        self._lock = threading.Lock()
        self.committed_bars = 0

    def _segment(self, rid: int) -> Path:
        return self.segments / f"{rid}.bars"

    def _file(self, rid: int) -> BinaryIO:
        handle = self._files.get(rid)
        if handle is None:
            handle = self._files[rid] = open(self._segment(rid), "ab")  # noqa: SIM115 - kept open across passes
        return handle

    def _id(self, key: RecordingKey) -> int:
        rid = self._ids.get(key)
        if rid is None:
            self._db.execute(
                "INSERT OR IGNORE INTO recordings(source, calendar, base, symbol, session_date) VALUES (?,?,?,?,?)",
                key,
            )
            rid = int(self._db.execute(
                "SELECT id FROM recordings WHERE source=? AND calendar=? AND base=? AND symbol=? AND session_date=?",
                key,
            ).fetchone()[0])
            self._ids[key] = rid
            last = self._db.execute("SELECT MAX(seq) FROM chunks WHERE recording=?", (rid,)).fetchone()[0]
            self._seq[rid] = -1 if last is None else int(last)
        return rid

    def commit(self, batches: list[tuple[RecordingKey, BarArrays]]) -> None:
        """Write every batch of one pass in one transaction; returns once it is durable."""
        if not batches:
            return
        with self._lock:
            rows = []
            touched: set[int] = set()
            for key, bars in batches:
                rid = self._id(key)
                payload = _pack(bars)
                handle = self._file(rid)
                offset = handle.seek(0, os.SEEK_END)
                handle.write(payload)
                touched.add(rid)
                self._seq[rid] += 1
                rows.append((rid, self._seq[rid], len(bars.ts), offset, len(payload), zlib.crc32(payload)))
            for rid in touched:
                self._files[rid].flush()  # in the OS's hands: survives a killed process
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO chunks(recording, seq, bars, offset, length, crc) VALUES (?,?,?,?,?,?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._ids.clear()
                self._seq.clear()
                raise
            self.committed_bars += sum(len(b.ts) for _, b in batches)

    def load(self, key: RecordingKey) -> BarArrays:
        """Every bar recorded under ``key``, sorted, one per start (the last recorded wins)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM recordings WHERE source=? AND calendar=? AND base=? AND symbol=? AND session_date=?",
                key,
            ).fetchone()
            if row is None:
                return BarArrays.empty()
            rid = int(row[0])
            index = self._db.execute(
                "SELECT offset, length, crc FROM chunks WHERE recording=? ORDER BY seq", (rid,)
            ).fetchall()
            if rid in self._files:
                self._files[rid].flush()
            try:
                data = self._segment(rid).read_bytes()
            except FileNotFoundError:
                return BarArrays.empty()
        payloads = []
        for offset, length, crc in index:
            payload = data[offset : offset + length]
            if len(payload) == length and zlib.crc32(payload) == crc:
                payloads.append(payload)
        return _unpack(payloads)

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()
            self._db.close()

    @staticmethod
    def key(source: str, calendar: str, base: str, symbol: str, date: dt.date) -> RecordingKey:
        return (source, calendar, base, symbol, date.isoformat())
