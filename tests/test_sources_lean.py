"""LeanSource on real Lean files (exact facts) and on every kind of bad input."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sources_helpers import (
    CRYPTO_MINUTE,
    EQUITY_MINUTE,
    EQUITY_SECOND,
    LEAN_DAY,
    OPEN_MS,
    epoch,
    lean_lines,
    lean_root,
    utc_day,
    write_lean_zip,
    xnys,
)

from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import DataError, SourceError
from session_monitor.core.sources.lean import LeanSource, read_lean_zip

MINUTE = Interval(60)
SECOND = Interval(1)


# -- real data ---------------------------------------------------------------------------------
def test_layout_and_listing() -> None:
    src = LeanSource(EQUITY_MINUTE)
    assert src.symbols() == ["GOOG", "SHY", "SPY"]
    assert src.dates("goog") == [dt.date(2015, 12, 23), dt.date(2015, 12, 24), dt.date(2015, 12, 28)]
    assert src.dates("SPY")[0] == dt.date(2013, 10, 4) and len(src.dates("SPY")) == 6
    assert src.dates("NOPE") == []
    assert src.base_intervals("GOOG") == (MINUTE,)
    assert src.base_intervals("nope") == ()
    assert src.calendar_hint == "XNYS"
    assert src.key == f"lean:{EQUITY_MINUTE.resolve()}"
    assert src.name == "lean minute"


def test_goog_2015_12_28_exact() -> None:
    src = LeanSource(EQUITY_MINUTE)
    loaded = src.load_session("GOOG", MINUTE, xnys(dt.date(2015, 12, 28)))
    bars = loaded.bars
    assert loaded.problems == []
    assert len(bars) == 382  # 8 regular-session minutes missing
    assert loaded.outside_session == 50
    assert bars.ts[0] == epoch("2015-12-28T14:30:00Z")
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0], bars.volume[0]) == (
        752.92, 753.55, 752.23, 753.3, 27714.0,
    )
    assert bars.ts.dtype == np.int64 and bars.volume.dtype == np.float64
    assert np.all(np.diff(bars.ts) > 0) and np.all(bars.ts % 60 == 0)


def test_goog_half_day_late_prints_are_outside() -> None:
    session = xnys(dt.date(2015, 12, 24))
    loaded = LeanSource(EQUITY_MINUTE).load_session("GOOG", MINUTE, session)
    assert session.close == epoch("2015-12-24T18:00:00Z")  # 13:00 New York
    assert len(loaded.bars) == 210 and loaded.problems == []
    assert loaded.bars.ts[-1] == epoch("2015-12-24T17:59:00Z")
    assert loaded.outside_session == 17  # 15 late prints after 13:00 and 2 before the open
    raw = read_lean_zip(EQUITY_MINUTE / "goog" / "20151224_trade.zip", "goog", LeanSource(EQUITY_MINUTE).layout,
                        session.date)
    assert int(np.count_nonzero(raw.ts >= session.close)) == 15


def test_shy_illiquid_missing_minutes() -> None:
    session = xnys(dt.date(2008, 3, 7))
    loaded = LeanSource(EQUITY_MINUTE).load_session("shy", MINUTE, session)
    assert loaded.symbol == "SHY"
    # README: 57 regular-session minutes missing; check against the raw file too
    assert len(loaded.bars) == 390 - 57 == 333
    raw = read_lean_zip(EQUITY_MINUTE / "shy" / "20080307_trade.zip", "x", LeanSource(EQUITY_MINUTE).layout,
                        session.date)
    assert int(np.count_nonzero(session.in_session_mask(raw.ts))) == 333
    assert loaded.outside_session == len(raw) - 333 == 3
    # before the 2008 DST switch (9 March) the open is 14:30 UTC, after it 13:30 UTC
    assert loaded.bars.ts[0] == epoch("2008-03-07T14:30:00Z")
    after = LeanSource(EQUITY_MINUTE).load_session("SHY", MINUTE, xnys(dt.date(2008, 3, 10)))
    assert after.bars.ts[0] == epoch("2008-03-10T13:30:00Z") and len(after.bars) == 390 - 77


def test_spy_minute_days_are_complete() -> None:
    src = LeanSource(EQUITY_MINUTE)
    for date in src.dates("SPY"):
        loaded = src.load_session("SPY", MINUTE, xnys(date))
        assert len(loaded.bars) == 390 and loaded.problems == [], date


def test_crypto_prices_not_scaled_and_fractional_volume() -> None:
    src = LeanSource(CRYPTO_MINUTE)
    assert src.calendar_hint == "24/7" and src.symbols() == ["BTCUSD"]
    loaded = src.load_session("BTCUSD", MINUTE, utc_day(dt.date(2016, 10, 7)))
    bars = loaded.bars
    assert bars.ts[0] == epoch("2016-10-07T00:00:00Z")
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0]) == (611.78, 611.91, 611.78, 611.9)
    assert bars.volume[0] == 1.13872
    assert len(bars) == 1440 - 21 and loaded.outside_session == 0
    outage = src.load_session("BTCUSD", MINUTE, utc_day(dt.date(2018, 4, 4)))
    assert len(outage.bars) == 1007 and outage.bars.ts[-1] == epoch("2018-04-04T16:47:00Z")


def test_second_resolution_spy() -> None:
    src = LeanSource(EQUITY_SECOND)
    assert src.base_intervals("SPY") == (SECOND,)
    session = xnys(dt.date(2013, 10, 7))
    loaded = src.load_session("SPY", SECOND, session)
    assert loaded.base == SECOND and loaded.problems == []
    assert len(loaded.bars) == 14_432 and loaded.outside_session == 2_243
    assert loaded.bars.ts[0] == session.open and loaded.bars.ts[-1] == session.close - 1
    # the second bars add up to the minute file's volume for the day
    minute = LeanSource(EQUITY_MINUTE).load_session("SPY", MINUTE, session)
    assert loaded.bars.volume.sum() == minute.bars.volume.sum() == 81_489_219




def test_wrong_base_is_a_problem_not_an_exception() -> None:
    loaded = LeanSource(EQUITY_MINUTE).load_session("SPY", SECOND, xnys(LEAN_DAY))
    assert len(loaded.bars) == 0 and "has 1m bars, not 1s" in loaded.problems[0].message


# -- constructor --------------------------------------------------------------------------------
def test_constructor_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        LeanSource(tmp_path / "nope")
    for resolution in ("hour", "daily", "tick"):
        with pytest.raises(SourceError, match="not supported as a base"):
            LeanSource(lean_root(tmp_path, resolution))
    with pytest.raises(SourceError, match="not a Lean"):
        LeanSource(tmp_path)
    with pytest.raises(SourceError, match="forex"):
        LeanSource(lean_root(tmp_path, "minute", security="forex", market="oanda"))


# -- bad input ------------------------------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path) -> Path:
    return lean_root(tmp_path)


def _load(root: Path, date: dt.date = LEAN_DAY, symbol: str = "SPY"):
    return LeanSource(root).load_session(symbol, MINUTE, xnys(date))


def _expected_ts(indices: list[int]) -> np.ndarray:
    return xnys(LEAN_DAY).open + 60 * np.asarray(indices, dtype=np.int64)


def test_missing_file(root: Path) -> None:
    write_lean_zip(root, "SPY", LEAN_DAY, lean_lines())
    loaded = _load(root, dt.date(2013, 10, 8))
    assert len(loaded.bars) == 0
    [problem] = loaded.problems
    assert problem.file == "spy/20131008_trade.zip" and problem.row is None and problem.symbol == "SPY"
    assert problem.message.startswith("no data for SPY on 2013-10-08 (")
    assert problem.message.endswith("spy/20131008_trade.zip missing)")


def test_missing_file_message_on_a_weekend() -> None:
    session = xnys(dt.date(2013, 10, 4))
    weekend = type(session)(dt.date(2013, 10, 5), session.open + 86_400, session.close + 86_400, tz=session.tz)
    loaded = LeanSource(EQUITY_MINUTE).load_session("SPY", MINUTE, weekend)
    assert "no data for SPY on 2013-10-05" in loaded.problems[0].message


def test_empty_csv_member(root: Path) -> None:
    write_lean_zip(root, "SPY", LEAN_DAY, b"")
    loaded = _load(root)
    assert len(loaded.bars) == 0
    assert [(p.file, p.row, p.message) for p in loaded.problems] == [
        ("spy/20131007_trade.zip", None, "file is empty")
    ]


@pytest.mark.parametrize("content", [b"", b"this is not a zip file at all", b"PK\x03\x04garbage"])
def test_corrupt_zip(root: Path, content: bytes) -> None:
    path = root / "spy" / "20131007_trade.zip"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    loaded = _load(root)
    assert len(loaded.bars) == 0
    [problem] = loaded.problems
    assert problem.file == "spy/20131007_trade.zip" and "corrupt" in problem.message


def test_truncated_zip(root: Path) -> None:
    source = EQUITY_MINUTE / "spy" / "20131007_trade.zip"
    path = root / "spy" / "20131007_trade.zip"
    path.parent.mkdir(parents=True)
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    loaded = _load(root)
    assert len(loaded.bars) == 0
    assert loaded.problems[0].file == "spy/20131007_trade.zip"
    assert "corrupt or truncated zip" in loaded.problems[0].message


def test_damaged_member_data(root: Path) -> None:
    """A zip whose directory is intact but whose compressed bytes are damaged."""
    shutil.copy(EQUITY_MINUTE / "spy" / "20131007_trade.zip", root / "x.zip")
    data = bytearray((root / "x.zip").read_bytes())
    with zipfile.ZipFile(root / "x.zip") as archive:
        info = archive.infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + 200
    data[start : start + 50] = bytes(50)
    (root / "spy").mkdir()
    (root / "spy" / "20131007_trade.zip").write_bytes(bytes(data))
    loaded = _load(root)
    assert len(loaded.bars) == 0 and "corrupt" in loaded.problems[0].message


def test_zip_without_csv(root: Path) -> None:
    folder = root / "spy"
    folder.mkdir()
    with zipfile.ZipFile(folder / "20131007_trade.zip", "w"):
        pass
    loaded = _load(root)
    assert loaded.problems[0].message == "zip holds no CSV file"


def test_wrong_column_count_on_one_row(root: Path) -> None:
    lines = lean_lines(5)
    lines[2] += ",7"
    lines[3] = lines[3].rsplit(",", 1)[0]
    write_lean_zip(root, "SPY", LEAN_DAY, lines)
    loaded = _load(root)
    assert [(p.row, p.message) for p in loaded.problems] == [
        (3, "wrong number of fields: expected 6, found 7"),
        (4, "wrong number of fields: expected 6, found 5"),
    ]
    assert all(p.file == "spy/20131007_trade.zip" for p in loaded.problems)
    np.testing.assert_array_equal(loaded.bars.ts, _expected_ts([0, 1, 4]))


def test_wrong_column_count_everywhere_is_a_file_problem(root: Path) -> None:
    write_lean_zip(root, "SPY", LEAN_DAY, [line + ",0" for line in lean_lines(5)])
    loaded = _load(root)
    assert len(loaded.bars) == 0
    [problem] = loaded.problems
    assert problem.row == 1 and problem.file == "spy/20131007_trade.zip"
    assert problem.message.startswith("wrong number of columns: expected 6")


BAD_ROWS = [
    ("abc,1000000,1000500,999500,1000100,1000", "unparsable timestamp"),
    (f"{OPEN_MS + 2 * 60_000 + 30_000},1000000,1000500,999500,1000100,1000", "ms is not a multiple of 60000"),
    ("90000000,1000000,1000500,999500,1000100,1000", "ms is outside the day"),
    (f"{OPEN_MS + 120_000},nan,1000500,999500,1000100,1000", "open is missing or not a number"),
    (f"{OPEN_MS + 120_000},1000000,inf,999500,1000100,1000", "high is infinite"),
    (f"{OPEN_MS + 120_000},0,1000500,999500,1000100,1000", "open 0 is not a positive price"),
    (f"{OPEN_MS + 120_000},1000000,1000500,-999500,1000100,1000", "low -99.95 is not a positive price"),
    (f"{OPEN_MS + 120_000},1000000,1000500,999500,1000100,-3", "negative volume -3"),
    (f"{OPEN_MS + 120_000},1000000,1000500,999500,1000100,", "volume is missing or not a number"),
    (f"{OPEN_MS + 120_000},1000000,990000,999500,1000100,1000", "high 99 is below low 99.95"),
    (f"{OPEN_MS + 120_000},1000600,1000500,999500,1000100,1000", "high 100.05 is below open 100.06"),
    (f"{OPEN_MS + 120_000},1000000,1000500,999500,1000600,1000", "high 100.05 is below close 100.06"),
    (f"{OPEN_MS + 120_000},999000,1000500,999500,1000100,1000", "low 99.95 is above open 99.9"),
    (f"{OPEN_MS + 120_000},1000000,1000500,999500,999000,1000", "low 99.95 is above close 99.9"),
]


@pytest.mark.parametrize(("line", "message"), BAD_ROWS)
def test_bad_row_is_rejected_and_neighbours_kept(root: Path, line: str, message: str) -> None:
    lines = lean_lines(5)
    lines[2] = line
    write_lean_zip(root, "SPY", LEAN_DAY, lines)
    loaded = _load(root)
    assert len(loaded.problems) == 1
    problem = loaded.problems[0]
    assert (problem.file, problem.row, problem.symbol) == ("spy/20131007_trade.zip", 3, "SPY")
    assert message in problem.message
    np.testing.assert_array_equal(loaded.bars.ts, _expected_ts([0, 1, 3, 4]))
    assert loaded.bars.open[2] == 100.03


def test_duplicates_last_wins(root: Path) -> None:
    lines = lean_lines(4)
    first = lines[1].split(",")
    lines.insert(2, ",".join([first[0], "1000000", "1002000", "999000", "1001000", "77"]))
    write_lean_zip(root, "SPY", LEAN_DAY, lines)
    loaded = _load(root)
    [warning] = loaded.problems
    assert warning.row == 2 and "row 2 by row 3" in warning.message
    np.testing.assert_array_equal(loaded.bars.ts, _expected_ts([0, 1, 2, 3]))
    assert loaded.bars.volume[1] == 77.0


def test_unsorted_rows_are_sorted(root: Path) -> None:
    lines = lean_lines(5)
    lines[1], lines[3] = lines[3], lines[1]
    write_lean_zip(root, "SPY", LEAN_DAY, lines)
    loaded = _load(root)
    [warning] = loaded.problems
    assert warning.row == 3 and "not in time order" in warning.message
    np.testing.assert_array_equal(loaded.bars.ts, _expected_ts([0, 1, 2, 3, 4]))
    np.testing.assert_array_equal(loaded.bars.volume, [1000, 1001, 1002, 1003, 1004])


def test_out_of_session_rows_counted(root: Path) -> None:
    lines = [*lean_lines(2, start_ms=OPEN_MS - 120_000), *lean_lines(3), *lean_lines(4, start_ms=57_600_000)]
    write_lean_zip(root, "SPY", LEAN_DAY, lines)
    loaded = _load(root)
    assert loaded.problems == [] and loaded.outside_session == 6
    np.testing.assert_array_equal(loaded.bars.ts, _expected_ts([0, 1, 2]))


def test_all_rows_outside_session(root: Path) -> None:
    write_lean_zip(root, "SPY", LEAN_DAY, lean_lines(3, start_ms=60_000_000))
    loaded = _load(root)
    assert len(loaded.bars) == 0 and loaded.outside_session == 3
    assert "no bars for SPY in the 2013-10-07 session (3 rows outside it)" in loaded.problems[0].message


def test_blank_lines_are_ignored_and_numbering_kept(root: Path) -> None:
    lines = lean_lines(4)
    lines.insert(2, "")
    lines[4] = lines[4].replace(",1003", ",-1")  # line 5 after the blank line 3
    write_lean_zip(root, "SPY", LEAN_DAY, lines)
    loaded = _load(root)
    assert [(p.row, p.message) for p in loaded.problems] == [(5, "negative volume -1")]
    assert len(loaded.bars) == 3


def test_garbage_bytes_reject_their_row_only(root: Path) -> None:
    lines = [line.encode() for line in lean_lines(4)]
    lines[1] = b"\xff\xfe" + lines[1]
    write_lean_zip(root, "SPY", LEAN_DAY, b"\r\n".join(lines))
    loaded = _load(root)
    assert [(p.row, p.message) for p in loaded.problems] == [(2, "unparsable timestamp")]
    np.testing.assert_array_equal(loaded.bars.ts, _expected_ts([0, 2, 3]))


def test_reader_raises_only_data_error(root: Path) -> None:
    path = root / "bad.zip"
    path.write_bytes(b"nope")
    with pytest.raises(DataError) as info:
        read_lean_zip(path, "bad.zip", LeanSource(root).layout, LEAN_DAY)
    assert info.value.file == "bad.zip"
