"""Columnar bar storage.

One numpy column per field, grown by amortised doubling, instead of one Python object
per bar: a stored base bar costs 48 bytes (plus slack), and charts get zero-copy views.
``BarSeries`` still behaves as a read-only sequence of :class:`Bar` values for callers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, overload

import numpy as np

from session_monitor.core.memory import lazy_zeros

__all__ = [
    "BAR_FIELDS", "COUNT_FIELDS", "FORMING", "PRICE_FIELDS", "REVISED", "Bar", "BarArrays", "BarSeries", "RowBlock"
]

FORMING = np.uint8(1)
REVISED = np.uint8(2)


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar stamped with its start (UTC epoch seconds); covers ``[ts, ts + interval)``."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    count: int = 1
    expected: int = 1
    forming: bool = False
    revised: bool = False

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.ts, dt.UTC)

    @property
    def complete(self) -> bool:
        """True when the bar holds every base bar its window expects."""
        return self.count >= self.expected


class BarArrays(NamedTuple):
    """A batch of bars as parallel arrays (sorted by ``ts`` unless stated otherwise)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def empty(cls) -> BarArrays:
        return cls(np.empty(0, np.int64), *(np.empty(0, np.float64) for _ in range(5)))

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, float, float, float, float, float]]) -> BarArrays:
        if not rows:
            return cls.empty()
        cols = list(zip(*rows, strict=True))
        return cls(np.asarray(cols[0], np.int64), *(np.asarray(c, np.float64) for c in cols[1:]))

    @classmethod
    def concat(cls, batches: Iterable[BarArrays]) -> BarArrays:
        """The batches one after the other, in one batch."""
        return cls(*(np.concatenate(cols) for cols in zip(*batches, strict=True)))

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: np.ndarray | slice) -> BarArrays:
        return BarArrays(*(col[index] for col in self))


#: the columns of every stored bar, in order: its start, then OHLCV (declared once, by ``BarArrays``)
BAR_FIELDS: tuple[str, ...] = BarArrays._fields
#: the OHLCV columns
PRICE_FIELDS: tuple[str, ...] = BAR_FIELDS[1:]
#: the extra columns of a derived bar: base bars held, base bars expected, FORMING/REVISED flags
COUNT_FIELDS: tuple[str, ...] = ("count", "expected", "flags")


