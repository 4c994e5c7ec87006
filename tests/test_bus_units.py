"""The pieces of the Redis path on a real server: the bundled binary, shard hashing, the lease and
its fencing epoch, snapshot/log consistency, and a replica that ignores a fenced-out writer."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from pathlib import Path

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus import publisher as publisher_module
from session_monitor.core.bus import shardlog
from session_monitor.core.bus.codec import decode_batch
from session_monitor.core.bus.layout import SCHEMA_VERSION, ShardKeys, ShardSpec, shard_of
from session_monitor.core.bus.publisher import Batch, ShardPublisher, snapshot_due
from session_monitor.core.bus.replica import Replica, SchemaError, ShardStatus
from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.bus.shardlog import LeaseLost, ShardLog, ShardWriter
from session_monitor.core.bus.snapshot_reader import PartBuffers, SnapshotPartRead, read_snapshot
from session_monitor.core.calendar import get_calendar
from session_monitor.core.export import session_snapshot
from session_monitor.core.intervals import parse_intervals
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import SessionData, SymbolSessionData

SESSION = get_calendar("XNYS").sessions_between(dt.date(2024, 3, 4), dt.date(2024, 3, 4))[0]


def test_bundled_server_persists_with_aof_across_a_restart(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "r", aof=True).start()
    try:
        client = redis.Redis.from_url(server.url)
        client.xadd("s", {"a": "1"})
        client.close()
        server.restart()
        client = redis.Redis.from_url(server.url)
        assert [fields for _, fields in client.xrange("s")] == [{b"a": b"1"}]
        assert client.info("persistence")["aof_enabled"] == 1
        client.close()
    finally:
        server.stop()


def test_shards_split_symbols_by_a_stable_hash() -> None:
    # crc32, not Python's per-process hash(): every engine on every machine agrees
    assert [shard_of(s, 3) for s in ("SPY", "AAPL", "MSFT", "spy")] == [2, 1, 2, 2]
    assert ShardSpec.parse("2/3").owns("AAPL") is False
    assert ShardKeys(ShardSpec(2, 3)).log == "sm:{2/3}:log"
    for bad in ("0/3", "4/3", "x", "1-3"):
        with pytest.raises(ValueError, match="--shard"):
            ShardSpec.parse(bad)


def _engine_state() -> SessionData:
    """Two symbols with derived bars, quality and gaps, as an engine holds them."""
    sd = SessionData()
    sd.start_session(SESSION)
    base, *derived = parse_intervals("1m,5m")
    for symbol in ("SPY", "AAPL"):
        sd.register_symbol_data(SymbolSessionData.create(symbol, base, derived, SESSION, requested=[base, *derived]))
    ts = SESSION.open + 60 * __import__("numpy").array([0, 1, 2, 5, 6, 7])
    for k, symbol in enumerate(("SPY", "AAPL")):
        price = 100.0 + k
        sd.add_base_bars(symbol, BarArrays(ts, *(ts * 0 + price + j for j in range(4)), ts * 0 + 10.0))
    DataProcessor(sd).process(SESSION.open + 600)
    return sd


async def _with_client(url: str, body) -> object:
    client = aioredis.from_url(url)
    try:
        return await body(client)
    finally:
        await client.aclose()


def test_lease_fences_a_former_owner_and_readers_ignore_its_epoch(redis_server: EmbeddedServer) -> None:
    shard = ShardSpec(1, 1)
    engine = _engine_state()

    async def body(client: aioredis.Redis) -> None:
        first = ShardLog(client, shard, lease_seconds=0.3)
        assert await first.try_acquire() and first.epoch == 1
        second = ShardLog(client, shard, lease_seconds=0.3)
        assert not await second.try_acquire()  # owned: the second engine waits
        publisher = ShardPublisher(engine, {"SPY": 0.0, "AAPL": 1.0})
        await first.append(publisher.reset_batch())
        await asyncio.sleep(0.45)  # the first owner stalls past its lease
        assert await second.try_acquire() and second.epoch == 2
        with pytest.raises(LeaseLost):
            await first.append(Batch([{"k": "rm", "s": "SPY"}]))
        # a stale writer's entry that still reached the log (written around the script) is ignored
        stale = Batch([{"k": "rm", "s": "SPY"}])
        await client.xadd(ShardKeys(shard).log,
                          {"v": SCHEMA_VERSION, "e": 1, "n": 1, "x": 0, "m": stale.payload, "b": stale.blob})
        await second.append(publisher.reset_batch())
        replica = Replica(client)
        status = ShardStatus(shard)
        replica.shards = [status]
        await replica.catch_up(status)
        assert status.epoch == 2
        assert replica.session_data.get_active_symbols() == ["SPY", "AAPL"]
        assert session_snapshot(replica.session_data, SESSION) == session_snapshot(engine, SESSION)

    asyncio.run(_with_client(redis_server.url, body))


def test_snapshot_names_the_log_entry_it_is_current_to(
    redis_server: EmbeddedServer,
) -> None:
    shard = ShardSpec(1, 1)
    engine = _engine_state()

    async def body(client: aioredis.Redis) -> None:
        owner = ShardLog(client, shard, lease_seconds=5)
        assert await owner.try_acquire()
        publisher = ShardPublisher(engine, {})
        ids = [await owner.append(publisher.reset_batch())]
        for _ in range(5):
            ids.append(await owner.append(Batch([{"k": "msg", "l": 30, "t": "x"}])))
        batch = Batch([])
        batch.snapshot = publisher.snapshot_parts()
        ids.append(await owner.append(batch))
        keys = ShardKeys(shard)
        assert (await client.hget(keys.snapshot, "pos")).decode() == ids[-1]
        assert int(await client.hget(keys.snapshot, "n")) == 6  # the sequence number of that entry
        replica = Replica(client)
        status = ShardStatus(shard)
        await replica.catch_up(status)
        assert (status.cursor, status.seq, status.snapshots_loaded) == (ids[-1], 6, 1)
        assert session_snapshot(replica.session_data, SESSION) == session_snapshot(engine, SESSION)

    asyncio.run(_with_client(redis_server.url, body))


def test_serve_refuses_a_bad_shard_and_a_shard_count_the_deployment_does_not_have(
    redis_server: EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from session_monitor.cli import main

    run = ["serve", "demo", "--symbols", "SPY", "--start", "2024-03-04", "--end", "2024-03-04", "--no-record"]
    assert main([*run, "--shard", "4/3", "--redis", redis_server.url]) == 2
    assert "--shard '4/3': I must be between 1 and N" in capsys.readouterr().err
    redis.Redis.from_url(redis_server.url).hset("sm:deployment", "shards", 2)
    assert main([*run, "--shard", "1/3", "--redis", redis_server.url]) == 2
    assert "already serves 2 shard(s); --shard 1/3 says 3" in capsys.readouterr().err


def test_a_backlog_too_big_to_queue_is_replaced_by_one_snapshot_and_readers_lose_nothing(
    redis_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shardlog, "MAX_BACKLOG_BYTES", 1)  # two queued batches are already too many bytes
    shard = ShardSpec(1, 1)
    engine = _engine_state()

    async def body(client: aioredis.Redis) -> None:
        owner = ShardLog(client, shard, lease_seconds=5)
        assert await owner.try_acquire()
        publisher = ShardPublisher(engine, {"SPY": 0.0, "AAPL": 1.0})
        writer = ShardWriter(owner, publisher.reset_batch)
        writer.put(Batch([{"k": "msg", "l": 30, "t": "a"}]))
        writer.put(Batch([{"k": "msg", "l": 30, "t": "b"}]))
        assert [batch.reset for batch in writer.pending] == [True]  # the queue became one snapshot
        # from now on the bound is twice that snapshot: a small batch queues behind it
        writer.put(Batch([{"k": "msg", "l": 30, "t": "c"}]))
        assert [batch.reset for batch in writer.pending] == [True, False]
        task = asyncio.create_task(writer.run())
        await writer.drain()
        await task
        # "a" was on its way already (a batch starts at once); the snapshot replaced "b"; then "c"
        assert writer.sent == 3 and writer.pending == []
        replica = Replica(client)
        status = ShardStatus(shard)
        await replica.catch_up(status)
        assert session_snapshot(replica.session_data, SESSION) == session_snapshot(engine, SESSION)
        owner.close()

    asyncio.run(_with_client(redis_server.url, body))


def test_a_snapshot_in_parts_rebuilds_the_shard_and_the_one_before_the_previous_is_dropped(
    redis_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher_module, "SNAPSHOT_PART_BYTES", 1)  # one symbol per part
    shard = ShardSpec(1, 1)
    engine = _engine_state()
    keys = ShardKeys(shard)

    async def body(client: aioredis.Redis) -> None:
        owner = ShardLog(client, shard, lease_seconds=5)
        assert await owner.try_acquire()
        publisher = ShardPublisher(engine, {"SPY": 0.0, "AAPL": 1.0})
        ids = []
        for _ in range(3):
            batch = Batch([])
            batch.snapshot = publisher.snapshot_parts()
            assert len(batch.snapshot) == 2  # SPY, then AAPL
            ids.append(await owner.append(batch))
        head = await client.hgetall(keys.snapshot)
        assert (head[b"pos"].decode(), int(head[b"parts"]), head[b"prev"].decode()) == (ids[2], 2, ids[1])
        # the previous snapshot stays for a reader still reading it; the one before it is gone
        assert [await client.exists(keys.snapshot_part(pos, k)) for pos in ids for k in (0, 1)] == [0, 0, 1, 1, 1, 1]
        replica = Replica(client)
        status = ShardStatus(shard)
        await replica.catch_up(status)
        assert (status.cursor, status.seq, status.snapshots_loaded) == (ids[2], 2, 1)
        assert gc.isenabled()  # collections were paused while the snapshot was applied, not for good
        assert replica.session_data.get_active_symbols() == ["SPY", "AAPL"]
        assert session_snapshot(replica.session_data, SESSION) == session_snapshot(engine, SESSION)
        owner.close()

    asyncio.run(_with_client(redis_server.url, body))


def test_a_reader_whose_snapshot_parts_vanish_reads_the_next_snapshot(
    redis_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher_module, "SNAPSHOT_PART_BYTES", 1)
    shard = ShardSpec(1, 1)
    engine = _engine_state()
    keys = ShardKeys(shard)

    async def body(client: aioredis.Redis) -> None:
        owner = ShardLog(client, shard, lease_seconds=5)
        assert await owner.try_acquire()
        publisher = ShardPublisher(engine, {"SPY": 0.0, "AAPL": 1.0})
        first = await owner.append(publisher.reset_batch())
        await client.delete(keys.snapshot_part(first, 1))  # as if two newer snapshots had replaced it
        replica = Replica(client)
        status = ShardStatus(shard)
        loading = asyncio.create_task(replica.catch_up(status))
        await asyncio.sleep(0.2)
        assert not loading.done()  # SPY applied, AAPL's part gone: it keeps trying
        second = Batch([{"k": "msg", "l": 30, "t": "x"}])
        second.snapshot = publisher.snapshot_parts()
        newer = await owner.append(second)
        await asyncio.wait_for(loading, 10)
        assert (status.cursor, status.seq) == (newer, 1)
        assert session_snapshot(replica.session_data, SESSION) == session_snapshot(engine, SESSION)
        owner.close()

    asyncio.run(_with_client(redis_server.url, body))


def test_symbols_of_one_row_block_with_different_lengths_each_send_only_their_new_bars() -> None:
    sd = SessionData()
    sd.start_session(SESSION)
    base, *derived = parse_intervals("1m,5m")
    held = {"SPY": [0, 1, 2, 3, 4, 5, 6, 7], "AAPL": [0, 3, 7]}  # AAPL's feed missed five minutes
    for k, (symbol, minutes) in enumerate(held.items()):
        sd.register_symbol_data(SymbolSessionData.create(symbol, base, derived, SESSION, requested=[base, *derived]))
        ts = SESSION.open + 60 * np.array(minutes)
        sd.add_base_bars(symbol, BarArrays(ts, *(ts * 0 + 100.0 + k + j for j in range(4)), ts * 0 + 10.0))
    processor = DataProcessor(sd)
    processor.process(SESSION.open + 480)
    publisher = ShardPublisher(sd, {"SPY": 0.0, "AAPL": 1.0})
    replica = Replica(aioredis.Redis())  # never connects: messages are applied directly
    status = ShardStatus(ShardSpec(1, 1))
    for messages in publisher.snapshot_messages():
        batch = Batch(messages)
        replica.apply_messages(status, decode_batch(batch.payload, batch.blob))
    publisher.flush()  # what registering and the first pass marked
    assert sd.get_symbol_data("SPY").base.data.block is sd.get_symbol_data("AAPL").base.data.block
    batches: list[Batch] = []
    publisher.sink = batches.append  # base bars go as soon as they are accepted, the rest at the flush
    ts = SESSION.open + 60 * np.array([8, 9])
    for symbol in held:
        sd.add_base_bars(symbol, BarArrays(ts, ts * 0 + 1.0, ts * 0 + 2.0, ts * 0 + 0.5, ts * 0 + 1.5, ts * 0 + 7.0))
    processor.process(SESSION.open + 600)
    publisher.flush()
    messages = [m for batch in batches for m in decode_batch(batch.payload, batch.blob)]
    sent = {symbol: (first, count) for m in messages if m["k"] == "bb" and m["i"] == "1m"
            for symbol, first, count in zip(m["s"], m["f"], m["n"], strict=True)}
    assert sent == {"SPY": (8, 2), "AAPL": (3, 2)}  # SPY does not re-send AAPL's missing five
    replica.apply_messages(status, messages)
    for symbol in held:
        want, got = sd.get_symbol_data(symbol).base.data, replica.session_data.get_symbol_data(symbol).base.data
        assert [tuple(col) for col in got.arrays()] == [tuple(col) for col in want.arrays()]
    assert session_snapshot(replica.session_data, SESSION) == session_snapshot(sd, SESSION)


def test_a_reader_refuses_a_snapshot_of_another_schema_version(redis_server: EmbeddedServer) -> None:
    shard = ShardSpec(1, 1)

    async def body(client: aioredis.Redis) -> None:
        # what an engine of the previous schema left: the whole shard in one `state` field, no parts
        await client.hset(ShardKeys(shard).snapshot, mapping={"pos": "1-0", "v": 2, "e": 1, "n": 0, "state": b""})
        replica = Replica(client)
        with pytest.raises(SchemaError, match=f"writes schema version 2; this reader knows {SCHEMA_VERSION}"):
            await replica.catch_up(ShardStatus(shard))

    asyncio.run(_with_client(redis_server.url, body))


def test_the_next_snapshot_reuses_the_buffers_of_the_last_ones_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publisher_module, "SNAPSHOT_PART_BYTES", 1)
    monkeypatch.setattr(publisher_module.BlobPool, "KEEP", 0)  # only what a snapshot adds is kept
    engine = SessionData()
    engine.start_session(SESSION)
    base, *derived = parse_intervals("1s,1m")
    ts = SESSION.open + np.arange(2000)  # ~100 kB of 1s bars each: buffers worth keeping
    for k, symbol in enumerate(("SPY", "AAPL", "MSFT", "QQQ", "IWM", "GOOG")):
        engine.register_symbol_data(SymbolSessionData.create(symbol, base, derived, SESSION))
        engine.add_base_bars(symbol, BarArrays(ts, *(ts * 0 + 100.0 + k for _ in range(4)), ts * 0 + 10.0))
    publisher = ShardPublisher(engine, {})
    first = Batch([], pool=publisher.pool)
    first.snapshot = publisher.snapshot_parts()
    buffers = [part.blob.obj for part in first.snapshot]
    first.release()  # in Redis: its buffers go back to the pool
    second = Batch([], pool=publisher.pool)
    second.snapshot = publisher.snapshot_parts()
    assert len(second.snapshot) == len(buffers) == 6
    reused = sum(any(np.shares_memory(np.asarray(part.blob), old) for old in buffers) for part in second.snapshot)
    assert reused == 6


def test_a_snapshot_is_due_once_the_log_since_the_last_grew_by_an_eighth_of_it() -> None:
    mb = 1 << 20
    # 1,000 symbols × 2 h of 1s: a 352 MiB snapshot, the next one after 44 MiB of log
    assert not snapshot_due(44 * mb - 1, 352 * mb, 60.0)
    assert snapshot_due(44 * mb, 352 * mb, 60.0)
    # never within 10 s of the last one ...
    assert not snapshot_due(300 * mb, 352 * mb, 9.9)
    assert snapshot_due(300 * mb, 352 * mb, 10.0)
    # ... unless the log outgrew four times the snapshot (and 256 MiB): Redis memory stays bounded
    assert not snapshot_due(4 * 352 * mb - 1, 352 * mb, 0.5)
    assert snapshot_due(4 * 352 * mb, 352 * mb, 0.5)
    assert snapshot_due(256 * mb, 1 * mb, 0.0) and not snapshot_due(256 * mb - 1, 1 * mb, 0.0)
    # a small shard snapshots after 4 MiB of log at the least
    assert not snapshot_due(4 * mb - 1, 1 * mb, 60.0)
    assert snapshot_due(4 * mb, 1 * mb, 60.0)


def test_the_publisher_snapshots_at_the_flush_that_brings_the_log_to_an_eighth_of_the_last_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publisher_module, "SNAPSHOT_MIN_SECONDS", 0.0)
    monkeypatch.setattr(publisher_module, "SNAPSHOT_MIN_BYTES", 0)
    engine = _engine_state()
    publisher = ShardPublisher(engine, {"SPY": 0.0, "AAPL": 1.0})
    publisher.flush()  # what registering and the first pass marked
    engine.events.message.emit(30, "")
    empty = publisher.flush()
    assert empty is not None
    first = publisher.reset_batch()
    assert first.snapshot is not None
    size = sum(len(part.meta) + len(part.blob) for part in first.snapshot)
    carried = []
    for _ in range(10):  # each entry a 36th of the snapshot: the fifth brings the log to an eighth
        engine.events.message.emit(30, "x" * (size // 36 - empty.size))
        batch = publisher.flush()
        assert batch is not None and size // 40 < batch.size < size // 32
        carried.append(batch.snapshot is not None)
    assert carried == [False, False, False, False, True, False, False, False, False, True]


def test_a_snapshots_parts_are_read_into_three_buffers_used_again(
    redis_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher_module, "SNAPSHOT_PART_BYTES", 1)  # one symbol per part
    engine = SessionData()
    engine.start_session(SESSION)
    base, *derived = parse_intervals("1s,1m")
    ts = SESSION.open + np.arange(2000)
    symbols = ("SPY", "AAPL", "MSFT", "QQQ", "IWM", "GOOG")
    for k, symbol in enumerate(symbols):
        engine.register_symbol_data(SymbolSessionData.create(symbol, base, derived, SESSION))
        engine.add_base_bars(symbol, BarArrays(ts, *(ts * 0 + 100.0 + k for _ in range(4)), ts * 0 + 10.0))
    shard = ShardSpec(1, 1)
    keys = ShardKeys(shard)

    async def body(client: aioredis.Redis) -> None:
        owner = ShardLog(client, shard, lease_seconds=5)
        assert await owner.try_acquire()
        pos = await owner.append(ShardPublisher(engine, {}).reset_batch())
        stored = [await client.hget(keys.snapshot_part(pos, k), "b") for k in range(len(symbols))]
        buffers = PartBuffers()
        read: list[bytes] = []
        used: list[np.ndarray] = []  # kept alive: a buffer freed and made again would not count twice

        def deliver(item: object) -> None:  # the replica's side: apply the part, give its buffer back
            if isinstance(item, SnapshotPartRead):
                assert item.blob is not None and item.buffer is not None
                read.append(bytes(item.blob))
                used.append(item.buffer)
                buffers.give(item.buffer)

        await asyncio.to_thread(read_snapshot, client, keys, buffers, deliver)
        assert read == stored  # every part's blob as stored, in order
        assert len({id(buffer) for buffer in used}) == 3  # six parts, three buffers
        owner.close()

    asyncio.run(_with_client(redis_server.url, body))
