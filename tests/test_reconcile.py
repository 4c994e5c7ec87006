"""Reconciliation against a vendor's bars: real Lean hour bars and a reference with planted differences."""

from __future__ import annotations

import csv
import datetime as dt
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from session_monitor.cli import main
from session_monitor.core.calendar import get_calendar
from session_monitor.core.derive.reaggregate import aggregate
from session_monitor.core.intervals import DAILY, Interval
from session_monitor.core.reconcile import (
    Cause,
    Convention,
    Status,
    derive_on,
    load_reference,
    reconcile_series,
    session_windows,
)
from session_monitor.core.sources.lean import LeanSource
from session_monitor.core.windows import window_grid
from tests.core_helpers import write_bars_csv

MINUTE = Interval(60)
HOUR = Interval(3600)
SPY_HOUR = Path(__file__).parent / "data" / "lean" / "equity" / "usa" / "hour" / "spy.zip"


def _utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


@pytest.fixture(scope="module")
def xnys():
    return get_calendar("XNYS")


def test_derive_on_the_session_grid_is_the_engines_derivation(lean_minute, xnys) -> None:
    session = xnys.session(dt.date(2015, 12, 28))
    base = LeanSource(lean_minute).load_session("GOOG", MINUTE, session).bars
    for interval in (Interval(300), Interval(900), HOUR, DAILY):
        ours = derive_on(base, session_windows(session, interval, Convention.SESSION_ANCHORED))
        engine = aggregate(base, window_grid(session, interval, MINUTE))
        for mine, theirs in zip(ours.bars, engine.bars, strict=True):
            np.testing.assert_array_equal(mine, theirs)
        np.testing.assert_array_equal(ours.counts, engine.count)


def test_clock_aligned_hour_windows_are_cut_to_the_session(xnys) -> None:
    half_day = xnys.session(dt.date(2015, 12, 24))
    windows = session_windows(half_day, HOUR, Convention.CLOCK_ALIGNED)
    assert [dt.datetime.fromtimestamp(int(t), dt.UTC).strftime("%H:%M") for t in windows.labels] == [
        "14:00", "15:00", "16:00", "17:00"]  # 09:00 .. 12:00 New York
    assert windows.starts[0] == half_day.open  # the 09:00 bar covers 09:30-10:00
    assert windows.ends[-1] == half_day.close  # the 12:00 bar ends at the 13:00 close


def test_lean_hour_file_is_read_as_clock_stamped_new_york_hours() -> None:
    (series,) = load_reference(SPY_HOUR)
    assert (series.symbol, series.interval) == ("SPY", HOUR)
    first = int(np.searchsorted(series.bars.ts, _utc("2013-10-07T13:00:00+00:00")))
    assert series.bars.ts[first] == _utc("2013-10-07T13:00:00+00:00")  # "20131007 09:00"
    assert series.bars.open[first] == pytest.approx(167.43)
    assert series.bars.volume[first] == 13131967


def test_spy_week_against_lean_hour_bars(lean_minute, xnys) -> None:
    """Volumes all agree; 16 bars differ in prices only, every window complete (60 of 60)."""
    (reference,) = load_reference(SPY_HOUR)
    source = LeanSource(lean_minute)
    sessions = xnys.sessions_between(dt.date(2013, 10, 7), dt.date(2013, 10, 11))
    report = reconcile_series(reference, sessions, MINUTE, lambda s: source.load_session("SPY", MINUTE, s).bars)

    assert report.convention is Convention.CLOCK_ALIGNED
    assert len(report.checks) == 35  # 7 clock hours (09:00 .. 15:00) a day
    assert report.count(Status.MATCH) == 19
    differing = report.differing
    assert len(differing) == 16
    assert {c.status for c in differing} == {Status.DIFFERS}
    assert {c.cause for c in differing} == {Cause.PRICES_DIFFER}
    assert {(c.base_bars, c.expected) for c in differing} == {(60, 60)}
    assert not any(d.field == "volume" for c in differing for d in c.differences)
    # the bad prints of 2013-10-08 after 15:00 are in the minute file, not in Lean's tick-built hour bar
    bad = next(c for c in differing if c.start == _utc("2013-10-08T19:00:00+00:00"))
    high = next(d for d in bad.differences if d.field == "high")
    assert (high.ours, high.reference) == (167.51, 166.25)