class BarSeries(Sequence[Bar]):
    """Bars of one (symbol, interval, session), sorted by start, unique starts.

    ``with_counts`` adds the derived-bar columns: base bars held, base bars expected, flags.
    """

    __slots__ = ("_block", "_cap", "_cols", "_n", "_row", "with_counts")

    def __init__(self, with_counts: bool = False, capacity: int = 64) -> None:
        self.with_counts = with_counts
        self._n = 0
        self._cap = max(int(capacity), 1)
        self._cols: dict[str, np.ndarray] = {}
        #: the shared :class:`RowBlock` whose row ``_row`` holds the columns, or None (standalone)
        self._block: RowBlock | None = None
        self._row = -1
        self._allocate(self._cap)

    # -- storage -------------------------------------------------------------------
    def _allocate(self, capacity: int) -> None:
        if self._block is not None:
            self._block.grow_cols(capacity)  # re-points every row's ``_cols`` and ``_cap``
            return
        new = {"ts": np.empty(capacity, np.int64)}
        for name in PRICE_FIELDS:
            new[name] = np.empty(capacity, np.float64)
        if self.with_counts:
            new["count"] = np.empty(capacity, np.int32)
            new["expected"] = np.empty(capacity, np.int32)
            new["flags"] = np.empty(capacity, np.uint8)
        for name, old in self._cols.items():
            new[name][: self._n] = old[: self._n]
        self._cols = new
        self._cap = capacity

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need > self._cap:
            cap = self._cap
            while cap < need:
                cap *= 2
            self._allocate(cap)

    def buffer(self, name: str) -> np.ndarray:
        """The writable storage of column ``name`` (capacity long; rows ``[0, len)`` hold bars).

        For the derivation engine, which updates bars in place; everyone else reads the
        read-only views below.
        """
        return self._cols[name]

    @property
    def capacity(self) -> int:
        return self._cap

    def reserve(self, extra: int) -> None:
        """Make room for ``extra`` more bars (the storage may move: re-read ``buffer`` after)."""
        self._reserve(extra)

    def set_length(self, length: int) -> None:
        """Declare ``[0, length)`` as the stored bars after writing them through ``buffer``."""
        if not 0 <= length <= self._cap:
            raise ValueError(f"length {length} outside the capacity {self._cap}")
        self._n = length

    @property
    def block(self) -> RowBlock | None:
        """The shared :class:`RowBlock` holding this series' columns, or None (it stores its own)."""
        return self._block

    @property
    def row(self) -> int:
        """This series' row in its shared :class:`RowBlock`, or -1 when it stores its own columns."""
        return self._row

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns, slack included."""
        return sum(col.nbytes for col in self._cols.values())

    # -- zero-copy views -------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        view = self._cols[name][: self._n]
        view.flags.writeable = False
        return view

    @property
    def ts(self) -> np.ndarray:
        return self.column("ts")

    @property
    def open(self) -> np.ndarray:
        return self.column("open")

    @property
    def high(self) -> np.ndarray:
        return self.column("high")

    @property
    def low(self) -> np.ndarray:
        return self.column("low")

    @property
    def close(self) -> np.ndarray:
        return self.column("close")

    @property
    def volume(self) -> np.ndarray:
        return self.column("volume")

    @property
    def count(self) -> np.ndarray:  # type: ignore[override]  # the column, not Sequence.count(value)
        return self.column("count") if self.with_counts else np.ones(self._n, np.int32)

    @property
    def expected(self) -> np.ndarray:
        return self.column("expected") if self.with_counts else np.ones(self._n, np.int32)

    @property
    def flags(self) -> np.ndarray:
        return self.column("flags") if self.with_counts else np.zeros(self._n, np.uint8)

    def arrays(self, start: int = 0, stop: int | None = None) -> BarArrays:
        """Views of the OHLCV columns for ``[start, stop)``."""
        stop = self._n if stop is None else min(stop, self._n)
        return BarArrays(*(self._cols[name][start:stop] for name in BAR_FIELDS))

    # -- sequence protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> Bar: ...
    @overload
    def __getitem__(self, index: slice) -> list[Bar]: ...
    def __getitem__(self, index: int | slice) -> Bar | list[Bar]:
        if isinstance(index, slice):
            return [self._bar(i) for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(f"bar index {index} out of range for {self._n} bars")
        return self._bar(index)

    def __iter__(self) -> Iterator[Bar]:
        for i in range(self._n):
            yield self._bar(i)

    def _bar(self, i: int) -> Bar:
        c = self._cols
        if self.with_counts:
            flags = int(c["flags"][i])
            return Bar(
                int(c["ts"][i]), float(c["open"][i]), float(c["high"][i]), float(c["low"][i]),
                float(c["close"][i]), float(c["volume"][i]), int(c["count"][i]), int(c["expected"][i]),
                bool(flags & FORMING), bool(flags & REVISED),
            )
        return Bar(
            int(c["ts"][i]), float(c["open"][i]), float(c["high"][i]), float(c["low"][i]),
            float(c["close"][i]), float(c["volume"][i]),
        )

    @property
    def last(self) -> Bar | None:
        return self._bar(self._n - 1) if self._n else None

    @property
    def last_ts(self) -> int | None:
        return int(self._cols["ts"][self._n - 1]) if self._n else None

    def index_of(self, ts: int) -> int:
        """Index of the bar starting at ``ts``, or -1."""
        i = int(np.searchsorted(self._cols["ts"][: self._n], ts))
        return i if i < self._n and self._cols["ts"][i] == ts else -1

    def count_before(self, ts: float) -> int:
        """How many bars start before ``ts``."""
        return int(np.searchsorted(self._cols["ts"][: self._n], ts, side="left"))

    # -- mutation ------------------------------------------------------------------------
    def extend(
        self,
        bars: BarArrays,
        count: np.ndarray | None = None,
        expected: np.ndarray | None = None,
        flags: np.ndarray | None = None,
    ) -> None:
        """Append bars that all start after the last stored bar (caller guarantees order)."""
        k = len(bars.ts)
        if not k:
            return
        self._reserve(k)
        lo, hi = self._n, self._n + k
        c = self._cols
        c["ts"][lo:hi] = bars.ts
        for name, values in zip(PRICE_FIELDS, bars[1:], strict=True):
            c[name][lo:hi] = values
        if self.with_counts:
            c["count"][lo:hi] = 1 if count is None else count
            c["expected"][lo:hi] = 1 if expected is None else expected
            c["flags"][lo:hi] = 0 if flags is None else flags
        self._n = hi

    def append_one(self, ts: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        """The live path: one bar after the newest, by scalar writes (one slice write per column costs 3x)."""
        if self._n == self._cap:
            self._allocate(self._cap * 2)
        i = self._n
        cols = self._cols
        cols["ts"][i] = ts
        cols["open"][i] = o
        cols["high"][i] = h
        cols["low"][i] = lo
        cols["close"][i] = c
        cols["volume"][i] = v
        if self.with_counts:
            cols["count"][i] = 1
            cols["expected"][i] = 1
            cols["flags"][i] = 0
        self._n = i + 1

    def truncate(self, length: int) -> None:
        self._n = max(0, min(self._n, length))

    def set_flags(self, index: int, flags: int) -> None:
        if self.with_counts:
            self._cols["flags"][index] = flags

    def merge(self, bars: BarArrays) -> tuple[int, bool]:
        """Insert or replace bars by start time (a later value for a start wins).

        Returns ``(first_changed_index, appended_only)``; the fast path is a plain append.
        """
        k = len(bars.ts)
        if not k:
            return self._n, True
        ts = bars.ts
        ordered = k == 1 or bool(np.all(ts[1:] > ts[:-1]))
        if ordered and (self._n == 0 or ts[0] > self._cols["ts"][self._n - 1]):
            first = self._n
            self.extend(bars)
            return first, True
        first = self._n
        for i in range(k):
            first = min(first, self._upsert(int(ts[i]), *(float(col[i]) for col in bars[1:])))
        return first, False

    def _upsert(self, ts: int, o: float, h: float, lo: float, c: float, v: float) -> int:
        col = self._cols
        i = int(np.searchsorted(col["ts"][: self._n], ts))
        if i < self._n and col["ts"][i] == ts:
            for name, value in zip(PRICE_FIELDS, (o, h, lo, c, v), strict=True):
                col[name][i] = value
            return i
        self._reserve(1)
        col = self._cols  # reserving may have reallocated the columns
        for name in col:
            col[name][i + 1 : self._n + 1] = col[name][i : self._n]
        col["ts"][i] = ts
        for name, value in zip(PRICE_FIELDS, (o, h, lo, c, v), strict=True):
            col[name][i] = value
        if self.with_counts:
            col["count"][i] = 1
            col["expected"][i] = 1
            col["flags"][i] = 0
        self._n += 1
        return i


def _dtypes(with_counts: bool) -> dict[str, type]:
    out: dict[str, type] = {"ts": np.int64}
    for name in PRICE_FIELDS:
        out[name] = np.float64
    if with_counts:
        out.update(count=np.int32, expected=np.int32, flags=np.uint8)
    return out


class RowBlock:
    """2D columns (rows × capacity) shared by the series of one interval of many symbols.

    Each adopted :class:`BarSeries` gets one row and its ``_cols`` become views of that
    row, so every per-series path keeps working unchanged while a vectorised pass writes
    the same memory for many symbols at once with fancy indexing. ``cap`` comes from what
    the session expects (its window count: a series never holds more bars than windows), so
    the bar dimension does not grow in a session; the row dimension doubles as symbols join.
    Growing copies only the rows and bars in use (the new block is zeroed lazily by the OS,
    so padding costs address space, not memory) and re-points every adopted series.
    """

    __slots__ = ("cap", "cols", "row_cap", "series", "with_counts")

    def __init__(self, with_counts: bool, row_cap: int = 16, cap: int = 64) -> None:
        self.with_counts = with_counts
        self.row_cap = max(int(row_cap), 1)
        self.cap = max(int(cap), 1)
        self.cols: dict[str, np.ndarray] = {
            name: lazy_zeros((self.row_cap, self.cap), dt) for name, dt in _dtypes(with_counts).items()
        }
        self.series: list[BarSeries | None] = [None] * self.row_cap

    def _reallocate(self, row_cap: int, cap: int) -> None:
        old_rows = self.row_cap
        adopted = [row for row, series in enumerate(self.series) if series is not None]
        rows_used = adopted[-1] + 1 if adopted else 0
        bars_used = max((self.series[row]._n for row in adopted), default=0)  # type: ignore[union-attr]
        new = {}
        for name, old in self.cols.items():
            arr = lazy_zeros((row_cap, cap), old.dtype)
            arr[:rows_used, :bars_used] = old[:rows_used, :bars_used]
            new[name] = arr
        self.cols, self.row_cap, self.cap = new, row_cap, cap
        self.series.extend([None] * (row_cap - old_rows))
        for row, series in enumerate(self.series):
            if series is not None:
                self._point(series, row)

    def _point(self, series: BarSeries, row: int) -> None:
        series._cols = {name: col[row] for name, col in self.cols.items()}
        series._cap = self.cap
        series._block = self
        series._row = row

    def grow_cols(self, capacity: int) -> None:
        if capacity > self.cap:
            cap = self.cap
            while cap < capacity:
                cap *= 2
            self._reallocate(self.row_cap, cap)

    def set_lengths(self, rows: slice | np.ndarray, lengths: int | np.ndarray) -> None:
        """Declare how many bars the series of ``rows`` hold after a vectorised write to ``cols``."""
        series = self.series
        picked = range(*rows.indices(self.row_cap)) if isinstance(rows, slice) else rows.tolist()
        if isinstance(lengths, int):
            for row in picked:
                series[row]._n = lengths  # type: ignore[union-attr]  # adopted rows only
        else:
            for row, n in zip(picked, lengths.tolist(), strict=True):
                series[row]._n = n

    def adopt(self, series: BarSeries, row: int) -> None:
        """Move ``series`` into ``row`` (its bars are copied; it then lives in the block)."""
        if series.with_counts != self.with_counts:
            raise ValueError("series and block disagree on the count columns")
        if row >= self.row_cap:
            rows = self.row_cap
            while rows <= row:
                rows *= 2
            self._reallocate(rows, self.cap)
        n = series._n
        self.grow_cols(n)
        old = series._cols
        for name, col in self.cols.items():
            col[row, :n] = old[name][:n]
        self.series[row] = series
        self._point(series, row)

    def release(self, row: int) -> None:
        """Give the series of ``row`` its own storage again (copied out) and free the row."""
        series = self.series[row]
        if series is None:
            return
        self.series[row] = None
        n = series._n
        cap = max(64, n)
        series._cols = {name: np.array(col[row, :cap]) if cap <= self.cap else _copy_pad(col[row], cap)
                        for name, col in self.cols.items()}
        series._cap = cap
        series._block = None
        series._row = -1


def _copy_pad(row: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros(cap, row.dtype)
    out[: len(row)] = row
    return out
