"""Crash-safe recording of accepted base bars in SQLite (WAL).

A base bar is *accepted* once the transaction holding it has committed; only then is it
appended to SessionData. Each processor pass commits one transaction holding one blob per
symbol (the pass's bars as packed numpy columns): writing is a memcpy, not a row per bar,
so recording stays cheap at millions of bars. Recordings are keyed by source, calendar,
base interval, symbol and session date, so nothing resumes someone else's data.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.bars import BarArrays

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
    payload BLOB NOT NULL,
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
    for name, column in zip(_DTYPE.names, bars, strict=True):
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
    return BarArrays(*(np.ascontiguousarray(rows[name]) for name in _DTYPE.names))


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
        self._ids: dict[RecordingKey, int] = {}
        self._seq: dict[int, int] = {}
        self._lock = threading.Lock()
        self.committed_bars = 0

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
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = []
                for key, bars in batches:
                    rid = self._id(key)
                    self._seq[rid] += 1
                    rows.append((rid, self._seq[rid], len(bars.ts), _pack(bars)))
                self._db.executemany("INSERT INTO chunks(recording, seq, bars, payload) VALUES (?,?,?,?)", rows)
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
            payloads = [p for (p,) in self._db.execute(
                "SELECT payload FROM chunks WHERE recording=? ORDER BY seq", (row[0],)
            )]
        return _unpack(payloads)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def key(source: str, calendar: str, base: str, symbol: str, date: dt.date) -> RecordingKey:
        return (source, calendar, base, symbol, date.isoformat())
