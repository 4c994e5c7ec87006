"""10. Desk mode (Redis): what publishing costs an engine, how fast a replica catches up and
how soon it shows a bar, and what splitting a watchlist over engines gives.

Row 1: the engine (coordinator + DataProcessor, no recording) replaying the demo feed at
``--speed max`` — 100 symbols × one session of 1s bars, 1s→1m,5m,15m,1h — with a
:class:`~core.bus.publisher.ShardPublisher` and writer sending every change to a real
local server (the bundled valkey-server, AOF off) against the same run without
publishing; interleaved rounds, the engine's run time (the note adds when everything was in Redis).

Row 2: catch-up (:mod:`bench.desk_catch_up`). An engine holds N symbols × 2 h of 1s bars
(derived 1m,5m,15m,1h, with quality and gaps) and has published them (a snapshot and log
entries after it); three fresh replicas join one after the other, each in a process of
its own: the median time until a replica's ``SessionData`` equals the engine's (snapshot +
log, checked with the export's ``session.json`` view and every bar): 1,000 symbols, the
issue's size, target ≤ 2 s (quick: 10 symbols × 30 min, not judged).

Row 3: latency, base bar accepted by an engine → visible in a replica, at 1× (live speed)
with 1,000 symbols × 1s (:mod:`bench.desk_latency`); target p99 ≤ 50 ms.

Rows 4–5: scale, the same watchlist served by 3 engines at once vs by 1 engine, on this
machine (:mod:`bench.desk_scale`): base bars per second in total, and symbols per GB of
the engines' summed peak memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench import Row, log, median
from bench.desk_catch_up import measure_catch_up
from bench.desk_latency import measure_latency
from bench.desk_scale import serve_split
from session_monitor.core.bus.layout import ShardSpec
from session_monitor.core.bus.publisher import ShardPublisher
from session_monitor.core.bus.serve import publish_changes, run_headless
from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.bus.shardlog import ShardLog, ShardWriter, connect
from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.intervals import parse_intervals
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.demo import DemoSource

__all__ = ["ROWS", "run"]

ROW_PUBLISH = "desk: engine publishing to Redis, cost"
ROW_CATCH_UP = "desk: replica catch-up, 1s × 2 h history"
ROW_LATENCY = "desk: bar accepted → visible in a replica, p99"
ROW_SCALE_RATE = "desk: 3 engines vs 1, base bars/s in total"
ROW_SCALE_MEMORY = "desk: 3 engines vs 1, symbols per GB"
ROWS = (ROW_PUBLISH, ROW_CATCH_UP, ROW_LATENCY, ROW_SCALE_RATE, ROW_SCALE_MEMORY)
DATE = dt.date(2013, 10, 7)
INTERVALS = "1s,1m,5m,15m,1h"
TARGET_COST = 0.25
TARGET_CATCH_UP = 2.0
#: fresh replicas joining the same published state; the row is their median
CATCH_UP_JOINS = 3
TARGET_LATENCY_MS = 50.0


class EngineRun(NamedTuple):
    """One engine replay: wall seconds until it ended and until (publishing) all of it was in Redis;
    CPU seconds of the engine process (the server's not included) and of its engine thread alone."""

    ran: float
    stored: float
    cpu: float
    thread_cpu: float


async def _engine_run(symbols: list[str], url: str | None, shard_no: int) -> EngineRun:
    """Replay ``symbols`` at max speed, publishing to ``url`` unless it is None."""
    calendar = get_calendar("XNYS")
    session = calendar.session(DATE)
    intervals = parse_intervals(INTERVALS)
    sd = SessionData()
    coordinator = SessionCoordinator(sd, DemoSource(), calendar, [session], speed=None)
    run_headless(coordinator)  # as serve does, publishing or not
    writer = client = shard_log = None
    if url is not None:
        client = connect(url)
        shard_log = ShardLog(client, ShardSpec(shard_no, 1_000_000), lease_seconds=60)
        assert await shard_log.try_acquire()
        publisher = ShardPublisher(sd, {s: float(k) for k, s in enumerate(symbols)})
        writer = ShardWriter(shard_log, publisher.reset_batch)
        publisher.sink = writer.put
        publish_changes(coordinator, publisher)
    for symbol in symbols:
        await coordinator.add_symbol(symbol, intervals)
    start = time.perf_counter()
    cpu = time.process_time()
    thread_cpu = time.thread_time()
    task = asyncio.create_task(writer.run()) if writer is not None else None
    await coordinator.run()
    ran = time.perf_counter() - start
    thread_cpu = time.thread_time() - thread_cpu
    if writer is not None and task is not None:
        await writer.drain()
        await task
    stored = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if client is not None and shard_log is not None:
        shard_log.close()
        await client.aclose()
    return EngineRun(ran, stored, cpu, thread_cpu)


def _publish_row(server: EmbeddedServer, quick: bool) -> Row:
    symbols = [f"S{k}" for k in range(5 if quick else 100)]
    rounds = 1 if quick else 5
    times: dict[bool, list[float]] = {False: [], True: []}
    stored: list[float] = []
    cpu: dict[bool, list[float]] = {False: [], True: []}
    thread_cpu: dict[bool, list[float]] = {False: [], True: []}
    shard_no = 0
    for r in range(rounds):
        for publish in ((False, True) if r % 2 == 0 else (True, False)):
            shard_no += 1
            run = asyncio.run(_engine_run(symbols, server.url if publish else None, shard_no))
            times[publish].append(run.ran)
            cpu[publish].append(run.cpu)
            thread_cpu[publish].append(run.thread_cpu)
            if publish:
                stored.append(run.stored)
    off, on = median(times[False]), median(times[True])
    cost = on / off
    return Row(
        ROW_PUBLISH, on, off, "s", cost, f"cost ≤ {TARGET_COST:.0%} (≤ {1 + TARGET_COST:.2f}×)",
        cost <= 1 + TARGET_COST,
        f"{len(symbols)} symbols × 1 session of 1s → 1m,5m,15m,1h at max speed, no recording; "
        f"ref = same run without publishing; cost {cost - 1:+.1%}; the engine's run time (it never waits "
        f"for Redis); all of it stored in Redis after {median(stored):.2f} s; engine process CPU "
        f"{median(cpu[True]):.2f} s vs {median(cpu[False]):.2f} s "
        f"({median(cpu[True]) / median(cpu[False]) - 1:+.0%}), its engine thread alone "
        f"{median(thread_cpu[True]) / median(thread_cpu[False]) - 1:+.0%} (the server runs on the same 2 cores here)",
        better="lower",
    )


def _catch_up_row(server: EmbeddedServer, quick: bool) -> Row:
    symbols = [f"S{k}" for k in range(10 if quick else 1000)]
    hours = 0.5 if quick else 2.0
    run = measure_catch_up(server.url, DATE, INTERVALS, symbols, hours, joins=CATCH_UP_JOINS)
    seconds = median(run.seconds)
    judged = not quick
    return Row(
        ROW_CATCH_UP, seconds, None, "s", None, f"≤ {TARGET_CATCH_UP:g} s at 1,000 symbols",
        seconds <= TARGET_CATCH_UP if judged else None,
        f"{len(symbols)} symbols × {hours:g} h of 1s (+5 min in the log), {run.bars:,} bars in all intervals; "
        f"the snapshot in {run.parts} part(s), {run.snapshot_bytes / 1e6:,.0f} MB; median of {len(run.seconds)} "
        f"fresh replicas (a process each) joining the same state: "
        f"{' / '.join(f'{s:.2f}' for s in run.seconds)} s; load average {run.load[0]:.1f} → {run.load[1]:.1f}; "
        "each replica's tree and bars checked equal to the engine's"
        + ("" if judged else "; quick size: the target is judged at 1,000 symbols"),
        better="lower",
    )


def _latency_row(server: EmbeddedServer, quick: bool) -> Row:
    symbols = [f"L{k}" for k in range(20 if quick else 1000)]
    seconds = 6.0 if quick else 30.0
    latency = measure_latency(server.url, symbols, DATE, INTERVALS, seconds, warm_up=2.0 if quick else 5.0)
    judged = not quick
    return Row(
        ROW_LATENCY, latency.p99_ms, None, "ms", None, f"p99 ≤ {TARGET_LATENCY_MS:g} ms at 1,000 symbols",
        latency.p99_ms <= TARGET_LATENCY_MS if judged else None,
        f"{len(symbols)} symbols × 1s at 1× (live speed), {seconds:g} s streamed, {latency.bars:,} bars after the "
        f"warm-up: p50 {latency.p50_ms:.1f} ms, p99 {latency.p99_ms:.1f} ms, max {latency.max_ms:.1f} ms; "
        f"engine and replica in separate processes through the server; {latency.missing} bar(s) never shown"
        + ("" if judged else "; quick size: the target is judged at 1,000 symbols"),
        better="lower",
    )


def _scale_rows(server: EmbeddedServer, quick: bool) -> list[Row]:
    symbols = [f"E{k}" for k in range(15 if quick else 300)]
    base = server.url.rsplit("/", 1)[0]
    log(f"  desk scale: {len(symbols)} symbols on 1 engine, then on 3")
    one = serve_split(f"{base}/1", symbols, DATE, INTERVALS, engines=1)
    three = serve_split(f"{base}/2", symbols, DATE, INTERVALS, engines=3)
    where = (f"{len(symbols)} symbols × 1 session of 1s → 1m,5m,15m,1h ({three.base_bars:,} base bars), `serve "
             f"--speed max --no-record` publishing to one server, all on this {os.cpu_count()}-core machine")
    return [
        Row(
            ROW_SCALE_RATE, three.bars_per_second, one.bars_per_second, "bars/s",
            three.bars_per_second / one.bars_per_second, "informative", None,
            f"{where}; until every engine finished: {three.seconds:.1f} s vs {one.seconds:.1f} s",
        ),
        Row(
            ROW_SCALE_MEMORY, three.symbols_per_gb, one.symbols_per_gb, "sym/GB",
            three.symbols_per_gb / one.symbols_per_gb, "informative", None,
            f"engines' summed peak RSS {three.peak_rss / 2**30:.2f} GiB vs {one.peak_rss / 2**30:.2f} GiB "
            "(each engine also carries the interpreter and its libraries; the server is not counted)",
        ),
    ]


def run(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="sm-bench-desk-") as folder, \
            EmbeddedServer(Path(folder) / "redis") as server:
        rows = [_publish_row(server, quick), _catch_up_row(server, quick)]
        server.restart()  # an empty server: the engines above leave ~GBs of logs behind
        rows.append(_latency_row(server, quick))
        rows.extend(_scale_rows(server, quick))
        return rows