def test_spy_daily_volume_equals_the_sum_of_lean_hour_volumes(lean_minute, xnys) -> None:
    (reference,) = load_reference(SPY_HOUR)
    source = LeanSource(lean_minute)
    for session in xnys.sessions_between(dt.date(2013, 10, 7), dt.date(2013, 10, 11)):
        day = derive_on(source.load_session("SPY", MINUTE, session).bars,
                        session_windows(session, DAILY, Convention.SESSION_ANCHORED))
        lo, hi = np.searchsorted(reference.bars.ts, [session.open - 3600, session.close])
        assert day.bars.volume[0] == reference.bars.volume[lo:hi].sum()


# -- a reference with planted differences ---------------------------------------------------------------
@pytest.fixture
def planted(tmp_path: Path, lean_minute: Path, xnys) -> Path:
    """GOOG 2015-12-23..28 15m bars as we derive them, with five planted differences, and a 1m
    file whose only difference is a bar at 12:08 (New York), a minute the source lacks."""
    source = LeanSource(lean_minute)
    quarter = Interval(900)
    cols: list[list[float]] = [[] for _ in range(6)]
    minute_cols: list[list[float]] = [[] for _ in range(6)]
    for session in xnys.sessions_between(dt.date(2015, 12, 23), dt.date(2015, 12, 28)):
        base = source.load_session("GOOG", MINUTE, session).bars
        derived = derive_on(base, session_windows(session, quarter, Convention.SESSION_ANCHORED)).bars
        for k, col in enumerate(derived):
            cols[k].extend(col.tolist())
        for k, col in enumerate(base):
            minute_cols[k].extend(col.tolist())
    ts = cols[0]
    at = {int(t): i for i, t in enumerate(ts)}
    cols[4][at[_utc("2015-12-23T15:00:00+00:00")]] += 0.25  # close: a complete window
    cols[5][at[_utc("2015-12-24T15:30:00+00:00")]] += 100  # volume only
    cols[2][at[_utc("2015-12-28T17:00:00+00:00")]] += 1.0  # high: the window lacks 17:08
    drop = at[_utc("2015-12-28T20:45:00+00:00")]  # the last bar: only in ours
    for col in cols:
        del col[drop]
    off_grid = _utc("2015-12-28T15:07:00+00:00")  # on no 15m window: only in the reference
    insert = int(np.searchsorted(ts, off_grid))
    for col, value in zip(cols, (off_grid, 1.0, 2.0, 0.5, 1.5, 10.0), strict=True):
        col.insert(insert, value)
    folder = tmp_path / "reference"
    folder.mkdir()
    write_bars_csv(folder / "GOOG.csv", *cols)
    missing_minute = _utc("2015-12-28T17:08:00+00:00")
    insert = int(np.searchsorted(minute_cols[0], missing_minute))
    for col, value in zip(minute_cols, (missing_minute, 750.0, 751.0, 749.0, 750.5, 300.0), strict=True):
        col.insert(insert, value)
    (tmp_path / "minute").mkdir()
    write_bars_csv(tmp_path / "minute" / "GOOG.csv", *minute_cols)
    return tmp_path


