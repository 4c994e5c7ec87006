"""validate_bars: one worded problem per bad row, good rows kept, sorted, unique, in session."""

from __future__ import annotations

import numpy as np
import pytest
from sources_helpers import DAY, xnys

from session_monitor.core.sources.validation import MAX_PROBLEMS, TS_INVALID, validate_bars

SESSION = xnys(DAY)
T0 = SESSION.open


def _columns(n: int = 5) -> dict[str, np.ndarray]:
    k = np.arange(n, dtype=np.float64)
    return {
        "ts": T0 + 60 * np.arange(n, dtype=np.int64),
        "open": 100 + k,
        "high": 101 + k,
        "low": 99 + k,
        "close": 100.5 + k,
        "volume": 10 + k,
        "rows": np.arange(1, n + 1, dtype=np.int64),
    }


def _run(cols: dict[str, np.ndarray], session=SESSION, **kw):
    return validate_bars(
        cols["ts"], cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"], cols["rows"],
        "f.csv", "SPY", session, **kw,
    )


def test_clean_input_passes_through() -> None:
    cols = _columns()
    bars, problems, outside = _run(cols)
    assert problems == [] and outside == 0
    assert bars.ts.dtype == np.int64 and bars.open.dtype == np.float64
    np.testing.assert_array_equal(bars.ts, cols["ts"])
    np.testing.assert_array_equal(bars.volume, cols["volume"])


def test_empty_input() -> None:
    cols = {k: v[:0] for k, v in _columns().items()}
    bars, problems, outside = _run(cols)
    assert len(bars) == 0 and problems == [] and outside == 0


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("ts", TS_INVALID, "unparsable timestamp"),
        ("open", np.nan, "open is missing or not a number"),
        ("close", np.inf, "close is infinite"),
        ("low", -np.inf, "low is infinite"),
        ("open", 0.0, "open 0 is not a positive price"),
        ("low", -1.0, "low -1 is not a positive price"),
        ("volume", -5.0, "negative volume -5"),
        ("volume", np.nan, "volume is missing or not a number"),
        ("volume", np.inf, "volume is infinite"),
    ],
)
def test_one_bad_value_rejects_only_its_row(column: str, value: float, message: str) -> None:
    cols = _columns()
    cols[column] = cols[column].copy()
    cols[column][2] = value
    bars, problems, _ = _run(cols)
    assert len(problems) == 1
    assert message in problems[0].message
    assert (problems[0].file, problems[0].row, problems[0].symbol) == ("f.csv", 3, "SPY")
    np.testing.assert_array_equal(bars.ts, np.delete(cols["ts"], 2))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"high": 98.0}, "high 98 is below low 99"),
        ({"high": 99.5, "low": 99.0}, "high 99.5 is below open 100"),
        ({"open": 100.0, "close": 101.5}, "high 101 is below close 101.5"),
        ({"low": 100.2}, "low 100.2 is above open 100"),
        ({"open": 100.8, "close": 100.1, "low": 100.3}, "low 100.3 is above close 100.1"),
    ],
)
def test_ohlc_consistency(changes: dict[str, float], message: str) -> None:
    cols = _columns()
    for name, value in changes.items():
        cols[name] = cols[name].copy()
        cols[name][0] = value
    bars, problems, _ = _run(cols)
    assert [p.row for p in problems] == [1]
    assert message in problems[0].message
    assert len(bars) == 4 and bars.ts[0] == T0 + 60


def test_every_reason_of_a_row_is_named() -> None:
    cols = _columns()
    cols["open"][1] = np.nan
    cols["volume"][1] = -1
    _, problems, _ = _run(cols)
    assert problems[0].message == "open is missing or not a number; negative volume -1"


def test_reader_reasons_replace_unparsable_timestamp() -> None:
    cols = _columns()
    cols["ts"][3] = TS_INVALID
    cols["ts"][4] = TS_INVALID
    mask = np.array([False, False, False, True, False])
    bars, problems, _ = _run(cols, rejected=[(mask, "timestamp without a UTC offset")])
    assert [(p.row, p.message) for p in problems] == [
        (4, "timestamp without a UTC offset"),
        (5, "unparsable timestamp"),
    ]
    assert len(bars) == 3


def test_outside_session_rows_are_counted_not_checked() -> None:
    cols = _columns(4)
    cols["ts"][0] = SESSION.open - 60  # pre-market
    cols["ts"][3] = SESSION.close  # the close itself is outside [open, close)
    cols["high"][0] = 1.0  # a bad print outside the session is not this session's problem
    bars, problems, outside = _run(cols)
    assert outside == 2 and problems == []
    np.testing.assert_array_equal(bars.ts, cols["ts"][1:3])


def test_no_session_keeps_every_parsable_row() -> None:
    cols = _columns(3)
    cols["ts"][0] = 0
    bars, problems, outside = _run(cols, session=None)
    assert len(bars) == 3 and outside == 0 and problems == []


def test_duplicates_last_row_wins_with_one_warning() -> None:
    cols = _columns(5)
    cols["ts"][2] = cols["ts"][1]  # row 3 repeats row 2's start
    cols["ts"][3] = cols["ts"][1]  # and so does row 4
    bars, problems, _ = _run(cols)
    assert len(problems) == 1
    warning = problems[0]
    assert warning.row == 2
    assert "row 2 by row 4" in warning.message and "row 3 by row 4" in warning.message
    assert "2 duplicate" in warning.message
    np.testing.assert_array_equal(bars.ts, cols["ts"][[0, 1, 4]])
    assert bars.open[1] == cols["open"][3]  # the last row won


def test_unsorted_rows_are_sorted_with_one_warning() -> None:
    cols = _columns(5)
    order = np.array([0, 3, 1, 2, 4])
    for name in ("ts", "open", "high", "low", "close", "volume"):
        cols[name] = cols[name][order]
    bars, problems, _ = _run(cols)
    assert len(problems) == 1
    assert problems[0].row == 3 and "not in time order" in problems[0].message
    np.testing.assert_array_equal(bars.ts, np.sort(cols["ts"]))
    np.testing.assert_array_equal(bars.open, np.sort(cols["open"]))


def test_problem_list_is_capped_with_a_summary() -> None:
    n = MAX_PROBLEMS + 500
    cols = _columns(n)
    cols["ts"] = T0 + np.arange(n, dtype=np.int64)  # one-second bars, all in session
    cols["open"] = np.full(n, -1.0)
    bars, problems, _ = _run(cols)
    assert len(bars) == 0
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].row is None
    assert "500 more rejected rows" in problems[-1].message and f"{n} rows rejected" in problems[-1].message


