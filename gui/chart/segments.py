"""Extended-hours segments on a chart: pre- and post-market shaded, segment boundaries drawn.

With ``--hours extended`` a session is pre-market, regular and post-market
(:attr:`core.calendar.Session.segments`); every chart shades the pre- and post-market
behind the candles and draws a line where the regular session opens and closes, in every
session it shows. On the folded time axis the segments are contiguous parts of one
trading span (:mod:`gui.chart.timeline`), so folding keeps them. Regular hours draw nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

from session_monitor.core.calendar import Session
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.bands import BandItem
from session_monitor.gui.chart.boundaries import LinesItem
from session_monitor.gui.chart.timeline import Timeline

__all__ = ["SegmentShading", "extended_spans", "segment_lines"]


def extended_spans(sessions: Sequence[Session]) -> np.ndarray:
    """``[start, end)`` of every pre- and post-market segment of ``sessions``, in time order."""
    spans = [(s.start, s.end) for session in sessions for s in session.segments if s.name != "regular"]
    return np.array(spans, np.float64).reshape(-1, 2)


def segment_lines(sessions: Sequence[Session]) -> np.ndarray:
    """The times where a regular session opens or closes inside an extended session."""
    lines = sorted({t for session in sessions for s in session.segments if s.name == "regular"
                    for t in (s.start, s.end) if session.open < t < session.close})
    return np.array(lines, np.float64)


class SegmentShading:
    """The shading and boundary lines of one chart, on each of its plots (price and volume)."""

    def __init__(self, plots: Sequence[pg.PlotItem]) -> None:
        self.bands = [BandItem(marks.EXTENDED_SHADE) for _ in plots]
        self.lines = [LinesItem(marks.SEGMENT_LINE) for _ in plots]
        for plot, band, line in zip(plots, self.bands, self.lines, strict=True):
            band.setZValue(-20)
            line.setZValue(-4)
            plot.addItem(band, ignoreBounds=True)
            plot.addItem(line, ignoreBounds=True)

    def refresh(self, sessions: Sequence[Session], timeline: Timeline) -> None:
        """Recompute from the sessions the chart shows (a new session, folding turned on/off)."""
        spans = extended_spans(sessions)
        xs = timeline.to_x(spans.reshape(-1)).reshape(-1, 2) if len(spans) else spans
        lines = segment_lines(sessions)
        line_xs = timeline.to_x(lines) if len(lines) else lines
        for band, line in zip(self.bands, self.lines, strict=True):
            band.set_ranges(xs)
            line.set_xs(line_xs)
