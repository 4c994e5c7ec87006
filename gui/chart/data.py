"""Chart data without Qt: the arrays one chart draws, and the visible-range queries on them.

The current session is read through zero-copy views of the core ``BarSeries`` columns
(re-taken on every change, because a series reallocates when it grows); finished
sessions are concatenated once per session change. Items ask only for the visible
slice, so painting costs what is on screen, not what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from session_monitor.core.bars import BAR_FIELDS, COUNT_FIELDS, FORMING, REVISED, BarSeries
from session_monitor.core.calendar import Session
from session_monitor.core.causes import GapCause
from session_monitor.core.session_data import BarIntervalData, SymbolSessionData
from session_monitor.gui.chart.timeline import Timeline

__all__ = ["BarView", "ChartData", "Columns", "reduce_per_pixel"]


@dataclass(frozen=True, slots=True)
class Columns:
    """Parallel bar columns; ``count``/``expected``/``flags`` are None for a streamed base.

    ``ts`` is each bar's start in exchange time, ``x`` where it starts on the chart (see
    gui/chart/timeline.py; the same array as ``ts`` on a linear time axis).
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    count: np.ndarray | None = None
    expected: np.ndarray | None = None
    flags: np.ndarray | None = None
    x: np.ndarray = None  # type: ignore[assignment]  # None: x is ts (set in __post_init__)

    def __post_init__(self) -> None:
        if self.x is None:
            object.__setattr__(self, "x", self.ts)

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> Columns:
        return cls(np.empty(0, np.int64), *(np.empty(0, np.float64) for _ in range(5)))

    @classmethod
    def of_series(cls, series: BarSeries) -> Columns:
        """Zero-copy views of ``series`` as it is now."""
        if series.with_counts:
            return cls(
                series.ts,
                series.open,
                series.high,
                series.low,
                series.close,
                series.volume,
                series.count,
                series.expected,
                series.flags,
            )
        return cls(series.ts, series.open, series.high, series.low, series.close, series.volume)

    @property
    def derived(self) -> bool:
        return self.count is not None

    def slice(self, lo: int, hi: int) -> Columns:
        return Columns(*(None if col is None else col[lo:hi] for col in self._columns()))

    def placed(self, timeline: Timeline) -> Columns:
        """The same bars with their chart x from ``timeline`` (zero-copy when x is ts)."""
        if not len(self) or timeline.is_identity(float(self.ts[0]), float(self.ts[-1])):
            return Columns(*self._columns()[:-1], x=self.ts)  # type: ignore[arg-type]
        return Columns(*self._columns()[:-1], x=timeline.to_x(self.ts))  # type: ignore[arg-type]

    def logged(self) -> Columns:
        """A copy with log10 prices (a log price scale; volume stays as it is)."""
        o, h, lo, c = (np.log10(np.maximum(col, 1e-12)) for col in (self.open, self.high, self.low, self.close))
        return Columns(self.ts, o, h, lo, c, self.volume, self.count, self.expected, self.flags, x=self.x)

    def _columns(self) -> tuple[np.ndarray | None, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    @staticmethod
    def concat(parts: list[Columns]) -> Columns:
        """One copy of several segments (used for history, once per session change)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Columns.empty()
        if len(parts) == 1:
            return parts[0]
        derived = all(p.derived for p in parts)
        cols = [np.concatenate([getattr(p, name) for p in parts]) for name in BAR_FIELDS]
        if derived:
            cols += [np.concatenate([getattr(p, name) for p in parts]) for name in COUNT_FIELDS]
        return Columns(*cols, x=np.concatenate([p.x for p in parts]))  # type: ignore[misc]

    def forming_mask(self) -> np.ndarray:
        if self.flags is None:
            return np.zeros(len(self), bool)
        return (self.flags & FORMING) > 0

    def revised_mask(self) -> np.ndarray:
        if self.flags is None:
            return np.zeros(len(self), bool)
        return (self.flags & REVISED) > 0

    def incomplete_mask(self) -> np.ndarray:
        if self.count is None or self.expected is None:
            return np.zeros(len(self), bool)
        return self.count < self.expected




@dataclass(frozen=True, slots=True)
class BarView:
    """One bar as the crosshair readout shows it."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    count: int | None
    expected: int | None
    forming: bool


def reduce_per_pixel(cols: Columns, px: float, width: float) -> Columns:
    """One bar per screen column of ``px`` seconds when candles are thinner than a pixel.

    Open of the first, highest high, lowest low, close of the last; volume is the largest
    in the column (so the volume scale does not change when zooming out); counts add up
    and flags combine. The result's ``x`` is each column's start on the chart (float), its
    ``ts`` the time of the column's first bar.
    Columns are anchored at the epoch, so panning does not make them shimmer.
    """
    n = len(cols)
    if n == 0 or px <= 0:
        return cols
    key = np.floor((cols.x + width / 2.0) / px).astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    lasts = np.concatenate((starts[1:], [n])) - 1
    counts = expected = flags = None
    if cols.count is not None and cols.expected is not None and cols.flags is not None:
        counts = np.add.reduceat(cols.count, starts)
        expected = np.add.reduceat(cols.expected, starts)
        flags = np.bitwise_or.reduceat(cols.flags, starts)
    return Columns(
        ts=cols.ts[starts],
        open=cols.open[starts],
        high=np.maximum.reduceat(cols.high, starts),
        low=np.minimum.reduceat(cols.low, starts),
        close=cols.close[lasts],
        volume=np.maximum.reduceat(cols.volume, starts),
        count=counts,
        expected=expected,
        flags=flags,
        x=key[starts] * px,
    )


class ChartData:
    """Everything one (symbol, interval) chart draws: history sessions + the current one."""

    def __init__(
        self, symbol_data: SymbolSessionData, interval: str, show_history: bool = True, folded: bool = True
    ) -> None:
        self.symbol_data = symbol_data
        self.interval_name = interval
        self.show_history = show_history
        #: fold the time when nothing can trade (see gui/chart/timeline.py)
        self.folded = folded
        #: prices as log10 (the chart's log scale); the readout converts back
        self.log_prices = False
        self.timeline = Timeline.linear()
        self.history = Columns.empty()
        self.current = Columns.empty()
        self.sessions: list[Session] = []
        #: gap ranges ``[start, end)`` in exchange time, and where they lie on the chart
        self.gaps = np.empty((0, 2), np.int64)
        self.gap_x = np.empty((0, 2), np.int64)
        self._history_gaps = np.empty((0, 2), np.int64)
        #: gaps without trades (cause ``quiet``): drawn faint, or hidden; and on the chart
        self.quiet_gaps = np.empty((0, 2), np.int64)
        self.quiet_gap_x = np.empty((0, 2), np.int64)
        self._history_quiet = np.empty((0, 2), np.int64)
        self.rebuild_history()

    # -- identity ------------------------------------------------------------------------
    @property
    def bars(self) -> BarIntervalData:
        """The current session's interval data (never cached: a new session replaces it)."""
        return self.symbol_data.bars[self.interval_name]

    @property
    def session(self) -> Session:
        return self.symbol_data.session

    @property
    def derived(self) -> bool:
        return self.bars.derived

    @property
    def width(self) -> float:
        """Seconds one bar covers (``1d``: the session)."""
        seconds = self.bars.interval.seconds
        if seconds:
            return float(seconds)
        return float(self.session.length if self.folded else self.session.close - self.session.open)

    # -- updates -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-take the current views (the series may have grown into a new buffer)."""
        current = Columns.of_series(self.bars.data).placed(self.timeline)
        self.current = current.logged() if self.log_prices else current

    def set_log_prices(self, log: bool) -> None:
        """Switch the price columns to log10 (or back)."""
        if log != self.log_prices:
            self.log_prices = log
            self.rebuild_history()

    def price_y(self, price: float) -> float:
        """Chart y of ``price`` (log10 on a log scale)."""
        return float(np.log10(max(price, 1e-12))) if self.log_prices else price

    def price_of(self, y: float) -> float:
        """Price at chart ``y``."""
        return float(10.0**y) if self.log_prices else y

    def set_folded(self, folded: bool) -> None:
        """Switch between folded and linear time (rebuilds the placed arrays)."""
        if folded != self.folded:
            self.folded = folded
            self.rebuild_history()

    def rebuild_history(self) -> None:
        """Concatenate the finished sessions once; call after ``session_started``."""
        parts: list[Columns] = []
        gaps: list[np.ndarray] = []
        quiet: list[np.ndarray] = []
        sessions: list[Session] = []
        if self.show_history:
            for past in self.symbol_data.history:
                bars = past.bars.get(self.interval_name)
                if bars is None:
                    continue
                sessions.append(past.session)
                parts.append(Columns.of_series(bars.data))
                gaps.append(_gap_array(bars))
                quiet.append(_gap_array(bars, quiet=True))
        self.sessions = [*sessions, self.session]
        self.timeline = Timeline.of_sessions(self.sessions, self.folded)
        # finished sessions are never written again, so one segment may stay a view
        placed = [part.placed(self.timeline) for part in parts]
        self.history = Columns.concat([p.logged() for p in placed] if self.log_prices else placed)
        self._history_gaps = np.concatenate(gaps) if gaps else np.empty((0, 2), np.int64)
        self._history_quiet = np.concatenate(quiet) if quiet else np.empty((0, 2), np.int64)
        # where windows are anchored and cut: each session, or each segment with extended hours
        self._opens = np.array([seg.start for x in self.sessions for seg in x.anchors], np.int64)
        self._closes = np.array([seg.end for x in self.sessions for seg in x.anchors], np.int64)
        self.refresh()
        self.refresh_gaps()

    def refresh_gaps(self) -> None:
        """Gap ranges (built on demand by core, so only call this when quality changed)."""
        self.gaps = np.concatenate((self._history_gaps, _gap_array(self.bars)))
        self.quiet_gaps = np.concatenate((self._history_quiet, _gap_array(self.bars, quiet=True)))
        self.gap_x = self.timeline.to_x(self.gaps)
        self.quiet_gap_x = self.timeline.to_x(self.quiet_gaps)

    def x_of(self, ts: float) -> float:
        """Where exchange time ``ts`` lies on the chart."""
        return self.timeline.x_of(ts)

    def time_of(self, x: float) -> float:
        """Exchange time at chart ``x``."""
        return self.timeline.time_of(x)

    # -- queries -------------------------------------------------------------------------
    def segments(self) -> tuple[Columns, ...]:
        return tuple(seg for seg in (self.history, self.current) if len(seg))

    def __len__(self) -> int:
        return len(self.history) + len(self.current)

    @property
    def first_ts(self) -> float | None:
        """Chart x of the oldest bar's start."""
        segs = self.segments()
        return float(segs[0].x[0]) if segs else None

    @property
    def last_end(self) -> float | None:
        """Chart x of the newest bar's end."""
        segs = self.segments()
        if not segs:
            return None
        last = segs[-1]
        return float(last.x[-1] + self.bar_widths(last.ts[-1:])[0])

    @property
    def x_extent(self) -> tuple[float, float]:
        """Chart x of the first session's open and the last session's close."""
        return self.x_of(self.sessions[0].open), self.x_of(self.sessions[-1].close)

    def visible(self, x0: float, x1: float) -> list[Columns]:
        """Slices of bars overlapping chart ``(x0, x1)`` (a bar touching an edge is out), per segment, zero-copy."""
        out = []
        for seg in self.segments():
            lo = int(np.searchsorted(seg.x, x0 - self.width, side="right"))
            hi = int(np.searchsorted(seg.x, x1, side="left"))
            if hi > lo:
                out.append(seg.slice(lo, hi))
        return out

    def price_range(self, x0: float | None = None, x1: float | None = None) -> tuple[float, float] | None:
        """Lowest low and highest high of the bars overlapping ``[x0, x1]`` (all when None)."""
        segs = self.segments() if x0 is None or x1 is None else self.visible(x0, x1)
        segs = [s for s in segs if len(s)]
        if not segs:
            return None
        return min(float(s.low.min()) for s in segs), max(float(s.high.max()) for s in segs)

    def volume_max(self, x0: float | None = None, x1: float | None = None) -> float | None:
        segs = self.segments() if x0 is None or x1 is None else self.visible(x0, x1)
        segs = [s for s in segs if len(s)]
        if not segs:
            return None
        return max(float(s.volume.max()) for s in segs)

    def bar_ends(self, ts: np.ndarray) -> np.ndarray:
        """Where the windows of bars starting at ``ts`` end: ``start + width``, cut at the close of
        the bar's session (the short last window of a session, an early close), or at the end of
        its segment with extended hours."""
        closes = self._closes
        if len(closes) == 1:
            return np.minimum(ts + self.width, closes[0])
        which = np.searchsorted(self._opens, ts, side="right") - 1
        np.maximum(which, 0, out=which)
        return np.minimum(ts + self.width, closes[which])

    def bar_widths(self, ts: np.ndarray) -> np.ndarray:
        """How wide the bars starting at ``ts`` are drawn: their window in trading seconds, which
        is also their width on the chart (folding removes only time between sessions)."""
        return self.bar_ends(ts) - ts

    def place_spans(self, spans: np.ndarray) -> np.ndarray:
        """``spans`` (rows of exchange times ``start, end`` first, any further columns kept) with
        the times moved to chart x, for overlays drawn in time (shades, boxes, bands)."""
        placed = np.array(spans, np.float64, copy=True)
        if len(placed):
            placed[:, :2] = self.timeline.to_x(placed[:, :2])
        return placed

    def bar_at(self, x: float) -> BarView | None:
        """The bar whose window ``[start, end)``, placed on the chart, holds chart ``x``."""
        for seg in self.segments():
            i = int(np.searchsorted(seg.x, x, side="right")) - 1
            if 0 <= i < len(seg) and x < seg.x[i] + self.bar_widths(seg.ts[i : i + 1])[0]:
                return self._view(seg, i)
        return None

    def last_bar(self) -> BarView | None:
        segs = self.segments()
        return self._view(segs[-1], len(segs[-1]) - 1) if segs else None

    def last_bar_before(self, x: float) -> BarView | None:
        """The newest bar starting before chart ``x`` (what the right edge of a view shows)."""
        for seg in reversed(self.segments()):
            i = int(np.searchsorted(seg.x, x, side="left")) - 1
            if i >= 0:
                return self._view(seg, i)
        return None

    def _view(self, seg: Columns, i: int) -> BarView:
        price = self.price_of
        return BarView(
            ts=int(seg.ts[i]),
            open=price(float(seg.open[i])),
            high=price(float(seg.high[i])),
            low=price(float(seg.low[i])),
            close=price(float(seg.close[i])),
            volume=float(seg.volume[i]),
            count=None if seg.count is None else int(seg.count[i]),
            expected=None if seg.expected is None else int(seg.expected[i]),
            forming=bool(seg.flags is not None and seg.flags[i] & FORMING),
        )


def _gap_array(bars: BarIntervalData, quiet: bool = False) -> np.ndarray:
    """``[start, end)`` of the gaps that lost data, or (``quiet``) of those without trades."""
    gaps = [g for g in bars.gaps if (g.cause == GapCause.QUIET) == quiet]
    if not gaps:
        return np.empty((0, 2), np.int64)
    return np.array([(g.start, g.end) for g in gaps], np.int64)
