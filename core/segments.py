"""Quality, gaps, incomplete bars and coverage of one segment of an extended session.

With ``--hours extended`` a session is pre-market, regular and post-market; each interval's
figures for the whole day are kept live by the engine, and this module cuts the same
figures to one segment on demand (``session.json``'s ``segments`` block, the tree's
tooltip). The definitions are the whole day's, restricted to the windows that start in the
segment: windows never straddle two segments, so nothing is shared between them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from session_monitor.core.calendar import Segment
from session_monitor.core.coverage import covered
from session_monitor.core.gaps import Gap
from session_monitor.core.session_data import BarIntervalData

__all__ = ["SegmentFigures", "cut_gaps", "segment_figures"]


@dataclass(frozen=True, slots=True)
class SegmentFigures:
    """One interval's figures over one segment (None: no window of the segment has elapsed)."""

    segment: Segment
    bars: int
    incomplete: int
    quality: float | None
    coverage: float | None
    gaps: list[Gap]

    def as_dict(self) -> dict[str, Any]:
        return {
            "bars": self.bars,
            "incomplete": self.incomplete,
            "quality": self.quality,
            "coverage": self.coverage,
            "gaps": [gap.as_dict() for gap in self.gaps],
        }


def segment_figures(interval: BarIntervalData, base: BarIntervalData) -> list[SegmentFigures]:
    """``interval``'s figures per segment of its session (the segments holding one of its windows)."""
    grid = interval.grid
    out = []
    for segment in grid.session.segments:
        first, stop = np.searchsorted(grid.starts, [segment.start, segment.end])
        if first == stop:
            continue  # no window of this interval in the segment (1d outside the regular session)
        out.append(_figures(interval, base, segment, int(first), int(stop)))
    return out


def _figures(
    interval: BarIntervalData, base: BarIntervalData, segment: Segment, first: int, stop: int
) -> SegmentFigures:
    grid = interval.grid
    series = interval.data
    lo, hi = series.count_before(segment.start), series.count_before(segment.end)
    last = min(interval.elapsed, stop)  # elapsed windows of the segment: [first, last)
    quality = coverage = None
    incomplete = 0
    if last > first:
        until = int(grid.ends[last - 1])
        expected = int(grid.cum_expected[last] - grid.cum_expected[first])
        present = base.data.count_before(until) - base.data.count_before(segment.start)
        quality = 100.0 * present / expected if expected else None
        if quality is not None:
            coverage = covered(interval, base, first, last, quality)
        if interval.derived:
            held = series.count_before(until)
            incomplete = int(np.count_nonzero(series.count[lo:held] < series.expected[lo:held]))
    return SegmentFigures(segment, hi - lo, incomplete, quality, coverage, cut_gaps(interval.gaps, interval, segment))


def cut_gaps(gaps: list[Gap], interval: BarIntervalData, segment: Segment) -> list[Gap]:
    """The gaps cut to the segment (a run of missing windows may cross a segment boundary):
    ``session.json``'s segments block and the gap alerts of an extended session."""
    grid = interval.grid
    out = []
    for gap in gaps:
        start, end = max(gap.start, segment.start), min(gap.end, segment.end)
        if start >= end:
            continue
        k0, k1 = np.searchsorted(grid.starts, [start, end])
        bars = int(grid.cum_slots[k1] - grid.cum_slots[k0])
        out.append(gap if (start, end) == (gap.start, gap.end) else replace(gap, start=start, end=end, bars=bars))
    return out
