"""CSV and Parquet bar files, and the CSV reader the Lean source shares.

Layouts: one file per symbol (``SPY.csv``, symbol from the stem) or files with a
``symbol`` column; a folder may mix both. Columns ``timestamp,open,high,low,close,volume``
(any order, case-insensitive). Timestamps are ISO 8601 text with a UTC offset: a bar
without one is ambiguous, so it is rejected unless ``default_tz`` says which zone the
naive times are in.

Each file is parsed once (cached, thread-safe: ``load_session`` runs in executor
threads) into per-symbol columns sorted by time; a session is a ``searchsorted`` slice
that is validated on demand.

Row numbers: CSV rows are 1-based physical line numbers, header included; Parquet rows
are 1-based row positions (there is no header line).

Only :class:`~core.sources.base.DataError` escapes the readers (:func:`read_csv_columns`,
:func:`read_tabular_file`); ``load_session`` turns it into a problem.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import os
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from session_monitor.core.bars import PRICE_FIELDS, BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.derive.acceptance import on_grid
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import BarSource, DataError, DataProblem, LoadedSession, SourceError
from session_monitor.core.sources.validation import (
    MAX_PROBLEMS,
    OUT_OF_RANGE,
    TS_EARLIEST,
    TS_INVALID,
    TS_LATEST,
    validate_bars,
)
from session_monitor.core.symbols import SYMBOL_RULE, SymbolError, normalise_symbol, symbol_from_file_name

__all__ = [
    "CsvColumns",
    "RawBars",
    "TabularSource",
    "parse_timestamps",
    "read_csv_columns",
    "read_tabular_file",
    "to_float",
]

REQUIRED = ("timestamp", *PRICE_FIELDS)
SUFFIXES = (".csv", ".parquet")
#: files parsed at once when a folder is first read
PARSE_THREADS = max(1, min(4, os.cpu_count() or 1))
#: a time of day followed by ``Z`` or ``±HH[:MM]``: the text carries its UTC offset
_OFFSET_RE = r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$"
_US_PER_S = 1_000_000
_DAY = 86_400


# -- CSV bytes -> string columns + line numbers -------------------------------------------
@dataclass(slots=True)
class CsvColumns:
    """String columns of a CSV plus the physical line number of every parsed row."""

    names: list[str]
    columns: dict[str, pa.ChunkedArray]
    rows: np.ndarray
    #: rows with the wrong number of fields: line numbers and one message each
    bad_rows: np.ndarray
    bad_messages: list[str]


def _first_line(data: bytes) -> bytes:
    """The bytes before the first line break (without copying the rest)."""
    ends = [at for at in (data.find(b"\n"), data.find(b"\r")) if at >= 0]
    return data[: min(ends)] if ends else data


def _count_lines(data: bytes) -> int:
    """Physical lines as pyarrow counts them (``\\n``, ``\\r\\n`` and lone ``\\r`` end a line)."""
    if not data:
        return 0
    returns = data.count(b"\r") if b"\r" in data else 0
    newlines = int(np.count_nonzero(np.frombuffer(data, np.uint8) == ord("\n")))  # faster than bytes.count
    ends = newlines + (returns - data.count(b"\r\n") if returns else 0)
    return ends + (0 if data.endswith((b"\n", b"\r")) else 1)


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _as_utf8(data: bytes, file: str) -> bytes:
    """UTF-8 bytes of the file: UTF-16 with a byte-order mark is converted, undecodable bytes
    are replaced so one bad byte rejects a row, not the whole file.

    Text that is a quarter or more NUL bytes is UTF-16/32 without a byte-order mark (or not
    text): refused with that reason instead of being read as garbage columns. A stray NUL
    only rejects its row.
    """
    if data.startswith(_UTF16_BOMS) and not data.startswith(codecs.BOM_UTF32_LE):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"damaged UTF-16 text: {exc.reason} at byte {exc.start}", file=file) from exc
    if b"\0" in data and data.count(b"\0") * 4 >= len(data):
        line = data.count(b"\n", 0, data.find(b"\0")) + 1
        raise DataError(
            "the file holds NUL bytes (UTF-16 or UTF-32 text without a byte-order mark, or not text): "
            "save it as UTF-8",
            file=file,
            row=line,
        )
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace").encode("utf-8")


def read_csv_columns(
    data: bytes, file: str, names: Sequence[str] | None = None, numeric: Collection[str] = ()
) -> CsvColumns:
    """Parse CSV bytes into string columns, keeping exact line numbers.

    ``names=None`` reads the header line; otherwise the file has no header. A row with
    the wrong number of fields is set aside (``bad_rows``) and the rest still load; when
    *every* row is wrong the file has the wrong layout and :class:`DataError` is raised.
    Columns named in ``numeric`` (any case) come as float64 when every cell is a plain
    number (else as text, like the others). Raises only :class:`DataError`.
    """
    data = _as_utf8(data, file)
    if not data or data.isspace():  # (not ``strip()``: that copies the whole file)
        raise DataError("file is empty", file=file)
    header = _header(data, file, names)
    total = _count_lines(data)
    if total <= header.lines:
        raise DataError("file has no data rows", file=file)
    read = _read_arrow(data, file, header, total, numeric)
    bad_lines = np.array([b.line for b in read.bad], dtype=np.int64)
    lines = np.arange(header.lines + 1, total + 1, dtype=np.int64)
    if len(bad_lines):
        lines = lines[~np.isin(lines, bad_lines)]
        if not read.table.num_rows:
            counts = sorted({b.fields for b in read.bad})
            raise DataError(
                f"wrong number of columns: expected {len(header.names)} ({','.join(header.names)}), "
                f"found {'/'.join(map(str, counts))}",
                file=file,
                row=int(bad_lines[0]),
            )
    columns = {n: read.table.column(i) for i, n in enumerate(header.names)}
    kept = _without_blank_lines(data, columns, lines, read.table.num_rows)
    messages = [f"wrong number of fields: expected {len(header.names)}, found {b.fields}" for b in read.bad]
    return CsvColumns(header.names, kept.columns, kept.lines, bad_lines, messages)


class _Header(NamedTuple):
    names: list[str]
    #: lines before the data: 1 for a header line, 0 when the names were given
    lines: int


class _BadRow(NamedTuple):
    """A row pyarrow set aside: its physical line and how many fields it had."""

    line: int
    fields: int


class _ArrowRead(NamedTuple):
    table: pa.Table
    bad: list[_BadRow]


class _Rows(NamedTuple):
    columns: dict[str, pa.ChunkedArray]
    lines: np.ndarray


def _header(data: bytes, file: str, names: Sequence[str] | None) -> _Header:
    """The column names: given, or read from the first line (which must name each column once)."""
    header_lines = 0
    if names is None:
        first = _first_line(data).decode("utf-8").lstrip("\ufeff")
        try:
            names = [n.strip() for n in next(csv.reader([first]), [])]
        except csv.Error as exc:
            raise DataError(f"unreadable header line: {exc}", file=file, row=1) from exc
        if not any(names):
            raise DataError("the header line is empty", file=file, row=1)
        header_lines = 1
    names = list(names)
    if len(set(names)) != len(names):
        raise DataError(f"duplicate column names in header: {','.join(names)}", file=file, row=1)
    return _Header(names, header_lines)


def _read_arrow(data: bytes, file: str, header: _Header, total: int, numeric: Collection[str]) -> _ArrowRead:
    """String columns read by pyarrow, rows with the wrong field count set aside.

    Read with quotes first; when that cannot account for every physical line (a stray quote
    joined lines), read again without quoting. Neither: line breaks inside values, refused.
    """
    for quote in ('"', False):
        read = _read_arrow_once(data, file, header, quote, numeric)
        if read.table.num_rows + len(read.bad) == total - header.lines and all(b.line > 0 for b in read.bad):
            return read
    raise DataError("cannot number the lines of this CSV (line breaks inside values?)", file=file)


def _read_arrow_once(
    data: bytes, file: str, header: _Header, quote: str | bool, numeric: Collection[str]
) -> _ArrowRead:
    """One read: the ``numeric`` columns parsed as numbers straight away (4-5x faster than text
    and a cast), and when a cell is not a plain number, everything read again as text (converted
    and checked cell by cell later, so the odd cell is named, not the file refused)."""
    types = {n: pa.float64() for n in header.names if n.strip().lower() in numeric}
    if types:
        with contextlib.suppress(pa.ArrowInvalid):
            return _read_arrow_typed(data, file, header, quote, types)
    return _read_arrow_typed(data, file, header, quote, {})


def _read_arrow_typed(
    data: bytes, file: str, header: _Header, quote: str | bool, types: dict[str, pa.DataType]
) -> _ArrowRead:
    """A read with ``types`` for those columns and text for the others; a cell that is not of its
    column's type raises ``pa.ArrowInvalid`` (any other failure is a DataError)."""
    bad: list[_BadRow] = []

    def handler(row: pa_csv.InvalidRow) -> str:
        bad.append(_BadRow(row.number if row.number is not None else -1, row.actual_columns))
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(
                use_threads=False, column_names=header.names, skip_rows=header.lines, block_size=1 << 22
            ),
            parse_options=pa_csv.ParseOptions(
                quote_char=quote,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=handler,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: types.get(n, pa.string()) for n in header.names}, strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid as exc:
        if types and "conversion error" in str(exc):
            raise
        raise DataError(f"unreadable CSV: {exc}", file=file) from exc
    except (pa.ArrowException, ValueError, OverflowError) as exc:
        raise DataError(f"unreadable CSV: {exc}", file=file) from exc
    return _ArrowRead(table, bad)


