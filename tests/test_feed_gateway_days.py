"""The feed gateway every day: session after session, idle in between, bounded by ``--end``, stopped by a signal.

Everything is real (the Alpaca stand-in's websocket and REST, a Redis server, the gateway and
the engines as subprocesses); the processes share a rehearsal clock (``SESSION_MONITOR_CLOCK``)
that starts shortly before a session's close and runs :data:`SPEED` times as fast, so a
close, the idle time after it and the next open take seconds.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("alpaca")

import redis
from alpaca_peer import KEY, SECRET, AlpacaPeer, wait_until

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus.gateway import END_SECONDS
from session_monitor.core.bus.gateway_wire import FeedState, parse_entry, state_of
from session_monitor.core.bus.layout import FEED_KEYS
from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.calendar import Session, get_calendar
from session_monitor.core.clock import CLOCK_VARIABLE, WallClock
from tests.bus_helpers import STARTED
from tests.test_feed_gateway import (
    HISTORY,
    MINUTES,
    STEP,
    Day,
    _rows,
    all_bars,
    assert_published_once,
    feed_entries,
    subscribed_by,
    wait_for_bars,
)
from tests.test_feed_gateway import publish as happen

#: how much faster than the wall clock the rehearsal clock runs (a test that needs more wall time
#: before a moment, to start its processes on a loaded machine, runs it slower)
SPEED = 10.0
SYMBOLS = ["SPY", "AAPL", "MSFT", "QQQ"]


def make_bars(minutes: list[int], seed: int = 5) -> dict[str, BarArrays]:
    """Each symbol's minute bars at ``minutes`` (a few left out: no trade, no bar)."""
    rng = np.random.default_rng(seed)
    out: dict[str, BarArrays] = {}
    for k, symbol in enumerate(SYMBOLS):
        ts = np.array([m for j, m in enumerate(minutes) if (j + k) % 4 != 2], np.int64)
        close = (100 + 10 * k + np.cumsum(rng.normal(0, 0.2, len(ts)))).round(2)
        open_ = (close + rng.normal(0, 0.1, len(ts))).round(2)
        out[symbol] = BarArrays(ts, open_, np.maximum(open_, close) + 0.05, np.minimum(open_, close) - 0.05, close,
                                rng.integers(100, 5000, len(ts)).astype(float))
    return out


def between(bars: dict[str, BarArrays], lo: float, hi: float) -> dict[str, BarArrays]:
    return {s: b.take((b.ts >= lo) & (b.ts < hi)) for s, b in bars.items()}


def publish(peer: AlpacaPeer, bars: dict[str, BarArrays]) -> None:
    """These bars happen: the stand-in's history holds them and it streams them."""
    for symbol, part in bars.items():
        peer.data[symbol] = BarArrays.concat([peer.data[symbol], part]) if symbol in peer.data else part
        peer.send_bars(symbol, part)


class Rehearsal:
    """A clock that reads ``start`` now and runs ``speed`` times as fast, for every process started."""

    def __init__(self, start: float, speed: float = SPEED) -> None:
        self.value = f"{start},{time.time()},{speed}"
        self.clock = WallClock.from_environment(self.value)

    def wall_seconds_until(self, when: float) -> float:
        """How long, on the wall clock, until the rehearsal clock reads ``when`` (0 once it has)."""
        return max(0.0, (when - self.clock.now()) / self.clock.speed)

    def assert_before(self, when: float, what: str) -> None:
        """The test got this far before ``when``: what it set up is in time for it, not racing it."""
        assert self.clock.now() < when, f"{what} took too long: the rehearsal clock is past {when}"

    def wait_for(self, when: float, timeout: float = 60) -> None:
        wait_until(lambda: self.clock.now() >= when, self.wall_seconds_until(when) + timeout,
                   f"the rehearsal clock reaching {when}")


def start(tmp_path: Path, peer: AlpacaPeer, name: str, args: list[str], clock: Rehearsal | None,
          *command: str) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / f"{name}.log"
    env = {**os.environ, "SESSION_MONITOR_DATA_DIR": str(tmp_path / "data"), "APCA_API_KEY_ID": KEY,
           "APCA_API_SECRET_KEY": SECRET, "SESSION_MONITOR_ALPACA_STREAM_URL": peer.ws_url,
           "SESSION_MONITOR_ALPACA_REST_URL": peer.rest_url}
    if clock is not None:
        env[CLOCK_VARIABLE] = clock.value
    process = subprocess.Popen([sys.executable, "-m", "session_monitor", *(command or ("serve",)), *args],
                               stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, text=True)
    STARTED.append(process)
    return process, log


