"""``session-monitor serve``: a headless engine that publishes its shard of the session to Redis.

It is ``replay``'s run (coordinator + DataProcessor, no Qt) for the symbols whose stable
hash falls in its shard, holding the shard's lease while it publishes. Without
``--redis`` it starts a local server from the bundled binary and prints its URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import redis.asyncio as aioredis

from session_monitor.core.bus.codec import decode
from session_monitor.core.bus.layout import DEPLOYMENT_KEY, ShardKeys, ShardSpec
from session_monitor.core.bus.lease import MIN_STALL_SECONDS, STALL_LEASES, LeaseKeeper, stall_limit
from session_monitor.core.bus.publisher import ShardPublisher
from session_monitor.core.bus.replica import Replica, ShardStatus
from session_monitor.core.bus.shardlog import TRANSIENT, DeploymentError, LeaseLost, ShardLog, ShardWriter, read_log
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.core.clock import ClockState
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.intervals import Interval, IntervalError
from session_monitor.core.memory import freeze_startup_heap
from session_monitor.core.recording import Recorder, default_recording_path, source_fingerprint
from session_monitor.core.recording_start import start_recording
from session_monitor.core.runconfig import LIVE_GRACE_SECONDS, RunSetup, UsageError, add_run_arguments, resolve_run
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.base import SourceError
from session_monitor.core.symbols import SymbolError

__all__ = ["build_parser", "main"]

PROG = "session-monitor serve"
#: the GUI's default speed: a desk watches a replay unfold, not finish at once
DEFAULT_SPEED = 60.0
#: default lease time-to-live; the owner renews it every third of that
DEFAULT_LEASE_SECONDS = 5.0
#: wall seconds the helper tasks get to finish when the engine stops
STOP_SECONDS = 3.0
#: exit code when another engine took the shard over
LEASE_LOST_EXIT = 3
#: symbols per part of a headless engine's feed-health update (see :func:`run_headless`)
HEALTH_PART_SYMBOLS = 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run a shard of the session headless and publish it to Redis."
    )
    add_run_arguments(parser, source_required=True)
    parser.add_argument("--redis", metavar="URL", help="redis://HOST:PORT/DB (default: start a local server)")
    parser.add_argument("--shard", default="1/1", metavar="I/N", help="serve shard I of N (numbered from 1)")
    parser.add_argument("--lease-seconds", type=float, default=DEFAULT_LEASE_SECONDS,
                        help=f"shard lease time-to-live (default {DEFAULT_LEASE_SECONDS:g})")
    parser.add_argument("--stall-seconds", type=float, metavar="S",
                        help="stop renewing the lease once the engine's (or --gateway's) event loop has made no "
                             "progress for S seconds, so a standby takes over (default: the larger of "
                             f"{MIN_STALL_SECONDS:g} s and {STALL_LEASES} leases)")
    parser.add_argument("--gateway", action="store_true",
                        help="be the feed gateway: hold the live SOURCE's one connection and publish its base bars "
                             "to --redis for engines that read them with SOURCE bus:redis://HOST:PORT/DB")
    parser.add_argument(
        "--recording", metavar="FILE",
        help="this engine's recording file (default: one per shard in the user's data folder)",
    )
    return parser


@dataclass
class ServeOptions:
    setup: RunSetup
    shard: ShardSpec
    url: str
    lease_seconds: float
    recording: Path | None
    #: seconds without event-loop progress after which the lease is left to expire (see core/bus/lease.py)
    stall_seconds: float


def shard_watchlist(
    setup: RunSetup, shard: ShardSpec
) -> tuple[list[tuple[str, list[Interval]]], dict[str, float]]:
    """This shard's part of the watchlist, and every symbol's place in the whole watchlist."""
    order = {symbol: float(k) for k, (symbol, _) in enumerate(setup.watchlist)}
    return [(s, ivs) for s, ivs in setup.watchlist if shard.owns(s)], order


async def seed_recording(client: aioredis.Redis, shard: ShardSpec, recorder: Recorder, setup: RunSetup) -> int:
    """A new owner starts from what the previous one published: its base bars go into our recording.

    They are recorded under the fingerprint of what our source serves for that session, so
    the coordinator resumes from them as after a crash (a changed source replays afresh).
    """
    replica = Replica(client, SessionData(group_rows=False))
    status = ShardStatus(shard)
    await replica.catch_up(status)
    seeded = 0
    for data in replica.session_data.all_symbol_data():
        base = data.base
        if not len(base.data):
            continue
        key = recorder.key(data.base_interval.name, data.symbol, data.session.date)
        loaded = setup.source.load_session(data.symbol, data.base_interval, data.session)
        recorder.resume(key, None if setup.source.live else source_fingerprint(loaded.bars))
        recorder.commit([(key, base.data.arrays())])
        seeded += len(base.data)
    return seeded


async def _heartbeat(keeper: LeaseKeeper, writer: ShardWriter, publisher: ShardPublisher,
                     coordinator: SessionCoordinator, stopping: asyncio.Event) -> None:
    """Every third of the lease: if the lease keeper found the lease not ours, take it back when it
    is free (it expired while Redis was away) or stop (LeaseLost); then publish a heartbeat.

    The heartbeat stays on the loop: it carries the coordinator's clock and state, read where they
    change, and a late one truthfully says the engine was busy. The lease is renewed on the keeper's
    thread (core/bus/lease.py), so a busy loop no longer costs the shard.
    """
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), keeper.period)
            return
        if keeper.lapsed() and not await writer.retake():
            raise LeaseLost(f"shard {writer.shard_log.shard}: another engine took the lease")
        status = coordinator.status()
        publisher.heartbeat(status.clock, status.state.name, status.speed, status.bars_per_second)


async def _commands(client: aioredis.Redis, keys: ShardKeys, shard: ShardSpec, coordinator: SessionCoordinator,
                    intervals: list[Interval], stopping: asyncio.Event) -> None:
    """Add/remove requests from connected GUIs: results show up as published changes."""
    cursor = "$"
    sd = coordinator.session_data
    while not stopping.is_set():
        try:
            if cursor == "$":  # "now" pinned to an id: a command sent between two reads (or a reconnect) is kept
                newest = cast(list[Any], await client.xrevrange(keys.commands, count=1))
                cursor = newest[0][0].decode() if newest else "0-0"
            entries = await read_log(client, keys.commands, cursor, 100, 1000)
        except TRANSIENT:
            await asyncio.sleep(0.5)
            continue
        for entry in entries:
            cursor = entry.id
            command = decode(entry.fields[b"m"])
            symbol = str(command.get("s", "")).upper()
            if not shard.owns(symbol):
                continue
            try:
                if command["k"] == "add":
                    await coordinator.add_symbol(symbol, command.get("iv") or intervals)
                elif command["k"] == "rm":
                    coordinator.remove_symbol(symbol)
            except (SymbolError, IntervalError) as exc:
                sd.warn(f"{symbol}: {exc}")


async def _until_stopped(quiet: bool) -> None:
    """The run is over; the embedded server stays up for connected GUIs until Ctrl-C or SIGTERM."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    if not quiet:
        print("the run is over; the local Redis stays up for connected GUIs (Ctrl-C stops it)", file=sys.stderr)
    await stopped.wait()


