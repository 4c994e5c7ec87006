"""Reading a shard's snapshot off the server: its header, then each part into a buffer used again.

A snapshot at 1,000 symbols × 2 h is ~350 MB of bars in ~20 parts. Read through the client's
parser, every part became a fresh bytes object after passing through the parser's own growing
buffer: ~700 MB of fresh memory per catch-up, and on this machine fresh memory is what a
catch-up waited for (a page fault per 4 KiB, and memory the host has to back first costs
~3 ms per MB; the same join took 1 s or 2.5 s depending on it). Here the parts' blobs go
straight from the socket into a few buffers that the replica hands back once it applied a
part, so a catch-up touches ~50 MB of fresh memory for them, whatever the snapshot's size,
and the reader waits (holding no buffer) while the replica is behind.

The replies read are arrays of bulk strings or nulls, and errors, in RESP2 or RESP3 (what
the client negotiated; they differ here only in how a null is spelled).
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from session_monitor.core.bus.layout import ShardKeys
from session_monitor.core.bus.shardlog import connect_blocking
from session_monitor.core.memory import lazy_zeros

__all__ = ["PartBuffers", "SnapshotHeader", "SnapshotPartRead", "read_snapshot"]

#: parts read ahead of the one being applied, at most (each holds one buffer)
BUFFERS = 3
#: bytes asked of the socket at once for the replies' small items (the blobs go straight to their buffer)
_CHUNK = 1 << 16


class SnapshotHeader(NamedTuple):
    """The snapshot hash: the log entry the snapshot is current to, its schema, epoch, sequence and parts."""

    pos: str
    version: int
    epoch: int
    seq: int
    parts: int


class SnapshotPartRead(NamedTuple):
    """One part as read: its messages and blob (None when the part is gone: the snapshot was replaced).

    ``blob`` is a view of a buffer of :class:`PartBuffers`: give ``buffer`` back once the part is
    applied (nothing may keep a view of it).
    """

    meta: bytes | None
    blob: memoryview | None
    buffer: np.ndarray | None


class ReadStopped(Exception):
    """The replica stopped waiting for the snapshot (it failed, or a part was gone)."""


class PartBuffers:
    """The buffers parts are read into, handed between the reading thread and the replica."""

    def __init__(self, count: int = BUFFERS) -> None:
        self._free: queue.Queue[np.ndarray] = queue.Queue()
        for _ in range(count):
            self._free.put(np.empty(0, np.uint8))
        self.stopped = threading.Event()

    def take(self, size: int) -> np.ndarray:
        """A buffer of at least ``size`` bytes, once the replica gave one back (the reader waits)."""
        while True:
            try:
                buffer = self._free.get(timeout=0.05)
                break
            except queue.Empty:
                if self.stopped.is_set():
                    raise ReadStopped from None
        if len(buffer) < size:
            # parts differ by a few symbols' bars; no huge pages: a fault on one may wait for the
            # kernel to compact memory, where the 4 KiB pages of a buffer are faulted once per catch-up
            buffer = lazy_zeros((size + size // 8,), np.uint8)
        return buffer

    def give(self, buffer: np.ndarray) -> None:
        self._free.put(buffer)


class _Replies:
    """Replies read off a socket: lines and small strings through a small buffer, a blob
    straight into memory of the caller's."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray(_CHUNK)
        self._start = 0
        self._end = 0

    def _fill(self) -> None:
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == len(self._buf):
            held = self._end - self._start
            self._buf[:held] = self._buf[self._start : self._end]
            self._start, self._end = 0, held
        got = self._sock.recv_into(memoryview(self._buf)[self._end :])
        if not got:
            raise RedisConnectionError("the server closed the connection while sending the snapshot")
        self._end += got

    def _line(self) -> bytes:
        while True:
            at = self._buf.find(b"\r\n", self._start, self._end)
            if at >= 0:
                line = bytes(self._buf[self._start : at])
                self._start = at + 2
                if line[:1] == b"-":
                    raise ResponseError(line[1:].decode(errors="replace"))
                if line[:1] == b"!":  # RESP3's error with a length
                    size = int(line[1:])
                    text = bytearray(size)
                    self.read_into(memoryview(text))
                    raise ResponseError(text.decode(errors="replace"))
                return line
            self._fill()

    def array(self) -> int:
        line = self._line()
        if line[:1] != b"*":
            raise RedisConnectionError(f"expected an array from the server, got {line[:40]!r}")
        return int(line[1:])

    def length(self) -> int | None:
        """The next bulk string's length (None: a null)."""
        line = self._line()
        if line == b"_":  # RESP3's null
            return None
        if line[:1] != b"$":
            raise RedisConnectionError(f"expected a bulk string from the server, got {line[:40]!r}")
        size = int(line[1:])
        return None if size < 0 else size

    def read_into(self, out: memoryview) -> None:
        """The bulk string whose length was just read, into ``out`` (exactly its size), then its CRLF."""
        held = min(self._end - self._start, len(out))
        out[:held] = self._buf[self._start : self._start + held]
        self._start += held
        done = held
        while done < len(out):
            got = self._sock.recv_into(out[done:])
            if not got:
                raise RedisConnectionError("the server closed the connection while sending the snapshot")
            done += got
        while self._end - self._start < 2:
            self._fill()
        self._start += 2

    def string(self) -> bytes | None:
        size = self.length()
        if size is None:
            return None
        out = bytearray(size)
        self.read_into(memoryview(out))
        return bytes(out)


def read_snapshot(client: aioredis.Redis, keys: ShardKeys, buffers: PartBuffers,
                  deliver: Callable[[object], None]) -> None:
    """On a worker thread: deliver the snapshot's header (None: no snapshot), then each part as it arrives.

    Every part is asked for at once (one round trip) on a connection of its own; each is
    handed over as soon as it is in, so the parts already read are applied while the next
    arrive. An error is delivered too (the caller raises it).
    """
    try:
        with connect_blocking(client) as blocking:
            connection = blocking.connection_pool.make_connection()
            try:
                connection.connect()
                sock = connection._sock  # the replies are read here (see _Replies)
                if sock is None:
                    raise RedisConnectionError("no connection to the server")
                replies = _Replies(sock)
                connection.send_command("HMGET", keys.snapshot, "pos", "v", "e", "n", "parts")
                pos, version, epoch, seq, parts = (replies.string() for _ in range(replies.array()))
                if pos is None:
                    deliver(None)
                    return
                header = SnapshotHeader(pos.decode(), int(version or 0), int(epoch or 0), int(seq or 0),
                                        int(parts or 0))  # no parts: an older schema's (the reader refuses it)
                deliver(header)
                names = [keys.snapshot_part(header.pos, k) for k in range(header.parts)]
                connection.send_packed_command(connection.pack_commands([("HMGET", name, "m", "b") for name in names]))
                for _name in names:
                    replies.array()
                    meta = replies.string()
                    size = replies.length()
                    if size is None:
                        deliver(SnapshotPartRead(meta, None, None))
                        continue
                    buffer = buffers.take(size)
                    blob = buffer.data[:size]
                    replies.read_into(blob)
                    deliver(SnapshotPartRead(meta, blob, buffer))
            finally:
                connection.disconnect()
    except ReadStopped:
        return
    except Exception as exc:  # handed to the reader's task, which raises it
        deliver(exc)
