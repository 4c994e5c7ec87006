"""Alerts: fired once at start and once at clear, on the session clock, as JSON lines."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from session_monitor.core.alerts import AlertConfig, AlertEngine, AlertLog, AlertRules, attach_alerts
from session_monitor.core.calendar import get_calendar
from session_monitor.core.cli import main
from session_monitor.core.config import ConfigError, load_config, save_config
from session_monitor.core.feeds import FaultSchedule
from tests.health_helpers import Run, SparseSource, at, scripted_run

DAY = dt.date(2024, 3, 5)
NY = get_calendar("XNYS", earliest=DAY).session(DAY)


def alert_run(symbols, config: AlertConfig | None = None, **kwargs) -> tuple[Run, list[str], AlertEngine]:
    out = io.StringIO()
    engines: list[AlertEngine] = []

    def attach(run: Run) -> None:
        engine = attach_alerts(run.coordinator, config)
        engine.fired.connect(AlertLog(out).write)
        engines.append(engine)

    run = scripted_run(DAY, symbols, extra=attach, **kwargs)
    lines = out.getvalue().splitlines()
    assert all(json.loads(line)["time"] >= "2024-03-05T09:30:00-05:00" for line in lines)  # nothing before the open
    return run, lines, engines[0]


def line(time: str, symbol: str, interval: str | None, rule: str, event: str, value) -> str:
    return json.dumps({"time": f"2024-03-05T{time}-05:00", "symbol": symbol, "interval": interval, "rule": rule,
                       "event": event, "value": value})


def test_two_symbols_silent_11_00_to_11_30_alert_stale_then_clear_as_json_lines() -> None:
    silent = FaultSchedule(silences=((at(NY, "11:00"), at(NY, "11:30")),))
    _, lines, _ = alert_run({"AAPL": silent, "MSFT": silent, "SPY": None})
    assert lines == [
        line("11:04:00", "AAPL", None, "stale", "start", 5),
        line("11:04:00", "MSFT", None, "stale", "start", 5),
        line("11:30:00", "AAPL", None, "stale", "clear", 1560.0),
        line("11:30:00", "MSFT", None, "stale", "clear", 1560.0),
        # the demo sends a bar every minute: the 30 lost minutes are missing, 360/390 covered at the close
        line("16:00:00", "AAPL", "1m", "coverage", "start", 92.308),
        line("16:00:00", "AAPL", "5m", "coverage", "start", 92.308),
        line("16:00:00", "MSFT", "1m", "coverage", "start", 92.308),
        line("16:00:00", "MSFT", "5m", "coverage", "start", 92.308),
    ]


def test_a_quiet_symbol_among_live_ones_fires_nothing() -> None:
    _, lines, engine = alert_run({"AAPL": None, "SLOW": None}, inner=SparseSource({"SLOW": 3}))
    assert lines == [] and engine.history == []


def test_a_flapping_symbol_gives_one_start_and_one_clear() -> None:
    """Bars every 10 s at 1 s: stale after 5 silent seconds 32 times until its rhythm is learnt."""
    run, lines, _ = alert_run({"SLOW": None}, inner=SparseSource({"SLOW": 10}), intervals=("1s", "1m"),
                              max_chunk=600)
    flips = [c for c in run.changes if c.state.value == "stale"]
    assert len(flips) == 32
    stale = [json.loads(x) for x in lines if json.loads(x)["rule"] == "stale"]
    assert [(a["event"], a["time"][11:19]) for a in stale] == [("start", "09:30:06"), ("clear", "09:35:21")]


def test_a_feed_down_alerts_after_10_s_and_a_flapping_one_stays_one_alert() -> None:
    once = FaultSchedule(failures=((at(NY, "10:30"), at(NY, "11:00")),))
    flaps = FaultSchedule(failures=tuple((at(NY, "12:00") + 25 * k, at(NY, "12:00") + 25 * k + 15) for k in range(40)))
    _, lines, _ = alert_run({"AAPL": once, "MSFT": flaps, "SPY": None}, max_chunk=5.0)
    down = [(a["symbol"], a["event"], a["time"][11:19], a["value"]) for a in map(json.loads, lines)
            if a["rule"] == "down"]
    assert down == [
        ("AAPL", "start", "10:30:10", 10.0),
        ("AAPL", "clear", "11:00:00", 1790.0),
        ("MSFT", "start", "12:00:10", 10.0),
        ("MSFT", "clear", "12:16:30", 980.0),  # up for 10 s between failures: within the 20 s hold-off
    ]


def test_gap_and_revised_rules_decided_after_the_fact() -> None:
    silent = FaultSchedule(silences=((at(NY, "11:00"), at(NY, "11:30")),))
    outage = FaultSchedule(failures=((at(NY, "10:32"), at(NY, "10:40")),))
    rules = AlertRules(stale_slots=None, coverage_below=None, down_seconds=None, gap_slots=10, revised=True)
    _, lines, _ = alert_run({"AAPL": silent, "MSFT": outage}, AlertConfig(rules))
    events = [json.loads(x) for x in lines]
    gaps = [(a["symbol"], a["interval"], a["event"], a["time"][11:16], a["value"])
            for a in events if a["rule"] == "gap"]
    # 30 minutes missing from 10:59: longer than 10 slots at 11:10, over at 11:29 (5m: 5 empty windows, fewer)
    assert gaps == [("AAPL", "1m", "start", "11:10", 30), ("AAPL", "1m", "clear", "11:29", 30)]
    revised = [(a["symbol"], a["interval"]) for a in events if a["rule"] == "revised"]
    assert revised and set(revised) == {("MSFT", "5m")}  # the backfill rewrote 5m bars that were final


def test_session_file_rules_global_and_per_symbol(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'source = "demo"\n[alerts]\ncoverage_below = 99\nquality_below = 90\ncheck_at = "open"\n'
        '[[watchlist]]\nsymbol = "spy"\nintervals = ["1m"]\nalerts = { stale_slots = 15, down_seconds = false }\n'
        '[[watchlist]]\nsymbol = "aapl"\nintervals = ["1m"]\n'
    )
    config = load_config(path)
    assert config.alerts is not None
    assert config.alerts.rules_for("AAPL") == AlertRules(coverage_below=99.0, quality_below=90.0, check_at="open")
    assert config.alerts.rules_for("SPY") == AlertRules(
        coverage_below=99.0, quality_below=90.0, check_at="open", stale_slots=15, down_seconds=None
    )
    save_config(config, tmp_path / "again.toml")
    assert load_config(tmp_path / "again.toml").alerts == config.alerts


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[alerts]\nstale_slot = 3\n", "alerts.stale_slot: unknown alert rule"),
        ("[alerts]\ncoverage_below = 120\n", "alerts.coverage_below: 120 is out of range"),
        ("[alerts]\ncheck_at = 'noon'\n", "alerts.check_at: expected 'close' or 'open'"),
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = ["1m"]\nalerts = { gap_slots = 2.5 }\n',
         "watchlist[0].alerts.gap_slots: expected a whole number or false"),
    ],
)
def test_bad_alert_rules_name_the_key(tmp_path, table, message) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('source = "demo"\n' + table)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_replay_alerts_file_writes_json_lines(tmp_path, lean_minute) -> None:
    config = tmp_path / "s.toml"
    config.write_text("[alerts]\nquality_below = 90\ngap_slots = 1\n")
    out = tmp_path / "alerts.jsonl"
    argv = ["replay", str(lean_minute), "--symbols", "SHY", "--intervals", "1m,5m", "--start", "2008-03-07",
            "--end", "2008-03-07", "--speed", "max", "--quiet", "--no-record", "--config", str(config),
            "--alerts", str(out)]
    assert main(argv) == 0
    # SHY's 40 gaps are minutes without trades (quiet): no gap alert; its quality (333 of 390) is below 90
    quality = round(100 * 333 / 390, 3)
    assert out.read_text().splitlines() == [
        json.dumps({"time": "2008-03-07T16:00:00-05:00", "symbol": "SHY", "interval": name, "rule": "quality",
                    "event": "start", "value": quality})
        for name in ("1m", "5m")
    ]
