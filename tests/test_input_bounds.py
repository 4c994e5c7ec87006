"""Inputs that used to end in a traceback, a hang or a wrong reason: each gets its real reason.

The default date range (sessions where a watched symbol has data), rows dated far outside
any session, unreadable files, out-of-range numbers in arguments and session files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sources_helpers import EQUITY_MINUTE, xnys

from session_monitor.core.cli import main
from session_monitor.core.config import ConfigError, load_config
from session_monitor.core.intervals import Interval
from session_monitor.core.runconfig import RunSetup, add_run_arguments, resolve_run
from session_monitor.core.sources.base import SourceError
from session_monitor.core.sources.tabular import TabularSource

ROOT = Path(__file__).resolve().parents[1]
HEADER = "timestamp,open,high,low,close,volume"
GOOD = [
    "2013-10-07T13:30:00+00:00,10,11,9,10.5,100",
    "2013-10-07T13:31:00+00:00,10.5,11,10,10.75,50",
    "2013-10-07T13:32:00+00:00,10.75,11,10,10.5,70",
]


def resolve(*argv: str) -> RunSetup:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, source_required=True)
    return resolve_run(parser.parse_args(list(argv)), default_speed=None)


def replay(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "session_monitor.core.cli", "replay", *argv, "--no-record", "--quiet", "--speed", "max"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


# -- the default range ------------------------------------------------------------------------
def test_the_default_range_is_the_sessions_where_a_watched_symbol_has_data() -> None:
    setup = resolve(str(EQUITY_MINUTE), "--symbols", "GOOG,SPY")

    assert [s.date.isoformat() for s in setup.sessions] == [
        "2013-10-04", "2013-10-07", "2013-10-08", "2013-10-09", "2013-10-10", "2013-10-11",
        "2015-12-23", "2015-12-24", "2015-12-28",
    ]
    assert setup.warnings == [
        "GOOG: no data on 6 of the 9 sessions: 2013-10-04, 2013-10-07, 2013-10-08, 2013-10-09, 2013-10-10, "
        "2013-10-11",
        "SPY: no data on 3 of the 9 sessions: 2015-12-23, 2015-12-24, 2015-12-28",
    ]


def test_an_explicit_range_is_kept_and_the_missing_days_are_summarised() -> None:
    setup = resolve(str(EQUITY_MINUTE), "--symbols", "SPY", "--start", "2013-10-03", "--end", "2013-10-14")

    assert len(setup.sessions) == 8
    assert setup.warnings == ["SPY: no data on 2 of the 8 sessions: 2013-10-03, 2013-10-14"]


def test_each_symbols_missing_days_are_said_once_not_per_session(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = replay(str(EQUITY_MINUTE), "--symbols", "GOOG,SPY", "--intervals", "1m,1h", "--export", str(out))

    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: GOOG: no data on 6 of the 9 sessions: 2013-10-04, 2013-10-07, 2013-10-08, 2013-10-09, "
        "2013-10-10, 2013-10-11",
        "warning: SPY: no data on 3 of the 9 sessions: 2015-12-23, 2015-12-24, 2015-12-28",
    ]
    sessions = json.loads((out / "session.json").read_text())["sessions"]
    assert [s["date"] for s in sessions][::4] == ["2013-10-04", "2013-10-10", "2015-12-28"]
    assert len(sessions) == 9


# -- rows dated far away -----------------------------------------------------------------------
def test_rows_dated_1900_or_9999_are_rejected_by_row_and_cost_no_session(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text("\n".join([
        HEADER, GOOD[0], "1900-01-02T14:30:00+00:00,10,11,9,10.5,100", GOOD[1],
        "9999-12-30T14:30:00+00:00,10,11,9,10.5,100", GOOD[2],
    ]) + "\n")

    setup = resolve(str(path))
    loaded = setup.source.load_session("SPY", Interval(60), setup.sessions[0])

    assert [s.date for s in setup.sessions] == [dt.date(2013, 10, 7)]
    assert setup.warnings == []
    assert [(p.row, p.message) for p in loaded.problems] == [
        (3, "timestamp outside the supported range 1970-01-01..2099-12-31"),
        (5, "timestamp outside the supported range 1970-01-01..2099-12-31"),
    ]
    np.testing.assert_array_equal(loaded.bars.close, [10.5, 10.75, 10.5])


def test_lean_days_outside_the_calendar_are_named_and_skipped(tmp_path: Path) -> None:
    root = tmp_path / "equity" / "usa" / "minute"
    shutil.copytree(EQUITY_MINUTE / "spy", root / "spy")
    day = root / "spy" / "20131007_trade.zip"
    for name in ("19000102", "20981230", "20131005"):  # too early, past the calendar's end, a Saturday
        shutil.copy(day, root / "spy" / f"{name}_trade.zip")

    setup = resolve(str(root), "--symbols", "SPY")

    assert len(setup.sessions) == 6
    calendar = setup.calendar
    assert setup.warnings == [
        "SPY: data dated 1900-01-02 is outside the supported range 1970-01-01..2099-12-31; skipped",
        f"SPY: data dated 2013-10-05, 2098-12-30 is not in a XNYS session (the calendar covers "
        f"{calendar.first_date}..{calendar.last_date}); skipped",
    ]


# -- files that cannot be used at all: the reason, with file and row, exit 1 -------------------
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ((HEADER + "\n2013-10-07T09:30:00,10,11,9,10.5,100\n2013-10-07T09:31:00,10,11,9,10.5,100\n").encode(),
         "SPY: no usable data: SPY.csv:2: timestamp without a UTC offset (and 1 more problem)"),
        ((HEADER + "\n" + GOOD[0] + "\n").encode("utf-16-le"),
         "SPY: no usable data: SPY.csv:1: the file holds NUL bytes (UTF-16 or UTF-32 text without a byte-order "
         "mark, or not text): save it as UTF-8"),
        (b"time,open,high,low,close\n2013-10-07T13:30:00+00:00,10,11,9,10.5\n",
         "SPY: no usable data: SPY.csv:1: missing required column(s) timestamp, volume: expected "
         "timestamp,open,high,low,close,volume[,symbol], found time,open,high,low,close"),
    ],
    ids=["no-utc-offset", "utf-16-without-bom", "missing-columns"],
)
def test_an_unusable_file_exits_1_with_its_real_reason(tmp_path: Path, capsys, content: bytes, reason: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "SPY.csv").write_bytes(content)

    for argv in (["--symbols", "SPY"], []):  # named, or everything the folder holds
        assert main(["replay", str(folder), *argv, "--no-record", "--quiet"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        expected = reason if argv else reason.removeprefix("SPY: ")
        assert err == [f"session-monitor replay: error: {expected}"]


def test_utf16_with_a_byte_order_mark_reads_like_utf8(tmp_path: Path) -> None:
    text = "\n".join([HEADER, *GOOD]) + "\n"
    (tmp_path / "SPY.csv").write_bytes(text.encode("utf-16"))
    (tmp_path / "U8.csv").write_text(text, encoding="utf-8")

    session = xnys(dt.date(2013, 10, 7))
    utf16 = TabularSource(tmp_path / "SPY.csv").load_session("SPY", Interval(60), session)
    utf8 = TabularSource(tmp_path / "U8.csv").load_session("U8", Interval(60), session)

    assert utf16.problems == [] and len(utf16.bars) == 3
    for column in range(6):
        np.testing.assert_array_equal(utf16.bars[column], utf8.bars[column])


# -- numbers out of range ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--intervals", "99999999999999999999m"],
         "interval '99999999999999999999m' is too long: at most 24h (1440m, 86400s); 1d is one bar per session"),
        (["--intervals", "1m,1441m"], "interval '1441m' is too long"),
        (["--intervals", "1" * 5000 + "m"], "interval '111111111111111111111111…' is too long"),
        (["--speed", "1e-300"], "speed '1e-300' is out of range: use 0.01 to 1,000,000 times real time, or 'max'"),
        (["--speed", "1e300"], "speed '1e300' is out of range"),
    ],
)
def test_numbers_out_of_range_exit_2_with_the_bounds(capsys, args: list[str], message: str) -> None:
    assert main(["replay", str(EQUITY_MINUTE), "--symbols", "SPY", "--no-record", "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("speed = 1e-300", "speed: speed 1e-300 is out of range"),
        ('[[watchlist]]\nsymbol = "SPY"\nintervals = ["99999999999999999999m"]',
         "watchlist[0].intervals[0]: interval '99999999999999999999m' is too long"),
        ('[[watchlist]]\nsymbol = "../../PWNED"\nintervals = ["1m"]',
         "watchlist[0].symbol: symbol '../../PWNED' is malformed"),
        ('[[watchlist]]\nsymbol = "spy"\nintervals = ["1m"]\n[[watchlist]]\nsymbol = "SPY"\nintervals = ["5m"]',
         "watchlist[1].symbol: SPY is listed twice"),
        ("x = " + "[" * 5000 + "]" * 5000, "not a session file: arrays or tables nested too deeply"),
    ],
    ids=["speed", "interval", "symbol", "duplicate", "nesting"],
)
def test_session_files_out_of_range_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_a_volume_that_would_sum_to_infinity_is_rejected_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text("\n".join([
        HEADER, GOOD[0], "2013-10-07T13:31:00+00:00,10.5,11,10,10.75,1e308",
        "2013-10-07T13:32:00+00:00,10.75,11,10,10.5,1e308",
    ]) + "\n")
    out = tmp_path / "out"

    result = replay(str(path), "--intervals", "1m,5m", "--export", str(out))

    assert result.returncode == 0, result.stderr
    assert "SPY.csv:3: volume 1e+308 is above the limit 1e+18" in result.stderr
    assert "SPY.csv:4: volume 1e+308 is above the limit 1e+18" in result.stderr
    exported = (out / "SPY" / "5m.csv").read_text().splitlines()
    assert exported[1:] == ["2013-10-07T13:30:00+00:00,10.0,11.0,9.0,10.5,100.0"]


# -- a folder of many files ------------------------------------------------------------------------
def test_a_named_symbol_of_a_large_folder_reads_only_the_files_that_can_hold_it(tmp_path: Path) -> None:
    """Only the named symbol's file and files with a symbol column are read before the run starts
    (``python -m bench --only csv-folder`` times 10,000 files)."""
    body = "\n".join([HEADER, *GOOD]) + "\n"
    for k in range(30):
        (tmp_path / f"S{k:02d}.csv").write_text(body)
    mixed_row = "S07," + GOOD[0].replace("10.5,100", "10.5,7")
    (tmp_path / "mixed.csv").write_text(f"symbol,{HEADER}\n{mixed_row}\n")

    setup = resolve(str(tmp_path), "--symbols", "S07")
    (tmp_path / "S08.csv").write_text("this file changed after the run started\n")  # not read yet: seen as it is now
    session = setup.sessions[0]
    s07 = setup.source.load_session("S07", Interval(60), session)
    s08 = setup.source.load_session("S08", Interval(60), session)

    assert [s.date for s in setup.sessions] == [dt.date(2013, 10, 7)]
    assert [p.message for p in s07.problems] == [
        "1 S07 bars appear in more than one file (S07.csv, mixed.csv); kept the one from the later file"
    ]
    np.testing.assert_array_equal(s07.bars.volume, [7, 50, 70])
    assert len(s08.bars) == 0 and [p.message for p in s08.problems] == ["file has no data rows"]


# -- the base of a CSV: the grid nearly every row is on ------------------------------------------------
def _minute_rows(start: str, count: int, step: int = 60) -> list[str]:
    t0 = dt.datetime.fromisoformat(start)
    return [f"{(t0 + dt.timedelta(seconds=k * step)).isoformat()},10,11,9,10.5,100" for k in range(count)]


def test_one_stray_off_grid_row_does_not_halve_the_base(tmp_path: Path) -> None:
    rows = _minute_rows("2013-10-07T13:30:00+00:00", 390)
    rows.insert(136, "2013-10-07T15:45:30+00:00,10,11,9,10.5,100")  # line 138: between 15:45 and 15:46
    path = tmp_path / "SPY.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")

    setup = resolve(str(path))
    source = setup.source
    loaded = source.load_session("SPY", Interval(60), xnys(dt.date(2013, 10, 7)))

    assert source.base_intervals("SPY") == (Interval(60),)
    assert setup.warnings == ["SPY: 1m bars detected; 1 row off that grid rejected as their sessions load"]
    assert [(p.row, p.message) for p in loaded.problems] == [(138, "timestamp is not on the 1m grid of the session")]
    assert len(loaded.bars) == 390


@pytest.mark.parametrize(
    ("rows", "base"),
    [
        (["2013-10-07T13:30:00+00:00,10,11,9,10.5,100", "2014-10-07T13:30:00+00:00,10,11,9,10.5,100"], "1m"),
        (_minute_rows("2013-10-07T13:30:00+00:00", 20, step=90), "90s"),
        (_minute_rows("2013-10-07T13:30:00+00:00", 20, step=1), "1s"),
        (_minute_rows("2013-10-07T13:30:00+00:00", 20, step=300), "5m"),
    ],
    ids=["a-year-apart", "90s", "1s", "5m"],
)
def test_the_detected_base(tmp_path: Path, rows: list[str], base: str) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    assert [b.name for b in TabularSource(path).base_intervals("SPY")] == [base]


def test_a_base_coarser_than_the_data_is_refused_not_reported_as_full_quality(tmp_path: Path, capsys) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text("\n".join([HEADER, *_minute_rows("2013-10-07T13:30:00+00:00", 300, step=1)]) + "\n")

    assert main(["replay", str(path), "--base", "1m", "--no-record", "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "session-monitor replay: error: SPY: no usable data: SPY holds 1s bars: only 2% of its rows are on the "
        "1m grid; leave out --base (or ask for 1s) and derive 1m from them"
    ]
    setup = resolve(str(path), "--base", "1s", "--intervals", "1m")  # finer than the data's own base: fine
    assert setup.source.base_intervals("SPY") == (Interval(1),)


def test_one_interval_spelled_twice_is_said_once() -> None:
    setup = resolve(str(EQUITY_MINUTE), "--symbols", "SPY", "--intervals", "1h,60m,1m,3600s", "--start", "2013-10-07")
    assert setup.warnings[0] == "intervals 1h and 60m and 3600s are the same interval: 1h is used once"
    assert [i.name for i in setup.intervals] == ["1m", "1h"]


def test_base_1s_on_the_demo_is_honoured() -> None:
    setup = resolve("demo", "--symbols", "SPY", "--intervals", "1m,5m", "--base", "1s")
    assert setup.source.base_intervals("SPY") == (Interval(1),)
    with pytest.raises(SourceError, match="the demo feed serves 1s or 1m base bars, not 5m"):
        resolve("demo", "--base", "5m")


def test_a_files_own_problems_are_said_once_not_with_every_session(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    day2 = [row.replace("2013-10-07", "2013-10-08") for row in GOOD]
    path.write_text("\n".join([f"symbol,{HEADER}", *(f"SPY,{r}" for r in GOOD), f"../X,{GOOD[0]}",
                               *(f"SPY,{r}" for r in day2), "extra"]) + "\n")

    setup = resolve(str(path))
    said = [[str(p) for p in setup.source.load_session("SPY", Interval(60), s).problems] for s in setup.sessions]

    assert [s.date.isoformat() for s in setup.sessions] == ["2013-10-07", "2013-10-08"]
    assert said == [
        [f"{path}:9: wrong number of fields: expected 7, found 1",
         f"{path}:5: symbol '../X' is malformed: use at most 20 letters and digits, joined by single . - / _ = "
         "(e.g. BRK.B, BTC/USD), optionally after a leading ^"],
        [],
    ]
