"""How a chunk of recorded bars is laid out in a segment file: exact always, narrow when it can be.

Writing the bytes is most of what recording costs (a whole 1s session is ~23 k bars), so a
chunk of many bars is stored column by column, each column as its first value and the
differences from one bar to the next in the narrowest integer that holds them all: 1s
stamps are mostly one second apart, and prices quoted in cents move a few cents a bar.
A price column is stored that way only when every value is a whole number of 10⁻ᵏ units
that divides back to the very same float64 (bit for bit); otherwise it is stored as it is.
A recorded bar therefore always reads back bit-identical, only the size changes.

Format 1 (every release before this one wrote it, and small chunks still use it): one
48-byte record per bar. Format 2: a 64-byte header (bar count, and per column its codec,
its decimal exponent and its first value), then each column's bytes. The segment index
stores the format of each chunk, and a format-2 chunk's CRC starts from a seed of its own,
so a release that knows only format 1 sees such a chunk as damaged and fetches its bars
again from the source instead of misreading them.
"""

from __future__ import annotations

import zlib
from typing import Final, NamedTuple

import numpy as np

from session_monitor.core.bars import BAR_FIELDS, BarArrays

__all__ = [
    "FORMAT_COLUMNS", "FORMAT_RECORDS", "KNOWN_FORMATS", "MIN_COLUMN_BARS", "Chunk", "chunk_crc", "decode_chunk",
    "encode_chunk",
]

FORMAT_RECORDS: Final = 1
FORMAT_COLUMNS: Final = 2
KNOWN_FORMATS: Final = frozenset({FORMAT_RECORDS, FORMAT_COLUMNS})

#: fewer bars than this go as records: a column header would cost more than it saves
MIN_COLUMN_BARS: Final = 8

_RECORD = np.dtype([(name, "<i8" if name == "ts" else "<f8") for name in BAR_FIELDS])
_COLUMNS = len(BAR_FIELDS)
_HEADER = np.dtype(
    [("bars", "<u4"), ("codec", "u1", (_COLUMNS,)), ("exponent", "u1", (_COLUMNS,)), ("first", "<i8", (_COLUMNS,))]
)
#: codec 0: the column's 8-byte values as they are; 1, 2, 4, 8: differences as signed ints of that many bytes
_AS_IS: Final = 0
_WIDTHS = ((1, np.iinfo(np.int8)), (2, np.iinfo(np.int16)), (4, np.iinfo(np.int32)))
_POWERS = 10.0 ** np.arange(10)  # exact in float64 (every power up to 10^22 is)
#: scaled values stay under 2^52, so they and the steps between them are exact in float64 and int64
_SCALED_LIMIT: Final = float(2**52)
_SAMPLE: Final = 32
_CRC_SEED = {FORMAT_RECORDS: 0, FORMAT_COLUMNS: 0x5E55_1002}


class Chunk(NamedTuple):
    """One pass's bars of one recording, as written to its segment file."""

    format: int
    payload: bytes


def chunk_crc(chunk: Chunk) -> int:
    return zlib.crc32(chunk.payload, _CRC_SEED[chunk.format])


def encode_chunk(bars: BarArrays) -> Chunk:
    """The narrowest exact layout of ``bars``."""
    if len(bars.ts) < MIN_COLUMN_BARS:
        return Chunk(FORMAT_RECORDS, _records(bars))
    header = np.zeros((), _HEADER)
    header["bars"] = len(bars.ts)
    parts = [b""]
    for k, column in enumerate(bars):
        whole = _whole_numbers(column, header, k)
        parts.append(column.astype("<f8", copy=False).tobytes() if whole is None else _differences(whole, header, k))
    parts[0] = header.tobytes()
    return Chunk(FORMAT_COLUMNS, b"".join(parts))


