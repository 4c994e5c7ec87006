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

from core.windows import WindowGrid

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
    """Tracks which windows of one grid hold a bar, as closed gap runs behind a frontier."""

    __slots__ = ("_closed_missing", "_frontier", "_run_starts", "_runs", "grid")

    def __init__(self, grid: WindowGrid) -> None:
        self.grid = grid
        self._frontier = 0  # windows below this are accounted for
        self._runs: list[tuple[int, int]] = []  # closed missing runs [a, b), sorted, disjoint
        self._run_starts: list[int] = []
        self._closed_missing = 0  # expected windows inside the closed runs

    @property
    def frontier(self) -> int:
        return self._frontier

    def state(self) -> GapState:
        return GapState(self._frontier, list(self._runs), self._closed_missing)

    def restore(self, state: GapState) -> None:
        self._frontier = state.frontier
        self._runs = list(state.runs)
        self._run_starts = [a for a, _ in self._runs]
        self._closed_missing = state.closed_missing

    def mark_present(self, window: int) -> None:
        if window >= self._frontier:
            if window > self._frontier:
                self._add_run(self._frontier, window)
            self._frontier = window + 1
            return
        i = bisect.bisect_right(self._run_starts, window) - 1
        if i < 0:
            return
        a, b = self._runs[i]
        if not a <= window < b:
            return
        self._closed_missing -= int(self.grid.expected[window] > 0)
        pieces = [(x, y) for x, y in ((a, window), (window + 1, b)) if y > x]
        self._runs[i : i + 1] = pieces
        self._run_starts[i : i + 1] = [x for x, _ in pieces]

    def mark_present_many(self, windows: np.ndarray) -> None:
        """Mark sorted window indices; the common case (all past the frontier) is vectorised."""
        if not len(windows):
            return
        if len(windows) > 1 and not bool(np.all(windows[1:] > windows[:-1])):
            windows = np.unique(windows)
        if windows[0] >= self._frontier:
            starts = np.empty(len(windows), np.int64)
            starts[0] = self._frontier
            starts[1:] = windows[:-1] + 1
            holes = np.flatnonzero(windows > starts)
            if len(holes):
                self._add_runs(starts[holes], windows[holes])
            self._frontier = int(windows[-1]) + 1
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
        self._closed_missing += int((cum[ends] - cum[starts]).sum())
        firsts = starts.tolist()
        self._runs.extend(zip(firsts, ends.tolist(), strict=True))
        self._run_starts.extend(firsts)

    def _add_run(self, a: int, b: int) -> None:
        cum = self.grid.cum_slots
        for x, y in self._split_at_empty(a, b):
            self._closed_missing += int(cum[y] - cum[x])
            self._runs.append((x, y))
            self._run_starts.append(x)

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
        if elapsed > self._frontier:
            out.extend(self._split_at_empty(self._frontier, elapsed))
        return out

    def missing(self, elapsed: int) -> tuple[int, int]:
        """``(gap count, missing windows)`` among the first ``elapsed`` windows."""
        cum = self.grid.cum_slots
        if elapsed >= self._frontier - 1:  # closed runs all end at or before the newest bar
            count, missing = len(self._runs), self._closed_missing
            if elapsed > self._frontier:
                trailing = self._split_at_empty(self._frontier, elapsed)
                count += len(trailing)
                missing += int(cum[elapsed] - cum[self._frontier])
            return count, missing
        runs = self.runs(elapsed)
        return len(runs), int(sum(int(cum[b] - cum[a]) for a, b in runs))

    def gaps(self, elapsed: int) -> list[Gap]:
        grid = self.grid
        return [
            Gap(int(grid.starts[a]), int(grid.ends[b - 1]), int(grid.cum_slots[b] - grid.cum_slots[a]))
            for a, b in self.runs(elapsed)
        ]
