"""Desk latency: a base bar accepted by an engine → the same bar visible in a replica.

The engine (coordinator + DataProcessor + publisher, as ``serve`` runs it) replays the
demo feed at live speed (1×: every symbol gets its 1s bar each second) in a process of
its own and notes, for every base bar, when ``SessionData`` accepted it (its
``bars_changed`` event). A replica in this process follows the shard through a real
server and notes when each bar arrived in its ``SessionData`` (the same event, which
is what a GUI listens to). Both read the system-wide monotonic clock, so the two notes
of one bar compare directly. The first seconds (loading, the first snapshot) are left
out: the figure is for a desk that is running.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from session_monitor.core.bus.layout import ShardSpec
from session_monitor.core.bus.publisher import ShardPublisher
from session_monitor.core.bus.replica import Replica, ShardStatus
from session_monitor.core.bus.serve import publish_changes, run_headless
from session_monitor.core.bus.shardlog import ShardLog, ShardWriter, connect
from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.intervals import parse_intervals
from session_monitor.core.memory import freeze_startup_heap
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.demo import DemoSource

__all__ = ["Latency", "measure_latency"]

#: (symbol, bar start) -> monotonic seconds when it was first seen
Seen = dict[tuple[str, int], float]
#: wall seconds the engine gets to load, run and drain
ENGINE_TIMEOUT = 600.0


class Latency(NamedTuple):
    p50_ms: float
    p99_ms: float
    max_ms: float
    bars: int
    #: bars the engine accepted after the warm-up that the replica never showed (should be 0)
    missing: int


def note_base_bars(session_data: SessionData, base: str, seen: Seen) -> Callable[[list[tuple[Any, ...]]], None]:
    """A ``bars_changed`` batch subscriber noting when each base bar first appeared."""

    def on_changed(items: list[tuple[Any, ...]]) -> None:
        now = time.monotonic()
        for symbol, name, first in items:
            if name != base:
                continue
            data = session_data.get_symbol_data(symbol)
            if data is None:
                continue
            for ts in data.bars[base].data.ts[first:].tolist():
                seen.setdefault((symbol, ts), now)

    session_data.events.bars_changed.connect_batch(on_changed)
    return on_changed


async def _engine(url: str, symbols: list[str], date: Any, intervals: str, seconds: float) -> Seen:
    calendar = get_calendar("XNYS")
    session = calendar.session(date)
    sd = SessionData()
    coordinator = SessionCoordinator(sd, DemoSource(), calendar, [session], speed=1.0)
    client = connect(url)
    shard_log = ShardLog(client, ShardSpec(1, 1), lease_seconds=60)
    await shard_log.try_acquire()
    accepted: Seen = {}
    # noted before the publisher sees them (it sends new base bars from the same event)
    note_base_bars(sd, parse_intervals(intervals)[0].name, accepted)
    publisher = ShardPublisher(sd, {s: float(k) for k, s in enumerate(symbols)})
    writer = ShardWriter(shard_log, publisher.reset_batch)
    publisher.sink = writer.put
    run_headless(coordinator)
    publish_changes(coordinator, publisher)
    for symbol in symbols:
        await coordinator.add_symbol(symbol, parse_intervals(intervals))
    writer.put(publisher.reset_batch())
    task = asyncio.create_task(writer.run())
    runner = asyncio.create_task(coordinator.run())
    while not accepted and not runner.done():  # loading every symbol's session first
        await asyncio.sleep(0.1)
    await asyncio.sleep(seconds)
    coordinator.stop()
    await runner
    publisher.flush()
    await writer.drain()
    await task
    shard_log.close()
    await client.aclose()
    return accepted


def _engine_process(url: str, symbols: list[str], date: Any, intervals: str, seconds: float,
                    out: multiprocessing.Queue[Seen]) -> None:
    out.put(asyncio.run(_engine(url, symbols, date, intervals, seconds)))


async def _follow(url: str, base: str, symbols: int, results: multiprocessing.Queue[Seen]) -> tuple[Seen, Seen]:
    """Follow the shard until the engine hands over its notes; returns (accepted, visible)."""
    client = connect(url)
    replica = Replica(client)
    replica.shards = [ShardStatus(ShardSpec(1, 1))]
    visible: Seen = {}
    note_base_bars(replica.session_data, base, visible)
    task = asyncio.create_task(replica.run())
    while len(replica.session_data) < symbols and not task.done():
        await asyncio.sleep(0.1)
    freeze_startup_heap()  # caught up: as `connect` does once its window is up
    accepted = await asyncio.to_thread(results.get, True, ENGINE_TIMEOUT)  # sent once the engine drained
    await asyncio.sleep(1.0)  # the last entries
    replica.stop()
    await task
    await client.aclose()
    return accepted, visible


def measure_latency(url: str, symbols: list[str], date: Any, intervals: str, seconds: float,
                    warm_up: float) -> Latency:
    """Run an engine streaming for ``seconds`` of wall time at 1× and a replica beside it; bars after ``warm_up``."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[Seen] = context.Queue()
    engine = context.Process(target=_engine_process, args=(url, symbols, date, intervals, seconds, results))
    engine.start()
    base = parse_intervals(intervals)[0].name
    accepted, visible = asyncio.run(_follow(url, base, len(symbols), results))
    engine.join()
    if not accepted:
        raise RuntimeError("the engine accepted no bars")
    start = min(accepted.values()) + warm_up
    delays = [visible[key] - at for key, at in accepted.items() if at >= start and key in visible]
    missing = sum(1 for key, at in accepted.items() if at >= start and key not in visible)
    if not delays:
        raise RuntimeError("no bar reached the replica after the warm-up")
    ms = np.asarray(delays) * 1000
    return Latency(float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max()), len(delays), missing)
