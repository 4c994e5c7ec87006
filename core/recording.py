"""Crash-safe recording of accepted base bars: append-only segment files indexed in SQLite (WAL).

A base bar is *accepted* once the transaction indexing it has committed; only then is it
appended to SessionData. Each processor pass writes one chunk per symbol to that
recording's segment file (packed columns, not a row per bar: see
:mod:`~session_monitor.core.recording_chunks`), flushes it to the OS, and then commits one
SQLite transaction holding each chunk's offset, length, CRC and format. Bytes written
but never indexed (a kill between the two steps) are ignored, and a blob whose CRC does
not match (or whose bytes are gone) is reported as a lost span, so the caller fetches it
again from the source. Keeping the bar bytes out of SQLite avoids writing them twice
(WAL, then checkpoint): recording costs a few percent instead of a third.

A :class:`Recorder` writes the recordings of one *scope* (source and calendar). It holds
a lock file for that scope for its whole life, so a second process recording the same
source is refused (:class:`RecordingBusy`) instead of interleaving with the first. The
scope also remembers whether its last run ended cleanly: a run that ended uncleanly
(crash, kill, power loss) is resumed; after a clean end the next run starts fresh.
Recordings are keyed by scope, base interval, symbol and session date, and carry a
fingerprint of what the source served, so a changed source is replayed afresh.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import socket
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol

import numpy as np
import xxhash
from filelock import FileLock, Timeout

from session_monitor.core.bars import BarArrays
from session_monitor.core.recording_chunks import KNOWN_FORMATS, Chunk, chunk_crc, decode_chunk, encode_chunk

__all__ = [
    "LostSpan",
    "Recorder",
    "RecordingBusy",
    "RecordingKey",
    "RecordingScope",
    "RecordingUnavailable",
    "Recovered",
    "SourceFingerprint",
    "default_recording_path",
    "source_fingerprint",
]

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
    format INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (recording, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    source TEXT NOT NULL, calendar TEXT NOT NULL,
    running INTEGER NOT NULL,
    pid INTEGER NOT NULL, host TEXT NOT NULL,
    PRIMARY KEY (source, calendar)
);
"""

#: segment files kept open between passes; more recordings than this reopen theirs on demand,
#: so open handles never grow with symbols × sessions
MAX_OPEN_SEGMENTS = 32


class RecordingUnavailable(Exception):
    """The recording cannot be opened or written; the message names the path and the problem."""


class RecordingBusy(RecordingUnavailable):
    """Another process is recording the same scope: one writer per recording."""


class RecordingScope(NamedTuple):
    """What one writer owns: every recording of one source on one calendar."""

    source: str
    calendar: str

    def labelled(self, label: str) -> RecordingScope:
        """The same source recorded under a key of its own (a second instance's ``--record-as``)."""
        return self._replace(source=f"{self.source} as {label}") if label else self

    def describe(self) -> str:
        return f"{self.source} on {self.calendar}"


class RecordingKey(NamedTuple):
    source: str
    calendar: str
    base: str
    symbol: str
    session_date: str


class LostSpan(NamedTuple):
    """Recorded chunks that failed their CRC or whose bytes are gone, between two good bars."""

    after: int | None  # start of the last good bar before the span (None: the session's start)
    before: int | None  # start of the first good bar after it (None: past the last good bar)
    bars: int  # how many bars the lost chunks held


class Recovered(NamedTuple):
    """What a recording gives back on resume."""

    bars: BarArrays
    lost: list[LostSpan]
    #: the source served different data than when this was recorded: the recording was dropped
    changed: bool = False


def default_recording_path() -> Path:
    """Per-user data directory (``SESSION_MONITOR_DATA_DIR`` overrides it, e.g. in tests)."""
    override = os.environ.get("SESSION_MONITOR_DATA_DIR")
    if override:
        base = Path(override)
    else:
        from platformdirs import user_data_dir

        base = Path(user_data_dir("session-monitor", appauthor=False))
    return base / "recordings.sqlite3"


@dataclass(frozen=True, slots=True)
class SourceFingerprint:
    """A content hash of what a replay source served for one symbol and session: a corrected
    price in the source file changes it.

    It is xxh3-128 (a 1s session's 1 MB in ~0.05 ms; the blake2b before cost 20 times as much,
    and every replayed session is hashed). A recording made by a release before it carries a
    blake2b digest; that one is checked against ``bars`` the slow way, once.
    """

    digest: str
    bars: BarArrays

    def matches(self, recorded: str) -> bool:
        """True when ``recorded`` (the fingerprint stored with a recording) is of the same data."""
        if recorded.startswith(_XXH3):
            return recorded == self.digest
        return recorded == _hexdigest(hashlib.blake2b(digest_size=16), self.bars)