def _without_blank_lines(data: bytes, columns: dict[str, pa.ChunkedArray], lines: np.ndarray, rows: int) -> _Rows:
    """Blank lines come back as all-null rows: drop them silently (they hold no data).

    A row of empty fields (``,,,,,``) is not a blank line: it stays, and validation names it.
    """
    if not rows:
        return _Rows(columns, lines)
    blank = np.ones(rows, dtype=bool)
    for col in columns.values():
        blank &= col.is_null().to_numpy(zero_copy_only=False)
    if not blank.any():
        return _Rows(columns, lines)
    physical = data.splitlines()
    empty_line = np.array([not physical[n - 1].strip() for n in lines[blank]], dtype=bool)
    drop = np.flatnonzero(blank)[empty_line]
    if not len(drop):
        return _Rows(columns, lines)
    keep = np.ones(rows, dtype=bool)
    keep[drop] = False
    keep_pa = pa.array(keep)
    return _Rows({n: c.filter(keep_pa) for n, c in columns.items()}, lines[keep])


# -- column conversion ---------------------------------------------------------------------------
def to_float(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """float64 values; null or unparsable cells become NaN (validation rejects them)."""
    try:
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        pass
    try:
        series = column.to_pandas()
        return np.asarray(pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        values = np.full(len(column), np.nan)
        for i, item in enumerate(column.to_pylist()):
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                values[i] = float(item)
        return values


@dataclass(slots=True)
class ParsedTimes:
    """Epoch seconds (``TS_INVALID`` where unusable), the local day written, and why rows failed."""

    ts: np.ndarray
    local_day: np.ndarray
    reasons: list[tuple[np.ndarray, str]]


def _from_us(us: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seconds with TS_INVALID for NaT, NaT mask, sub-second mask) from int64 microseconds."""
    nat = us == np.iinfo(np.int64).min
    fractional = ~nat & (us % _US_PER_S != 0)
    seconds = np.where(nat, TS_INVALID, us // _US_PER_S)
    return seconds, nat, fractional


def _localize(naive: pd.Series, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC microseconds of naive wall times in ``tz`` and a mask of non-existent/ambiguous ones."""
    aware = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    us = aware.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").view(np.int64)
    undefined = aware.isna().to_numpy() & naive.notna().to_numpy()
    return us, undefined


def _parse_naive(series: pd.Series) -> pd.Series:
    """Wall times of text without an offset (NaT where unparsable)."""
    try:
        naive = pd.to_datetime(series, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        # an offset the pattern missed makes pandas refuse the mix: read the UTC wall time
        naive = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
    if getattr(naive.dt, "tz", None) is not None:
        naive = naive.dt.tz_localize(None)
    return naive


def _int64(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Raw int64 values of an Arrow temporal column, nulls as the int64 minimum."""
    raw = pc.fill_null(pc.cast(values, pa.int64()), np.iinfo(np.int64).min)
    return np.asarray(raw.to_numpy(zero_copy_only=False), dtype=np.int64)


def _as_utc(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """ISO 8601 text with offsets as UTC microseconds (raises when a value has no offset or does not parse)."""
    return pc.cast(text, pa.timestamp("us", tz="UTC"))


def _utc_days(text: pa.ChunkedArray | pa.Array, aware_us: np.ndarray) -> np.ndarray | None:
    """The day written in text that is all UTC (``+00:00`` or ``Z``), from its parsed time; else None.

    For such text the written day is the UTC day, so no second parse of the date is needed.
    """
    utc = pc.or_(pc.ends_with(text, "+00:00"), pc.ends_with(text, "Z"))
    if not pc.all(utc).as_py():
        return None
    days: np.ndarray = aware_us // (_US_PER_S * _DAY)
    return days


def _written_days(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Days since 1970 of the ``YYYY-MM-DD`` each text starts with (int64 minimum if none)."""
    prefix = pc.utf8_slice_codeunits(text, 0, 10)
    try:
        days = pc.cast(prefix, pa.date32())
    except (pa.ArrowException, ValueError):
        days = pc.cast(pc.strptime(prefix, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
    return _int64(pc.cast(days, pa.int32()))


@dataclass(slots=True)
class _TextTimes:
    """ISO 8601 text parsed: UTC microseconds of the rows with an offset, and the rest as wall times."""

    #: the text as parsed (trimmed and upper-cased when Arrow could not parse it as written)
    text: pa.ChunkedArray | pa.Array
    aware_us: np.ndarray
    has_offset: np.ndarray
    #: wall times of the rows without an offset (None when every row has one)
    naive: pd.Series | None
    #: Arrow's parser read every value (so each one is extended ISO 8601 with an offset)
    arrow_parsed: bool


def _parse_text(column: pa.ChunkedArray | pa.Array) -> _TextTimes:
    """Arrow parses the whole column when every value carries an offset; pandas the rest."""
    try:
        # Arrow's parser takes neither lower case nor surrounding blanks, so text it parses
        # as written is already what trimming and upper-casing would make of it
        parsed: pa.ChunkedArray | pa.Array | None = _as_utc(column)
        text = column
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        text = pc.utf8_upper(pc.utf8_trim_whitespace(column))
        parsed = None
    try:
        aware_us = _int64(parsed if parsed is not None else _as_utc(text))
        return _TextTimes(text, aware_us, aware_us != np.iinfo(np.int64).min, None, True)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        pass
    has_offset = np.asarray(
        pc.fill_null(pc.match_substring_regex(text, _OFFSET_RE), False).to_numpy(zero_copy_only=False), dtype=bool
    )
    series = text.to_pandas()
    aware = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    aware_us = aware.dt.tz_localize(None).to_numpy().astype("datetime64[us]").view(np.int64).copy()
    naive = None if has_offset.all() else _parse_naive(series.where(~has_offset))
    return _TextTimes(text, aware_us, has_offset, naive, False)


def _written_local_days(
    text: pa.ChunkedArray | pa.Array, aware_us: np.ndarray, has_offset: np.ndarray, arrow_parsed: bool,
    local_day: np.ndarray,
) -> None:
    """Fill ``local_day`` for rows with an offset: the date written in their text."""
    written = _utc_days(text, aware_us) if arrow_parsed else None
    if written is None:
        written = _written_days(text)
    ok = has_offset & (written != np.iinfo(np.int64).min)
    local_day[ok] = written[ok]
    fallback = has_offset & ~ok & (aware_us != np.iinfo(np.int64).min)
    local_day[fallback] = aware_us[fallback] // (_US_PER_S * _DAY)


def parse_timestamps(column: pa.ChunkedArray | pa.Array, default_tz: str | None = None) -> ParsedTimes:
    """Parse ISO 8601 text (or Arrow timestamps) to epoch seconds with per-row reasons.

    Text without a UTC offset is rejected ("timestamp without a UTC offset") unless
    ``default_tz`` names the zone it is in. Sub-second times are rejected: bars start on
    whole seconds.
    """
    n = len(column)
    reasons: list[tuple[np.ndarray, str]] = []
    ctype = column.type
    if pa.types.is_timestamp(ctype) and ctype.tz is not None:
        aware = column.to_pandas()
        us = aware.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").view(np.int64)
        seconds, _, fractional = _from_us(us)
        local = aware.dt.tz_localize(None).to_numpy().astype("datetime64[D]").view(np.int64)
        reasons.append((fractional, "timestamp is not on a whole second"))
        seconds = _in_range(np.where(fractional, TS_INVALID, seconds), reasons)
        return ParsedTimes(seconds, np.where(seconds == TS_INVALID, 0, local), reasons)

    text: pa.ChunkedArray | pa.Array | None = None
    naive: pd.Series | None = None
    arrow_parsed = False
    if pa.types.is_timestamp(ctype):
        naive = column.to_pandas()
        text_has_offset = np.zeros(n, dtype=bool)
        aware_us = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    else:
        if not (pa.types.is_string(ctype) or pa.types.is_large_string(ctype)):
            try:
                column = pc.cast(column, pa.string())
            except (pa.ArrowException, ValueError, TypeError):
                bad = np.ones(n, dtype=bool)
                reasons.append((bad, f"timestamp column of type {ctype} is not ISO 8601 text"))
                return ParsedTimes(np.full(n, TS_INVALID, dtype=np.int64), np.zeros(n, np.int64), reasons)
        parsed_text = _parse_text(column)
        text, aware_us, text_has_offset = parsed_text.text, parsed_text.aware_us, parsed_text.has_offset
        naive, arrow_parsed = parsed_text.naive, parsed_text.arrow_parsed

    us = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    us[text_has_offset] = aware_us[text_has_offset]
    # local day as written: the text's own date (with offset) or the default zone's
    local_day = np.zeros(n, dtype=np.int64)
    if text is not None and text_has_offset.any():
        _written_local_days(text, aware_us, text_has_offset, arrow_parsed, local_day)

    if naive is not None:
        naive_ok = ~text_has_offset & naive.notna().to_numpy()
        if default_tz is None:
            reasons.append((naive_ok, "timestamp without a UTC offset"))
        elif naive_ok.any():
            local_us, undefined = _localize(naive, default_tz)
            good = naive_ok & ~undefined
            us[good] = local_us[good]
            local_day[good] = naive.to_numpy().astype("datetime64[D]").view(np.int64)[good]
            reasons.append((naive_ok & undefined, f"local time does not exist or is ambiguous in {default_tz}"))
    seconds, _, fractional = _from_us(us)
    reasons.append((fractional, "timestamp is not on a whole second"))
    seconds = _in_range(np.where(fractional, TS_INVALID, seconds), reasons)
    return ParsedTimes(seconds, local_day, reasons)


def _in_range(seconds: np.ndarray, reasons: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """Rows dated outside the supported range become unusable, with the reason (a 1900 row must not plan 1900)."""
    outside = (seconds != TS_INVALID) & ((seconds < TS_EARLIEST) | (seconds > TS_LATEST))
    if outside.any():
        reasons.append((outside, OUT_OF_RANGE))
        seconds = np.where(outside, TS_INVALID, seconds)
    return seconds


# -- raw bars ----------------------------------------------------------------------------------
@dataclass(slots=True)
class RawBars:
    """Parsed but not yet validated rows of one file (and one symbol), in file order."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    rows: np.ndarray
    reasons: list[tuple[np.ndarray, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: np.ndarray | slice) -> RawBars:
        """A subset (or reordering) of the rows, reasons kept aligned."""
        return RawBars(
            self.ts[index], self.open[index], self.high[index], self.low[index], self.close[index],
            self.volume[index], self.rows[index], [(m[index], msg) for m, msg in self.reasons],
        )

    def with_bad_rows(self, lines: np.ndarray, messages: Sequence[str]) -> RawBars:
        """Append rows that could not be split into fields (at the end: sort by ``rows`` after)."""
        k = len(lines)
        if not k:
            return self
        n = len(self.ts)
        # placeholder values that pass every check: the row is rejected by its reason alone
        filler = np.ones(k)
        reasons = [(np.concatenate([m, np.zeros(k, dtype=bool)]), msg) for m, msg in self.reasons]
        for message in dict.fromkeys(messages):
            mask = np.zeros(n + k, dtype=bool)
            mask[n:] = [m == message for m in messages]
            reasons.append((mask, message))
        return RawBars(
            np.concatenate([self.ts, np.full(k, TS_INVALID, dtype=np.int64)]),
            np.concatenate([self.open, filler]),
            np.concatenate([self.high, filler]),
            np.concatenate([self.low, filler]),
            np.concatenate([self.close, filler]),
            np.concatenate([self.volume, np.zeros(k)]),
            np.concatenate([self.rows, np.asarray(lines, dtype=np.int64)]),
            reasons,
        )

    def validate(
        self, file: str, symbol: str | None, session: Session | None, extra: Sequence[tuple[np.ndarray, str]] = ()
    ) -> tuple[BarArrays, list[DataProblem], int]:
        """:func:`validate_bars` with this file's own reasons plus ``extra`` ones."""
        return validate_bars(
            self.ts, self.open, self.high, self.low, self.close, self.volume, self.rows, file, symbol, session,
            rejected=[*self.reasons, *extra],
        )


# -- one tabular file --------------------------------------------------------------------------
@dataclass(slots=True)
class _SymbolRows:
    """One symbol's rows of one file, sorted by attributed time (file order within a time)."""

    raw: RawBars
    #: time a row belongs to: its own, or for an unusable timestamp the previous good row's
    attr: np.ndarray
    local_day: np.ndarray


@dataclass(slots=True)
class _TabularFile:
    """One parsed file: per-symbol rows and the problems that belong to the whole file."""

    display: str
    symbols: dict[str, _SymbolRows]
    #: problems not tied to one session (layout, rows with no symbol), shown with every load
    problems: list[DataProblem]
    #: symbols this file may concern when it failed to parse (stem symbol), else its own
    concerns: frozenset[str] | None


def read_tabular_file(
    path: Path, display: str
) -> tuple[list[str], dict[str, pa.ChunkedArray], np.ndarray, CsvColumns | None]:
    """Columns of a CSV or Parquet file with lower-cased names and 1-based row numbers.

    Raises only :class:`DataError`.
    """
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, display)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", file=display) from exc
    parsed = read_csv_columns(data, display, numeric=PRICE_FIELDS)
    lowered = [n.lower() for n in parsed.names]
    if len(set(lowered)) != len(lowered):
        raise DataError(f"duplicate column names in header: {','.join(parsed.names)}", file=display, row=1)
    columns = {low: parsed.columns[n] for low, n in zip(lowered, parsed.names, strict=True)}
    return lowered, columns, parsed.rows, parsed


def _read_parquet(
    path: Path, display: str
) -> tuple[list[str], dict[str, pa.ChunkedArray], np.ndarray, CsvColumns | None]:
    """Parquet columns; any failure of the decoder on damaged bytes becomes a DataError."""
    try:
        table = pq.read_table(path)
        raw_names = [str(n) for n in table.column_names]
        columns_list = [table.column(i) for i in range(table.num_columns)]
        num_rows = table.num_rows
    except Exception as exc:  # pyarrow raises many types on damaged metadata; all mean "unreadable"
        raise DataError(f"unreadable Parquet file: {exc}", file=display) from exc
    names = [n.strip().lower() for n in raw_names]
    if len(set(names)) != len(names):
        raise DataError(f"duplicate column names: {','.join(raw_names)}", file=display)
    columns = dict(zip(names, columns_list, strict=True))
    return names, columns, np.arange(1, num_rows + 1, dtype=np.int64), None


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)``; in one pass when they are already in order (a file's rows usually are)."""
    if len(values) < 2:
        return values.copy()
    steps = np.diff(values)
    if (steps < 0).any():
        return np.unique(values)
    return values[np.concatenate(([True], steps != 0))]


def _attributed(ts: np.ndarray) -> np.ndarray:
    """Each unusable timestamp takes the previous usable one (the first usable for leading rows)."""
    valid = ts != TS_INVALID
    if valid.all() or not valid.any():
        return ts.copy()
    idx = np.where(valid, np.arange(len(ts)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.flatnonzero(valid)[0])
    return ts[idx]


def _parse_file(path: Path, display: str, default_tz: str | None) -> _TabularFile:
    """Read and split one file by symbol; never raises (failures become file problems)."""
    try:
        stem_symbol: str | None = symbol_from_file_name(path.stem)
    except SymbolError:
        stem_symbol = None  # fine for a file with a symbol column; said below otherwise
    try:
        names, columns, rows, csv_info = read_tabular_file(path, display)
    except DataError as exc:
        return _TabularFile(display, {}, [DataProblem(exc.reason, file=display, row=exc.row)], _stem(stem_symbol))
    problems: list[DataProblem] = []
    header_row = 1 if csv_info is not None else None
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        problem = DataProblem(
            f"missing required column(s) {', '.join(missing)}: expected "
            f"{','.join(REQUIRED)}[,symbol], found {','.join(names)}",
            file=display,
            row=header_row,
        )
        concerns = None if "symbol" in columns else _stem(stem_symbol)
        return _TabularFile(display, {}, [problem], concerns)
    if stem_symbol is None and "symbol" not in columns:
        problem = DataProblem(
            f"the file name {path.stem!r} is not a symbol ({SYMBOL_RULE}): name the file after its "
            "symbol (e.g. SPY.csv) or add a symbol column",
            file=display,
        )
        return _TabularFile(display, {}, [problem], None)
    extra = [n for n in names if n not in (*REQUIRED, "symbol")]
    if extra:
        problems.append(
            DataProblem(f"ignored unexpected column(s) {', '.join(extra)}", file=display, row=header_row)
        )

    try:
        return _convert(names, columns, rows, csv_info, display, stem_symbol, default_tz, problems)
    except Exception as exc:  # odd column types from a readable file: report, never crash a load
        problems.append(DataProblem(f"unreadable columns: {exc}", file=display, row=header_row))
        return _TabularFile(display, {}, problems, None if "symbol" in columns else _stem(stem_symbol))


def _stem(symbol: str | None) -> frozenset[str] | None:
    """What a file that failed concerns: the symbol its name gives, else every symbol."""
    return None if symbol is None else frozenset({symbol})


def _convert(
    names: list[str],
    columns: dict[str, pa.ChunkedArray],
    rows: np.ndarray,
    csv_info: CsvColumns | None,
    display: str,
    stem_symbol: str | None,
    default_tz: str | None,
    problems: list[DataProblem],
) -> _TabularFile:
    """Typed, per-symbol rows of a file whose header is fine."""
    times = parse_timestamps(columns["timestamp"], default_tz)
    raw = RawBars(
        times.ts,
        to_float(columns["open"]),
        to_float(columns["high"]),
        to_float(columns["low"]),
        to_float(columns["close"]),
        to_float(columns["volume"]),
        rows,
        times.reasons,
    )
    if "symbol" in columns:
        typed = _Typed(raw, times.local_day)
        groups = _symbol_groups(columns["symbol"], rows, csv_info, display, problems)
    else:
        assert stem_symbol is not None  # _parse_file refused the file otherwise
        typed = _with_bad_rows(_Typed(raw, times.local_day), csv_info)
        groups = {stem_symbol: np.arange(len(typed.raw))}
    out = _by_symbol(typed, groups, display, problems)
    concerns = frozenset(out) if out else (None if "symbol" in columns else _stem(stem_symbol))
    return _TabularFile(display, out, problems, concerns)


class _Typed(NamedTuple):
    """A file's typed rows and, per row, the local day its timestamp was written on."""

    raw: RawBars
    local_day: np.ndarray


def _with_bad_rows(typed: _Typed, csv_info: CsvColumns | None) -> _Typed:
    """A one-symbol file's rows with its wrong-field-count rows put back in file order (to be rejected)."""
    if csv_info is None or not len(csv_info.bad_rows):
        return typed
    raw = typed.raw.with_bad_rows(csv_info.bad_rows, csv_info.bad_messages)
    local_day = np.concatenate([typed.local_day, np.zeros(len(csv_info.bad_rows), dtype=np.int64)])
    in_file_order = np.argsort(raw.rows, kind="stable")
    return _Typed(raw.take(in_file_order), local_day[in_file_order])


def _symbol_groups(
    column: pa.ChunkedArray, rows: np.ndarray, csv_info: CsvColumns | None, display: str, problems: list[DataProblem]
) -> dict[str, np.ndarray]:
    """Row indices per symbol of a ``symbol`` column; rows without a usable symbol become problems."""
    sym_col = pc.utf8_upper(pc.utf8_trim_whitespace(pc.cast(column, pa.string())))
    symbols = np.asarray(sym_col.to_numpy(zero_copy_only=False), dtype=object)
    missing_sym = np.array([not s for s in symbols], dtype=bool)
    if csv_info is not None and len(csv_info.bad_rows):
        problems.extend(_listed(csv_info.bad_rows, csv_info.bad_messages, display))
    if missing_sym.any():
        problems.extend(_listed(rows[missing_sym], ["missing symbol"] * int(missing_sym.sum()), display))
    if missing_sym.all():
        return {}
    present = np.flatnonzero(~missing_sym)
    uniques, inverse = np.unique(symbols[present].astype(str), return_inverse=True)
    groups: dict[str, np.ndarray] = {}
    refused: list[tuple[np.ndarray, str]] = []
    for k, name in enumerate(uniques):
        try:
            groups[normalise_symbol(str(name))] = present[inverse == k]
        except SymbolError as exc:  # never a folder name, never merged: each row is rejected
            refused.append((present[inverse == k], str(exc)))
    if refused:
        index = np.concatenate([i for i, _ in refused])
        reasons = [m for i, m in refused for _ in range(len(i))]
        order = np.argsort(index, kind="stable")
        problems.extend(_listed(rows[index[order]], [reasons[j] for j in order], display))
    return groups


def _by_symbol(
    typed: _Typed, groups: dict[str, np.ndarray], display: str, problems: list[DataProblem]
) -> dict[str, _SymbolRows]:
    """Each symbol's rows sorted by the time they count at; a symbol with no usable time says why."""
    out: dict[str, _SymbolRows] = {}
    for name, index in groups.items():
        whole = len(index) == len(typed.raw)  # the file's only symbol: its rows as they are
        part = typed.raw if whole else typed.raw.take(index)
        days = typed.local_day if whole else typed.local_day[index]
        attr = _attributed(part.ts)
        if (attr == TS_INVALID).all():
            _bars, found, _ = part.validate(display, name, None)
            problems.extend(found)
            continue
        if (np.diff(attr) < 0).any():
            order = np.argsort(attr, kind="stable")
            part, attr, days = part.take(order), attr[order], days[order]
        out[name] = _SymbolRows(part, attr, days)
    return out


def _listed(lines: np.ndarray, messages: Sequence[str], display: str) -> list[DataProblem]:
    """File-level row problems, capped like validate_bars caps its own."""
    found = [DataProblem(m, file=display, row=int(r)) for r, m in zip(lines[:MAX_PROBLEMS], messages, strict=False)]
    if len(lines) > MAX_PROBLEMS:
        found.append(DataProblem(f"{len(lines) - MAX_PROBLEMS} more such rows not listed", file=display))
    return found


def _header_names(path: Path) -> list[str] | None:
    """Lower-cased column names from the header line or Parquet schema; None when unsure."""
    try:
        if path.suffix.lower() == ".parquet":
            return [str(n).strip().lower() for n in pq.read_schema(path).names]
        with path.open("rb") as fh:
            head = fh.read(4096)
        if b"\n" not in head and b"\r" not in head:
            return None  # a header this long (or a one-line file): leave it to the full parse
        first = _as_utf8(head, path.name).split(b"\n", 1)[0].split(b"\r", 1)[0].decode("utf-8")
        return [n.strip().lower() for n in next(csv.reader([first.lstrip("\ufeff")]), [])]
    except Exception:  # unreadable now: the full parse says why
        return None


@dataclass(slots=True)
class _FolderLayout:
    """Files by the symbol their name gives, and the files that may hold any symbol."""

    by_stem: dict[str, list[Path]]
    #: files with a symbol column, an unreadable header, or a name that is not a symbol
    shared: list[Path]
    order: dict[Path, int]

    @classmethod
    def of(cls, files: dict[Path, str]) -> _FolderLayout:
        by_stem: dict[str, list[Path]] = {}
        shared: list[Path] = []
        for path in files:
            names = _header_names(path)
            try:
                stem: str | None = symbol_from_file_name(path.stem)
            except SymbolError:
                stem = None
            if stem is None or names is None or "symbol" in names:
                shared.append(path)
            else:
                by_stem.setdefault(stem, []).append(path)
        return cls(by_stem, shared, {p: i for i, p in enumerate(files)})

    def paths_for(self, symbol: str) -> list[Path]:
        """In folder order: a clash between files is settled by that order (later file wins)."""
        return sorted([*self.by_stem.get(symbol, ()), *self.shared], key=self.order.__getitem__)


#: grids a base may have, finest first (each divides the half hour, so any session open is on it)
_GRIDS = (1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1800)
#: share of rows a grid must hold to be the base: one stray row does not halve the bar length
_ON_GRID = 0.99
#: share of rows a base given with ``--base`` must hold: below it the data is finer than asked
_ASKED_ON_GRID = 0.5


def detect_base(stamps: np.ndarray) -> Interval:
    """The bar length of sorted, unique start times: the coarsest grid that holds at least
    99 % of them, looking only at steps within a day.

    The smallest step alone would let one stray 13:45:30 row turn 1m data into 30s data
    (halving every quality figure), and two bars a year apart into a one-year "base".
    Rows off the chosen grid are rejected when a session is loaded. A lone bar, or bars
    on different days only, are taken as minute bars.
    """
    steps = np.diff(stamps)
    steps = steps[steps < 86_400]
    if not len(steps):
        return Interval(60)
    finest = int(steps.min())
    # every grid divides 1800 s: a stamp is on grid g when its remainder of 1800 s is, so one
    # remainder per stamp and a count per remainder answer every grid
    per_remainder = np.bincount(stamps % _GRIDS[-1], minlength=_GRIDS[-1])
    best = 1
    for grid in _GRIDS:
        if int(per_remainder[::grid].sum()) >= _ON_GRID * len(stamps):
            best = grid
    if finest % best == 0 and finest > best and np.all(steps % finest == 0):
        return Interval(finest)  # e.g. 90s bars: every step a multiple of the finest
    return Interval(best)


# -- the source ----------------------------------------------------------------------------------
class TabularSource(BarSource):
    """Bars from CSV / Parquet files (one file per symbol, or a ``symbol`` column)."""

    name = "csv"
    #: vendor bar files (and this app's own export) hold no row for an interval without trades
    omits_empty_intervals = True

    def __init__(self, path: str | Path, base: Interval | None = None, default_tz: str | None = None) -> None:
        given = Path(path).expanduser()
        if not given.exists():
            raise SourceError(f"source path does not exist: {path}")
        if default_tz is not None:
            try:
                ZoneInfo(default_tz)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise SourceError(f"unknown time zone {default_tz!r}") from exc
        self._root = given.resolve()
        if given.is_dir():
            try:
                files = sorted(p for p in given.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            except OSError as exc:
                raise SourceError(f"cannot list {path}: {exc.strerror or exc}") from exc
            if not files:
                raise SourceError(f"no .csv or .parquet files in {path}")
            self._files = {p: p.name for p in files}
        else:
            if given.suffix.lower() not in SUFFIXES:
                raise SourceError(f"not a .csv or .parquet file: {path}")
            self._files = {given: str(path)}
        kinds = {p.suffix.lower() for p in self._files}
        self.name = "parquet" if kinds == {".parquet"} else "csv"
        self._base_override = base
        self._default_tz = default_tz
        self._lock = threading.Lock()
        self._file_locks: dict[Path, threading.Lock] = {}
        self._parsed: dict[Path, _TabularFile] = {}
        self._folder_layout: _FolderLayout | None = None
        #: symbols whose data the asked-for base cannot serve, and why
        self._base_problems: dict[str, DataProblem] = {}
        #: symbols with rows off their base's grid: which base, and how many rows
        self._base_notes: dict[str, str] = {}
        #: symbols whose files' own problems were handed out with a session already
        self._told: set[str] = set()
        self._bases: dict[str, Interval | None] = {}

    @property
    def key(self) -> str:
        return f"csv:{self._root}"

    # -- cached parsing --------------------------------------------------------------------
    def _file(self, path: Path) -> _TabularFile:
        with self._lock:
            done = self._parsed.get(path)
            if done is not None:
                return done
            lock = self._file_locks.setdefault(path, threading.Lock())
        with lock:
            with self._lock:
                done = self._parsed.get(path)
            if done is None:
                done = _parse_file(path, self._files[path], self._default_tz)
                with self._lock:
                    self._parsed[path] = done
            return done

    def _parse(self, paths: list[Path]) -> list[_TabularFile]:
        """``paths`` parsed (in the order given); several unparsed ones go through the thread pool."""
        with self._lock:
            waiting = [p for p in paths if p not in self._parsed]
        if len(waiting) > 1:
            # pyarrow parses and converts without the GIL: files go through a core each
            workers = min(len(waiting), PARSE_THREADS)
            with ThreadPoolExecutor(workers, thread_name_prefix="parse") as pool:
                list(pool.map(self._file, waiting))
        return [self._file(p) for p in paths]

    def _all(self) -> list[_TabularFile]:
        return self._parse(list(self._files))

    def _layout(self) -> _FolderLayout:
        """Which files can hold which symbol, from names and header lines only (built once)."""
        with self._lock:
            if self._folder_layout is None:
                self._folder_layout = _FolderLayout.of(self._files)
            return self._folder_layout

    def _concerning(self, symbol: str) -> list[_TabularFile]:
        """The files that hold ``symbol`` or may: only those are parsed, so one symbol of a
        10,000-file folder starts without reading the other 9,999."""
        paths = self._layout().paths_for(symbol)
        return [f for f in self._parse(paths) if f.concerns is None or symbol in f.concerns]

    # -- BarSource ------------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        return sorted({s for f in self._all() for s in f.symbols})

    def prepare(self, symbols: Sequence[str]) -> None:
        """Parse every file the symbols need on the thread pool (not one after another as asked)."""
        layout = self._layout()
        paths = {path for symbol in symbols for path in layout.paths_for(symbol.strip().upper())}
        self._parse(sorted(paths, key=layout.order.__getitem__))

    def dates(self, symbol: str) -> list[dt.date]:
        sym = symbol.strip().upper()
        days: set[int] = set()
        for f in self._concerning(sym):
            rows = f.symbols.get(sym)
            if rows is not None:
                days.update(_sorted_unique(rows.local_day[rows.raw.ts != TS_INVALID]).tolist())
        epoch = dt.date(1970, 1, 1)
        return [epoch + dt.timedelta(days=int(d)) for d in sorted(days)]

    def notes(self, symbol: str) -> list[str]:
        sym = symbol.strip().upper()
        self._base_of(sym)
        note = self._base_notes.get(sym)
        return [] if note is None else [note]

    def unusable(self, symbol: str | None = None) -> list[DataProblem]:
        """The problems of the files that concern ``symbol`` (every file for ``None``)."""
        sym = None if symbol is None else symbol.strip().upper()
        files = self._all() if sym is None else self._concerning(sym)
        refused = [p for s, p in self._base_problems.items() if sym in (None, s)]
        return [*refused, *(p for f in files for p in f.problems)]

    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        base = self._base_of(symbol.strip().upper())
        return () if base is None else (base,)

    def _base_of(self, sym: str) -> Interval | None:
        with self._lock:
            if sym in self._bases:
                return self._bases[sym]
        stamps = [
            f.symbols[sym].raw.ts[f.symbols[sym].raw.ts != TS_INVALID]
            for f in self._concerning(sym)
            if sym in f.symbols
        ]
        base: Interval | None = None
        if stamps:
            unique = _sorted_unique(np.concatenate(stamps))
            detected = detect_base(unique)
            base = self._base_override or detected
            gridded = base.seconds and 1800 % base.seconds == 0  # 1d or 7m: no fixed grid to hold rows to
            on = int(np.count_nonzero(unique % base.seconds == 0)) if gridded else len(unique)
            on_grid = on / len(unique)
            if on_grid < _ASKED_ON_GRID:  # e.g. --base 1m over 1s rows: 59 of 60 rows would be dropped
                self._base_problems[sym] = DataProblem(
                    f"{sym} holds {detected} bars: only {on_grid:.0%} of its rows are on the {base} grid; "
                    f"leave out --base (or ask for {detected}) and derive {base} from them",
                )
                base = None
            elif on < len(unique):
                off = len(unique) - on
                how = "asked for with --base" if self._base_override else "detected"
                self._base_notes[sym] = (
                    f"{sym}: {base} bars {how}; {off} row{'s' if off > 1 else ''} off that grid "
                    "rejected as their sessions load"
                )
        with self._lock:
            self._bases[sym] = base
        return base

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        sym = symbol.strip().upper()
        files = self._concerning(sym)
        own = self._base_of(sym)
        problems = self._file_problems(sym, files, own)
        if own != base:
            if own is not None or not problems:  # with no base, a broken file already says why
                problems.append(self._base_refusal(sym, own, base))
            return LoadedSession(sym, session, base, BarArrays.empty(), problems)
        lo, hi = _window(session)
        parts: list[tuple[str, BarArrays]] = []
        outside = 0
        seen_rows = 0
        for f in files:
            part = _session_rows(f, sym, lo, hi)
            if part is None:
                continue
            seen_rows += len(part)
            bars, found, out = part.validate(f.display, sym, session, _grid_check(part, base, session))
            problems.extend(found)
            outside += out
            if len(bars):
                parts.append((f.display, bars))
        bars = _merge(parts, sym, problems)
        if not len(bars) and not seen_rows:
            problems.append(DataProblem(f"no data for {sym} on {session.date.isoformat()}", symbol=sym))
        return LoadedSession(sym, session, base, bars, problems, outside)

    def _file_problems(self, sym: str, files: list[_TabularFile], own: Interval | None) -> list[DataProblem]:
        """The files' own problems (layout, rows with a bad symbol), said once per symbol that has data."""
        with self._lock:
            told = own is not None and sym in self._told
            self._told.add(sym)
        if told:
            return []
        return [DataProblem(p.message, file=p.file, row=p.row, symbol=sym) for f in files for p in f.problems]

    def _base_refusal(self, sym: str, own: Interval | None, base: Interval) -> DataProblem:
        """Why a session at ``base`` cannot load: no data for the symbol, or data at another base."""
        if own is None:
            return DataProblem(f"no data for {sym} in {self._root.name}", symbol=sym)
        return DataProblem(f"{sym} data has {own} bars, not {base}", symbol=sym)


def _session_rows(file: _TabularFile, sym: str, lo: int, hi: int) -> RawBars | None:
    """``sym``'s rows of ``file`` that count at ``lo..hi``, in file order; None when there are none."""
    rows = file.symbols.get(sym)
    if rows is None:
        return None
    a, b = np.searchsorted(rows.attr, [lo, hi])
    if a == b:
        return None
    part = rows.raw.take(slice(a, b))
    if (np.diff(part.rows) < 0).any():  # back in file order (rows were sorted by time)
        part = part.take(np.argsort(part.rows, kind="stable"))
    return part


def _grid_check(part: RawBars, base: Interval, session: Session) -> list[tuple[np.ndarray, str]]:
    """Rows off the base's grid of the session (an intraday base above 1s has one), as a rejection."""
    if base.is_daily or base.seconds <= 1:
        return []
    valid = part.ts != TS_INVALID
    off_grid = valid & ~on_grid(session, base, part.ts)  # anchored at each segment with extended hours
    return [(off_grid, f"timestamp is not on the {base} grid of the session")]


def _window(session: Session) -> tuple[int, int]:
    """Times whose rows belong to a session: its local calendar day, widened to open..close."""
    tz = ZoneInfo(session.tz or "UTC")
    day0 = dt.datetime.combine(session.date, dt.time(), tz)
    start = int(day0.timestamp())
    end = int(dt.datetime.combine(session.date + dt.timedelta(days=1), dt.time(), tz).timestamp())
    return min(start, session.open), max(end, session.close)


def _merge(parts: list[tuple[str, BarArrays]], symbol: str, problems: list[DataProblem]) -> BarArrays:
    """Bars of one symbol from several files; on a clash the later file (by name) wins."""
    if not parts:
        return BarArrays.empty()
    if len(parts) == 1:
        return parts[0][1]
    merged = BarArrays(*(np.concatenate([p[1][i] for p in parts]) for i in range(6)))
    order = np.argsort(merged.ts, kind="stable")
    merged = merged.take(order)
    keep = np.append(merged.ts[1:] != merged.ts[:-1], True)
    if not keep.all():
        problems.append(
            DataProblem(
                f"{int((~keep).sum())} {symbol} bars appear in more than one file "
                f"({', '.join(p[0] for p in parts)}); kept the one from the later file",
                symbol=symbol,
            )
        )
        merged = merged.take(keep)
    return merged
