"""The feed gateway's pieces on a real server: the writer's fence, the reader's fence, silence, schema, refusals."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time

import pytest
import redis

from session_monitor.cli import main
from session_monitor.core.bars import BarArrays
from session_monitor.core.bus.codec import decode
from session_monitor.core.bus.gateway import END_SECONDS, served_until
from session_monitor.core.bus.gateway_wire import FeedLease, FeedState, bars_payload, state_of, state_payload
from session_monitor.core.bus.layout import FEED_KEYS, FEED_SCHEMA_VERSION
from session_monitor.core.bus.server import EmbeddedServer, free_port
from session_monitor.core.bus.shardlog import LeaseLost
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.core.calendar import get_calendar
from session_monitor.core.clock import CLOCK_VARIABLE, WallClock
from session_monitor.core.feeds import FeedError
from session_monitor.core.intervals import Interval
from session_monitor.core.runconfig import LIVE_GRACE_SECONDS
from session_monitor.core.sources.base import SourceError
from session_monitor.core.sources.bus import BusSource
from session_monitor.core.sources.factory import open_source

DAY = get_calendar("XNYS").session(dt.date(2024, 3, 4))
MINUTE = Interval(60)


def _bars(*minutes: int, close: float = 100.0) -> BarArrays:
    return BarArrays.from_rows([(DAY.open + 60 * m, close, close + 1, close - 1, close, 10.0) for m in minutes])


async def _gateway(url: str, lease_seconds: float = 5.0) -> FeedLease:
    lease = FeedLease(connect_redis(url), lease_seconds)
    assert await lease.try_acquire()
    await lease.client.hset(FEED_KEYS.meta, mapping={"source": "alpaca iex", "base": 60, "calendar": "XNYS",
                                                     "omits": 1})
    return lease


async def _publish(lease: FeedLease, symbol: str, bars: BarArrays) -> None:
    await lease.append([FEED_KEYS.bars(symbol)], [bars_payload(DAY.date.isoformat(), 60, bars, time.time())])


async def _connected(lease: FeedLease) -> None:
    await lease.publish_state(state_payload(FeedState.CONNECTED, "", time.time(), None, lease.lease_ms))


def test_a_gateway_whose_lease_expired_cannot_append_and_the_next_one_takes_the_next_epoch(
    redis_server: EmbeddedServer,
) -> None:
    async def scenario() -> None:
        old = await _gateway(redis_server.url, lease_seconds=0.2)
        assert old.epoch == 1
        standby = FeedLease(connect_redis(redis_server.url), 0.2)
        assert not await standby.try_acquire()  # held: the standby waits
        await asyncio.sleep(0.3)  # the old gateway paused past its lease
        assert await standby.try_acquire() and standby.epoch == 2
        with pytest.raises(LeaseLost):
            await _publish(old, "SPY", _bars(0))
        await _publish(standby, "SPY", _bars(0))
        assert await standby.client.xlen(FEED_KEYS.bars("SPY")) == 1
        await old.client.aclose()
        await standby.client.aclose()

    asyncio.run(scenario())


def test_the_bus_source_ignores_an_entry_of_an_older_epoch_and_never_doubles_a_bar(
    redis_server: EmbeddedServer,
) -> None:
    """A fenced-out gateway's entry (forged here past the writer's fence) is ignored by readers; a bar
    published again with the same values is not delivered twice; a correction is."""
    url = redis_server.url

    async def publish_as_epoch_2() -> None:
        lease = await _gateway(url)
        lease.epoch = 2  # as a gateway that took over
        await lease.client.set(FEED_KEYS.lease, lease.token)
        await _connected(lease)
        await _publish(lease, "SPY", _bars(0, 1))
        await lease.client.aclose()

    asyncio.run(publish_as_epoch_2())
    plain = redis.Redis.from_url(url)
    stale = {"v": FEED_SCHEMA_VERSION, "e": 1, "m": bars_payload(DAY.date.isoformat(), 60, _bars(2, close=1.0), 0.0)}
    plain.xadd(FEED_KEYS.bars("SPY"), stale)
    source = BusSource(url)
    try:
        loaded = source.load_session("SPY", MINUTE, DAY)
        assert loaded.bars.ts.tolist() == [DAY.open, DAY.open + 60]
        assert source.stats.fenced == 1
        feed = source.open_feed(loaded)
        assert feed.poll(DAY.close).ts.tolist() == [DAY.open, DAY.open + 60]

        async def more() -> None:
            lease = FeedLease(connect_redis(url), 5.0)
            lease.epoch, lease.gateway = 2, "x"
            await lease.client.set(FEED_KEYS.lease, lease.token)
            await _publish(lease, "SPY", _bars(1, 3))  # minute 1 again, same values: not delivered again
            await _publish(lease, "SPY", _bars(3, close=101.0))  # a correction of minute 3
            await lease.client.aclose()

        asyncio.run(more())
        plain.xadd(FEED_KEYS.bars("SPY"), stale)
        deadline = time.monotonic() + 5
        while source.stats.fenced < 2 and time.monotonic() < deadline:  # the stale entry is the last one written
            time.sleep(0.01)
        bars = feed.poll(DAY.close)
        assert list(zip(bars.ts.tolist(), bars.close.tolist(), strict=True)) == [(DAY.open + 180, 101.0)]
        assert (source.stats.fenced, source.stats.received, source.stats.repeated) == (2, 2, 1)
        requests = [decode(fields[b"m"]) for _, fields in plain.xrange(FEED_KEYS.commands)]
        assert requests == [{"k": "add", "s": "SPY", "by": source.engine}]
    finally:
        source.close()
        plain.close()


def test_a_silent_gateway_is_shown_as_down_on_every_feed(redis_server: EmbeddedServer) -> None:
    url = redis_server.url

    async def one_heartbeat() -> None:
        lease = await _gateway(url, lease_seconds=0.3)
        await _connected(lease)
        await lease.client.aclose()

    asyncio.run(one_heartbeat())
    source = BusSource(url)
    try:
        feed = source.open_feed(source.load_session("SPY", MINUTE, DAY))
        assert feed.poll(DAY.open).ts.tolist() == []  # connected: the heartbeat is fresh
        deadline = time.monotonic() + 5
        while feed.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(FeedError, match="no heartbeat from the feed gateway"):
            feed.poll(DAY.open)
    finally:
        source.close()


def test_an_entry_of_another_schema_version_is_refused_with_both_versions(redis_server: EmbeddedServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.xadd(FEED_KEYS.bars("SPY"), {"v": FEED_SCHEMA_VERSION + 1, "e": 1, "m": b"\x80"})
    client.close()
    source = BusSource(redis_server.url)
    try:
        with pytest.raises(SourceError, match=f"schema {FEED_SCHEMA_VERSION + 1}.*reads {FEED_SCHEMA_VERSION}"):
            source.load_session("SPY", MINUTE, DAY)
    finally:
        source.close()


def test_bus_needs_a_reachable_redis_url() -> None:
    with pytest.raises(SourceError, match="bus: needs a Redis URL"):
        open_source("bus:http://127.0.0.1:1/0")
    with pytest.raises(SourceError, match=re.escape("cannot read the feed gateway at redis://127.0.0.1:")):
        open_source(f"bus:redis://127.0.0.1:{free_port()}/0")


def test_gateway_refuses_a_replay_source_and_a_missing_redis(
    capsys: pytest.CaptureFixture[str], redis_server: EmbeddedServer
) -> None:
    assert main(["serve", "demo", "--gateway", "--redis", redis_server.url]) == 2
    assert "--gateway holds a live source's connection (alpaca); demo is not one" in capsys.readouterr().err
    assert main(["serve", "alpaca", "--gateway"]) == 2
    assert "--gateway needs --redis URL" in capsys.readouterr().err


def test_a_past_runs_end_is_not_taken_for_a_running_gateway(redis_server: EmbeddedServer) -> None:
    """Yesterday's gateway said ``ended``: an engine starting today shows its feeds down until one runs."""

    async def ended() -> None:
        lease = await _gateway(redis_server.url)
        await lease.publish_state(state_payload(FeedState.ENDED, "the session is over", time.time(), None, 5000))
        await lease.client.aclose()

    asyncio.run(ended())
    source = BusSource(redis_server.url)
    try:
        feed = source.open_feed(source.load_session("SPY", MINUTE, DAY))
        with pytest.raises(FeedError, match="waiting for the feed gateway"):
            feed.poll(DAY.open)
    finally:
        source.close()


