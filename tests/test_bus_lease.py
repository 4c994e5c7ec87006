"""The shard lease is renewed from a thread of its own (core/bus/lease.py), on a real server: an
engine whose event loop is busy with long synchronous work keeps its shard, one whose loop is stuck
past the stall limit loses it to a standby and is fenced out, a lease lost with the server's data
is taken back, and a ``serve`` that takes a shard over keeps its epoch through a take-over whose
copying and loading hold its loop for several leases."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import redis.asyncio as aioredis

from session_monitor.core.bus.layout import ShardKeys, ShardSpec
from session_monitor.core.bus.lease import LeaseKeeper, stall_limit
from session_monitor.core.bus.publisher import Batch
from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.bus.shardlog import LeaseLost, ShardLog, ShardWriter
from session_monitor.core.calendar import get_calendar
from tests.bus_helpers import Standby, start_engine, wait_ok, wait_until_clock

SHARD = ShardSpec(1, 1)
SESSION = get_calendar("XNYS").sessions_between(dt.date(2024, 3, 4), dt.date(2024, 3, 4))[0]
#: a short lease, so that blocking the loop for several of them stays quick
LEASE = 1.0

T = TypeVar("T")


def _run(url: str, body: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    async def main() -> T:
        client = aioredis.from_url(url)
        try:
            return await body(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def _standby(url: str, seconds: float) -> Standby:
    """A second engine for the shard, trying to take it for ``seconds`` (as ``ShardLog.acquire`` retries)."""
    return Standby(url, lambda client: ShardLog(client, SHARD, LEASE), LEASE, seconds)


def _epoch_counter(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.get(ShardKeys(SHARD).epoch) or 0)
    finally:
        client.close()


def test_a_loop_blocked_for_three_leases_keeps_the_lease_and_appends_after_it_succeed(
    redis_server: EmbeddedServer,
) -> None:
    async def body(client: aioredis.Redis) -> None:
        owner = ShardLog(client, SHARD, LEASE)
        assert await owner.try_acquire() and owner.epoch == 1
        keeper = LeaseKeeper(owner.renew_now, LEASE, stall_seconds=60.0, name="shard 1/1")
        keeper.start()
        try:
            with _standby(redis_server.url, seconds=3 * LEASE) as standby:
                time.sleep(3 * LEASE)  # long synchronous work: the loop runs nothing meanwhile
                assert await owner.holds()
                await owner.append(Batch([{"k": "rm", "s": "SPY"}]))
            assert standby.epoch is None and _epoch_counter(redis_server.url) == 1
            assert not keeper.lapsed()
        finally:
            keeper.stop()
            owner.close()

    _run(redis_server.url, body)


def test_a_loop_stuck_past_the_stall_limit_loses_the_shard_to_a_standby_and_is_fenced_out(
    redis_server: EmbeddedServer,
) -> None:
    stall = 1.0

    async def body(client: aioredis.Redis) -> None:
        owner = ShardLog(client, SHARD, LEASE)
        assert await owner.try_acquire()
        keeper = LeaseKeeper(owner.renew_now, LEASE, stall_seconds=stall, name="shard 1/1")
        keeper.start()
        writer = ShardWriter(owner, lambda: Batch([], reset=True))
        try:
            with _standby(redis_server.url, seconds=stall + 4 * LEASE) as standby:
                time.sleep(stall + 4 * LEASE)  # stuck: renewals stop after `stall`, the lease expires
                assert standby.epoch == 2
                assert not await owner.holds()
                # the stuck engine wakes: its next append is refused and it stops (serve exits with code 3)
                writer.put(Batch([{"k": "rm", "s": "SPY"}]))
                with pytest.raises(LeaseLost, match="epoch 1 lost its lease"):
                    await asyncio.wait_for(writer.run(), 10)
                assert not await writer.retake()
                await asyncio.sleep(2 * keeper.period)  # its loop runs again, so the keeper renews again ...
                assert keeper.lapsed()  # ... and finds the lease another engine's
            assert _epoch_counter(redis_server.url) == 2
        finally:
            keeper.stop()
            owner.close()

    _run(redis_server.url, body)


def test_a_lease_lost_with_the_servers_data_is_taken_back_and_the_queue_replaced_by_a_snapshot(
    tmp_path: Path,
) -> None:
    with EmbeddedServer(tmp_path / "redis", aof=False) as server:  # no persistence: a restart loses the lease

        async def body(client: aioredis.Redis) -> None:
            owner = ShardLog(client, SHARD, LEASE)
            assert await owner.try_acquire()
            keeper = LeaseKeeper(owner.renew_now, LEASE, stall_seconds=60.0, name="shard 1/1")
            keeper.start()
            snapshot = Batch([], reset=True)
            writer = ShardWriter(owner, lambda: snapshot)
            writer.pending = [Batch([{"k": "rm", "s": "SPY"}])]  # queued while the server was away
            try:
                server.restart()
                deadline = time.monotonic() + 10
                while not keeper.lapsed():  # the next renewal finds no lease
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
                assert await writer.retake()  # nobody holds it: ours again, above the old epoch
                assert owner.epoch == 2 and await owner.holds()
                assert writer.pending == [snapshot]
            finally:
                keeper.stop()
                owner.close()

        _run(server.url, body)


def test_the_default_stall_limit_is_a_minute_or_four_leases() -> None:
    assert stall_limit(5.0) == 60.0
    assert stall_limit(30.0) == 120.0
    assert stall_limit(5.0, 10.0) == 10.0


def test_serve_refuses_a_stall_limit_that_is_not_positive(
    redis_server: EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from session_monitor.cli import main

    run = ["serve", "demo", "--symbols", "SPY", "--start", "2024-03-04", "--end", "2024-03-04", "--no-record"]
    assert main([*run, "--redis", redis_server.url, "--stall-seconds", "0"]) == 2
    assert "--stall-seconds must be a positive number of seconds, not 0" in capsys.readouterr().err


#: a take-over's work holds the new owner's event loop for seconds: it copies the previous owner's
#: bars of every symbol into its recording (one synchronous pass over the source's sessions and the
#: recording), then loads and resumes them; at 1m the snapshots stay small, so the server itself
#: answers at once (with 1s bars its own work on snapshots of hundreds of MB can stall it for longer
#: than a short lease on a loaded machine, which no renewal helps)
TAKE_OVER_RUN = ["demo", "--symbols", ",".join(f"S{k:04d}" for k in range(1500)), "--intervals", "1m,5m,15m",
                 "--start", "2024-03-04", "--end", "2024-03-04"]


def test_a_new_owner_keeps_its_epoch_through_a_take_over_that_holds_its_loop_longer_than_the_lease(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    url = redis_server.url
    first = start_engine(tmp_path, url, "1/1", run=TAKE_OVER_RUN, speed="2000")  # lease 2 s
    wait_until_clock(url, SHARD, 0.4, SESSION.open, SESSION.close, timeout=120)
    first.send_signal(signal.SIGKILL)
    first.wait()
    log = tmp_path / "second.log"
    second = start_engine(tmp_path, url, "1/1", run=TAKE_OVER_RUN, speed="2000", log=log)
    wait_ok(second, timeout=300)
    assert "took over" in log.read_text()
    assert _epoch_counter(url) == 2, log.read_text()  # the second engine's, never re-taken or lost