def gateway_args(url: str, calendar: str, symbols: str, *extra: str) -> list[str]:
    return ["alpaca", "--gateway", "--redis", url, "--calendar", calendar, "--symbols", symbols,
            "--lease-seconds", "1", *extra]


def engine_args(source: str, url: str, calendar: str, *extra: str, symbols: str = ",".join(SYMBOLS)) -> list[str]:
    return [source, "--redis", url, "--calendar", calendar, "--symbols", symbols, "--intervals", "1m,5m",
            "--shard", "1/1", "--lease-seconds", "2", "--no-record", *extra]


def states(url: str) -> list[tuple[int, object]]:
    """``(epoch, GatewayState)`` of every state entry."""
    client = redis.Redis.from_url(url)
    try:
        entries = [parse_entry(i, f) for i, f in client.xrange(FEED_KEYS.state)]
    finally:
        client.close()
    return [(e.epoch, state_of(e.message)) for e in entries]


def last_state(url: str) -> FeedState | None:
    found = states(url)
    return found[-1][1].state if found else None  # type: ignore[attr-defined]


def friday_close() -> tuple[Session, Session]:
    """A recent XNYS session with a weekend after it, and the session after that."""
    calendar = get_calendar("XNYS")
    today = dt.date.today()
    sessions = calendar.sessions_between(today - dt.timedelta(days=20), today - dt.timedelta(days=1))
    for before, after in zip(sessions[::-1][1:], sessions[::-1], strict=False):
        if (after.date - before.date).days >= 3:
            return before, after
    pytest.skip("no weekend in the XNYS calendar's last 20 days")


