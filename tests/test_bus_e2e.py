"""serve + follow through a real Redis server: the follower's export equals a single-process replay,
byte for byte, also through engine crashes, take-overs, late and paused followers, and a Redis restart."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from session_monitor.core.bus.layout import ShardKeys, ShardSpec
from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.calendar import get_calendar
from tests.bus_helpers import (
    RUN,
    SPEED,
    STARTED,
    _env,
    assert_same_export,
    engine_clock,
    reference_export,
    start_engine,
    start_follower,
    wait_ok,
    wait_until_clock,
)

SESSION = get_calendar("XNYS").sessions_between(dt.date(2024, 3, 4), dt.date(2024, 3, 4))[0]


def _mid(url: str, shard: str, fraction: float) -> None:
    wait_until_clock(url, ShardSpec.parse(shard), fraction, SESSION.open, SESSION.close)


def test_three_engines_and_a_follower_export_what_replay_exports(tmp_path: Path, redis_server: EmbeddedServer) -> None:
    url = redis_server.url
    follower, out = start_follower(tmp_path, url)  # before the engines: it waits for them
    engines = [start_engine(tmp_path, url, f"{i}/3") for i in (1, 2, 3)]
    for engine in engines:
        wait_ok(engine)
    wait_ok(follower)
    assert_same_export(out, reference_export(tmp_path))


def test_engine_killed_and_restarted_resumes_and_loses_nothing(tmp_path: Path, redis_server: EmbeddedServer) -> None:
    url = redis_server.url
    follower, out = start_follower(tmp_path, url)
    engines = {i: start_engine(tmp_path, url, f"{i}/3") for i in (1, 2, 3)}
    _mid(url, "2/3", 0.3)
    engines[2].send_signal(signal.SIGKILL)
    engines[2].wait()
    engines[2] = start_engine(tmp_path, url, "2/3")  # waits out the dead owner's lease, then resumes
    for engine in engines.values():
        wait_ok(engine)
    wait_ok(follower)
    assert_same_export(out, reference_export(tmp_path))


#: the kill at the issue's size (3 engines × 100 one-second symbols, a follower and a connected window)
#: is tests/gui/test_connect.py's, where the window's Qt fixtures are

#: the paused follower's pause, wall seconds (the issue's figure)
PAUSE_SECONDS = 30.0
#: slow enough that the engines publish through the whole pause: the session takes ~52 s
PAUSE_RUN_SPEED = "450"


def test_follower_started_mid_session_and_one_paused_30_s_both_end_identical(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    url = redis_server.url
    shard = ShardSpec.parse("1/2")
    paused, paused_out = start_follower(tmp_path, url, "paused")
    engines = [start_engine(tmp_path, url, f"{i}/2", "--speed", PAUSE_RUN_SPEED) for i in (1, 2)]
    _mid(url, "1/2", 0.1)
    paused.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    clock_at_stop = engine_clock(url, shard)
    _mid(url, "1/2", 0.4)
    late, late_out = start_follower(tmp_path, url, "late")
    time.sleep(max(0.0, PAUSE_SECONDS - (time.monotonic() - stopped)))
    clock_at_continue = engine_clock(url, shard)
    paused.send_signal(signal.SIGCONT)
    # the engines went on publishing for the whole pause, and were still running when it ended
    assert clock_at_stop is not None and clock_at_continue is not None
    assert clock_at_continue - clock_at_stop > 0.5 * (SESSION.close - SESSION.open)
    assert all(engine.poll() is None for engine in engines)
    for engine in engines:
        wait_ok(engine)
    wait_ok(late)
    wait_ok(paused)
    reference = reference_export(tmp_path)
    assert_same_export(late_out, reference)
    assert_same_export(paused_out, reference)


def test_standby_engine_waits_for_the_owner_and_takes_over_only_when_it_dies(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    url = redis_server.url
    follower, out = start_follower(tmp_path, url)
    owner = start_engine(tmp_path, url, "1/2", "--speed", "1500")  # slower: still running when checked
    other = start_engine(tmp_path, url, "2/2")
    _mid(url, "1/2", 0.2)
    standby_log = tmp_path / "standby.log"
    standby = start_engine(tmp_path, url, "1/2", "--recording", str(tmp_path / "standby.sqlite3"), log=standby_log)
    deadline = time.monotonic() + 60
    while "standing by" not in standby_log.read_text():
        assert standby.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(2.5)  # longer than the lease: a live owner keeps renewing it
    client = redis.Redis.from_url(url)
    assert standby.poll() is None and owner.poll() is None
    assert client.get("sm:{1/2}:epoch") == b"1"  # the standby has not taken a live owner's shard
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    wait_ok(standby)
    wait_ok(other)
    wait_ok(follower)
    assert client.get("sm:{1/2}:epoch") == b"2"
    client.close()
    assert "took over" in standby_log.read_text()
    assert_same_export(out, reference_export(tmp_path))


def test_redis_restart_mid_session_with_aof_loses_nothing(tmp_path: Path, redis_server: EmbeddedServer) -> None:
    url = redis_server.url
    follower, out = start_follower(tmp_path, url)
    engines = [start_engine(tmp_path, url, f"{i}/2") for i in (1, 2)]
    _mid(url, "1/2", 0.3)
    redis_server.restart()  # same port and directory; the AOF brings the logs and leases back
    for engine in engines:
        wait_ok(engine)
    wait_ok(follower)
    assert_same_export(out, reference_export(tmp_path))


def test_engine_stopped_by_sigterm_releases_its_lease_and_a_restart_resumes_losing_nothing(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    """SIGTERM (a service manager's stop) is a clean stop: exit 0 and the lease released at once, so
    the next engine for the shard need not wait it out; it resumes from the recording."""
    url = redis_server.url
    follower, out = start_follower(tmp_path, url)
    engines = {i: start_engine(tmp_path, url, f"{i}/3") for i in (1, 2, 3)}
    _mid(url, "2/3", 0.3)
    engines[2].send_signal(signal.SIGTERM)
    assert engines[2].wait(timeout=30) == 0
    assert redis.Redis.from_url(url).get(ShardKeys(ShardSpec(2, 3)).lease) is None  # not left to expire
    engines[2] = start_engine(tmp_path, url, "2/3")
    for engine in engines.values():
        wait_ok(engine)
    wait_ok(follower)
    assert_same_export(out, reference_export(tmp_path))


def test_serve_without_redis_starts_a_local_server_and_prints_its_url(tmp_path: Path) -> None:
    engine = subprocess.Popen(
        [sys.executable, "-m", "session_monitor", "serve", *RUN, "--speed", SPEED, "--lease-seconds", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(tmp_path), text=True,
    )
    STARTED.append(engine)
    try:
        assert engine.stdout is not None
        line = engine.stdout.readline()
        url = line.split()[2]
        assert url.startswith("redis://127.0.0.1:") and f"session-monitor connect {url}" in line
        follower, out = start_follower(tmp_path, url)
        wait_ok(follower)
        assert_same_export(out, reference_export(tmp_path))
        assert engine.poll() is None  # the run is over, the server stays up for GUIs
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=30) == 0
    finally:
        if engine.poll() is None:
            engine.kill()