def test_the_rehearsal_clock_starts_where_it_is_told_and_runs_at_its_speed() -> None:
    wall = time.time()
    clock = WallClock.from_environment(f"{DAY.open},{wall},10")
    assert clock.speed == 10.0
    assert DAY.open + 10 * (time.time() - wall) <= clock.now() <= DAY.open + 10 * (time.time() - wall) + 0.1
    assert abs(WallClock.from_environment("").now() - time.time()) < 0.1  # unset: the real clock
    with pytest.raises(ValueError, match=f"{CLOCK_VARIABLE}='tomorrow' is not CLOCK,WALL,SPEED"):
        WallClock.from_environment("tomorrow")
    with pytest.raises(ValueError, match="the speed must be above 0"):
        WallClock.from_environment(f"{DAY.open},{wall},0")


def test_a_session_is_served_until_its_grace_unless_the_next_opens_sooner() -> None:
    xnys = get_calendar("XNYS")
    monday = xnys.session(dt.date(2024, 3, 4))
    assert served_until(monday, xnys.session(dt.date(2024, 3, 5))) == monday.close + END_SECONDS
    assert served_until(monday, None) == monday.close + END_SECONDS
    always = get_calendar("24/7")
    today, tomorrow = always.session(dt.date(2024, 3, 4)), always.session(dt.date(2024, 3, 5))
    assert served_until(today, tomorrow) == today.close + LIVE_GRACE_SECONDS  # the next opened at the close