def test_every_planted_difference_is_found_and_nothing_else(planted: Path, lean_minute: Path, xnys) -> None:
    source = LeanSource(lean_minute)
    sessions = xnys.sessions_between(dt.date(2015, 12, 23), dt.date(2015, 12, 28))
    found = []
    for folder in ("reference", "minute"):
        (reference,) = load_reference(planted / folder)
        report = reconcile_series(reference, sessions, MINUTE, lambda s: source.load_session("GOOG", MINUTE, s).bars)
        assert report.convention is Convention.SESSION_ANCHORED
        found += [(c.interval.name, c.iso_start, c.status, tuple(d.field for d in c.differences), c.cause)
                  for c in report.differing]
    assert found == [
        ("15m", "2015-12-23T15:00:00+00:00", Status.DIFFERS, ("close",), Cause.PRICES_DIFFER),
        ("15m", "2015-12-24T15:30:00+00:00", Status.DIFFERS, ("volume",), Cause.VOLUME_ONLY),
        ("15m", "2015-12-28T15:07:00+00:00", Status.ONLY_REFERENCE, (), Cause.OFF_WINDOW_GRID),
        ("15m", "2015-12-28T17:00:00+00:00", Status.DIFFERS, ("high",), Cause.MISSING_BASE_BARS),
        ("15m", "2015-12-28T20:45:00+00:00", Status.ONLY_OURS, (), Cause.NOT_IN_REFERENCE),
        ("1m", "2015-12-28T17:08:00+00:00", Status.ONLY_REFERENCE, (), Cause.NO_BASE_BARS),
    ]


# -- the CLI ------------------------------------------------------------------------------------
def test_cli_prints_each_difference_and_writes_the_same_rows(planted, lean_minute, tmp_path, capsys) -> None:
    report = tmp_path / "diff.csv"
    code = main(["reconcile", str(lean_minute), "--reference", str(planted / "reference"), "--symbols", "GOOG",
                 "--report", str(report)])
    assert code == 3
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == ("reconcile: 67 bars in 1 series: 62 match, 3 differ (1 volume only), "
                         "1 only in the reference, 1 only in ours")
    assert lines[0] == ("GOOG 15m 2015-12-23T15:00:00+00:00 differs close ours=749.0 ref=749.25 (rel 3.34e-04) "
                        "cause=prices-differ (15 of 15 base bars)")
    assert lines[3].startswith("GOOG 15m 2015-12-28T17:00:00+00:00 differs high ours=")
    assert lines[3].endswith("cause=missing-base-bars (14 of 15 base bars)")
    with report.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["start"], r["status"], r["fields"], r["cause"]) for r in rows] == [
        ("2015-12-23T15:00:00+00:00", "differs", "close", "prices-differ"),
        ("2015-12-24T15:30:00+00:00", "differs", "volume", "volume-only"),
        ("2015-12-28T15:07:00+00:00", "only-in-reference", "", "off-window-grid"),
        ("2015-12-28T17:00:00+00:00", "differs", "high", "missing-base-bars"),
        ("2015-12-28T20:45:00+00:00", "only-in-ours", "", "not-in-reference"),
    ]
    assert rows[1]["ours"] != rows[1]["reference"]


def test_cli_spy_json_report_and_convention_note(lean_minute, tmp_path, capsys) -> None:
    report = tmp_path / "spy.json"
    code = main(["reconcile", str(lean_minute), "--reference", str(SPY_HOUR), "--symbols", "SPY",
                 "--start", "2013-10-07", "--end", "2013-10-11", "--report", str(report)])
    assert code == 3
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("SPY 1h: the reference's windows are clock-aligned")
    assert out[-1] == ("reconcile: 35 bars in 1 series: 19 match, 16 differ (0 volume only), "
                       "0 only in the reference, 0 only in ours")
    payload = json.loads(report.read_text(encoding="utf-8"))
    assert payload["series"] == [{"symbol": "SPY", "interval": "1h", "convention": "clock-aligned"}]
    assert len(payload["differences"]) == 16 == len(out) - 2


