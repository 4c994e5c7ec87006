"""A real Redis-protocol server per test, and engines/followers as real subprocesses."""

from __future__ import annotations

import asyncio
import filecmp
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import msgpack
import pytest
import redis
import redis.asyncio as aioredis

from session_monitor.core.bus.layout import ShardKeys, ShardSpec
from session_monitor.core.bus.lease import LeaseKeeper
from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.core.cli import main

#: 15 demo symbols over one session at 1m: ~6 s of session clock at this speed
SYMBOLS = "SPY,AAPL,MSFT,QQQ,IWM,GOOG,AMZN,META,NVDA,TSLA,AMD,NFLX,INTC,ORCL,IBM"
RUN = ["demo", "--symbols", SYMBOLS, "--intervals", "1m,5m,15m", "--start", "2024-03-04", "--end", "2024-03-04"]
SPEED = "4000"


#: every engine/follower a test started (the fixture ends those still running)
STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A server with AOF on 127.0.0.1; afterwards no engine or follower of the test is left running."""
    with EmbeddedServer(tmp_path / "redis", aof=True) as server:
        try:
            yield server
        finally:
            while STARTED:
                process = STARTED.pop()
                if process.poll() is None:
                    process.kill()
                    process.wait()


def reference_export(tmp_path: Path, run: list[str] | None = None) -> Path:
    """The single-process run: ``replay --export`` of the same symbols and session."""
    out = tmp_path / "reference"
    assert main(["replay", *(run or RUN), "--speed", "max", "--export", str(out), "--quiet", "--no-record"]) == 0
    return out


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SESSION_MONITOR_DATA_DIR": str(tmp_path / "data")}


def start_engine(tmp_path: Path, url: str, shard: str, *extra: str, log: Path | None = None,
                 run: list[str] | None = None, speed: str = SPEED) -> subprocess.Popen[str]:
    """``serve`` of ``run`` (default :data:`RUN`) for one shard (lease 2 s: renewals survive a loaded
    machine), its output in ``log``."""
    path = log or tmp_path / f"engine-{shard.replace('/', '-')}-{time.monotonic_ns()}.log"
    out = path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "session_monitor", "serve", *(run or RUN), "--speed", speed, "--redis", url,
         "--shard", shard, "--lease-seconds", "2", *extra],
        stdout=out, stderr=subprocess.STDOUT, env=_env(tmp_path), text=True,
    )
    STARTED.append(process)
    return process


def start_follower(tmp_path: Path, url: str, name: str = "follow",
                   timeout: float = 120) -> tuple[subprocess.Popen[str], Path]:
    """``follow --export`` into ``tmp_path/name`` (giving up after ``timeout`` seconds), its output in ``name.log``."""
    out = tmp_path / name
    log = (tmp_path / f"{name}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "session_monitor", "follow", url, "--export", str(out), "--timeout", f"{timeout:g}"],
        stdout=log, stderr=subprocess.STDOUT, env=_env(tmp_path), text=True,
    )
    STARTED.append(process)
    return process, out


def engine_clock(url: str, shard: ShardSpec) -> float | None:
    """The session clock of the shard's newest heartbeat, or None."""
    client = redis.Redis.from_url(url)
    try:
        for _id, fields in client.xrevrange(ShardKeys(shard).log, count=20):
            for message in msgpack.unpackb(fields[b"m"], raw=False):
                if message["k"] == "hb":
                    return float(message["c"])
        return None
    finally:
        client.close()


def wait_until_clock(url: str, shard: ShardSpec, fraction: float, open_: float, close: float,
                     timeout: float = 60) -> None:
    """Until the shard's engine is ``fraction`` into the session."""
    deadline = time.monotonic() + timeout
    target = open_ + fraction * (close - open_)
    while time.monotonic() < deadline:
        clock = engine_clock(url, shard)
        if clock is not None and clock >= target:
            return
        time.sleep(0.05)
    raise AssertionError(f"shard {shard} never reached {fraction:.0%} of the session")


def wait_ok(process: subprocess.Popen[str], timeout: float = 120) -> None:
    assert process.wait(timeout=timeout) == 0, f"exit code {process.returncode}"


def assert_same_export(got: Path, want: Path) -> None:
    """Byte for byte: the same files with the same contents."""
    want_files = sorted(p.relative_to(want) for p in want.rglob("*") if p.is_file())
    got_files = sorted(p.relative_to(got) for p in got.rglob("*") if p.is_file())
    assert got_files == want_files
    _, mismatch, errors = filecmp.cmpfiles(want, got, [str(p) for p in want_files], shallow=False)
    assert mismatch == [] and errors == []


class _StandbyLease(Protocol):
    """What a lease owner offers a standby: a ShardLog (an engine's) or a FeedLease (a gateway's)."""

    epoch: int

    async def try_acquire(self) -> bool: ...

    def renew_now(self) -> bool: ...

    def close(self) -> None: ...


class Standby:
    """A second owner of a lease on a thread (and event loop, and connection) of its own: it tries to
    take the lease for ``seconds`` (every quarter lease, as the owners' acquire loops do) while a test
    blocks the owner's loop; once it has, ``taken`` runs (a mark in a stream, say) and a lease keeper
    of its own holds the lease until the end."""

    def __init__(self, url: str, lease: Callable[[aioredis.Redis], _StandbyLease], lease_seconds: float,
                 seconds: float, taken: Callable[[Any], Awaitable[None]] | None = None) -> None:
        self.epoch: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._try(url, lease, lease_seconds, seconds, taken)), name="standby"
        )

    async def _try(self, url: str, lease: Callable[[aioredis.Redis], _StandbyLease], lease_seconds: float,
                   seconds: float, taken: Callable[[Any], Awaitable[None]] | None) -> None:
        client = connect_redis(url)
        standby = lease(client)
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline and not self._done.is_set():
                if await standby.try_acquire():
                    break
                await asyncio.sleep(lease_seconds / 4)
            else:
                return
            self.epoch = standby.epoch
            if taken is not None:
                await taken(standby)
            keeper = LeaseKeeper(standby.renew_now, lease_seconds, stall_seconds=60.0, name="standby")
            keeper.start()
            while not self._done.is_set():
                await asyncio.sleep(0.05)
            keeper.stop()
        finally:
            standby.close()
            await client.aclose()

    def __enter__(self) -> Standby:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()
