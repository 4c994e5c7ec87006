"""The ``mismatch`` rule: a reconciliation that finds derived bars differing from a reference."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from session_monitor.core.alerts import AlertConfig, AlertEngine, AlertRule, AlertRules, attach_alerts
from session_monitor.core.calendar import get_calendar
from session_monitor.core.cli import main
from session_monitor.core.config import ConfigError, load_config
from session_monitor.core.intervals import Interval
from session_monitor.core.reconcile.held import held_bars, reconcile_held
from session_monitor.core.reconcile.reference import load_reference
from session_monitor.core.reconcile.windows import Convention, derive_on, session_windows
from session_monitor.core.sources.lean import LeanSource
from tests.core_helpers import utc, write_bars_csv
from tests.health_helpers import Run, at, scripted_run
from tests.test_alerts import DAY, NY, line


def _run(config: AlertConfig | None = None) -> tuple[Run, AlertEngine, list[str]]:
    """A 1m demo day of AAPL with alerts; the returned list gets each ``mismatch`` event's JSON line."""
    engines: list[AlertEngine] = []
    run = scripted_run(DAY, {"AAPL": None}, extra=lambda r: engines.append(attach_alerts(r.coordinator, config)))
    lines: list[str] = []
    engines[0].fired.connect(lambda a: lines.append(json.dumps(a.as_dict())) if a.rule is AlertRule.MISMATCH else None)
    return run, engines[0], lines


def _reference(run: Run, folder: Path, plant: bool) -> Path:
    """AAPL's 30m bars as derived from its base bars; with ``plant``: low -0.5 at 10:30, volume +7 at
    11:00 and high +1 at 14:00 (New York)."""
    held = held_bars(run.session_data, "AAPL")
    assert held is not None
    derived = derive_on(held.bars[-1], session_windows(held.sessions[-1], Interval(1800), Convention.SESSION_ANCHORED))
    cols = [col.astype(float).tolist() for col in derived.bars]
    if plant:
        row = {int(t): i for i, t in enumerate(derived.bars.ts)}
        cols[3][row[int(at(NY, "10:30"))]] -= 0.5
        cols[5][row[int(at(NY, "11:00"))]] += 7
        cols[2][row[int(at(NY, "14:00"))]] += 1
    folder.mkdir()
    write_bars_csv(folder / "AAPL.csv", *cols)
    return folder / "AAPL.csv"


def _compare(run: Run, engine: AlertEngine, reference: Path) -> None:
    held = held_bars(run.session_data, "AAPL")
    assert held is not None
    engine.on_reconciled([reconcile_held(series, held) for series in load_reference(reference)])


def _mismatch(time: str, event: str, value: int, fields: list[str] | None = None) -> str:
    out = json.loads(line(time, "AAPL", "30m", "mismatch", event, value))
    if fields is not None:
        out["fields"] = fields
    return json.dumps(out)


def test_planted_price_differences_start_one_mismatch_and_a_clean_comparison_clears_it(tmp_path: Path) -> None:
    run, engine, lines = _run()
    planted = _reference(run, tmp_path / "planted", plant=True)
    _compare(run, engine, planted)
    _compare(run, engine, planted)  # the same episode: no second start
    assert lines == [_mismatch("10:30:00", "start", 2, ["high", "low"])]  # the volume-only bar is not counted
    assert engine.active("AAPL") == [(AlertRule.MISMATCH, "AAPL", "30m")]
    _compare(run, engine, _reference(run, tmp_path / "clean", plant=False))
    # cleared at the newest bar compared (the 15:30 window)
    assert lines[1:] == [_mismatch("15:30:00", "clear", 0)]
    assert engine.active("AAPL") == []


def test_mismatch_volume_counts_volume_only_bars(tmp_path: Path) -> None:
    run, engine, lines = _run(AlertConfig(AlertRules(mismatch_volume=True)))
    _compare(run, engine, _reference(run, tmp_path / "planted", plant=True))
    assert lines == [_mismatch("10:30:00", "start", 3, ["high", "low", "volume"])]


def test_mismatch_off_for_one_symbol_fires_nothing(tmp_path: Path) -> None:
    run, engine, lines = _run(AlertConfig(per_symbol={"AAPL": AlertRules(mismatch=False)}))
    _compare(run, engine, _reference(run, tmp_path / "planted", plant=True))
    assert lines == []


def test_session_file_mismatch_rules(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('source = "demo"\n[alerts]\nmismatch_volume = true\n'
                    '[[watchlist]]\nsymbol = "spy"\nintervals = ["1m"]\nalerts = { mismatch = false }\n')
    config = load_config(path)
    assert config.alerts is not None
    assert config.alerts.rules_for("AAPL") == AlertRules(mismatch_volume=True)
    assert config.alerts.rules_for("SPY") == AlertRules(mismatch_volume=True, mismatch=False)
    assert config.alerts.default.to_toml() == {"mismatch_volume": True}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[alerts]\nmismatch = 1\n", r"alerts\.mismatch: expected true or false"),
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = ["1m"]\nalerts = { mismatch_volume = "no" }\n',
         r"watchlist\[0\]\.alerts\.mismatch_volume: expected true or false"),
    ],
)
def test_bad_mismatch_rule_names_its_key(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('source = "demo"\n' + table)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_replay_reference_alerts_per_closed_session(tmp_path: Path, lean_minute: Path) -> None:
    """GOOG's 15m bars of three Lean days as reference, one low changed on 2015-12-23 and one volume on
    2015-12-28: a mismatch starts on the 23rd and clears at the newest bar of the 24th (a half day)."""
    source = LeanSource(lean_minute)
    sessions = get_calendar("XNYS").sessions_between(dt.date(2015, 12, 23), dt.date(2015, 12, 28))
    cols: list[list[float]] = [[] for _ in range(6)]
    for session in sessions:
        day = derive_on(source.load_session("GOOG", Interval(60), session).bars,
                        session_windows(session, Interval(900), Convention.SESSION_ANCHORED)).bars
        for col, values in zip(cols, day, strict=True):
            col.extend(values.astype(float).tolist())
    row = {int(t): i for i, t in enumerate(cols[0])}
    cols[3][row[utc("2015-12-23T16:30:00")]] -= 1.0
    cols[5][row[utc("2015-12-28T15:00:00")]] += 7
    write_bars_csv(tmp_path / "GOOG.csv", *cols)
    out = tmp_path / "alerts.jsonl"
    config = tmp_path / "s.toml"
    config.write_text("[alerts]\ncoverage_below = false\n")
    argv = ["replay", str(lean_minute), "--symbols", "GOOG", "--intervals", "1m,15m", "--start", "2015-12-23",
            "--end", "2015-12-28", "--speed", "max", "--quiet", "--no-record", "--config", str(config),
            "--alerts", str(out), "--reference", str(tmp_path / "GOOG.csv")]
    assert main(argv) == 0
    assert [json.loads(text) for text in out.read_text().splitlines()] == [
        {"time": "2015-12-23T11:30:00-05:00", "symbol": "GOOG", "interval": "15m", "rule": "mismatch",
         "event": "start", "value": 1, "fields": ["low"]},
        {"time": "2015-12-24T12:45:00-05:00", "symbol": "GOOG", "interval": "15m", "rule": "mismatch",
         "event": "clear", "value": 0},
    ]


def test_replay_reference_needs_alerts(lean_minute: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(lean_minute), "--symbols", "GOOG", "--reference", "x.csv"]) == 2
    assert "--reference needs --alerts FILE" in capsys.readouterr().err