def publish_changes(coordinator: SessionCoordinator, publisher: ShardPublisher) -> None:
    """Everything the engine does reaches ``publisher``: each tick's new bars right after its passes,
    the rest after the tick, health, feeds, and the end of each session (``last`` on the run's last).
    """
    last_session = coordinator.sessions[-1]
    publisher.paced = lambda: coordinator.clock.speed is not None
    coordinator.passed.connect(publisher.passed)
    coordinator.progress.connect(publisher.progress)
    coordinator.session_closed.connect(lambda s: publisher.session_closed(s, last=s == last_session))
    coordinator.feed_changed.connect(publisher.feed_changed)
    coordinator.health.changed.connect_batch(publisher.health_changed)
    coordinator.health.updated.connect(publisher.health_updated)


def run_headless(coordinator: SessionCoordinator) -> None:
    """No window: the feed-health update goes in parts of :data:`HEALTH_PART_SYMBOLS` symbols (a
    window lets its event loop in between parts of 16, which at 1,000 symbols doubled the update),
    and once the first session is open (its symbols loaded) the heap is frozen, as a window's is
    after its start-up (:func:`~core.memory.freeze_startup_heap`)."""
    coordinator.health.part_symbols = HEALTH_PART_SYMBOLS

    def started(state: ClockState) -> None:
        if state is ClockState.OPEN:
            coordinator.state_changed.disconnect(started)
            freeze_startup_heap()

    coordinator.state_changed.connect(started)


