"""Desk catch-up: a replica joining an engine mid-session, until its state equals the engine's.

An engine holds N symbols × ``hours`` of demo 1s bars (derived 1m,5m,15m,1h, with quality
and gaps) and has published them: a snapshot, then five minutes more as log entries after
it. Then fresh replicas join one after the other, each in a process of its own as a GUI
would (a new process's memory is fresh, as a joining window's is): the time from asking
for the snapshot until its ``SessionData`` holds everything the log has. Each replica then
hands back what its tree and charts show — the export's ``session.json`` view of every
symbol, and a digest of every interval's bars and revisions — and the bench checks that
it equals the engine's exactly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import multiprocessing
import os
import queue
import time
from typing import Any, NamedTuple

from session_monitor.core.bus.layout import ShardKeys, ShardSpec
from session_monitor.core.bus.publisher import Batch, ShardPublisher
from session_monitor.core.bus.replica import Replica, ShardStatus
from session_monitor.core.bus.shardlog import ShardLog, connect
from session_monitor.core.calendar import Session, get_calendar
from session_monitor.core.export import session_snapshot
from session_monitor.core.intervals import parse_intervals
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import SessionData, SymbolSessionData
from session_monitor.core.sources.demo import DemoSource

__all__ = ["CatchUp", "measure_catch_up"]

#: wall seconds a joining replica gets (it takes ~1 s; a stuck one fails the bench instead of hanging it)
JOIN_TIMEOUT = 300.0
SHARD = ShardSpec(1, 1)


class CatchUp(NamedTuple):
    """Replicas' catch-up: wall seconds of each join, bars held, the snapshot read (parts, bytes), and
    the load average before the first join and after the last."""

    seconds: list[float]
    bars: int
    parts: int
    snapshot_bytes: int
    load: tuple[float, float]


def _engine_state(date: dt.date, intervals: str, symbols: list[str], hours: float) -> SessionData:
    """N symbols with ``hours`` of demo 1s bars, derived and measured as an engine holds them."""
    session = get_calendar("XNYS").session(date)
    base, *derived = parse_intervals(intervals)
    sd = SessionData()
    sd.start_session(session)
    source = DemoSource()
    until = session.open + int(hours * 3600)
    for symbol in symbols:
        sd.register_symbol_data(SymbolSessionData.create(symbol, base, derived, session, requested=[base, *derived]))
        bars = source.seconds(symbol, session)
        sd.add_base_bars(symbol, bars.take(bars.ts < until))
    DataProcessor(sd).process(float(until))
    return sd


async def _publish(url: str, engine: SessionData, symbols: list[str], hours: float) -> tuple[int, int]:
    """The engine's snapshot, then five more minutes as five log entries; returns (parts, snapshot bytes)."""
    client = connect(url)
    shard_log = ShardLog(client, SHARD, lease_seconds=3600)
    assert await shard_log.try_acquire()
    publisher = ShardPublisher(engine, {s: float(k) for k, s in enumerate(symbols)})
    batches: list[Batch] = []
    publisher.sink = batches.append
    await shard_log.append(publisher.reset_batch())
    session = engine.session
    assert session is not None
    source = DemoSource()
    clock = session.open + int(hours * 3600)
    later = {}
    for symbol in symbols:
        bars = source.seconds(symbol, session)
        later[symbol] = bars.take((bars.ts >= clock) & (bars.ts < clock + 300))
    processor = DataProcessor(engine)
    for _ in range(5):
        for symbol in symbols:
            bars = later[symbol]
            engine.add_base_bars(symbol, bars.take((bars.ts >= clock) & (bars.ts < clock + 60)))
        clock += 60
        processor.process(float(clock))
        publisher.flush()
    for batch in batches:
        await shard_log.append(batch)
    keys = ShardKeys(SHARD)
    pos = (await client.hget(keys.snapshot, "pos") or b"").decode()
    parts = int(await client.hget(keys.snapshot, "parts") or 0)
    size = 0
    for k in range(parts):
        for name in ("m", "b"):
            size += int(await client.hstrlen(keys.snapshot_part(pos, k), name))
    shard_log.close()
    await client.aclose()
    return parts, size


def state_view(sd: SessionData, session: Session) -> tuple[dict[str, Any], dict[str, str]]:
    """What a window shows of ``sd``: the ``session.json`` view, and a digest of each interval's bars
    (every column of every bar) and revisions, by ``symbol interval``."""
    digests = {}
    for data in sd.all_symbol_data():
        for name, interval in data.bars.items():
            digest = hashlib.sha1()
            for column in interval.data.arrays():
                digest.update(memoryview(column).cast("B"))
            digest.update(repr(sorted(interval.revisions.items())).encode())
            digests[f"{data.symbol} {name}"] = digest.hexdigest()
    return session_snapshot(sd, session), digests


async def _join(url: str, session: Session) -> tuple[float, tuple[dict[str, Any], dict[str, str]]]:
    client = connect(url)
    await client.ping()  # connected before the clock starts, as a window is
    start = time.perf_counter()
    replica = Replica(client)
    status = ShardStatus(SHARD)
    replica.shards = [status]
    await replica.catch_up(status)
    elapsed = time.perf_counter() - start
    await client.aclose()
    return elapsed, state_view(replica.session_data, session)


def _join_process(url: str, session: Session, out: multiprocessing.Queue[Any]) -> None:
    out.put(asyncio.run(_join(url, session)))


def _run_join(context: Any, url: str, session: Session) -> tuple[float, tuple[dict[str, Any], dict[str, str]]]:
    """One replica in a fresh process: its catch-up seconds and what it shows."""
    results: multiprocessing.Queue[Any] = context.Queue()
    process = context.Process(target=_join_process, args=(url, session, results))
    process.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    try:
        while True:
            try:
                found: tuple[float, tuple[dict[str, Any], dict[str, str]]] = results.get(timeout=0.5)
                return found
            except queue.Empty:
                if not process.is_alive() and results.empty():
                    raise RuntimeError(f"the joining replica exited with {process.exitcode}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the joining replica did not catch up within {JOIN_TIMEOUT:g} s") from None
    finally:
        process.join(timeout=JOIN_TIMEOUT)
        if process.is_alive():
            process.kill()


def measure_catch_up(url: str, date: dt.date, intervals: str, symbols: list[str], hours: float,
                     joins: int) -> CatchUp:
    """Publish an engine's state once, then let ``joins`` fresh replicas catch up with it, one at a time."""
    engine = _engine_state(date, intervals, symbols, hours)
    parts, size = asyncio.run(_publish(url, engine, symbols, hours))
    session = engine.session
    assert session is not None
    expected = state_view(engine, session)
    bars = sum(len(iv.data) for d in engine.all_symbol_data() for iv in d.bars.values())
    context = multiprocessing.get_context("spawn")
    seconds = []
    load_before = os.getloadavg()[0]
    for _ in range(joins):
        elapsed, view = _run_join(context, url, session)
        if view != expected:
            wrong = next((key for key, digest in expected[1].items() if view[1].get(key) != digest), "session.json")
            raise AssertionError(f"a replica differs from the engine after catching up ({wrong})")
        seconds.append(elapsed)
    return CatchUp(seconds, bars, parts, size, (load_before, os.getloadavg()[0]))
