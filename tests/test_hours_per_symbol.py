"""Session hours per watchlist entry: an extended symbol next to a regular one in one run."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from session_monitor.core.calendar import get_calendar
from session_monitor.core.cli import main
from session_monitor.core.config import ConfigError, SessionConfig, WatchItem, load_config, save_config

LEAN = Path(__file__).parent / "data" / "lean" / "equity" / "usa" / "minute"
INTERVALS = ["1m", "5m", "1h", "1d"]


def _source(tmp_path: Path) -> Path:
    """SPY 2013-10-07 (pre/post-market rows) and GOOG 2015-12-24 (an early close), the real files."""
    root = tmp_path / "lean" / "equity" / "usa" / "minute"
    for name in ("spy/20131007_trade.zip", "goog/20151224_trade.zip"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(LEAN / name, root / name)
    return root


def _session_file(path: Path, source: Path, entries: str, hours: str = "") -> Path:
    path.write_text(f'source = "{source}"\nspeed = "max"\n{hours}{entries}', encoding="utf-8")
    return path


def _replay(config: Path, out: Path) -> None:
    assert main(["replay", "--config", str(config), "--no-record", "--quiet", "--export", str(out)]) == 0


def _entry(symbol: str, hours: str | None = None) -> str:
    own = f'hours = "{hours}"\n' if hours else ""
    return f'[[watchlist]]\nsymbol = "{symbol}"\nintervals = {json.dumps(INTERVALS)}\n{own}'


def test_a_regular_entry_next_to_an_extended_one_keeps_its_own_session(tmp_path: Path) -> None:
    source = _source(tmp_path)
    mixed = _session_file(tmp_path / "mixed.toml", source, _entry("SPY", "extended") + _entry("GOOG", "regular"))
    alone = _session_file(tmp_path / "alone.toml", source, _entry("GOOG"))
    _replay(mixed, tmp_path / "mixed")
    _replay(alone, tmp_path / "alone")

    # GOOG on regular hours: every file byte-identical to a regular-hours replay of GOOG alone
    for interval in INTERVALS:
        name = f"GOOG/{interval}.csv"
        assert (tmp_path / "mixed" / name).read_bytes() == (tmp_path / "alone" / name).read_bytes(), name
    hourly = (tmp_path / "mixed" / "GOOG" / "1h.csv").read_text().splitlines()
    assert hourly[1].startswith("2015-12-24T14:30:00+00:00") and hourly[-1].startswith("2015-12-24T17:30:00+00:00")

    # SPY on extended hours: pre- and post-market bars, and segments blocks
    spy_hourly = [row.split(",")[0] for row in (tmp_path / "mixed" / "SPY" / "1h.csv").read_text().splitlines()[1:]]
    assert spy_hourly[0] == "2013-10-07T08:00:00+00:00"  # 04:00 New York
    assert "2013-10-07T20:00:00+00:00" in spy_hourly  # 16:00, the after-hours
    report = json.loads((tmp_path / "mixed" / "session.json").read_text())
    regular = json.loads((tmp_path / "alone" / "session.json").read_text())
    days = {s["date"]: s for s in report["sessions"]}
    spy_day, goog_day = days["2013-10-07"], days["2015-12-24"]
    assert spy_day["open"] == "2013-10-07T08:00:00+00:00" and spy_day["close"] == "2013-10-08T00:00:00+00:00"
    assert set(spy_day["symbols"]["SPY"]["intervals"]["5m"]["segments"]) == {"pre", "regular", "post"}
    assert set(spy_day["symbols"]["SPY"]["health_segments"]) == {"pre", "regular", "post"}
    # the run's clock spans the extended day (17:00 on the early close); GOOG's own session is regular
    assert goog_day["open"] == "2015-12-24T09:00:00+00:00" and goog_day["close"] == "2015-12-24T22:00:00+00:00"
    goog = goog_day["symbols"]["GOOG"]
    assert goog.pop("session") == {"hours": "regular", "open": "2015-12-24T14:30:00+00:00",
                                   "close": "2015-12-24T18:00:00+00:00"}
    assert goog == regular["sessions"][0]["symbols"]["GOOG"]  # quality, gaps, health as when alone


def test_a_regular_run_with_one_extended_entry_starts_its_clock_at_04_00(tmp_path: Path) -> None:
    source = _source(tmp_path)
    entries = _entry("SPY", "extended") + _entry("GOOG")
    config = _session_file(tmp_path / "s.toml", source, entries, 'hours = "regular"\n')
    _replay(config, tmp_path / "out")
    spy_1m = (tmp_path / "out" / "SPY" / "1m.csv").read_text().splitlines()
    assert spy_1m[1].startswith("2013-10-07T08:")  # pre-market minutes from 04:00 New York
    alone = _session_file(tmp_path / "alone.toml", source, _entry("GOOG"))
    _replay(alone, tmp_path / "alone")
    assert (tmp_path / "out" / "GOOG" / "1m.csv").read_bytes() == (tmp_path / "alone" / "GOOG" / "1m.csv").read_bytes()


@pytest.mark.parametrize("date", [dt.date(2013, 10, 7), dt.date(2015, 12, 24)])
def test_the_regular_part_of_an_extended_day_is_the_regular_calendars_session(date: dt.date) -> None:
    day = get_calendar("XNYS", hours="extended").session(date)
    assert day.in_hours("regular") == get_calendar("XNYS").session(date)
    assert day.in_hours("extended") is day


def test_an_entrys_hours_are_read_saved_and_a_bad_one_named(tmp_path: Path) -> None:
    path = _session_file(tmp_path / "s.toml", Path("demo"), _entry("SPY", "extended") + _entry("GOOG"))
    config = load_config(path)
    assert [(w.symbol, w.hours) for w in config.watchlist] == [("SPY", "extended"), ("GOOG", None)]
    saved = tmp_path / "saved.toml"
    save_config(SessionConfig(watchlist=[WatchItem("SPY", ["1m"], "extended"), WatchItem("GOOG", ["1m"])]), saved)
    assert [(w.symbol, w.hours) for w in load_config(saved).watchlist] == [("SPY", "extended"), ("GOOG", None)]
    bad = _session_file(tmp_path / "bad.toml", Path("demo"), _entry("SPY") + _entry("GOOG", "overnight"))
    with pytest.raises(ConfigError, match=r"bad.toml: watchlist\[1\].hours: 'overnight': expected one of regular"):
        load_config(bad)
