"""The feed gateway's lease is renewed from a thread of its own (core/bus/lease.py), as an engine's.

The gateway runs in the test's process and event loop (``run_gateway``, built from
``serve alpaca --gateway`` arguments by the same parser), on the Alpaca stand-in's real
websocket and REST and a real server, with a 1 s lease; the test blocks that loop with
``time.sleep`` in a callback scheduled on it, as long synchronous work would. A second gateway's
lease (a standby) tries to take the feed meanwhile from a thread, event loop and connection of
its own. A loop busy for three leases keeps the feed and its epoch; one stuck past
``--stall-seconds`` loses it to the standby and is fenced out (exit code 3).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

pytest.importorskip("alpaca")

import redis
from alpaca_peer import KEY, SECRET, AlpacaPeer

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus.gateway import GatewayOptions, gateway_options, run_gateway
from session_monitor.core.bus.gateway_wire import FeedLease, FeedState, parse_entry, state_payload
from session_monitor.core.bus.layout import FEED_KEYS
from session_monitor.core.bus.serve import build_parser
from session_monitor.core.bus.server import EmbeddedServer
from tests.bus_helpers import Standby
from tests.test_feed_gateway import HISTORY, STEP, SYMBOLS, Day, assert_published_once, publish

#: a short lease, so that blocking the loop for several of them stays quick
LEASE = 1.0


def _options(url: str, peer: AlpacaPeer, monkeypatch: pytest.MonkeyPatch, *extra: str) -> GatewayOptions:
    """``serve alpaca --gateway`` with a 1 s lease, watching every symbol, on the stand-in."""
    for name, value in (("APCA_API_KEY_ID", KEY), ("APCA_API_SECRET_KEY", SECRET),
                        ("SESSION_MONITOR_ALPACA_STREAM_URL", peer.ws_url),
                        ("SESSION_MONITOR_ALPACA_REST_URL", peer.rest_url)):
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(["alpaca", "--gateway", "--redis", url, "--calendar", "24/7",
                                      "--symbols", ",".join(SYMBOLS), "--lease-seconds", f"{LEASE:g}", *extra])
    return gateway_options(args, url)


def _standby(url: str, seconds: float) -> Standby:
    """A second gateway's lease trying to take the feed for ``seconds``; once it has, it marks the
    state stream with an entry of its epoch."""

    async def mark(lease: FeedLease) -> None:
        await lease.publish_state(state_payload(FeedState.RETRYING, "standby took over", time.time(), None,
                                                lease.lease_ms))

    return Standby(url, lambda client: FeedLease(client, LEASE), LEASE, seconds, mark)


def _get(url: str, key: str) -> bytes | None:
    client = redis.Redis.from_url(url)
    try:
        value = client.get(key)
        return value if isinstance(value, bytes) else None
    finally:
        client.close()


def _state_epochs(url: str) -> list[int]:
    """The epoch of every state entry, oldest first."""
    client = redis.Redis.from_url(url)
    try:
        return [parse_entry(i, f).epoch for i, f in client.xrange(FEED_KEYS.state)]
    finally:
        client.close()


async def _eventually(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` while the loop runs (the gateway with it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)


def _published(url: str, want: dict[str, BarArrays]) -> Callable[[], bool]:
    def check() -> bool:
        try:
            assert_published_once(url, want)
        except AssertionError:
            return False
        return True

    return check


async def _block_loop(seconds: float) -> float:
    """Hold the running loop for ``seconds`` in one synchronous call (nothing else runs on it
    meanwhile); returns how long it was held."""
    held: list[float] = []

    def work() -> None:
        started = time.monotonic()
        time.sleep(seconds)
        held.append(time.monotonic() - started)

    asyncio.get_running_loop().call_soon(work)
    while not held:
        await asyncio.sleep(0)
    return held[0]


def _terminate(gateway: asyncio.Task[int]) -> None:
    """SIGTERM to this process, which the running gateway's handler turns into a clean stop."""
    assert not gateway.done()  # its handler is installed: the signal cannot end the test run
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_gateway_whose_loop_is_busy_for_three_leases_keeps_the_feed_and_its_epoch(
    redis_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = redis_server.url
    day = Day()
    with AlpacaPeer(day.upto(HISTORY)) as peer:
        options = _options(url, peer, monkeypatch)
        assert options.stall_seconds == 60.0  # the default: the larger of a minute and four leases

        async def scenario() -> None:
            gateway = asyncio.create_task(run_gateway(options, quiet=True))
            await _eventually(_published(url, day.upto(HISTORY)), 30, "the history through the gateway")
            token = _get(url, FEED_KEYS.lease)
            assert token is not None and token.startswith(b"1:")
            with _standby(url, seconds=3 * LEASE) as standby:
                held = await _block_loop(3 * LEASE)  # long synchronous work: the loop runs nothing meanwhile
            assert held >= 3 * LEASE
            assert standby.epoch is None  # the standby never got the feed
            assert _get(url, FEED_KEYS.lease) == token and _get(url, FEED_KEYS.epoch) == b"1"
            assert not gateway.done()
            publish(peer, day, HISTORY, HISTORY + STEP)  # the gateway serves on, as epoch 1
            await _eventually(_published(url, day.upto(HISTORY + STEP)), 20, "the live bars after the block")
            assert assert_published_once(url, day.upto(HISTORY + STEP)) == {1}
            _terminate(gateway)
            assert await asyncio.wait_for(gateway, 20) == 0
            assert _get(url, FEED_KEYS.lease) is None  # released at once: a standby needs not wait
            assert set(_state_epochs(url)) == {1}

        asyncio.run(scenario())


def test_a_gateway_whose_loop_is_stuck_past_the_stall_limit_loses_the_feed_to_a_standby_and_is_fenced_out(
    redis_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = redis_server.url
    day = Day()
    stall = 1.0
    with AlpacaPeer(day.upto(HISTORY)) as peer:
        options = _options(url, peer, monkeypatch, "--stall-seconds", f"{stall:g}")

        async def scenario() -> None:
            gateway = asyncio.create_task(run_gateway(options, quiet=True))
            await _eventually(_published(url, day.upto(HISTORY)), 30, "the history through the gateway")
            with _standby(url, seconds=stall + 4 * LEASE) as standby:
                # stuck: renewals stop after `stall`, the lease expires, the standby takes the next epoch;
                # bars arrive meanwhile, so the stuck gateway has appends to make when it wakes
                arrive = threading.Timer(stall + LEASE, publish, (peer, day, HISTORY, HISTORY + STEP))
                arrive.start()
                await _block_loop(stall + 4 * LEASE)
                arrive.join()
                assert standby.epoch == 2
                # it wakes: its appends (and its retake) are refused and it stops with code 3
                assert await asyncio.wait_for(gateway, 20) == 3
                assert _get(url, FEED_KEYS.lease) is not None and _get(url, FEED_KEYS.epoch) == b"2"
            assert assert_published_once(url, day.upto(HISTORY)) == {1}  # none of the bars it got while stuck
            epochs = _state_epochs(url)
            taken = epochs.index(2)  # the standby's mark
            assert set(epochs[taken:]) == {2}, epochs  # nothing of epoch 1 after it

        asyncio.run(scenario())
    said = capsys.readouterr().err
    assert "feed gateway epoch 1" in said and "; stopping" in said, said


def test_the_gateway_refuses_a_stall_limit_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    from session_monitor.cli import main

    # refused before anything opens (no connection to the source or to this address is made)
    assert main(["serve", "alpaca", "--gateway", "--redis", "redis://127.0.0.1:9/0", "--stall-seconds", "-1"]) == 2
    assert "--stall-seconds must be a positive number of seconds, not -1" in capsys.readouterr().err
