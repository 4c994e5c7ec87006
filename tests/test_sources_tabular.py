"""TabularSource: CSV / Parquet layouts, base detection, caching, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sources_helpers import DAY, EQUITY_MINUTE, HEADER, csv_rows, write_csv, xnys

import session_monitor.core.sources.tabular as tabular
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import DataError, SourceError
from session_monitor.core.sources.lean import LeanSource
from session_monitor.core.sources.tabular import TabularSource, read_csv_columns

MINUTE = Interval(60)
SESSION = xnys(DAY)


def _ts(indices: list[int], step: int = 60) -> np.ndarray:
    return SESSION.open + step * np.asarray(indices, dtype=np.int64)


def _load(path: Path, symbol: str = "SPY", base: Interval = MINUTE, session=SESSION, **kw):
    return TabularSource(path, **kw).load_session(symbol, base, session)


# -- layouts --------------------------------------------------------------------------------------
def _lean_day_as_frame(symbol: str, date: dt.date) -> pd.DataFrame:
    """A real Lean day (all rows, extended hours included) as a tabular frame."""
    src = LeanSource(EQUITY_MINUTE)
    from session_monitor.core.sources.lean import read_lean_zip

    raw = read_lean_zip(src.file_for(symbol, date), "x", src.layout, date)
    stamps = pd.to_datetime(raw.ts, unit="s", utc=True).tz_convert("America/New_York")
    return pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)$", r":\1", regex=True),
            "open": raw.open, "high": raw.high, "low": raw.low, "close": raw.close, "volume": raw.volume,
        }
    )


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_real_day_matches_lean(tmp_path: Path, kind: str) -> None:
    date = dt.date(2015, 12, 28)
    frame = _lean_day_as_frame("goog", date)
    path = tmp_path / f"GOOG.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    src = TabularSource(path)
    assert src.symbols() == ["GOOG"] and src.base_intervals("goog") == (MINUTE,)
    assert src.dates("GOOG") == [date]
    loaded = src.load_session("GOOG", MINUTE, xnys(date))
    lean = LeanSource(EQUITY_MINUTE).load_session("GOOG", MINUTE, xnys(date))
    assert loaded.problems == []
    assert len(loaded.bars) == 382 and loaded.outside_session == lean.outside_session == 50
    for mine, theirs in zip(loaded.bars, lean.bars, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert src.key == f"csv:{path.resolve()}"
    assert src.name == kind


def test_folder_of_files_one_per_symbol(tmp_path: Path) -> None:
    write_csv(tmp_path / "spy.csv", csv_rows(3))
    write_csv(tmp_path / "QQQ.csv", csv_rows(4, step=300))
    (tmp_path / "notes.txt").write_text("ignored")
    src = TabularSource(tmp_path)
    assert src.symbols() == ["QQQ", "SPY"]
    assert src.base_intervals("QQQ") == (Interval(300),)
    assert src.base_intervals("spy") == (MINUTE,)
    assert src.base_intervals("IWM") == ()
    spy = src.load_session("spy", MINUTE, SESSION)
    assert spy.symbol == "SPY" and len(spy.bars) == 3 and spy.problems == []
    qqq = src.load_session("QQQ", Interval(300), SESSION)
    np.testing.assert_array_equal(qqq.bars.ts, _ts([0, 5, 10, 15]))
    assert src.key == f"csv:{tmp_path.resolve()}"


def test_one_file_with_symbol_column(tmp_path: Path) -> None:
    rows = [f"{r},spy" for r in csv_rows(3)] + [f"{r}, QQQ " for r in csv_rows(2, step=1)]
    path = write_csv(tmp_path / "all.csv", rows, header=HEADER + ",symbol")
    src = TabularSource(path)
    assert src.symbols() == ["QQQ", "SPY"]
    assert src.base_intervals("QQQ") == (Interval(1),)
    spy = src.load_session("SPY", MINUTE, SESSION)
    np.testing.assert_array_equal(spy.bars.ts, _ts([0, 1, 2]))
    qqq = src.load_session("QQQ", Interval(1), SESSION)
    np.testing.assert_array_equal(qqq.bars.ts, _ts([0, 1], step=1))
    missing = src.load_session("IWM", MINUTE, SESSION)
    assert len(missing.bars) == 0 and "no data for IWM" in missing.problems[0].message


def test_columns_any_order_and_case(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text("Volume,Close,Low,High,Open,TimeStamp\n10,100.5,99,101,100,2024-01-02T14:30:00Z\n")
    loaded = _load(path)
    assert loaded.problems == []
    assert tuple(float(c[0]) for c in loaded.bars[1:]) == (100.0, 101.0, 99.0, 100.5, 10.0)


def test_multi_day_file_is_sliced_per_session(tmp_path: Path) -> None:
    day2 = xnys(dt.date(2024, 1, 3))
    rows = csv_rows(3) + csv_rows(2, start="2024-01-03T14:30:00Z")
    rows.insert(4, "garbage,1,1,1,1,1")  # line 6: after day 2's first row
    path = write_csv(tmp_path / "SPY.csv", rows)
    src = TabularSource(path)
    assert src.dates("SPY") == [DAY, dt.date(2024, 1, 3)]
    first = src.load_session("SPY", MINUTE, SESSION)
    assert len(first.bars) == 3 and first.problems == []
    second = src.load_session("SPY", MINUTE, day2)
    assert [(p.row, p.message) for p in second.problems] == [(6, "unparsable timestamp")]
    np.testing.assert_array_equal(second.bars.ts, day2.open + np.array([0, 60]))
    empty = src.load_session("SPY", MINUTE, xnys(dt.date(2024, 1, 4)))
    assert len(empty.bars) == 0 and empty.problems[0].message == "no data for SPY on 2024-01-04"


def test_offsets_are_honoured(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text(
        HEADER + "\n2024-01-02T09:30:00-05:00,1,1,1,1,1\n2024-01-02 14:31:00+00:00,1,1,1,1,1\n"
        "2024-01-02T15:32:00+0100,1,1,1,1,1\n2024-01-02T14:33:00z,1,1,1,1,1\n"
    )
    loaded = _load(path)
    assert loaded.problems == []
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 2, 3]))


def test_default_tz_reads_naive_times(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text(HEADER + "\n2024-01-02 09:30:00,1,1,1,1,1\n2024-01-02 09:31,1,1,1,1,1\n")
    loaded = _load(path, default_tz="America/New_York")
    assert loaded.problems == []
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1]))
    with pytest.raises(SourceError, match="unknown time zone"):
        TabularSource(path, default_tz="Mars/Olympus")


def test_base_override(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "SPY.csv", csv_rows(3, step=120))
    src = TabularSource(path)
    assert src.base_intervals("SPY") == (Interval(120),)
    overridden = TabularSource(path, base=MINUTE)
    assert overridden.base_intervals("SPY") == (MINUTE,)
    loaded = overridden.load_session("SPY", MINUTE, SESSION)
    assert len(loaded.bars) == 3
    wrong = src.load_session("SPY", MINUTE, SESSION)
    assert len(wrong.bars) == 0 and "SPY data has 2m bars, not 1m" in wrong.problems[0].message


def test_off_grid_rows_rejected(tmp_path: Path) -> None:
    rows = csv_rows(4)
    rows[2] = rows[2].replace("14:32:00Z", "14:32:30Z")  # line 4
    path = write_csv(tmp_path / "SPY.csv", rows)
    assert TabularSource(path).base_intervals("SPY") == (Interval(30),)  # detected from the steps
    loaded = TabularSource(path, base=MINUTE).load_session("SPY", MINUTE, SESSION)
    assert [(p.row, p.message) for p in loaded.problems] == [(4, "timestamp is not on the 1m grid of the session")]
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 3]))


def test_constructor_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="source path does not exist"):
        TabularSource(tmp_path / "missing.csv")
    with pytest.raises(SourceError, match=r"no \.csv or \.parquet files"):
        TabularSource(tmp_path)
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(SourceError, match=r"not a \.csv or \.parquet file"):
        TabularSource(tmp_path / "x.txt")


# -- caching and threads ------------------------------------------------------------------------
def test_each_file_parsed_once_across_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(tmp_path / "SPY.csv", csv_rows(50))
    write_csv(tmp_path / "QQQ.csv", csv_rows(50))
    calls: list[str] = []
    lock = threading.Lock()
    real = tabular._parse_file

    def counting(path: Path, display: str, default_tz: str | None):
        with lock:
            calls.append(display)
        time.sleep(0.02)
        return real(path, display, default_tz)

    monkeypatch.setattr(tabular, "_parse_file", counting)
    src = TabularSource(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda s: src.load_session(s, MINUTE, SESSION), ["SPY", "QQQ"] * 8))
    assert sorted(calls) == ["QQQ.csv", "SPY.csv"]
    assert all(len(r.bars) == 50 for r in results)




# -- bad input (CSV rows are line numbers, header = line 1) ------------------------------------------
BAD_ROWS = [
    ("not-a-time,100.02,100.07,99.97,100.03,1002", "unparsable timestamp"),
    ("2024-01-02T14:32:00,100.02,100.07,99.97,100.03,1002", "timestamp without a UTC offset"),
    ("2024-01-02,100.02,100.07,99.97,100.03,1002", "timestamp without a UTC offset"),
    ("2024-01-02T14:32:00.500Z,100.02,100.07,99.97,100.03,1002", "timestamp is not on a whole second"),
    ("2024-01-02T14:32:00Z,,100.07,99.97,100.03,1002", "open is missing or not a number"),
    ("2024-01-02T14:32:00Z,abc,100.07,99.97,100.03,1002", "open is missing or not a number"),
    ("2024-01-02T14:32:00Z,100.02,NaN,99.97,100.03,1002", "high is missing or not a number"),
    ("2024-01-02T14:32:00Z,100.02,inf,99.97,100.03,1002", "high is infinite"),
    ("2024-01-02T14:32:00Z,100.02,100.07,0,100.03,1002", "low 0 is not a positive price"),
    ("2024-01-02T14:32:00Z,100.02,100.07,99.97,-100.03,1002", "close -100.03 is not a positive price"),
    ("2024-01-02T14:32:00Z,100.02,100.07,99.97,100.03,-1", "negative volume -1"),
    ("2024-01-02T14:32:00Z,100.02,99.90,99.97,100.03,1002", "high 99.9 is below low 99.97"),
    ("2024-01-02T14:32:00Z,100.10,100.07,99.97,100.03,1002", "high 100.07 is below open 100.1"),
    ("2024-01-02T14:32:00Z,100.02,100.07,99.97,100.08,1002", "high 100.07 is below close 100.08"),
    ("2024-01-02T14:32:00Z,99.90,100.07,99.97,100.03,1002", "low 99.97 is above open 99.9"),
    ("2024-01-02T14:32:00Z,100.02,100.07,99.97,99.95,1002", "low 99.97 is above close 99.95"),
    ("2024-01-02T14:32:00Z,100.02,100.07,99.97,100.03", "wrong number of fields: expected 6, found 5"),
    ("2024-01-02T14:32:00Z,100.02,100.07,99.97,100.03,1002,9", "wrong number of fields: expected 6, found 7"),
]


@pytest.mark.parametrize(("line", "message"), BAD_ROWS)
def test_bad_csv_row(tmp_path: Path, line: str, message: str) -> None:
    rows = csv_rows(5)
    rows[2] = line  # file line 4
    loaded = _load(write_csv(tmp_path / "SPY.csv", rows))
    assert len(loaded.problems) == 1, loaded.problems
    problem = loaded.problems[0]
    assert (problem.file, problem.row, problem.symbol) == (str(tmp_path / "SPY.csv"), 4, "SPY")
    assert message in problem.message
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 3, 4]))
    assert loaded.bars.open[2] == 100.03


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not-a-time,100.02,100.07,99.97,100.03,1002,SPY", "unparsable timestamp"),
        ("2024-01-02T14:32:00,100.02,100.07,99.97,100.03,1002,SPY", "timestamp without a UTC offset"),
        ("2024-01-02T14:32:00Z,100.02,100.07,99.97,100.03,-5,SPY", "negative volume -5"),
    ],
)
def test_bad_row_in_symbol_column_file(tmp_path: Path, line: str, message: str) -> None:
    rows = [f"{r},SPY" for r in csv_rows(5)]
    rows[2] = line
    loaded = _load(write_csv(tmp_path / "all.csv", rows, header=HEADER + ",symbol"))
    assert [(p.row, p.message) for p in loaded.problems] == [(4, message)]
    assert loaded.problems[0].file == str(tmp_path / "all.csv")
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 3, 4]))


def test_wrong_field_count_in_symbol_column_file(tmp_path: Path) -> None:
    """The symbol of a row that cannot be split is unknown: reported with every symbol of the file."""
    rows = [f"{r},SPY" for r in csv_rows(5)]
    rows[2] = rows[2] + ",extra"
    loaded = _load(write_csv(tmp_path / "all.csv", rows, header=HEADER + ",symbol"))
    assert [(p.row, p.message) for p in loaded.problems] == [(4, "wrong number of fields: expected 7, found 8")]
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 3, 4]))


def test_missing_symbol_cell(tmp_path: Path) -> None:
    rows = [f"{r},SPY" for r in csv_rows(4)]
    rows[1] = rows[1][: -len("SPY")]
    loaded = _load(write_csv(tmp_path / "all.csv", rows, header=HEADER + ",symbol"))
    assert [(p.row, p.message) for p in loaded.problems] == [(3, "missing symbol")]
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 2, 3]))


def test_missing_required_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "SPY.csv", [r.rsplit(",", 1)[0] for r in csv_rows(3)],
                     header="timestamp,open,high,low,close")
    loaded = _load(path)
    assert len(loaded.bars) == 0
    [problem] = loaded.problems
    assert problem.row == 1 and problem.file == str(path)
    assert problem.message.startswith("missing required column(s) volume")


def test_wrong_column_count_everywhere(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "SPY.csv", [r + ",1,2" for r in csv_rows(3)])
    loaded = _load(path)
    assert len(loaded.bars) == 0
    [problem] = loaded.problems
    assert problem.row == 2 and problem.message.startswith("wrong number of columns: expected 6")


def test_extra_column_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "SPY.csv", [r + ",7" for r in csv_rows(3)], header=HEADER + ",vwap")
    loaded = _load(path)
    assert len(loaded.bars) == 3
    assert [(p.row, p.message) for p in loaded.problems] == [(1, "ignored unexpected column(s) vwap")]


@pytest.mark.parametrize(("content", "message"), [("", "file is empty"), (HEADER + "\n", "file has no data rows")])
def test_empty_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text(content)
    loaded = _load(path)
    assert len(loaded.bars) == 0
    first = loaded.problems[0]
    assert (first.file, first.row, first.message) == (str(path), None, message)


def test_duplicates_last_wins(tmp_path: Path) -> None:
    rows = csv_rows(4)
    rows.insert(2, rows[1].replace(",1001", ",555"))  # line 4 repeats line 3's start
    loaded = _load(write_csv(tmp_path / "SPY.csv", rows))
    [warning] = loaded.problems
    assert warning.row == 3 and "row 3 by row 4" in warning.message
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 2, 3]))
    assert loaded.bars.volume[1] == 555


def test_unsorted_rows_sorted(tmp_path: Path) -> None:
    rows = csv_rows(4)
    rows.reverse()
    loaded = _load(write_csv(tmp_path / "SPY.csv", rows))
    [warning] = loaded.problems
    assert warning.row == 3 and "not in time order" in warning.message
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 2, 3]))
    np.testing.assert_array_equal(loaded.bars.volume, [1000, 1001, 1002, 1003])


def test_out_of_session_rows_counted(tmp_path: Path) -> None:
    rows = csv_rows(2, start="2024-01-02T14:00:00Z") + csv_rows(3) + csv_rows(2, start="2024-01-02T21:00:00Z")
    loaded = _load(write_csv(tmp_path / "SPY.csv", rows), base=MINUTE)
    assert loaded.problems == [] and loaded.outside_session == 4
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 2]))


def test_blank_lines_and_crlf(tmp_path: Path) -> None:
    rows = csv_rows(4)
    rows.insert(1, "")  # line 3 blank
    rows[3] = rows[3].replace(",1002", ",-2")  # line 5
    path = tmp_path / "SPY.csv"
    path.write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n\r\n").encode())
    loaded = _load(path)
    assert [(p.row, p.message) for p in loaded.problems] == [(5, "negative volume -2")]
    assert len(loaded.bars) == 3


def test_stray_quote_keeps_line_numbers(tmp_path: Path) -> None:
    rows = csv_rows(5)
    rows[1] = '"' + rows[1]  # an unterminated quote on line 3
    loaded = _load(write_csv(tmp_path / "SPY.csv", rows))
    assert [(p.row, p.message) for p in loaded.problems] == [(3, "unparsable timestamp")]
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 2, 3, 4]))


def test_quoted_values_are_read(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text('"timestamp","open","high","low","close","volume"\n"2024-01-02T14:30:00Z","1","2","1","2","5"\n')
    loaded = _load(path)
    assert loaded.problems == [] and len(loaded.bars) == 1


def test_reader_raises_only_data_error() -> None:
    with pytest.raises(DataError) as info:
        read_csv_columns(b"", "x.csv")
    assert info.value.file == "x.csv"


# -- Parquet (rows are 1-based positions: no header line) --------------------------------------------
def _frame(n: int = 5) -> pd.DataFrame:
    k = np.arange(n)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-02 14:30", periods=n, freq="min", tz="UTC"),
            "open": 100.0 + k, "high": 101.0 + k, "low": 99.0 + k, "close": 100.5 + k,
            "volume": (1000 + k).astype(np.int64),
        }
    )


def test_parquet_typed_timestamps(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[2, "high"] = 50.0  # row 3
    frame.to_parquet(tmp_path / "SPY.parquet", index=False)
    loaded = _load(tmp_path / "SPY.parquet")
    assert [(p.row, p.message) for p in loaded.problems] == [(3, "high 50 is below low 101; high 50 is below "
                                                             "open 102; high 50 is below close 102.5")]
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 3, 4]))


def test_parquet_string_timestamps_and_symbol_column(tmp_path: Path) -> None:
    frame = _frame(4)
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.loc[1, "timestamp"] = "2024-01-02T14:31:00"  # row 2, no offset
    frame["symbol"] = "spy"
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    src = TabularSource(tmp_path / "data.parquet")
    assert src.name == "parquet" and src.symbols() == ["SPY"]
    loaded = src.load_session("SPY", MINUTE, SESSION)
    assert [(p.file, p.row, p.message) for p in loaded.problems] == [
        (str(tmp_path / "data.parquet"), 2, "timestamp without a UTC offset")
    ]
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 2, 3]))


def test_parquet_naive_timestamps(tmp_path: Path) -> None:
    frame = _frame(3)
    frame["timestamp"] = frame["timestamp"].dt.tz_convert("America/New_York").dt.tz_localize(None)
    frame.to_parquet(tmp_path / "SPY.parquet", index=False)
    rejected = _load(tmp_path / "SPY.parquet")
    assert [p.row for p in rejected.problems] == [1, 2, 3] and len(rejected.bars) == 0
    assert rejected.problems[0].message == "timestamp without a UTC offset"
    accepted = _load(tmp_path / "SPY.parquet", default_tz="America/New_York")
    assert accepted.problems == []
    np.testing.assert_array_equal(accepted.bars.ts, _ts([0, 1, 2]))


def test_parquet_corrupt_and_bad_types(tmp_path: Path) -> None:
    (tmp_path / "SPY.parquet").write_bytes(b"PAR1 definitely not parquet PAR1")
    loaded = _load(tmp_path / "SPY.parquet")
    assert len(loaded.bars) == 0 and "unreadable Parquet file" in loaded.problems[0].message
    table = pa.table({"timestamp": [1, 2], "open": ["a", "1"], "high": [1.0, 2.0], "low": [1.0, 1.0],
                      "close": [1.0, 1.0], "volume": [1, 1]})
    pq.write_table(table, tmp_path / "QQQ.parquet")
    weird = _load(tmp_path / "QQQ.parquet", symbol="QQQ")
    assert len(weird.bars) == 0


def test_symbol_spread_over_two_files(tmp_path: Path) -> None:
    """A per-symbol file and a file with a symbol column both hold SPY: merged, the later file wins."""
    write_csv(tmp_path / "SPY.csv", csv_rows(3))
    rows = [f"{r},SPY" for r in csv_rows(3, start="2024-01-02T14:32:00Z")]
    rows[0] = rows[0].replace(",1000,", ",7,")
    write_csv(tmp_path / "all.csv", rows, header=HEADER + ",symbol")
    loaded = TabularSource(tmp_path).load_session("SPY", MINUTE, SESSION)
    np.testing.assert_array_equal(loaded.bars.ts, _ts([0, 1, 2, 3, 4]))
    assert loaded.bars.volume[2] == 7  # files load in name order ("SPY.csv" < "all.csv"): all.csv wins
    [warning] = loaded.problems
    assert "1 SPY bars appear in more than one file (SPY.csv, all.csv)" in warning.message


@pytest.mark.parametrize(
    ("stamp", "day"),
    [
        ("2024-01-02T19:30:00-05:00", dt.date(2024, 1, 2)),  # 00:30 UTC on the 3rd: the day written counts
        ("2024-01-03T00:30:00+00:00", dt.date(2024, 1, 3)),
        ("2024-01-03T00:30:00Z", dt.date(2024, 1, 3)),
        (" 2024-01-02T19:30:00-05:00", dt.date(2024, 1, 2)),  # a blank before the time: trimmed
    ],
)
def test_a_rows_day_is_the_day_written_in_its_timestamp(tmp_path: Path, stamp: str, day: dt.date) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text(f"{HEADER}\n{stamp},1,1,1,1,1\n")
    assert TabularSource(path).dates("SPY") == [day]


def test_csv_columns_keep_line_numbers_past_blank_empty_and_short_rows() -> None:
    data = (
        b"timestamp,open,high,low,close,volume\n"
        b"2024-01-02T14:30:00Z,1,2,1,2,5\n"
        b"\n"  # line 3: blank, dropped without a word
        b",,,,,\n"  # line 4: every field empty: kept, for validation to name
        b"2024-01-02T14:31:00Z,1,2\n"  # line 5: too few fields, set aside
        b"2024-01-02T14:32:00Z,1,2,1,2,6\n"
    )

    read = read_csv_columns(data, "SPY.csv")

    assert read.names == ["timestamp", "open", "high", "low", "close", "volume"]
    assert read.rows.tolist() == [2, 4, 6]
    assert read.columns["volume"].to_pylist() == ["5", None, "6"]
    assert read.bad_rows.tolist() == [5]
    assert read.bad_messages == ["wrong number of fields: expected 6, found 3"]


def test_numeric_columns_come_as_numbers_and_an_odd_cell_sends_the_file_back_to_text() -> None:
    data = b"timestamp,Open,volume\n2024-03-08T14:30:00Z,1.5,10\n,,\n"
    plain = read_csv_columns(data, "x.csv", numeric=("open", "volume"))
    assert plain.columns["Open"].to_pylist() == [1.5, None]
    assert plain.columns["timestamp"].to_pylist() == ["2024-03-08T14:30:00Z", None]
    odd = read_csv_columns(b"timestamp,open\n2024-03-08T14:30:00Z,1.5\n2024-03-08T14:31:00Z,n/a?\n", "x.csv",
                           numeric=("open",))
    assert odd.columns["open"].to_pylist() == ["1.5", "n/a?"]  # converted and named cell by cell later
    assert list(odd.rows) == [2, 3]
