"""A replica's storage: every symbol's bars and derivation state of one interval as rows of one block.

A ``bb`` message carries one interval's new bars for many symbols as (symbol × bar)
columns, a ``qb`` message their quality as (field × symbol) columns; with the replica's
series of that interval in the rows of one :class:`~core.bars.RowBlock` and their state
in the same rows of one :class:`~core.derive.table.StateTable` (the storage the engine's
groups use), applying either is one fancy-indexed write per column instead of a few
per symbol, which at 1,000 symbols was most of what a reader spent on each entry. The
series and intervals stay ordinary (views of their row), so everything else reads and
writes them unchanged.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from session_monitor.core.bars import RowBlock
from session_monitor.core.bus.codec import QUALITY_FIELDS, Message, block_columns, block_revisions, quality_columns
from session_monitor.core.derive.table import StateTable
from session_monitor.core.session_data import BarIntervalData

__all__ = ["ReplicaRows"]

#: (session date, interval name, derived columns): one block and table each
_Key = tuple[dt.date, str, bool]


class _Rows:
    """One interval's block and state table, and which of their rows are free."""

    def __init__(self, with_counts: bool, size: int, cap: int) -> None:
        self.block = RowBlock(with_counts, row_cap=max(16, size), cap=cap)
        self.table = StateTable(max(16, size))
        self.free: list[int] = []
        self.next = 0

    def rows(self, intervals: list[BarIntervalData]) -> np.ndarray:
        """Each interval's row (those not here yet move in: their bars and state are copied)."""
        block, table = self.block, self.table
        rows = np.empty(len(intervals), np.intp)
        for j, interval in enumerate(intervals):
            series = interval.data
            if series.block is not block:
                if self.free:
                    row = self.free.pop()
                else:
                    row = self.next
                    self.next = row + 1
                block.adopt(series, row)
                if row >= table.size:
                    table.resize(max(2 * table.size, row + 1))
                interval.move_state(table, row)
            rows[j] = series.row
        return rows

    def release(self, interval: BarIntervalData) -> bool:
        """``interval`` leaves: its row is free again (it keeps a copy of its bars and state)."""
        series = interval.data
        if series.block is not self.block:
            return False
        self.free.append(series.row)
        self.block.release(series.row)
        interval.move_state(StateTable(1), 0)
        return True


class ReplicaRows:
    """The blocks of a replica's current session."""

    def __init__(self) -> None:
        self._rows: dict[_Key, _Rows] = {}
        #: how many symbols a new block makes room for at once (a snapshot's estimate; rows still double)
        self.expected_symbols = 0

    def apply_bars(self, date: dt.date, members: list[tuple[int, BarIntervalData]], message: Message) -> None:
        """A ``bb`` message onto ``members`` (their place in the message, and their interval).

        Each member's bars from the message's ``f`` on are replaced by its ``n`` rows.
        """
        stride = int(message["st"])
        firsts = np.asarray(message["f"], np.intp)
        for k, interval in members:
            if firsts[k] > len(interval.data):
                raise ValueError(f"{message['s'][k]} {message['i']}: bars from {firsts[k]} "
                                 f"but only {len(interval.data)} held")
        picked, intervals = self._picked(members)
        with_counts = intervals[0].data.with_counts
        store = self._store(date, intervals[0], len(message["s"]))
        rows = store.rows(intervals)
        block = store.block
        starts = firsts[picked]
        block.grow_cols(int(starts.max()) + stride)
        everyone = len(picked) == len(message["s"])
        columns = block_columns(message, with_counts)
        start = int(starts[0])
        if bool(np.all(starts == start)):  # a snapshot's (from 0), or members of equal length: row slices
            first_row = int(rows[0])
            together = bool(np.all(rows == np.arange(first_row, first_row + len(rows))))
            where: slice | np.ndarray = slice(first_row, first_row + len(rows)) if together else rows
            for name, values in columns.items():
                block.cols[name][where, start : start + stride] = values if everyone else values[picked]
        else:
            flat = (rows * block.cap)[:, None] + starts[:, None] + np.arange(stride, dtype=np.intp)
            for name, values in columns.items():
                block.cols[name].reshape(-1)[flat] = values if everyone else values[picked]
        block.set_lengths(rows, starts + np.asarray(message["n"], np.int64)[picked])
        revised = block_revisions(message)
        for k, interval in members:
            found = revised.get(k)
            if found is not None:
                interval.revisions = found
            elif interval.revisions:
                interval.revisions = {}

    def apply_quality(self, date: dt.date, members: list[tuple[int, BarIntervalData]], message: Message) -> None:
        """A ``qb`` message onto ``members``: the figures in one write per field, then the gap runs that changed."""
        picked, intervals = self._picked(members)
        store = self._store(date, intervals[0], len(message["s"]))
        rows = store.rows(intervals)
        ints, quality = quality_columns(message)
        store.table.ints[QUALITY_FIELDS, rows] = ints[:, picked]
        store.table.quality[rows] = quality[picked]
        where = {k: interval for k, interval in members}
        for k, keep, runs in message["gr"]:
            interval = where.get(int(k))
            if interval is not None:
                interval.tracker.replace_runs_from(int(keep), runs)

    @staticmethod
    def _picked(members: list[tuple[int, BarIntervalData]]) -> tuple[np.ndarray, list[BarIntervalData]]:
        return np.array([k for k, _ in members], np.intp), [interval for _, interval in members]

    def _store(self, date: dt.date, interval: BarIntervalData, size: int) -> _Rows:
        """The block of ``interval``'s kind; a new one holds as many bars as the session has windows."""
        with_counts = interval.data.with_counts
        key = (date, interval.name, with_counts)
        store = self._rows.get(key)
        if store is None:
            # a new session: the old blocks stay with the history that holds them
            self._rows = {k: rows for k, rows in self._rows.items() if k[0] == date}
            store = _Rows(with_counts, max(size, self.expected_symbols), max(64, interval.grid.size))
            self._rows[key] = store
        return store

    def release(self, intervals: list[BarIntervalData]) -> None:
        """These intervals leave the replica: their rows are free again."""
        for interval in intervals:
            for store in self._rows.values():
                if store.release(interval):
                    break
