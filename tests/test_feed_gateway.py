"""The feed gateway end to end: the Alpaca stand-in → ``serve alpaca --gateway`` → Redis → ``serve bus:…`` engines.

Everything is real: the stand-in's websocket and REST servers, a Redis-protocol server,
the gateway and the engines as subprocesses on the wall clock. The session is the
24/7 calendar's (today, UTC), so a live run has minutes behind it to backfill; the bars
are the last few completed minutes, held back from the stand-in until a step "streams" them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("alpaca")

import redis
from alpaca_peer import KEY, SECRET, AlpacaPeer, wait_until

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus.codec import encode
from session_monitor.core.bus.gateway_wire import FeedState, bars_of, parse_entry, state_of
from session_monitor.core.bus.layout import FEED_KEYS, ShardKeys, ShardSpec
from session_monitor.core.bus.replica import Replica, ShardStatus
from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.core.calendar import get_calendar
from session_monitor.core.session_data import SessionData
from tests.bus_helpers import STARTED

SYMBOLS = ["SPY", "AAPL", "MSFT", "QQQ"]
#: the gateway's own watchlist; the engines ask for the other two through the command stream
GATEWAY_SYMBOLS = "SPY,AAPL"
#: completed minutes the test uses, oldest first: history, then three "live" steps
MINUTES = 16
HISTORY, STEP = 7, 3


class Day:
    """Each symbol's bars over the last :data:`MINUTES` completed minutes of today's 24/7 session."""

    def __init__(self) -> None:
        session = get_calendar("24/7").current_or_next_session()
        newest = int(time.time()) // 60 * 60 - 120  # completed, with a minute's margin
        first = newest - (MINUTES - 1) * 60
        if first < session.open or time.time() > session.close - 120:
            pytest.skip("too close to midnight UTC for a window of today's 24/7 session")
        rng = np.random.default_rng(17)
        self.minutes = [first + 60 * k for k in range(MINUTES)]
        self.bars: dict[str, BarArrays] = {}
        for k, symbol in enumerate(SYMBOLS):
            ts = np.array([m for j, m in enumerate(self.minutes) if (j + k) % 5 != 3], np.int64)  # no trade: no bar
            close = 100 + k * 10 + np.cumsum(rng.normal(0, 0.2, len(ts))).round(2)
            open_ = np.round(close + rng.normal(0, 0.1, len(ts)), 2)
            high = np.maximum(open_, close) + 0.05
            low = np.minimum(open_, close) - 0.05
            self.bars[symbol] = BarArrays(ts, open_, high, low, close, rng.integers(100, 5000, len(ts)).astype(float))

    def part(self, symbol: str, lo: int, hi: int) -> BarArrays:
        """The symbol's bars in minutes ``[lo, hi)`` of the window."""
        ts, first = self.bars[symbol].ts, self.minutes[0]
        return self.bars[symbol].take((ts >= first + 60 * lo) & (ts < first + 60 * hi))

    def upto(self, hi: int) -> dict[str, BarArrays]:
        return {s: self.part(s, 0, hi) for s in SYMBOLS}


def publish(peer: AlpacaPeer, day: Day, lo: int, hi: int, stream: bool = True) -> None:
    """Minutes ``[lo, hi)`` happen: the stand-in's history holds them, and (``stream``) it sends them live."""
    for symbol in SYMBOLS:
        bars = day.part(symbol, lo, hi)
        peer.data[symbol] = BarArrays.concat([peer.data[symbol], bars]) if symbol in peer.data else bars
        if stream:
            peer.send_bars(symbol, bars)


@pytest.fixture
def day() -> Day:
    return Day()


@pytest.fixture
def peer(day: Day) -> Iterator[AlpacaPeer]:
    with AlpacaPeer(day.upto(HISTORY)) as running:
        yield running


def _env(tmp_path: Path, peer: AlpacaPeer) -> dict[str, str]:
    return {**os.environ, "SESSION_MONITOR_DATA_DIR": str(tmp_path / "data"), "APCA_API_KEY_ID": KEY,
            "APCA_API_SECRET_KEY": SECRET, "SESSION_MONITOR_ALPACA_STREAM_URL": peer.ws_url,
            "SESSION_MONITOR_ALPACA_REST_URL": peer.rest_url}


