"""Random bytes into every reader: only DataError may escape, and load_session never raises.

Beyond "does not crash": every problem is one line in the project's own wording, and
large files of rows dated far apart (1900, 2001, 2013, 2024, 9999) are rejected row by
row with exactly the expected reason, never planning a session for a stray date.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sources_helpers import DAY, HEADER, LEAN_DAY, csv_rows, lean_lines, xnys

from session_monitor.core.intervals import Interval
from session_monitor.core.runconfig import add_run_arguments, resolve_run
from session_monitor.core.sources.base import DataError, DataProblem, SourceError
from session_monitor.core.sources.lean import LeanSource, read_lean_zip
from session_monitor.core.sources.tabular import TabularSource, read_csv_columns
from session_monitor.core.sources.validation import OUT_OF_RANGE

#: SOURCES_FUZZ_EXAMPLES=5000 for a long hunt; the default keeps the suite quick
FUZZ = settings(
    max_examples=int(os.environ.get("SOURCES_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MINUTE = Interval(60)
LEAN_SESSION = xnys(LEAN_DAY)
SESSION = xnys(DAY)

#: text that looks like the real thing, so the parser gets past the first byte
CSV_ALPHABET = st.sampled_from([*"0123456789,.-+:TZ\n\r\" naifNe", "2024-01-02T14:3", "\x00", "\xff"])
csv_like = st.lists(CSV_ALPHABET, max_size=400).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass"))
mutated_lean = st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=20))


#: every reason a row or a file may be given, in the project's words (a pyarrow or numpy
#: message leaking out whole, or a traceback, would match none of them)
_PRICE = r"(open|high|low|close)"
_NUM = r"-?[0-9.e+\-]+|nan|inf"
_ROW_REASON = re.compile(
    "|".join([
        r"unparsable timestamp", r"timestamp without a UTC offset", r"timestamp is not on a whole second",
        re.escape(OUT_OF_RANGE), r"timestamp is not on the \w+ grid of the session",
        rf"{_PRICE} is missing or not a number", rf"{_PRICE} is infinite",
        rf"{_PRICE} ({_NUM}) is not a positive price",
        r"volume is missing or not a number", r"volume is infinite", rf"negative volume ({_NUM})",
        rf"volume ({_NUM}) is above the limit 1e\+18", rf"{_PRICE} ({_NUM}) is (below|above) {_PRICE} ({_NUM})",
        r"wrong number of fields: expected \d+, found \d+", r"ms is outside the day \(0\.\.86399999\)",
        r"ms is not a multiple of \d+ \(the \w+ resolution\)", r"missing symbol",
    ])
)
_FILE_REASON = re.compile(
    "|".join([
        r"file is empty", r"file has no data rows", r"the header line is empty", r"unreadable header line: .+",
        r"duplicate column names( in header)?: .+", r"wrong number of columns: expected .+",
        r"cannot number the lines of this CSV .+", r"unreadable CSV: .+", r"unreadable Parquet file: .+",
        r"unreadable columns: .+", r"missing required column\(s\) .+", r"ignored unexpected column\(s\) .+",
        r"the file holds NUL bytes .+", r"damaged UTF-16 text: .+", r"corrupt or truncated zip: .+",
        r"zip holds no CSV file", r"\d+ more (such|rejected) rows not listed.*",
        r"rows are not in time order \(row \d+ starts before the row above it\); sorted them",
        r"\d+ duplicate timestamp row\(s\) replaced by a later row with the same start: .+",
        r"no data for SPY on \d{4}-\d\d-\d\d", r"no data for SPY in .+", r"SPY data has \w+ bars, not \w+",
        r"\d+ SPY bars appear in more than one file .+", r"no bars for SPY in the .+ session .+",
    ])
)


def _check_wording(problems: list[DataProblem], file: str) -> None:
    """One line each, naming the file (and a row ≥ 1 when one is named), in known words."""
    for problem in problems:
        text = problem.message
        assert "\n" not in str(problem) and "Traceback" not in text, problem
        assert problem.file in (None, file) and (problem.row is None or problem.row >= 1), problem
        if problem.row is not None and not _FILE_REASON.fullmatch(text):
            parts = text.split("; ")
            assert all(_ROW_REASON.fullmatch(part) for part in parts), problem
        else:
            assert _FILE_REASON.fullmatch(text), problem


def _check_loaded(loaded, session) -> None:
    bars = loaded.bars
    assert bars.ts.dtype == np.int64
    assert np.all(np.diff(bars.ts) > 0)
    assert np.all(session.in_session_mask(bars.ts))
    assert np.all(np.isfinite(bars.open)) and np.all(bars.low > 0)
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))
    assert np.all(bars.volume >= 0)


@FUZZ
@given(st.one_of(st.binary(max_size=600), csv_like))
def test_csv_reader_only_raises_data_error(data: bytes) -> None:
    for names in (None, ("ms", "open", "high", "low", "close", "volume")):
        try:
            parsed = read_csv_columns(data, "x.csv", names)
        except DataError:
            continue
        assert len(parsed.rows) == len(next(iter(parsed.columns.values())))


@FUZZ
@given(st.one_of(st.binary(max_size=600), csv_like, mutated_lean))
def test_lean_member_fuzz(content) -> None:
    if isinstance(content, tuple):  # a real day with a few bytes overwritten
        at, junk = content
        clean = ("\n".join(lean_lines(10)) + "\n").encode()
        at = min(at, len(clean))
        content = clean[:at] + junk + clean[at + len(junk):]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "equity" / "usa" / "minute"
        (root / "spy").mkdir(parents=True)
        path = root / "spy" / f"{LEAN_DAY:%Y%m%d}_trade.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("x.csv", content)
        source = LeanSource(root)
        with contextlib.suppress(DataError):
            read_lean_zip(path, "spy/x.zip", source.layout, LEAN_DAY)
        loaded = source.load_session("SPY", MINUTE, LEAN_SESSION)
        _check_loaded(loaded, LEAN_SESSION)
        _check_wording(loaded.problems, path.parent.name + "/" + path.name)


@FUZZ
@given(st.binary(max_size=800))
def test_zip_bytes_fuzz(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "equity" / "usa" / "minute"
        (root / "spy").mkdir(parents=True)
        (root / "spy" / f"{LEAN_DAY:%Y%m%d}_trade.zip").write_bytes(data)
        loaded = LeanSource(root).load_session("SPY", MINUTE, LEAN_SESSION)
        assert len(loaded.bars) == 0 and loaded.problems


@FUZZ
@given(st.tuples(st.integers(0, 2000), st.binary(min_size=1, max_size=40)))
def test_zip_container_damage_fuzz(damage: tuple[int, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.csv", "\n".join(lean_lines(200)) + "\n")
    data = buffer.getvalue()
    at, junk = damage
    at = min(at, len(data))
    data = data[:at] + junk + data[at + len(junk):]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "equity" / "usa" / "minute"
        (root / "spy").mkdir(parents=True)
        (root / "spy" / f"{LEAN_DAY:%Y%m%d}_trade.zip").write_bytes(data)
        _check_loaded(LeanSource(root).load_session("SPY", MINUTE, LEAN_SESSION), LEAN_SESSION)


@FUZZ
@given(st.one_of(st.binary(max_size=600), csv_like, st.tuples(st.integers(0, 300), st.binary(min_size=1, max_size=20))))
def test_csv_file_fuzz(content) -> None:
    if isinstance(content, tuple):
        at, junk = content
        clean = ("\n".join([HEADER, *csv_rows(8)]) + "\n").encode()
        at = min(at, len(clean))
        content = clean[:at] + junk + clean[at + len(junk):]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "SPY.csv"
        path.write_bytes(content)
        source = TabularSource(path)
        source.symbols()
        source.dates("SPY")
        source.base_intervals("SPY")
        for base in (MINUTE, *source.base_intervals("SPY")):
            loaded = source.load_session("SPY", base, SESSION)
            _check_loaded(loaded, SESSION)
            _check_wording(loaded.problems, str(path))


def _parquet_bytes() -> bytes:
    table = pa.table(
        {
            "timestamp": [f"2024-01-02T14:3{k}:00Z" for k in range(5)],
            "open": [1.0] * 5, "high": [2.0] * 5, "low": [0.5] * 5, "close": [1.5] * 5, "volume": [3] * 5,
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


PARQUET = _parquet_bytes()


@FUZZ
@given(st.one_of(st.binary(max_size=600), st.tuples(st.integers(0, len(PARQUET)), st.binary(min_size=1, max_size=30))))
def test_parquet_file_fuzz(content) -> None:
    if isinstance(content, tuple):
        at, junk = content
        content = PARQUET[:at] + junk + PARQUET[at + len(junk):]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "SPY.parquet"
        path.write_bytes(content)
        source = TabularSource(path)
        source.symbols()
        _check_loaded(source.load_session("SPY", MINUTE, SESSION), SESSION)


# -- large files of rows dated far apart, each defect with its exact reason -------------------
#: sessions far apart; a good row lands on one of their minutes
FAR_SESSIONS = [xnys(dt.date(2001, 3, 5)), xnys(dt.date(2013, 10, 7)), xnys(dt.date(2024, 1, 2))]
#: row kinds: (the row's text from its good timestamp, the reason it is rejected, or None)
_KINDS: dict[str, tuple[str, str | None]] = {
    "good": ("{ts},10,11,9,10.5,100", None),
    "naive": ("{naive},10,11,9,10.5,100", "timestamp without a UTC offset"),
    "year-1900": ("1900-01-02T14:30:00+00:00,10,11,9,10.5,100", OUT_OF_RANGE),
    "year-9999": ("9999-12-30T14:30:00Z,10,11,9,10.5,100", OUT_OF_RANGE),
    "year-1": ("0001-01-01T00:00:00Z,10,11,9,10.5,100", OUT_OF_RANGE),
    "garbage": ("not a time,10,11,9,10.5,100", "unparsable timestamp"),
    "negative-volume": ("{ts},10,11,9,10.5,-5", "negative volume -5"),
    "huge-volume": ("{ts},10,11,9,10.5,1e300", "volume 1e+300 is above the limit 1e+18"),
    "no-open": ("{ts},,11,9,10.5,100", "open is missing or not a number"),
    "short": ("{ts},10,11,9,10.5", "wrong number of fields: expected 6, found 5"),
}
far_rows = st.lists(
    st.tuples(st.sampled_from(sorted(_KINDS)), st.integers(0, 2), st.integers(0, 389)),
    min_size=1, max_size=300, unique_by=lambda row: (row[1], row[2]),
)


def _write_far_file(path: Path, rows: list[tuple[str, int, int]], bulk: int) -> dict[int, tuple[str, int]]:
    """The file, and per line number the row's kind and session index; ``bulk`` good rows per
    session come first (minutes 390 - bulk .. 389 are left to the drawn rows)."""
    lines = [HEADER]
    kinds: dict[int, tuple[str, int]] = {}
    used = {(k, m) for _, k, m in rows}
    drawn = [("good", k, m) for k in range(3) for m in range(bulk) if (k, m) not in used] + rows
    for kind, k, minute in drawn:
        start = dt.datetime.fromtimestamp(FAR_SESSIONS[k].open + 60 * minute, dt.UTC)
        text = _KINDS[kind][0].format(ts=start.isoformat(), naive=start.replace(tzinfo=None).isoformat())
        lines.append(text)
        kinds[len(lines)] = (kind, k)
    path.write_text("\n".join(lines) + "\n")
    return kinds


@settings(max_examples=int(os.environ.get("SOURCES_FUZZ_EXAMPLES", "60")) // 3 or 1, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(far_rows, st.integers(2, 390))
def test_large_files_of_far_apart_dates_reject_each_bad_row_with_its_reason(rows, bulk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "SPY.csv"
        kinds = _write_far_file(path, rows, bulk)
        dated = {k for kind, k in kinds.values() if kind in ("good", "negative-volume", "huge-volume", "no-open")}
        parser = argparse.ArgumentParser()
        add_run_arguments(parser, source_required=True)
        try:
            setup = resolve_run(parser.parse_args([str(path), "--symbols", "SPY"]), default_speed=None)
        except SourceError as exc:  # no row with a usable time: the run is refused with the first reason
            assert not dated, exc
            assert str(exc).startswith("SPY: no usable data: "), exc
            return

        # the run plans exactly the sessions that hold a row with a usable time: 1900 and 9999 plan nothing
        assert [s.date for s in setup.sessions] == [FAR_SESSIONS[k].date for k in sorted(dated)]
        problems: dict[tuple[int | None, str], DataProblem] = {}
        closes = []
        for session in setup.sessions:
            loaded = setup.source.load_session("SPY", MINUTE, session)
            _check_loaded(loaded, session)
            _check_wording(loaded.problems, str(path))
            problems.update({(p.row, p.message): p for p in loaded.problems})
            closes.extend(loaded.bars.close.tolist())
        rejected = {row: message for row, message in problems if row is not None and not message.startswith("rows ")}
        expected = {row: _KINDS[kind][1] for row, (kind, _) in kinds.items() if _KINDS[kind][1] is not None}
        assert rejected == expected
        assert len(closes) == sum(kind == "good" for kind, _ in kinds.values())
