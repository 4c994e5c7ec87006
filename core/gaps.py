"""Incremental gap tracking over a session's window grid.

A gap is a maximal run of consecutive expected windows with no bar. Marking a window
present is O(log gaps); the trailing run up to the clock is computed on demand, so an
advancing clock costs nothing until someone asks for the gaps.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from session_monitor.core.derive.table import CLOSED, FRONT, NRUNS, StateTable
from session_monitor.core.windows import WindowGrid

__all__ = ["Gap", "GapState", "GapTracker"]


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars ``[start, end)`` (UTC epoch seconds), counted in the interval's own windows."""

    start: int
    end: int
    bars: int
    cause: str = "missing"

    def as_dict(self) -> dict[str, object]:
        return {
            "start": dt.datetime.fromtimestamp(self.start, dt.UTC).isoformat(),
            "end": dt.datetime.fromtimestamp(self.end, dt.UTC).isoformat(),
            "bars": self.bars,
            "cause": self.cause,
        }


class GapState(NamedTuple):
    """A tracker's whole state, so a replica elsewhere can hold the same gaps."""

    frontier: int
    runs: list[tuple[int, int]]
    closed_missing: int


class GapTracker:
    """Tracks which windows of one grid hold a bar, as closed gap runs behind a frontier.

    The frontier and the run totals live in a row of a :class:`~core.derive.table.StateTable`
    (the vectorised pass reads them as columns); the runs themselves are kept here.
    """

    __slots__ = ("_run_starts", "_runs", "_unsent_from", "grid", "row", "table")

    def __init__(self, grid: WindowGrid, table: StateTable | None = None, row: int = 0) -> None:
        self.grid = grid
        self.table = StateTable(1) if table is None else table
        self.row = row
        self._runs: list[tuple[int, int]] = []  # closed missing runs [a, b), sorted, disjoint
        self._run_starts: list[int] = []
        #: runs from this index on changed since :meth:`take_run_changes` last handed them out (None: none)
        self._unsent_from: int | None = 0

    @property
    def frontier(self) -> int:
        """Windows below this are accounted for; the live pass advances it past a newest window it
        marks present (``mark_present`` does the same, with the checks)."""
        return int(self.table.ints[FRONT, self.row])

    @frontier.setter
    def frontier(self, window: int) -> None:
        self.table.ints[FRONT, self.row] = window

    @property
    def run_count(self) -> int:
        """Closed missing runs behind the frontier."""
        return len(self._runs)

    @property
    def closed_missing(self) -> int:
        """Expected windows inside the closed runs."""
        return int(self.table.ints[CLOSED, self.row])

    def _runs_changed(self, closed_missing_delta: int, first: int) -> None:
        """Runs from index ``first`` on changed (``closed_missing_delta`` windows more are missing)."""
        self._unsent_from = first if self._unsent_from is None else min(self._unsent_from, first)
        ints = self.table.ints
        ints[CLOSED, self.row] += closed_missing_delta
        ints[NRUNS, self.row] = len(self._runs)

    def state(self) -> GapState:
        return GapState(self.frontier, list(self._runs), self.closed_missing)

    def restore(self, state: GapState) -> None:
        self._runs = list(state.runs)
        self._run_starts = [a for a, _ in self._runs]
        self._unsent_from = 0
        self.frontier = state.frontier
        ints = self.table.ints
        ints[CLOSED, self.row] = state.closed_missing
        ints[NRUNS, self.row] = len(self._runs)

    def take_run_changes(self) -> tuple[int, list[tuple[int, int]]] | None:
        """``(k, runs[k:])``: the closed runs that changed since the last call (None: none did).

        A publisher sends only these: a reader holding the runs of the last call (or newer)
        gets this tracker's runs by replacing its own from index ``k`` on
        (:meth:`replace_runs_from`). Runs only grow at the end while bars arrive in order, so
        this is usually a run or two, where the whole list grows over a session.
        """
        first = self._unsent_from
        if first is None:
            return None
        self._unsent_from = None
        return first, self._runs[first:]

    def replace_runs_from(self, keep: int, runs: list[tuple[int, int]]) -> None:
        """A reader's side of :meth:`take_run_changes`: keep the first ``keep`` runs, then ``runs``."""
        del self._runs[keep:], self._run_starts[keep:]
        self._runs.extend(runs)
        self._run_starts.extend(a for a, _ in runs)
        self.table.ints[NRUNS, self.row] = len(self._runs)

    def mark_present(self, window: int) -> None:
        frontier = self.frontier
        if window >= frontier:
            if window > frontier:
                self._add_run(frontier, window)
            self.frontier = window + 1
            return
        i = bisect.bisect_right(self._run_starts, window) - 1
        if i < 0:
            return
        a, b = self._runs[i]
        if not a <= window < b:
            return
        pieces = [(x, y) for x, y in ((a, window), (window + 1, b)) if y > x]
        self._runs[i : i + 1] = pieces
        self._run_starts[i : i + 1] = [x for x, _ in pieces]
        self._runs_changed(-int(self.grid.expected[window] > 0), i)

    def mark_present_many(self, windows: np.ndarray) -> None:
        """Mark sorted window indices; the common case (all past the frontier) is vectorised."""
        if not len(windows):
            return
        if len(windows) > 1 and not bool(np.all(windows[1:] > windows[:-1])):
            windows = np.unique(windows)
        if windows[0] >= self.frontier:
            starts = np.empty(len(windows), np.int64)
            starts[0] = self.frontier
            starts[1:] = windows[:-1] + 1
            holes = np.flatnonzero(windows > starts)
            if len(holes):
                self._add_runs(starts[holes], windows[holes])
            self.frontier = int(windows[-1]) + 1
            return
        for w in windows.tolist():
            self.mark_present(int(w))

    def _add_runs(self, starts: np.ndarray, ends: np.ndarray) -> None:
        """Closed runs ``[starts[k], ends[k])``, sorted, all behind the frontier."""
        if self.grid.has_empty_windows:  # a run may need splitting: one at a time
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
                self._add_run(a, b)
            return
        cum = self.grid.cum_slots
        firsts = starts.tolist()
        before = len(self._runs)
        self._runs.extend(zip(firsts, ends.tolist(), strict=True))
        self._run_starts.extend(firsts)
        self._runs_changed(int((cum[ends] - cum[starts]).sum()), before)

    def _add_run(self, a: int, b: int) -> None:
        cum = self.grid.cum_slots
        added = 0
        before = len(self._runs)
        for x, y in self._split_at_empty(a, b):
            added += int(cum[y] - cum[x])
            self._runs.append((x, y))
            self._run_starts.append(x)
        self._runs_changed(added, before)

    def _split_at_empty(self, a: int, b: int) -> list[tuple[int, int]]:
        """Windows that expect nothing (a lunch break) never belong to a gap."""
        if not self.grid.has_empty_windows:
            return [(a, b)]
        expected = self.grid.expected[a:b] > 0
        if expected.all():
            return [(a, b)]
        padded = np.concatenate(([False], expected, [False]))
        edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
        return [(a + int(s), a + int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]

    def runs(self, elapsed: int) -> list[tuple[int, int]]:
        """Missing runs among the first ``elapsed`` windows."""
        out = [(a, min(b, elapsed)) for a, b in self._runs if a < elapsed]
        if elapsed > self.frontier:
            out.extend(self._split_at_empty(self.frontier, elapsed))
        return out

    def missing(self, elapsed: int) -> tuple[int, int]:
        """``(gap count, missing windows)`` among the first ``elapsed`` windows."""
        cum = self.grid.cum_slots
        frontier = self.frontier
        if elapsed >= frontier - 1:  # closed runs all end at or before the newest bar
            count, missing = len(self._runs), self.closed_missing
            if elapsed > frontier:
                trailing = self._split_at_empty(frontier, elapsed)
                count += len(trailing)
                missing += int(cum[elapsed] - cum[frontier])
            return count, missing
        runs = self.runs(elapsed)
        return len(runs), int(sum(int(cum[b] - cum[a]) for a, b in runs))

    def gaps(self, elapsed: int) -> list[Gap]:
        grid = self.grid
        return [
            Gap(int(grid.starts[a]), int(grid.ends[b - 1]), int(grid.cum_slots[b] - grid.cum_slots[a]))
            for a, b in self.runs(elapsed)
        ]