def _start(tmp_path: Path, peer: AlpacaPeer, name: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen([sys.executable, "-m", "session_monitor", "serve", *args],
                               stdout=log.open("w"), stderr=subprocess.STDOUT, env=_env(tmp_path, peer), text=True)
    STARTED.append(process)
    return process, log


def start_gateway(
    tmp_path: Path, peer: AlpacaPeer, url: str, name: str = "gateway"
) -> tuple[subprocess.Popen[str], Path]:
    return _start(tmp_path, peer, name, "alpaca", "--gateway", "--redis", url, "--calendar", "24/7",
                  "--symbols", GATEWAY_SYMBOLS, "--lease-seconds", "1")


def start_engine(tmp_path: Path, peer: AlpacaPeer, source: str, url: str, shard: str) -> subprocess.Popen[str]:
    name = f"engine-{source.split(':')[0]}-{shard.replace('/', '-')}"
    return _start(tmp_path, peer, name, source, "--redis", url, "--calendar", "24/7", "--symbols", ",".join(SYMBOLS),
                  "--intervals", "1m,5m", "--shard", shard, "--lease-seconds", "2", "--no-record")[0]


def feed_entries(url: str, symbol: str) -> list[tuple[int, BarArrays]]:
    """``(epoch, bars)`` of every entry of the symbol's feed stream."""
    client = redis.Redis.from_url(url)
    try:
        entries = [parse_entry(i, f) for i, f in client.xrange(FEED_KEYS.bars(symbol))]
    finally:
        client.close()
    return [(e.epoch, bars_of(e.message)) for e in entries]


def feed_states(url: str) -> list[FeedState]:
    client = redis.Redis.from_url(url)
    try:
        return [state_of(parse_entry(i, f).message).state for i, f in client.xrange(FEED_KEYS.state)]
    finally:
        client.close()


def _rows(bars: BarArrays) -> list[tuple[Any, ...]]:
    return list(zip(*(col.tolist() for col in bars), strict=True))


def assert_published_once(url: str, want: dict[str, BarArrays]) -> set[int]:
    """Each symbol's stream holds each of its bars exactly once; returns the epochs that wrote them."""
    epochs: set[int] = set()
    for symbol, bars in want.items():
        entries = feed_entries(url, symbol)
        got = [row for _, part in entries for row in _rows(part)]
        assert sorted(got) == _rows(bars), symbol
        epochs |= {epoch for epoch, _ in entries}
    return epochs


def replica(url: str, shards: int) -> tuple[SessionData, list[ShardStatus]]:
    """What the engines of ``url`` have published so far (every shard read to its end)."""

    async def read() -> tuple[SessionData, list[ShardStatus]]:
        client = connect_redis(url)
        try:
            copy = Replica(client, SessionData(group_rows=False))
            statuses = [ShardStatus(ShardSpec(i, shards)) for i in range(1, shards + 1)]
            for status in statuses:
                await copy.catch_up(status)
            return copy.session_data, statuses
        finally:
            await client.aclose()

    return asyncio.run(read())


def base_bars(sd: SessionData) -> dict[str, list[tuple[Any, ...]]]:
    return {d.symbol: _rows(d.base.data.arrays()) for d in sd.all_symbol_data()}


def all_bars(sd: SessionData) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    return {(d.symbol, name): _rows(interval.data.arrays()) for d in sd.all_symbol_data()
            for name, interval in d.bars.items()}


def wait_for_bars(url: str, shards: int, want: dict[str, BarArrays], what: str, timeout: float = 30) -> SessionData:
    expected = {symbol: _rows(bars) for symbol, bars in want.items()}
    found: list[SessionData] = []

    def arrived() -> bool:
        sd, _ = replica(url, shards)
        found[:] = [sd]
        return base_bars(sd) == expected

    try:
        wait_until(arrived, timeout, what)
    except AssertionError:
        got = base_bars(found[0]) if found else {}
        raise AssertionError(f"{what}: {sum(map(len, got.values()))} of "
                             f"{sum(map(len, expected.values()))} bars, got {got}") from None
    return found[0]


def subscribed_by(peer: AlpacaPeer, clients: int) -> bool:
    """``clients`` stream connections each subscribe every symbol."""
    connected = list(peer._clients)
    return len(connected) == clients and all(set(SYMBOLS) <= c.subs["bars"] for c in connected)


def test_engines_on_the_bus_derive_what_a_direct_engine_does_and_a_standby_gateway_takes_over_without_a_double(
    tmp_path: Path, redis_server: EmbeddedServer, peer: AlpacaPeer, day: Day
) -> None:
    url = redis_server.url
    direct_url = url.removesuffix("/0") + "/1"
    first, _ = start_gateway(tmp_path, peer, url)
    for shard in ("1/2", "2/2"):
        start_engine(tmp_path, peer, f"bus:{url}", url, shard)
    start_engine(tmp_path, peer, "alpaca", direct_url, "1/1")
    # the engines asked for MSFT and QQQ: the gateway watches all four, next to the direct engine
    wait_until(lambda: subscribed_by(peer, 2), 30, "the gateway and the direct engine subscribing every symbol")
    wait_for_bars(url, 2, day.upto(HISTORY), "the history through the gateway")

    publish(peer, day, HISTORY, HISTORY + STEP)
    wait_for_bars(url, 2, day.upto(HISTORY + STEP), "the first live bars")

    standby, standby_log = start_gateway(tmp_path, peer, url, "standby")
    wait_until(lambda: "standing by" in standby_log.read_text(), 20, "the standby gateway waiting")
    standby.send_signal(signal.SIGSTOP)  # held back until the engines have shown the feed down
    first.send_signal(signal.SIGKILL)
    first.wait()
    engine_log = tmp_path / "engine-bus-2-2.log"
    wait_until(lambda: "SPY: feed disconnected" in engine_log.read_text()
               and "no heartbeat from the feed gateway" in engine_log.read_text(), 20, "the engine showing SPY down")
    # bars the dead gateway never saw: the standby fetches them over REST when it takes over
    publish(peer, day, HISTORY + STEP, HISTORY + 2 * STEP)
    standby.send_signal(signal.SIGCONT)
    wait_until(lambda: "as epoch 2" in standby_log.read_text(), 20, "the standby taking the lease")
    wait_until(lambda: subscribed_by(peer, 2), 20, "the standby subscribing every symbol")
    wait_for_bars(url, 2, day.upto(HISTORY + 2 * STEP), "the bars missed while no gateway ran")
    publish(peer, day, HISTORY + 2 * STEP, MINUTES)

    everything = day.upto(MINUTES)
    bus = wait_for_bars(url, 2, everything, "every bar through the standby")
    direct = wait_for_bars(direct_url, 1, everything, "every bar on the direct engine")
    assert all_bars(bus) == all_bars(direct)  # 1m and the derived 5m, bar for bar
    assert assert_published_once(url, everything) == {1, 2}
    assert standby.poll() is None


def test_a_dropped_connection_shows_the_feed_down_then_backfills_and_a_redis_restart_loses_nothing(
    tmp_path: Path, redis_server: EmbeddedServer, peer: AlpacaPeer, day: Day
) -> None:
    url = redis_server.url
    gateway, _ = start_gateway(tmp_path, peer, url)
    start_engine(tmp_path, peer, f"bus:{url}", url, "1/1")
    wait_until(lambda: subscribed_by(peer, 1), 30, "the gateway subscribing every symbol")
    wait_for_bars(url, 1, day.upto(HISTORY), "the history through the gateway")

    peer.refuse = True
    peer.drop_connections()
    wait_until(lambda: feed_states(url)[-1] is FeedState.RETRYING, 10, "the gateway showing the feed retrying")
    wait_until(lambda: replica(url, 1)[1][0].down == set(SYMBOLS), 10, "the engine showing every symbol down")
    publish(peer, day, HISTORY, HISTORY + STEP, stream=False)  # happened while the connection was down
    peer.refuse = False
    wait_until(lambda: replica(url, 1)[1][0].down == set(), 20, "the engine's feeds up again")
    wait_for_bars(url, 1, day.upto(HISTORY + STEP), "the outage backfilled over REST")

    redis_server.stop()
    publish(peer, day, HISTORY + STEP, MINUTES)  # the gateway gets them while Redis is down
    time.sleep(0.5)
    redis_server.start()
    everything = day.upto(MINUTES)
    wait_for_bars(url, 1, everything, "the bars queued through the Redis restart")
    assert_published_once(url, everything)  # its lease may have expired meanwhile: it retakes it, epoch 2
    assert feed_states(url)[-1] is FeedState.CONNECTED
    assert gateway.poll() is None

    # a connected GUI removes QQQ and adds IWM: the engine asks the gateway, which follows
    shard_commands = redis.Redis.from_url(url)
    for command in ({"k": "rm", "s": "QQQ"}, {"k": "add", "s": "IWM", "iv": ["1m"]}):
        shard_commands.xadd(ShardKeys(ShardSpec(1, 1)).commands, {"m": encode(command)})
    shard_commands.close()
    wait_until(lambda: peer.subscribed("IWM") and not peer.subscribed("QQQ"), 20, "the gateway following the engine")
