"""Run setup: the command line over the session file, and an open date range completed from the data."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pytest

from session_monitor.core.config import WatchItem
from session_monitor.core.runconfig import RunSetup, UsageError, add_run_arguments, read_request, resolve_run

SESSION_FILE = (
    'source = "demo:3"\ncalendar = "24/7"\nbase = "1m"\nspeed = 60\nstart = 2024-03-04\nend = 2024-03-05\n'
    '[[watchlist]]\nsymbol = "spy"\nintervals = ["5m", "1m"]\n'
)


def _args(*argv: str, source_required: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, source_required=source_required)
    return parser.parse_args(list(argv))


def _resolve(*argv: str) -> RunSetup:
    return resolve_run(_args(*argv), default_speed=None)


def test_the_session_file_gives_every_value_the_command_line_leaves_out(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SESSION_FILE)

    request = read_request(_args("--config", str(tmp_path / "s.toml")))

    assert (request.spec, request.calendar, request.base, request.speed) == ("demo:3", "24/7", "1m", "60.0")
    assert (request.config_start, request.config_end) == (dt.date(2024, 3, 4), dt.date(2024, 3, 5))
    assert request.watchlist == [WatchItem("SPY", ["5m", "1m"])]  # normalised, in the order written
    assert (request.symbols, request.intervals, request.record, request.record_as) == (None, None, True, "")


def test_each_given_argument_overrides_the_session_file(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SESSION_FILE)

    request = read_request(_args(
        "demo", "--config", str(tmp_path / "s.toml"), "--calendar", "XNYS", "--base", "1s", "--speed", "max",
        "--start", "2024-03-06", "--symbols", "QQQ", "--intervals", "1h", "--no-record", "--record-as", " desk2 ",
    ))

    assert (request.spec, request.calendar, request.base, request.speed) == ("demo", "XNYS", "1s", "max")
    assert request.date_range() == (dt.date(2024, 3, 6), dt.date(2024, 3, 5))
    assert (request.symbols, request.intervals, request.record, request.record_as) == ("QQQ", "1h", False, "desk2")


def test_no_source_and_no_session_file_is_refused() -> None:
    with pytest.raises(UsageError, match="name a SOURCE"):
        read_request(_args(source_required=True))
    assert read_request(_args()).spec == "demo"


def test_a_bad_session_file_is_a_usage_error_naming_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("speed = 0\n")

    with pytest.raises(UsageError) as raised:
        read_request(_args("--config", str(tmp_path / "s.toml")))

    assert str(raised.value).startswith(f"{tmp_path / 's.toml'}: speed: ")


def test_an_open_end_is_completed_from_the_data(lean_minute: Path) -> None:
    from_start = _resolve(str(lean_minute), "--symbols", "SPY", "--start", "2013-10-07")
    to_end = _resolve(str(lean_minute), "--symbols", "SPY", "--end", "2013-10-08")
    after_data = _resolve(str(lean_minute), "--symbols", "SPY", "--start", "2013-10-15")

    assert [s.date.isoformat() for s in from_start.sessions] == [
        "2013-10-07", "2013-10-08", "2013-10-09", "2013-10-10", "2013-10-11"]
    assert [s.date.isoformat() for s in to_end.sessions] == ["2013-10-04", "2013-10-07", "2013-10-08"]
    assert [s.date for s in after_data.sessions] == [dt.date(2013, 10, 15)]  # the data ends before: just the start


def test_a_range_without_sessions_is_refused_naming_it() -> None:
    with pytest.raises(UsageError, match=r"^no XNYS sessions between 2024-03-09 and 2024-03-10$"):
        _resolve("demo", "--start", "2024-03-09", "--end", "2024-03-10")