def test_cli_exit_0_when_a_lean_daily_reference_matches(lean_minute, tmp_path, capsys, xnys) -> None:
    """A Lean daily zip (stamped at local midnight) built from our own 1d bars matches exactly."""
    source = LeanSource(lean_minute)
    folder = tmp_path / "equity" / "usa" / "daily"
    folder.mkdir(parents=True)
    lines = []
    for session in xnys.sessions_between(dt.date(2015, 12, 23), dt.date(2015, 12, 28)):
        day = derive_on(source.load_session("GOOG", MINUTE, session).bars,
                        session_windows(session, DAILY, Convention.SESSION_ANCHORED)).bars
        prices = [round(float(col[0]) * 10_000) for col in day[1:5]]
        lines.append(f"{session.date:%Y%m%d} 00:00,{','.join(map(str, prices))},{int(day.volume[0])}")
    with zipfile.ZipFile(folder / "goog.zip", "w") as archive:
        archive.writestr("goog.csv", "\n".join(lines) + "\n")
    code = main(["reconcile", str(lean_minute), "--reference", str(folder), "--symbols", "GOOG"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out == [
        "GOOG 1d: the reference's windows are stamped at local midnight; ours are stamped at the session open: "
        "compared against bars derived on the reference's windows",
        "reconcile: 3 bars in 1 series: 3 match, 0 differ (0 volume only), 0 only in the reference, 0 only in ours",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--symbols", "GOOG"], "the reference holds no GOOG 1h bars (it holds: SPY 1h)"),
        (["--symbols", "SPY", "--intervals", "5m"], "the reference holds no SPY 5m bars"),
        (["--symbols", "SPY", "--intervals", "7x"], "unknown interval '7x'"),
        (["--symbols", "SPY", "--start", "2013-13-01"], "is not a date"),
        (["--symbols", "SPY", "--report", "out.txt"], "--report must end in .csv or .json"),
    ],
)
def test_cli_bad_arguments_exit_2(lean_minute, capsys, extra, message) -> None:
    assert main(["reconcile", str(lean_minute), "--reference", str(SPY_HOUR), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]


def test_cli_unreadable_reference_or_source_exit_1(lean_minute, tmp_path, capsys) -> None:
    assert main(["reconcile", str(lean_minute), "--reference", str(tmp_path / "nope.csv")]) == 1
    assert "reference path does not exist" in capsys.readouterr().err
    broken = tmp_path / "equity" / "usa" / "hour"
    broken.mkdir(parents=True)
    (broken / "spy.zip").write_bytes(b"not a zip")
    assert main(["reconcile", str(lean_minute), "--reference", str(broken / "spy.zip")]) == 1
    assert "spy.zip: unreadable Lean hour zip" in capsys.readouterr().err
    assert main(["reconcile", str(tmp_path / "missing"), "--reference", str(SPY_HOUR), "--symbols", "SPY"]) == 1
    assert "source path does not exist" in capsys.readouterr().err


def test_a_running_session_is_compared_up_to_its_clock(lean_minute, tmp_path: Path, xnys) -> None:
    """At 12:00 New York only the ten 15m windows that have ended are compared (all match)."""
    from session_monitor.core.reconcile.held import held_bars, reconcile_held
    from tests.core_helpers import watch

    session = xnys.session(dt.date(2015, 12, 28))
    base = LeanSource(lean_minute).load_session("GOOG", MINUTE, session).bars
    full = derive_on(base, session_windows(session, Interval(900), Convention.SESSION_ANCHORED)).bars
    write_bars_csv(tmp_path / "GOOG.csv", *full)
    (reference,) = load_reference(tmp_path / "GOOG.csv")
    sd, _, processor = watch(session, "1m", ["15m"], symbol="GOOG")
    clock = session.open + 150 * 60
    sd.add_base_bars("GOOG", base.take(base.ts < clock))
    processor.process(clock)

    held = held_bars(sd, "GOOG")
    assert held is not None and held.until == clock
    report = reconcile_held(reference, held)
    assert [c.status for c in report.checks] == [Status.MATCH] * 10
    assert report.checks[-1].start == clock - 900