_XXH3 = "xxh3:"


def source_fingerprint(bars: BarArrays) -> SourceFingerprint:
    """The fingerprint of a loaded session (hash it on the loading thread that read it)."""
    return SourceFingerprint(_XXH3 + _hexdigest(xxhash.xxh3_128(), bars), bars)


class _Digest(Protocol):
    def update(self, data: memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def _hexdigest(digest: _Digest, bars: BarArrays) -> str:
    for column in bars:
        digest.update(np.ascontiguousarray(column).data)  # the array's own bytes: a copy cost more than the hash
    return digest.hexdigest()


def _merge(chunks: list[BarArrays]) -> BarArrays:
    if not chunks:
        return BarArrays.empty()
    rows = BarArrays.concat(chunks)
    # later chunks win (corrections), then sort by start
    _, last = np.unique(rows.ts[::-1], return_index=True)
    return rows.take(len(rows.ts) - 1 - last)


def _read_chunk(chunk: Chunk, length: int, crc: int) -> BarArrays | None:
    """The chunk's bars, or None when its bytes are gone, damaged, or in a format this release does not know."""
    if chunk.format not in KNOWN_FORMATS or len(chunk.payload) != length or chunk_crc(chunk) != crc:
        return None
    try:
        return decode_chunk(chunk)
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class Recorder:
    """The recordings of one scope in one SQLite file (WAL); call from the coordinator's thread.

    Opening claims the scope (or raises :class:`RecordingBusy`); :attr:`resumable` says
    whether the previous run of the scope ended uncleanly (else its recordings are gone).
    Any file or database problem raises :class:`RecordingUnavailable` naming the path.
    """

    def __init__(self, path: str | Path, scope: RecordingScope) -> None:
        self.path = Path(path)
        self.scope = scope
        self.segments = self.path.parent / f"{self.path.stem}-segments"
        self._ids: dict[RecordingKey, int] = {}
        self._seq: dict[int, int] = {}
        self._files: OrderedDict[int, BinaryIO] = OrderedDict()
        self._lock = threading.Lock()
        self.committed_bars = 0
        self._db: sqlite3.Connection | None = None
        self._claim: FileLock | None = None
        try:
            self._open()
        except RecordingUnavailable:
            self._release()
            raise
        except (OSError, sqlite3.Error) as exc:
            self._release()
            where = getattr(exc, "filename", None) or self.path
            reason = _reason(exc)
            if isinstance(exc, sqlite3.Error) and not os.access(self.path.parent, os.W_OK):
                reason = f"{reason} (the folder is read-only)"
            raise RecordingUnavailable(f"cannot record in {where}: {reason}") from exc

    def _open(self) -> None:
        folder = self.path.parent
        if folder.exists() and not folder.is_dir():
            raise RecordingUnavailable(f"cannot record in {folder}: it is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        self.segments.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL survives a killed process (not a power cut) and keeps commits cheap.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(recordings)")}
        if "fingerprint" not in columns:  # a recording file from before fingerprints
            self._db.execute("ALTER TABLE recordings ADD COLUMN fingerprint TEXT NOT NULL DEFAULT ''")
        if "format" not in {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}:
            # a recording file from before chunk formats: every chunk in it is in records (format 1)
            self._db.execute("ALTER TABLE chunks ADD COLUMN format INTEGER NOT NULL DEFAULT 1")
        name = hashlib.sha256("\0".join(self.scope).encode()).hexdigest()[:24]
        claim = FileLock(self.segments / f"{name}.lock", timeout=0)
        try:
            claim.acquire()
        except Timeout:
            raise RecordingBusy(self._busy_message()) from None
        self._claim = claim
        self._start_run()

    def _busy_message(self) -> str:
        assert self._db is not None
        row = self._db.execute(
            "SELECT pid, host FROM runs WHERE source=? AND calendar=?", tuple(self.scope)
        ).fetchone()
        holder = f" (pid {row[0]} on {row[1]})" if row is not None else ""
        return f"{self.scope.describe()} is being recorded by another Session Monitor{holder} in {self.path}"

    def _start_run(self) -> None:
        """Resume after an unclean end, start fresh after a clean one; mark this run as running."""
        assert self._db is not None
        row = self._db.execute(
            "SELECT running FROM runs WHERE source=? AND calendar=?", tuple(self.scope)
        ).fetchone()
        held = self._db.execute(
            "SELECT COUNT(*) FROM recordings WHERE source=? AND calendar=?", tuple(self.scope)
        ).fetchone()[0]
        # no run row but recordings: written before runs were tracked; keep them (never lose data)
        self.resumable = bool(held) and (row is None or bool(row[0]))
        if held and not self.resumable:
            self.discard()
        self._db.execute(
            "INSERT OR REPLACE INTO runs(source, calendar, running, pid, host) VALUES (?,?,1,?,?)",
            (*self.scope, os.getpid(), socket.gethostname()),
        )

    def key(self, base: str, symbol: str, date: dt.date) -> RecordingKey:
        return RecordingKey(self.scope.source, self.scope.calendar, base, symbol, date.isoformat())

    def _segment(self, rid: int) -> Path:
        return self.segments / f"{rid}.bars"

    def _file(self, rid: int) -> BinaryIO:
        handle = self._files.get(rid)
        if handle is not None:
            self._files.move_to_end(rid)
            return handle
        while len(self._files) >= MAX_OPEN_SEGMENTS:
            _, oldest = self._files.popitem(last=False)
            oldest.close()  # flushed at the end of its last commit
        handle = self._files[rid] = open(self._segment(rid), "ab")  # noqa: SIM115 - kept open across passes
        return handle

    def _close_segment(self, rid: int) -> None:
        handle = self._files.pop(rid, None)
        if handle is not None:
            handle.close()

    def _row(self, key: RecordingKey) -> tuple[int, str] | None:
        assert self._db is not None
        row = self._db.execute(
            "SELECT id, fingerprint FROM recordings "
            "WHERE source=? AND calendar=? AND base=? AND symbol=? AND session_date=?",
            tuple(key),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def _id(self, key: RecordingKey, fingerprint: str = "") -> int:
        rid = self._ids.get(key)
        if rid is None:
            assert self._db is not None
            if (key.source, key.calendar) != tuple(self.scope):
                raise ValueError(f"{key} is not in this recorder's scope {self.scope.describe()}")
            self._db.execute(
                "INSERT OR IGNORE INTO recordings(source, calendar, base, symbol, session_date, fingerprint) "
                "VALUES (?,?,?,?,?,?)",
                (*key, fingerprint),
            )
            row = self._row(key)
            assert row is not None
            rid = self._ids[key] = row[0]
            last = self._db.execute("SELECT MAX(seq) FROM chunks WHERE recording=?", (rid,)).fetchone()[0]
            self._seq[rid] = -1 if last is None else int(last)
        return rid

    def commit(self, batches: list[tuple[RecordingKey, BarArrays]]) -> None:
        """Write every batch of one pass in one transaction; returns once it is durable."""
        if not batches:
            return
        try:
            self._commit(batches)
        except (OSError, sqlite3.Error) as exc:
            where = getattr(exc, "filename", None) or self.path
            raise RecordingUnavailable(f"recording to {where} failed: {_reason(exc)}") from exc

    def _commit(self, batches: list[tuple[RecordingKey, BarArrays]]) -> None:
        assert self._db is not None
        with self._lock:
            rows = []
            for key, bars in batches:
                rid = self._id(key)
                chunk = encode_chunk(bars)
                handle = self._file(rid)
                offset = handle.seek(0, os.SEEK_END)
                handle.write(chunk.payload)
                handle.flush()  # in the OS's hands: survives a killed process
                self._seq[rid] += 1
                rows.append((
                    rid, self._seq[rid], len(bars.ts), offset, len(chunk.payload), chunk_crc(chunk), chunk.format
                ))
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO chunks(recording, seq, bars, offset, length, crc, format) VALUES (?,?,?,?,?,?,?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._ids.clear()
                self._seq.clear()
                raise
            self.committed_bars += sum(len(b.ts) for _, b in batches)

    def resume(self, key: RecordingKey, fingerprint: SourceFingerprint | None) -> Recovered:
        """What ``key`` holds for the source data fingerprinted ``fingerprint``, and what of it was lost.

        A recording made from different source data (a corrected file) is dropped, and
        the result says so; the fingerprint is kept for the recording made from now on.
        ``None``: a live source, whose history grows while it runs, is never fingerprinted.
        """
        digest = "" if fingerprint is None else fingerprint.digest
        with self._lock:
            row = self._row(key)
            changed = row is not None and fingerprint is not None and not fingerprint.matches(row[1])
            if row is not None and row[1] != digest:  # changed, or fingerprinted by a release before
                assert self._db is not None
                if changed:
                    self._drop(row[0])
                self._db.execute("UPDATE recordings SET fingerprint=? WHERE id=?", (digest, row[0]))
        if row is None:
            with self._lock:
                self._id(key, digest)
            return Recovered(BarArrays.empty(), [])
        if changed:
            return Recovered(BarArrays.empty(), [], changed=True)
        return self.load(key)

    def load(self, key: RecordingKey) -> Recovered:
        """Every good bar recorded under ``key`` (sorted, one per start, the last recorded wins)."""
        with self._lock:
            row = self._row(key)
            if row is None:
                return Recovered(BarArrays.empty(), [])
            rid = row[0]
            assert self._db is not None
            index = self._db.execute(
                "SELECT bars, offset, length, crc, format FROM chunks WHERE recording=? ORDER BY seq", (rid,)
            ).fetchall()
            try:
                data = self._segment(rid).read_bytes()
            except FileNotFoundError:
                data = b""
        chunks = [
            _read_chunk(Chunk(chunk_format, data[offset : offset + length]), length, crc)
            for _bars, offset, length, crc, chunk_format in index
        ]
        good = [chunk for chunk in chunks if chunk is not None]
        return Recovered(_merge(good), _lost_spans([row[0] for row in index], chunks))

    def _drop(self, rid: int) -> None:
        """Forget what recording ``rid`` holds (its row stays, with no chunks)."""
        assert self._db is not None
        self._db.execute("DELETE FROM chunks WHERE recording=?", (rid,))
        self._close_segment(rid)
        self._segment(rid).unlink(missing_ok=True)
        self._seq[rid] = -1

    def discard(self, since: dt.date | None = None) -> None:
        """Drop this scope's recordings (of sessions from ``since`` on): a restarted replay records afresh.

        A replay moved back to an earlier session calls this, so a crash after the move
        never resumes bars of the run before it.
        """
        assert self._db is not None
        first = "" if since is None else since.isoformat()
        with self._lock:
            ids = [int(r[0]) for r in self._db.execute(
                "SELECT id FROM recordings WHERE source=? AND calendar=? AND session_date>=?", (*self.scope, first)
            )]
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM chunks WHERE recording=?", [(rid,) for rid in ids])
            self._db.executemany("DELETE FROM recordings WHERE id=?", [(rid,) for rid in ids])
            self._db.execute("COMMIT")
            for rid in ids:
                self._close_segment(rid)
                self._segment(rid).unlink(missing_ok=True)
            self._ids = {key: rid for key, rid in self._ids.items() if rid not in ids}
            for rid in ids:
                self._seq.pop(rid, None)

    @property
    def open_segments(self) -> int:
        return len(self._files)

    def close(self, *, clean: bool) -> None:
        """Release the scope; ``clean`` (a quit the user asked for, a completed run) means the next run starts fresh.

        Without ``clean`` (interrupted, an export that failed) the next run resumes.
        """
        with self._lock:
            if clean and self._db is not None:
                # on a full disk this fails: the next run resumes instead, which loses nothing
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("UPDATE runs SET running=0 WHERE source=? AND calendar=?", tuple(self.scope))
        self._release()

    def _release(self) -> None:
        for handle in self._files.values():
            with contextlib.suppress(OSError):  # nothing unflushed: every commit flushed what it wrote
                handle.close()
        self._files.clear()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None


def _lost_spans(counts: list[int], chunks: list[BarArrays | None]) -> list[LostSpan]:
    """Runs of bad chunks (None; ``counts``: how many bars each chunk held), each placed between
    the good bars recorded before and after it."""
    spans: list[LostSpan] = []
    after: int | None = None
    lost_bars = 0
    for bars, chunk in zip(counts, chunks, strict=True):
        if chunk is None:
            lost_bars += bars
            continue
        ts = chunk.ts
        if lost_bars:
            spans.append(LostSpan(after, int(ts.min()) if len(ts) else None, lost_bars))
            lost_bars = 0
        if len(ts):
            after = int(ts.max()) if after is None else max(after, int(ts.max()))
    if lost_bars:
        spans.append(LostSpan(after, None, lost_bars))
    return spans
