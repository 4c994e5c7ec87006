"""The state table: every derivation state of one interval, one row per symbol, the only copy.

One table per (session, base interval, interval) of a :class:`~core.session_data.SymbolGroup`
(one row per member), or a one-row table of its own for a symbol that is not grouped.
``BarIntervalData`` and its ``GapTracker`` read and write their row through properties, and
the vectorised pass reads and writes whole columns of it: nothing is copied or synced.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from session_monitor.core.windows import WindowGrid

__all__ = [
    "CLOSED",
    "CONTROL",
    "EL",
    "FIN",
    "FRONT",
    "GAPS",
    "INCOMPLETE",
    "LAST",
    "MISSING",
    "NRUNS",
    "OUTCOME",
    "RUN_TOTALS",
    "N",
    "StateTable",
    "Target",
]

#: the int fields of a row, one row of ``StateTable.ints`` each: bars held, newest window (-1:
#: none), final windows, elapsed windows, gap frontier, closed gap runs, their missing windows,
#: a constant 0, gap count, missing windows, incomplete bars
N, LAST, FIN, EL, FRONT, NRUNS, CLOSED, ZERO, GAPS, MISSING, INCOMPLETE = range(11)
_INT_FIELDS = 11
#: the fields that drive the pass's control flow (the uniform fast path needs them equal on every row)
CONTROL = slice(N, FRONT + 1)
#: closed gap runs, their missing windows and a 0, lined up with ``OUTCOME`` for one comparison
RUN_TOTALS = slice(NRUNS, GAPS)
#: what a quality refresh publishes besides quality: gap count, missing windows, incomplete bars
OUTCOME = slice(GAPS, INCOMPLETE + 1)


class StateTable:
    """Rows of derivation state; ``ints`` is (field × row), indexed by the field constants above,
    and the attributes of the same names are its rows."""

    __slots__ = ("closed", "el", "fin", "front", "has", "ints", "last", "n", "nruns", "quality")

    def __init__(self, size: int = 1) -> None:
        self.ints = np.zeros((_INT_FIELDS, size), np.int64)
        self.ints[LAST] = -1
        self.quality = np.full(size, np.nan)  # NaN: no window elapsed yet
        self.has = np.zeros(size, bool)  # the row's symbol holds this interval
        self._point()

    def _point(self) -> None:
        ints = self.ints
        self.n, self.last, self.fin, self.el, self.front = ints[N], ints[LAST], ints[FIN], ints[EL], ints[FRONT]
        self.nruns, self.closed = ints[NRUNS], ints[CLOSED]

    @property
    def size(self) -> int:
        return int(self.ints.shape[1])

    def resize(self, size: int) -> None:
        """Room for ``size`` rows (new rows: nothing held, no quality)."""
        old = self.ints
        self.ints = np.zeros((_INT_FIELDS, size), np.int64)
        self.ints[LAST] = -1
        self.ints[:, : old.shape[1]] = old
        quality = np.full(size, np.nan)
        quality[: len(self.quality)] = self.quality
        has = np.zeros(size, bool)
        has[: len(self.has)] = self.has
        self.quality, self.has = quality, has
        self._point()

    def copy_row(self, row: int, source: StateTable, source_row: int) -> None:
        """Row ``row`` takes the state of ``source``'s ``source_row``."""
        self.ints[:, row] = source.ints[:, source_row]
        self.quality[row] = source.quality[source_row]
        self.has[row] = True


class Target(NamedTuple):
    """One interval's rows as the derivation kernel writes them: bar columns (row × bar), the
    state table with the same rows, and the interval's windows."""

    cols: dict[str, np.ndarray]
    state: StateTable
    grid: WindowGrid