def test_a_closing_bus_source_withdraws_every_symbol_and_its_key(redis_server: EmbeddedServer) -> None:
    """What the gateway needs to unsubscribe at once: an ``rm`` per symbol, by this engine, and no key left."""

    async def meta() -> None:
        lease = await _gateway(redis_server.url, lease_seconds=1.0)
        await lease.client.hset(FEED_KEYS.meta, "claim_ms", 3000)
        await lease.client.aclose()

    asyncio.run(meta())
    plain = redis.Redis.from_url(redis_server.url)
    source = BusSource(redis_server.url)
    try:
        for symbol in ("SPY", "AAPL"):
            source.open_feed(source.load_session(symbol, MINUTE, DAY))
        key = FEED_KEYS.engine(source.engine)
        assert 0 < plain.pttl(key) <= 3000  # the gateway's claim time
    finally:
        source.close()
    requests = [decode(fields[b"m"]) for _, fields in plain.xrange(FEED_KEYS.commands)]
    assert requests == [{"k": kind, "s": symbol, "by": source.engine}
                        for kind, symbol in (("add", "SPY"), ("add", "AAPL"), ("rm", "AAPL"), ("rm", "SPY"))]
    assert not plain.exists(key)
    plain.close()


def test_an_idle_state_carries_the_next_open() -> None:
    state = state_of(decode(state_payload(FeedState.IDLE, "between sessions", 1.0, None, 1000, float(DAY.open))))
    assert (state.state, state.next_open) == (FeedState.IDLE, DAY.open)
    assert state_of(decode(state_payload(FeedState.CONNECTED, "", 1.0, None, 1000))).next_open is None
