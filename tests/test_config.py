"""Session config files: a documented example, every bad key named by its path, round trip."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from session_monitor.core.config import ConfigError, SessionConfig, WatchItem, load_config, save_config
from session_monitor.core.runconfig import add_run_arguments, resolve_run
from session_monitor.core.workspace import ChartSpec, WorkspaceState
from session_monitor.resources import RESOURCES


def test_the_shipped_example_loads() -> None:
    config = load_config(RESOURCES / "session.example.toml")
    assert config.source == "demo" and config.calendar == "XNYS" and config.speed == "60.0"
    assert (config.start, config.end) == (dt.date(2024, 3, 4), dt.date(2024, 3, 5))
    assert [(w.symbol, w.intervals) for w in config.watchlist] == [
        ("SPY", ["1m", "5m", "15m", "1h"]), ("AAPL", ["1s", "1m", "5m"])
    ]
    assert config.workspace == WorkspaceState("1x2", (
        ChartSpec("SPY", "5m", (dt.datetime(2024, 3, 4, 14, 30, tzinfo=dt.UTC).timestamp(),
                                dt.datetime(2024, 3, 4, 17, tzinfo=dt.UTC).timestamp())),
        ChartSpec("SPY", "1h"),
    ), linked=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('sourc = "demo"', "sourc: unknown key"),
        ('speed = 0', "speed: speed"),
        ('speed = "fast"', "speed: speed 'fast' is not a number"),
        ('calendar = "NOPE"', "calendar: unknown calendar"),
        ("start = 2024-13-01", "not valid TOML"),
        ('start = "monday"', "start: 'monday' is not a date"),
        ("start = 2024-03-05\nend = 2024-03-04", "end: 2024-03-04 is before start"),
        ('base = "7x"', "base: unknown interval"),
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = ["1m", "7x"]', "watchlist[0].intervals[1]: unknown interval"),
        ('[[watchlist]]\nsymbol = ""\nintervals = ["1m"]', "watchlist[0].symbol: symbol is empty"),
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = []', "watchlist[0].intervals: expected a non-empty list"),
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = ["1m"]\ncolour = "red"', "watchlist[0].colour: unknown key"),
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = ["1m"]\n[[watchlist]]\nsymbol = "spy"\nintervals = ["1m"]',
         "watchlist[1].symbol: SPY is listed twice"),
        ('workspace = "2x2"', "workspace: expected a table"),
        ('[workspace]\nlayout = "3x3"', "workspace.layout: '3x3' is not a layout .known: 1, 1x2, 2x1, 2x2."),
        ('[workspace]\nlinked = "yes"', "workspace.linked: expected true or false"),
        ('[workspace]\nzoom = 2', "workspace.zoom: unknown key"),
        ('[workspace]\ncharts = "SPY"', "workspace.charts: expected an array of tables"),
        ("[workspace]\n" + "[[workspace.charts]]\n" * 5, "workspace.charts: 5 charts; the workspace shows at most 4"),
        ('[[workspace.charts]]\nsymbol = "SPY"\ninterval = "7x"', "workspace.charts[0].interval: unknown interval"),
        ('[[workspace.charts]]\n[[workspace.charts]]\nsymbol = ""', "workspace.charts[1].symbol: symbol is empty"),
        ('[[workspace.charts]]\nsymbol = "SPY"\ncolour = 1', "workspace.charts[0].colour: unknown key"),
        ('[[workspace.charts]]\nrange = [2024-03-04T14:30:00, 2024-03-04T15:00:00]',
         "workspace.charts[0].range: expected two date-times with a zone"),
        ('[[workspace.charts]]\nrange = [2024-03-04T15:00:00Z, 2024-03-04T14:30:00Z]',
         "workspace.charts[0].range: 2024-03-04T14:30:00.00:00 is not after 2024-03-04T15:00:00.00:00"),
    ],
)
def test_bad_keys_are_named_by_path(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_save_and_load_round_trip(tmp_path) -> None:
    config = SessionConfig(source="demo", calendar="XNYS", start=dt.date(2024, 3, 4), end=dt.date(2024, 3, 4),
                           speed="max", watchlist=[WatchItem("SPY", ["1m", "5m"]), WatchItem("QQQ", ["1s"])])
    save_config(config, tmp_path / "s.toml")
    assert load_config(tmp_path / "s.toml") == config


def test_the_workspace_round_trips_and_is_optional(tmp_path) -> None:
    workspace = WorkspaceState("2x1", (ChartSpec("SPY", "5m", (1709562600.0, 1709566200.5)), ChartSpec(),
                                       ChartSpec("QQQ", "1h")), linked=False)
    config = SessionConfig(watchlist=[WatchItem("SPY", ["1m", "5m"])], workspace=workspace)
    save_config(config, tmp_path / "s.toml")
    assert "[workspace]" in (tmp_path / "s.toml").read_text()
    assert load_config(tmp_path / "s.toml") == config
    config.workspace = None
    save_config(config, tmp_path / "none.toml")
    assert "workspace" not in (tmp_path / "none.toml").read_text()
    assert load_config(tmp_path / "none.toml").workspace is None


def test_config_drives_a_run_with_per_symbol_intervals_and_relative_paths(tmp_path, lean_minute) -> None:
    import os

    relative = os.path.relpath(lean_minute, tmp_path)
    (tmp_path / "s.toml").write_text(
        f'source = "{relative}"\nstart = 2015-12-23\nend = 2015-12-24\nspeed = "max"\n'
        '[[watchlist]]\nsymbol = "GOOG"\nintervals = ["5m", "1h"]\n'
    )
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, source_required=False)
    setup = resolve_run(parser.parse_args(["--config", str(tmp_path / "s.toml")]), default_speed=60.0)
    assert [s.date for s in setup.sessions] == [dt.date(2015, 12, 23), dt.date(2015, 12, 24)]
    assert [(s, [i.name for i in ivs]) for s, ivs in setup.watchlist] == [("GOOG", ["5m", "1h"])]
    assert setup.speed is None


def test_named_sources_are_not_taken_for_paths(tmp_path) -> None:
    (tmp_path / "s.toml").write_text('source = "demo:7"\n')
    assert load_config(tmp_path / "s.toml").source == "demo:7"


def test_a_live_source_watches_todays_session_and_refuses_a_date_range(monkeypatch) -> None:
    pytest.importorskip("alpaca")
    from session_monitor.core.calendar import get_calendar
    from session_monitor.core.runconfig import UsageError

    monkeypatch.setenv("APCA_API_KEY_ID", "PKTEST")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "not-a-real-secret")
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, source_required=False)
    setup = resolve_run(parser.parse_args(["alpaca", "--symbols", "SPY", "--intervals", "1m,5m"]), default_speed=60.0)
    try:
        assert setup.live and setup.speed == 1.0
        assert setup.sessions == [get_calendar("XNYS").current_or_next_session()]
    finally:
        setup.source.close()
    with pytest.raises(UsageError, match="is live"):
        resolve_run(parser.parse_args(["alpaca", "--symbols", "SPY", "--start", "2024-03-04"]), default_speed=60.0)
    with pytest.raises(UsageError, match="--end 2024-03-04 is before the live session"):
        resolve_run(parser.parse_args(["alpaca", "--symbols", "SPY", "--end", "2024-03-04"]), default_speed=60.0)


def test_a_live_run_with_an_end_watches_every_session_from_todays_through_it(monkeypatch) -> None:
    """An engine behind a feed gateway runs every day: ``--end`` bounds it (here the 24/7 calendar's next two days)."""
    pytest.importorskip("alpaca")
    import datetime as dt

    from session_monitor.core.calendar import get_calendar

    monkeypatch.setenv("APCA_API_KEY_ID", "PKTEST")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "not-a-real-secret")
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, source_required=False)
    today = get_calendar("24/7").current_or_next_session()
    end = today.date + dt.timedelta(days=2)
    args = ["alpaca", "--symbols", "SPY", "--calendar", "24/7", "--end", end.isoformat()]
    setup = resolve_run(parser.parse_args(args), default_speed=60.0)
    try:
        assert [s.date for s in setup.sessions] == [today.date + dt.timedelta(days=k) for k in range(3)]
        assert setup.sessions[1].open == today.close
    finally:
        setup.source.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('source = ""', "source: expected 'demo' or a path"),
        ("calendar = 7", "calendar: expected a calendar name such as XNYS"),
        ("speed = true", "speed: expected 'max' or a positive number"),
        ("start = 2024-03-04T09:30:00", "start: expected a date (YYYY-MM-DD), not a date-time"),
        ("watchlist = 3", "watchlist: expected an array of tables ([[watchlist]])"),
        ("watchlist = [1]", "watchlist[0]: expected a table with symbol and intervals"),
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = ["1m"]\n[[watchlist]]\nsymbol = "spy"\nintervals = []',
         "watchlist[1].symbol: SPY is listed twice"),  # the symbol is checked before the entry's intervals
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = ["1m"]\nalerts = 3',
         "watchlist[0].alerts: expected a table such as { stale_slots = 5, coverage_below = 95 }"),
        ("speed = 0\nbase = \"7x\"", "speed: speed 0 must be a positive number"),  # keys in the documented order
    ],
)
def test_each_section_names_the_file_and_its_key(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text + "\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert str(raised.value).startswith(f"{path}: {message}")


def test_a_file_that_cannot_be_read_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="config file does not exist"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "deep.toml").write_text("a = " + "[" * 5000 + "\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "deep.toml")
    assert str(raised.value).startswith(f"{tmp_path / 'deep.toml'}: ")


def test_an_interval_list_may_be_one_string(tmp_path) -> None:
    (tmp_path / "s.toml").write_text('[[watchlist]]\nsymbol = "spy"\nintervals = "60m, 1m,"\n')

    assert load_config(tmp_path / "s.toml").watchlist == [WatchItem("SPY", ["1h", "1m"])]