def decode_chunk(chunk: Chunk) -> BarArrays:
    """The bars of ``chunk``; ValueError when its bytes do not fit its own layout."""
    if chunk.format == FORMAT_RECORDS:
        rows = np.frombuffer(chunk.payload, _RECORD)
        return BarArrays(*(np.ascontiguousarray(rows[name]) for name in BAR_FIELDS))
    if chunk.format != FORMAT_COLUMNS:
        raise ValueError(f"unknown chunk format {chunk.format}")
    header = np.frombuffer(chunk.payload, _HEADER, 1)[0]
    bars = int(header["bars"])
    offset = _HEADER.itemsize
    columns = []
    for k, name in enumerate(BAR_FIELDS):
        codec, exponent, first = int(header["codec"][k]), int(header["exponent"][k]), int(header["first"][k])
        if codec == _AS_IS:
            values = np.frombuffer(chunk.payload, "<i8" if name == "ts" else "<f8", bars, offset)
            offset += 8 * bars
        else:
            steps = np.frombuffer(chunk.payload, f"<i{codec}", bars - 1, offset)
            offset += codec * (bars - 1)
            integers = np.empty(bars, np.int64)
            integers[0] = first
            integers[1:] = steps
            np.cumsum(integers, out=integers)  # wraps like the differences did: exact in int64
            values = integers if name == "ts" else integers.astype(np.float64) / _POWERS[exponent]
        columns.append(np.ascontiguousarray(values, np.int64 if name == "ts" else np.float64))
    if offset != len(chunk.payload):
        raise ValueError(f"a chunk of {bars} bars holds {len(chunk.payload)} bytes, its layout {offset}")
    return BarArrays(*columns)


def _records(bars: BarArrays) -> bytes:
    packed = np.empty(len(bars.ts), _RECORD)
    for name, column in zip(BAR_FIELDS, bars, strict=True):
        packed[name] = column
    return packed.tobytes()


def _whole_numbers(column: np.ndarray, header: np.ndarray, k: int) -> np.ndarray | None:
    """``column`` as whole numbers of 10^-exponent (the exponent noted in ``header``), when that
    reads back bit-identical; None when no exponent does. Stamps are whole numbers as they are."""
    if column.dtype.kind in "iu":
        return column
    with np.errstate(over="ignore", invalid="ignore"):  # a huge value or NaN just fails the test below
        return _scaled(column, header, k)


def _scaled(column: np.ndarray, header: np.ndarray, k: int) -> np.ndarray | None:
    bits = column.view(np.int64)
    sample = column[:_SAMPLE, None]
    fits = ((np.rint(sample * _POWERS) / _POWERS).view(np.int64) == bits[:_SAMPLE, None]).all(axis=0)
    for exponent in np.flatnonzero(fits):  # smallest first; the sample only rules exponents out
        scaled: np.ndarray = np.multiply(column, _POWERS[exponent])
        np.rint(scaled, out=scaled)
        # as the whole number it is stored as: -0.0 is 0, read back as +0.0, so the check below
        # refuses a column holding one (it is kept as it is)
        np.add(scaled, 0.0, out=scaled)
        low, high = scaled.min(), scaled.max()  # NaN fails both comparisons
        if not (low > -_SCALED_LIMIT and high < _SCALED_LIMIT):
            return None
        if np.array_equal((scaled / _POWERS[exponent]).view(np.int64), bits):
            header["exponent"][k] = exponent
            return scaled
    return None


def _differences(values: np.ndarray, header: np.ndarray, k: int) -> bytes:
    """The first of ``values`` (whole numbers) in ``header`` and the steps after it, as bytes of the
    narrowest signed int."""
    header["first"][k] = values[0]
    # int64 steps may wrap around (the running sum on reading wraps back); float steps are exact
    # because scaled values stay under 2^52
    steps = np.diff(values)
    low, high = steps.min(), steps.max()  # a chunk in columns has at least MIN_COLUMN_BARS bars
    for width, limits in _WIDTHS:
        if limits.min <= low and high <= limits.max:
            header["codec"][k] = width
            return steps.astype(f"<i{width}").tobytes()
    header["codec"][k] = 8
    return steps.astype("<i8").tobytes()