@dataclass
class Engine:
    """One shard's engine: the coordinator, what publishes its changes, and what sends them."""

    coordinator: SessionCoordinator
    publisher: ShardPublisher
    writer: ShardWriter


async def _take_shard(client: aioredis.Redis, shard_log: ShardLog, setup: RunSetup) -> None:
    """Record the deployment and wait until the shard's lease is ours (raises DeploymentError)."""
    await client.hset(DEPLOYMENT_KEY, "calendar", setup.calendar.name)
    await shard_log.register_deployment()
    shard = shard_log.shard
    await shard_log.acquire(lambda owner: print(f"shard {shard} is held by {owner}; standing by", file=sys.stderr))


async def _open_recording(options: ServeOptions, client: aioredis.Redis, epoch: int, quiet: bool) -> Recorder | None:
    """This engine's recording (None with ``--no-record``); a new owner first copies the old one's bars in."""
    setup, shard = options.setup, options.shard
    if not setup.record:
        return None
    # each shard records under a key of its own: engines on one machine never share a recording
    label = " ".join(filter(None, [setup.record_as, f"shard {shard}"]))
    # and in a file of its own: engines sharing one SQLite file would queue for its write lock
    path = options.recording or default_recording_path().with_name(
        f"recordings-shard-{shard.index}-of-{shard.count}.sqlite3"
    )
    started = start_recording(setup.source.key, setup.calendar.scope, label, path)
    if not quiet or started.off:
        print(f"{'warning: ' if started.off else ''}{started.message}", file=sys.stderr)
    recorder = started.recorder
    if recorder is not None and epoch > 1:
        seeded = await seed_recording(client, shard, recorder, setup)
        if seeded and not quiet:
            print(f"took over: {seeded} base bar(s) from the previous owner", file=sys.stderr)
    return recorder


async def _build_engine(setup: RunSetup, shard: ShardSpec, shard_log: ShardLog, recorder: Recorder | None,
                        beat_period: float) -> Engine:
    """The coordinator for this shard's symbols, wired to a publisher and a writer."""
    mine, order = shard_watchlist(setup, shard)
    session_data = SessionData()
    coordinator = SessionCoordinator(
        session_data, setup.source, setup.calendar, setup.sessions, speed=setup.speed, recorder=recorder,
        live=setup.live, grace=LIVE_GRACE_SECONDS if setup.live else 0.0,
        hours=setup.hours, symbol_hours=setup.symbol_hours,
    )
    run_headless(coordinator)
    publisher = ShardPublisher(session_data, order, beat_period)
    writer = ShardWriter(shard_log, publisher.reset_batch)
    publisher.sink = writer.put
    publish_changes(coordinator, publisher)
    for symbol, intervals in mine:
        await coordinator.add_symbol(symbol, intervals)
    writer.put(publisher.reset_batch())
    return Engine(coordinator, publisher, writer)


class RunEnd(NamedTuple):
    code: int
    #: every session ran to its close (the recording is closed clean)
    completed: bool


