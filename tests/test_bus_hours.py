"""Extended hours over the bus: a follower's export equals ``replay --export`` byte for byte for an
extended-hours run and for a run mixing regular and extended watchlist entries (a session file)."""

from __future__ import annotations

import json
from pathlib import Path

from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.cli import main
from tests.bus_helpers import assert_same_export, start_engine, start_follower, wait_ok

SYMBOLS = "SPY,AAPL,MSFT,QQQ,IWM,GOOG"
DAY = ["--start", "2024-03-04", "--end", "2024-03-04"]
#: an extended day is 16 h: ~8 s of session clock at this speed
SPEED = "8000"


def _serve_and_follow(tmp_path: Path, url: str, run: list[str]) -> Path:
    follower, out = start_follower(tmp_path, url)
    engines = [start_engine(tmp_path, url, f"{i}/2", run=run, speed=SPEED) for i in (1, 2)]
    for engine in engines:
        wait_ok(engine)
    wait_ok(follower)
    return out


def _replay(tmp_path: Path, run: list[str]) -> Path:
    out = tmp_path / "reference"
    assert main(["replay", *run, "--speed", "max", "--export", str(out), "--quiet", "--no-record"]) == 0
    return out


def test_extended_hours_follower_exports_what_replay_exports(tmp_path: Path, redis_server: EmbeddedServer) -> None:
    run = ["demo", "--symbols", SYMBOLS, "--intervals", "1m,5m,1h", *DAY, "--hours", "extended"]
    out = _serve_and_follow(tmp_path, redis_server.url, run)
    reference = _replay(tmp_path, run)
    assert_same_export(out, reference)
    day = json.loads((out / "session.json").read_text())["sessions"][0]
    assert day["open"] == "2024-03-04T09:00:00+00:00"  # 04:00 New York
    assert set(day["symbols"]["SPY"]["health_segments"]) == {"pre", "regular", "post"}


def test_regular_and_extended_entries_in_one_run_follower_exports_what_replay_exports(
    tmp_path: Path, redis_server: EmbeddedServer
) -> None:
    entries = "".join(
        f'[[watchlist]]\nsymbol = "{symbol}"\nintervals = ["1m", "5m", "1h"]\n'
        + (f'hours = "{hours}"\n' if hours else "")
        for symbol, hours in (("SPY", "extended"), ("AAPL", "regular"), ("MSFT", None), ("QQQ", "extended"),
                              ("IWM", "regular"), ("GOOG", "extended"))
    )
    config = tmp_path / "mixed.toml"
    config.write_text(f'source = "demo"\nhours = "regular"\n{entries}', encoding="utf-8")
    run = ["--config", str(config), *DAY]
    out = _serve_and_follow(tmp_path, redis_server.url, run)
    reference = _replay(tmp_path, run)
    assert_same_export(out, reference)
    symbols = json.loads((out / "session.json").read_text())["sessions"][0]["symbols"]
    assert symbols["AAPL"]["session"]["hours"] == "regular" and "session" not in symbols["SPY"]
    assert set(symbols["GOOG"]["health_segments"]) == {"pre", "regular", "post"}
    assert "health_segments" not in symbols["IWM"]
