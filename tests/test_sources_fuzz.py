"""Random bytes into every reader: only DataError may escape, and load_session never raises."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sources_helpers import DAY, HEADER, LEAN_DAY, csv_rows, lean_lines, xnys

from core.intervals import Interval
from core.sources.base import DataError
from core.sources.lean import LeanSource, read_lean_zip
from core.sources.tabular import TabularSource, read_csv_columns

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
        _check_loaded(source.load_session("SPY", MINUTE, LEAN_SESSION), LEAN_SESSION)


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
            _check_loaded(source.load_session("SPY", base, SESSION), SESSION)


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