async def _run(engine: Engine, setup: RunSetup, runner: asyncio.Task[None], tasks: list[asyncio.Task[None]],
               hold: bool, quiet: bool) -> RunEnd:
    """Until the coordinator finishes (then drain) or a helper fails (a lost lease: exit code 3)."""
    coordinator, publisher, writer = engine.coordinator, engine.publisher, engine.writer
    done, _ = await asyncio.wait([runner, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if runner not in done:
        coordinator.stop()
        await runner
        failed = next(iter(done)).exception()
        if isinstance(failed, LeaseLost):
            print(f"{PROG}: {failed}; stopping", file=sys.stderr)
            return RunEnd(LEASE_LOST_EXIT, False)
        if failed is not None:
            raise failed
        return RunEnd(0, False)
    runner.result()
    completed = coordinator.session_index >= len(setup.sessions)
    status = coordinator.status()  # a last heartbeat: readers see the run finished
    publisher.heartbeat(status.clock, status.state.name, status.speed, status.bars_per_second)
    await writer.drain()
    await tasks[0]
    if hold:
        await _until_stopped(quiet)
    return RunEnd(0, completed)


async def serve(options: ServeOptions, quiet: bool = False, hold: bool = False) -> int:
    """Run the shard and publish it; ``hold``: afterwards wait for a stop signal (the embedded server)."""
    setup, shard = options.setup, options.shard
    client = connect_redis(options.url)
    shard_log = ShardLog(client, shard, options.lease_seconds)
    try:
        await _take_shard(client, shard_log, setup)
    except DeploymentError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        shard_log.close()
        await client.aclose()
        return 2
    if not quiet:
        print(f"serving shard {shard} as epoch {shard_log.epoch}", file=sys.stderr)
    # renewed from a thread of its own from now on: opening the recording, loading and resuming the
    # symbols may hold the event loop far longer than the lease
    keeper = LeaseKeeper(shard_log.renew_now, options.lease_seconds, options.stall_seconds, f"shard {shard}")
    keeper.start()
    recorder: Recorder | None = None
    end = RunEnd(0, False)
    try:
        recorder = await _open_recording(options, client, shard_log.epoch, quiet)
        engine = await _build_engine(setup, shard, shard_log, recorder, keeper.period)
        end = await _run_with_helpers(engine, client, keeper, setup, hold, quiet)
    finally:
        keeper.stop()
        if end.code == 0:
            with contextlib.suppress(*TRANSIENT):
                await shard_log.release()
        if recorder is not None:
            recorder.close(clean=end.completed)  # anything but a completed run resumes next time
        setup.source.close()
        shard_log.close()
        await client.aclose()
    return end.code


async def _serve_until_terminated(options: ServeOptions, hold: bool) -> int:
    """:func:`serve`, which SIGTERM (a service manager's stop) ends as Ctrl-C does rather than
    killing it: the lease released (a standby takes over at once), the recording left to resume,
    a ``bus:`` source's symbols withdrawn from the gateway; exit 0."""
    served = asyncio.ensure_future(serve(options, hold=hold))
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        served.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)
    try:
        return await served
    except asyncio.CancelledError:
        if not terminated:
            raise
        print(f"{PROG}: stopped (SIGTERM)", file=sys.stderr)
        return 0


async def _run_with_helpers(engine: Engine, client: aioredis.Redis, keeper: LeaseKeeper, setup: RunSetup,
                            hold: bool, quiet: bool) -> RunEnd:
    """:func:`_run` with the writer, the heartbeat and the command reader running beside the coordinator."""
    shard_log = engine.writer.shard_log
    # the helpers stop when asked (a cancelled Redis call may surface as a connection error they retry)
    stopping = asyncio.Event()
    tasks = [
        asyncio.create_task(engine.writer.run(), name="writer"),
        asyncio.create_task(
            _heartbeat(keeper, engine.writer, engine.publisher, engine.coordinator, stopping), name="heartbeat"
        ),
        asyncio.create_task(
            _commands(client, shard_log.keys, shard_log.shard, engine.coordinator, setup.intervals, stopping),
            name="commands",
        ),
    ]
    runner = asyncio.create_task(engine.coordinator.run(), name="coordinator")
    try:
        return await _run(engine, setup, runner, tasks, hold, quiet)
    finally:
        stopping.set()
        engine.writer.stop()
        _, late = await asyncio.wait(tasks, timeout=STOP_SECONDS)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=STOP_SECONDS)


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    if args.gateway:
        from session_monitor.core.bus.gateway import gateway_main

        return gateway_main(args)
    try:
        shard = ShardSpec.parse(args.shard)
        stall_seconds = stall_limit(args.lease_seconds, args.stall_seconds)
        setup = resolve_run(args, default_speed=DEFAULT_SPEED)
    except SourceError as exc:  # a source that cannot be used at all: as replay, exit 1
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except (UsageError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    embedded = None
    url = args.redis
    if url is None:
        from session_monitor.core.bus.server import EmbeddedServer, ServerError

        try:
            embedded = EmbeddedServer(default_recording_path().parent / "redis", aof=True).start()
        except ServerError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        url = embedded.url
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM also stops our server
        print(f"Redis at {url}  (watch it: session-monitor connect {url})", flush=True)
    options = ServeOptions(setup, shard, url, args.lease_seconds, Path(args.recording) if args.recording else None,
                           stall_seconds)
    try:
        return asyncio.run(_serve_until_terminated(options, hold=embedded is not None))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        if embedded is not None:
            embedded.stop()

