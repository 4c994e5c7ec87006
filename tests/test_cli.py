"""The headless CLI: bad arguments get one line and exit 2; an unreadable source exits 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from session_monitor.core.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", ""], "symbol is empty"),
        (["--symbols", "SP Y"], "malformed"),
        (["--symbols", "SPY,SPY"], "names a symbol twice"),
        (["--symbols", "ZZZZ"], "ZZZZ: the source has no data for this symbol"),
        (["--intervals", "7x"], "unknown interval '7x'"),
        (["--intervals", "90s"], "interval 90s cannot be derived"),
        (["--intervals", "1s"], "interval 1s is finer than the finest base"),
        (["--start", "2013-13-01"], "is not a date"),
        (["--start", "2090-01-01", "--end", "2090-01-05"], "outside the XNYS calendar"),
        (["--start", "2013-10-11", "--end", "2013-10-07"], "before start date"),
        (["--speed", "0"], "must be a positive number"),
        (["--speed", "-3"], "must be a positive number"),
        (["--calendar", "NOPE"], "unknown calendar 'NOPE'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(lean_minute, capsys, args, message) -> None:
    argv = ["replay", str(lean_minute), "--symbols", "SPY", "--intervals", "1m,5m", *args]
    if "--symbols" in args:
        argv = ["replay", str(lean_minute), "--intervals", "1m,5m", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_missing_source_path_exits_1(tmp_path, capsys) -> None:
    assert main(["replay", str(tmp_path / "nowhere"), "--symbols", "SPY"]) == 1
    err = capsys.readouterr().err.strip()
    assert "source path does not exist" in err and "Traceback" not in err


def test_replay_writes_exports_and_reports_rejected_rows_without_failing(tmp_path) -> None:
    csv = tmp_path / "SPY.csv"
    csv.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2013-10-07T13:30:00+00:00,10,11,9,10.5,100\n"
        "2013-10-07T13:31:00+00:00,10,9,11,10.5,100\n"  # high < low: rejected, line 3
        "2013-10-07T13:32:00+00:00,10.5,11,10,10.75,50\n"
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "session_monitor.core.cli", "replay", str(csv),
         "--intervals", "1m,5m", "--export", str(out),
         "--no-record", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "SPY.csv:3" in result.stderr
    assert (out / "SPY" / "5m.csv").read_text().splitlines() == [
        "timestamp,open,high,low,close,volume",
        "2013-10-07T13:30:00+00:00,10.0,11.0,9.0,10.75,150.0",
    ]
    report = json.loads((out / "session.json").read_text())
    spy = report["sessions"][0]["symbols"]["SPY"]["intervals"]
    assert spy["1m"]["bars"] == 2 and spy["5m"]["incomplete"] == 1


def test_a_symbol_that_climbs_out_of_the_export_folder_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "a" / "b" / "out"
    code = main(["replay", "demo", "--symbols", "../../PWNED", "--intervals", "1m", "--speed", "max",
                 "--export", str(out), "--no-record", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "session-monitor replay: error: symbol '../../PWNED' is malformed: use at most 20 letters and digits, "
        "joined by single . - / _ = (e.g. BRK.B, BTC/USD), optionally after a leading ^"
    ]
    assert not list(tmp_path.rglob("PWNED*"))


@pytest.mark.parametrize("symbols", ["SPY,./SPY", "spy,SPY"])
def test_two_spellings_of_one_symbol_are_said_once(lean_minute, capsys, symbols) -> None:
    assert main(["replay", str(lean_minute), "--symbols", symbols, "--no-record", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    expected = "symbol './SPY' is malformed" if "./" in symbols else "names a symbol twice: SPY (as 'spy', 'SPY')"
    assert len(err) == 1 and expected in err[0], err


def test_a_csv_symbol_column_cannot_write_outside_the_export_folder(tmp_path) -> None:
    csv = tmp_path / "data" / "bars.csv"
    csv.parent.mkdir()
    csv.write_text(
        "symbol,timestamp,open,high,low,close,volume\n"
        "BTC/USD,2013-10-07T13:30:00+00:00,10,11,9,10.5,100\n"
        "../../../../EVIL,2013-10-07T13:30:00+00:00,10,11,9,10.5,100\n"
        "btc/usd,2013-10-07T13:31:00+00:00,10.5,11,10,10.75,50\n"
        "../../../../EVIL,2013-10-07T13:31:00+00:00,10,11,9,10.5,100\n"
    )
    out = tmp_path / "x" / "y" / "z" / "out"  # deep enough that even the old bug wrote inside tmp_path
    result = subprocess.run(
        [sys.executable, "-m", "session_monitor.core.cli", "replay", str(csv),
         "--intervals", "1m,5m", "--export", str(out),
         "--no-record", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for row in (3, 5):
        assert (f"bars.csv:{row}: symbol '../../../../EVIL' is malformed: use at most 20 letters and digits"
                in result.stderr), result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "BTC%2FUSD", "BTC%2FUSD/1m.csv", "BTC%2FUSD/5m.csv", "session.json"
    ]
    assert (out / "BTC%2FUSD" / "1m.csv").read_text().splitlines() == [
        "timestamp,open,high,low,close,volume",
        "2013-10-07T13:30:00+00:00,10.0,11.0,9.0,10.5,100.0",
        "2013-10-07T13:31:00+00:00,10.5,11.0,10.0,10.75,50.0",
    ]
    assert list(json.loads((out / "session.json").read_text())["sessions"][0]["symbols"]) == ["BTC/USD"]
    assert not list(tmp_path.rglob("EVIL*"))