def test_the_gateway_goes_idle_after_the_close_with_the_next_open_and_stops_at_its_end_or_on_a_signal(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    """XNYS: a Friday's session, then the weekend. A gateway whose ``--end`` is a later day waits, idle,
    for Monday's open (SIGTERM stops it cleanly); one whose ``--end`` is the Friday (on another
    database, side by side) stops by itself after the close."""
    friday, monday = friday_close()
    url = redis_server.url
    bounded_url = url.removesuffix("/0") + "/1"
    bars = make_bars([friday.close - 60 * k for k in range(5, 0, -1)])
    with AlpacaPeer(between(bars, 0, friday.close - 120)) as peer:  # complete before the clock starts
        clock = Rehearsal(friday.close - 100, speed=4.0)  # 25 s for both to start and subscribe before the close
        gateway, log = start(tmp_path, peer, "gateway-weekend", gateway_args(url, "XNYS", "SPY,AAPL", "--end",
                                                                            monday.date.isoformat()), clock)
        bounded, bounded_log = start(tmp_path, peer, "gateway-friday", gateway_args(
            bounded_url, "XNYS", "SPY", "--end", friday.date.isoformat()), clock)
        wait_until(lambda: peer.clients == 2 and subscribed_by_symbols(peer, {"SPY", "AAPL"}), 30,
                   "both gateways subscribing")
        clock.assert_before(friday.close, "starting both gateways")
        publish(peer, between(bars, friday.close - 120, friday.close))  # the last two minutes of the week
        wait_until(lambda: last_state(url) is FeedState.IDLE, clock.wall_seconds_until(friday.close + END_SECONDS) + 30,
                   "the gateway idle after the close")
        idle = states(url)[-1][1]
        assert idle.next_open == monday.open and "between sessions" in idle.reason  # type: ignore[attr-defined]
        for symbol in ("SPY", "AAPL"):
            assert [row for _, part in feed_entries(url, symbol) for row in _rows(part)] == _rows(bars[symbol])

        assert bounded.wait(20) == 0  # its last session is over
        final = states(bounded_url)[-1][1]
        assert (final.state, final.reason) == (FeedState.ENDED, "the last session is over")  # type: ignore[attr-defined]
        assert f"the session of {friday.date} is over" in bounded_log.read_text()
        assert [row for _, part in feed_entries(bounded_url, "SPY") for row in _rows(part)] == _rows(bars["SPY"])
        wait_until(lambda: peer.clients == 0, 5, "no connection held while idle")

        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(10) == 0
        assert last_state(url) is FeedState.ENDED
        assert redis.Redis.from_url(url).get(FEED_KEYS.lease) is None  # released: a standby need not wait
        assert f"serving the session of {friday.date}" in log.read_text()


def subscribed_by_symbols(peer: AlpacaPeer, symbols: set[str]) -> bool:
    return all(peer.subscribed(symbol) for symbol in symbols)


def test_a_gateway_over_two_sessions_publishes_both_and_the_engines_follow_into_the_second(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    """24/7: the session of today closes at midnight UTC and the next opens at once. The gateway serves
    both (a new connection for the second), the ``bus:`` engine goes on into the second session, and
    both sessions' bars (1m and the derived 5m) equal those of an engine connected to the stand-in."""
    url = redis_server.url
    direct_url = url.removesuffix("/0") + "/1"
    first = get_calendar("24/7").current_or_next_session()
    midnight = first.close
    bars = make_bars([midnight + 60 * k for k in range(-5, 2)])
    end = (first.date + dt.timedelta(days=1)).isoformat()
    with AlpacaPeer(between(bars, 0, midnight - 240)) as peer:  # 23:55, complete when the clock starts
        clock = Rehearsal(midnight - 230, speed=5.0)  # 46 s before midnight: the engines start well before it
        _, log = start(tmp_path, peer, "gateway", gateway_args(url, "24/7", "SPY,AAPL", "--end", end), clock)
        start(tmp_path, peer, "engine-bus", engine_args(f"bus:{url}", url, "24/7", "--end", end), clock)
        start(tmp_path, peer, "engine-direct", engine_args("alpaca", direct_url, "24/7", "--end", end), clock)
        exports = {name: tmp_path / f"export-{name}" for name in ("bus", "direct")}
        for name, where in (("bus", url), ("direct", direct_url)):
            start(tmp_path, peer, f"follow-{name}", [where, "--export", str(exports[name])], None, "follow")
        wait_until(lambda: subscribed_by(peer, 2), 30, "the gateway and the direct engine subscribing")
        clock.assert_before(midnight - 60, "starting the gateway, the engines and the followers")
        # the day's last four minutes, sent ahead: the engines release each bar when the clock passes its end
        publish(peer, between(bars, midnight - 240, midnight))
        wait_until(lambda: f"serving the session of {end}" in log.read_text(), clock.wall_seconds_until(midnight) + 30,
                   "the gateway's second session")
        for minute in (midnight, midnight + 60):
            clock.wait_for(minute + 62)
            publish(peer, between(bars, minute, minute + 60))
        second = between(bars, midnight, midnight + 120)
        bus = wait_for_bars(url, 1, second, "the second session through the gateway")
        direct = wait_for_bars(direct_url, 1, second, "the second session on the direct engine")
        assert all_bars(bus) == all_bars(direct)
        # the first session, as the followers exported it once both engines had ended it
        csvs = [f"{symbol}/{interval}.csv" for symbol in SYMBOLS for interval in ("1m", "5m")]
        wait_until(lambda: all((exports["direct"] / c).exists() and (exports["bus"] / c).exists() for c in csvs),
                   20, "both followers exporting the first session")
        assert all(filecmp.cmp(exports["bus"] / c, exports["direct"] / c, shallow=False) for c in csvs)
        for symbol in SYMBOLS:
            rows = (exports["bus"] / symbol / "1m.csv").read_text().splitlines()[1:]
            assert len(rows) == len(between(bars, 0, midnight)[symbol].ts), symbol
    assert_published_once(url, bars)  # both sessions' bars, each once
    between_sessions = [state.next_open for _, state in states(url) if state.next_open is not None]  # type: ignore[attr-defined]
    assert between_sessions == [midnight]  # one idle entry, naming the second session's open


def test_a_stopped_engine_withdraws_its_symbols_and_a_killed_ones_lapse_after_the_claim_time(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    """The gateway watches SPY for itself; engine one asks for AAPL and MSFT, engine two for MSFT and
    QQQ. One stops cleanly: AAPL is unsubscribed at once, MSFT stays (engine two wants it). Two is
    killed: MSFT and QQQ are unsubscribed once its claims lapse (3 leases of 1 s), SPY stays. A
    standby gateway and the gateway itself stop cleanly on SIGTERM."""
    url = redis_server.url
    base = url.removesuffix("/0")
    with AlpacaPeer(Day().upto(HISTORY)) as peer:
        gateway, log = start(tmp_path, peer, "gateway", gateway_args(url, "24/7", "SPY"), None)
        one, _ = start(tmp_path, peer, "engine-one", engine_args(f"bus:{url}", f"{base}/2", "24/7",
                                                                  symbols="AAPL,MSFT"), None)
        two, _ = start(tmp_path, peer, "engine-two", engine_args(f"bus:{url}", f"{base}/3", "24/7",
                                                                  symbols="MSFT,QQQ"), None)
        wait_until(lambda: all(peer.subscribed(s) for s in SYMBOLS), 30, "the gateway subscribing every symbol")
        standby, standby_log = start(tmp_path, peer, "standby", gateway_args(url, "24/7", "SPY"), None)
        wait_until(lambda: "standing by" in standby_log.read_text(), 30, "the standby waiting")
        standby.send_signal(signal.SIGTERM)  # a standby stops at once too
        assert standby.wait(10) == 0 and "stopped while standing by" in standby_log.read_text()
        one.send_signal(signal.SIGINT)
        one.wait(20)
        stopped = time.monotonic()
        wait_until(lambda: not peer.subscribed("AAPL"), 10, "the gateway unsubscribing AAPL")
        # withdrawn, not lapsed: a lapse takes over 3.5 s (the key lives a claim time of 3 s after the
        # last renewal, at most 1 s before the stop, then half a claim time missing)
        assert time.monotonic() - stopped < 3.0
        assert all(peer.subscribed(s) for s in ("SPY", "MSFT", "QQQ"))
        two.kill()
        two.wait()
        killed = time.monotonic()
        time.sleep(2.0)
        assert peer.subscribed("MSFT") and peer.subscribed("QQQ")  # its claims stand until they lapse
        wait_until(lambda: not peer.subscribed("MSFT") and not peer.subscribed("QQQ"), 15, "the claims lapsing")
        lapsed = time.monotonic() - killed
        assert 3.0 <= lapsed < 12.0, lapsed  # about 1.5 claim times; more on a loaded machine
        assert peer.subscribed("SPY")
        wait_until(lambda: "stopped renewing its requests; released MSFT,QQQ" in log.read_text(), 5, "the reason")
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(10) == 0
        final = states(url)[-1][1]
        assert (final.state, final.reason) == (FeedState.DOWN, "the feed gateway was stopped")  # type: ignore[attr-defined]


def test_a_redis_that_comes_back_without_its_data_gets_the_session_again_from_the_gateway(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    """The server is restarted without persistence (no AOF: everything is gone) while the gateway
    runs: it takes its lease again above its old epoch, publishes the session so far again, once,
    and the ``bus:`` engine ends with the same bars as a direct engine."""
    url = redis_server.url
    direct_url = url.removesuffix("/0") + "/1"
    day = Day()
    with AlpacaPeer(day.upto(HISTORY)) as peer:
        _, log = start(tmp_path, peer, "gateway", gateway_args(url, "24/7", "SPY,AAPL"), None)
        start(tmp_path, peer, "engine-bus", engine_args(f"bus:{url}", url, "24/7"), None)
        start(tmp_path, peer, "engine-direct", engine_args("alpaca", direct_url, "24/7"), None)
        wait_until(lambda: subscribed_by(peer, 2), 30, "the gateway and the direct engine subscribing")
        happen(peer, day, HISTORY, HISTORY + STEP)
        wait_for_bars(url, 1, day.upto(HISTORY + STEP), "the first live bars")

        redis_server.stop()
        shutil.rmtree(redis_server.directory)
        redis_server.aof = False
        happen(peer, day, HISTORY + STEP, HISTORY + 2 * STEP)  # the gateway gets them while Redis is away
        time.sleep(0.5)
        redis_server.start()  # empty
        happen(peer, day, HISTORY + 2 * STEP, MINUTES)
        everything = day.upto(MINUTES)
        bus = wait_for_bars(url, 1, everything, "every bar through the gateway after the loss", timeout=40)
        direct = wait_for_bars(direct_url, 1, everything, "every bar on the direct engine after the loss", timeout=40)
        assert all_bars(bus) == all_bars(direct)
        epochs = assert_published_once(url, everything)  # the whole session again, each bar once
        assert min(epochs) >= 2  # above the epoch it had: no reader takes the new entries for a fenced writer's
        assert "published again" in log.read_text()
