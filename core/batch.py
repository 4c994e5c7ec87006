"""Batch derivation of history: many sessions of base bars into session-anchored intervals at once.

The live path (:class:`~core.processor.DataProcessor`) derives one symbol's current session
as bars arrive; this module derives years of stored history in one go, for the same
windows and with the same result as :func:`core.derive.reaggregate.aggregate` applied session by
session (tests/test_batch.py holds the two together).

It is a cascade of the one OHLCV reduction (:func:`core.derive.reduce.reduce_segments`, which
live re-aggregation and the live kernel's multi-bar segments use too), pure numpy, with no
Python loop per bar or per session:
each interval is built from the coarsest interval already built whose windows nest in
its own (``5m`` from ``1m``, ``15m`` from ``5m``, ``1h`` from ``15m``, ``1d`` from ``1h``).
Windows anchored at the session open nest whenever the coarser length is a whole
multiple of the finer one (``1d`` holds every window of its session), and the last
window of a session is cut at the close for every interval alike, so the nesting survives
the cut. A base bar is stamped with its start; a window is ``[open + k*I, min(open +
(k+1)*I, close))`` and ``1d`` is the whole session stamped at the open.

With extended hours, pass the segments (pre-market, regular, after-hours) as the sessions:
the intraday windows are then anchored per segment as the live engine's
(:mod:`core.windows`); ``1d`` is the regular session's bar, so derive it from the regular
sessions (tests/test_extended_hours.py holds batch and live together).

Open is the first bar's open, close the last bar's close, high/low the max/min: all exact
whatever the route. Volume follows the one summation rule (:func:`core.derive.reduce.fold_segments`):
whole-number volumes add up exactly in any order, so they cascade too; fractional volumes are
each window's base volumes added in time order (a sum of sums would differ in the last bit), the
very float the live engine reaches one bar at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.derive.reduce import adds_exactly, reduce_segments, segment_starts
from session_monitor.core.intervals import Interval, parse_interval

__all__ = ["DerivedBars", "derive_batch"]


@dataclass(frozen=True, slots=True)
class DerivedBars:
    """Bars of one derived interval over every session, sorted by start, with base bars held."""

    bars: BarArrays  # ts = window start
    count: np.ndarray  # int32: base bars inside each derived bar


@dataclass(frozen=True, slots=True)
class _Level:
    """One built interval (or the base) as the next derivation reads it."""

    interval: Interval | None  # None for the base
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    count: np.ndarray | None  # None: one base bar each
    session_open: np.ndarray  # the open of each bar's session
    first_base: np.ndarray | None  # each bar's first base bar (None: the base, or exact volumes: not needed)


def _as_intervals(intervals: Iterable[Interval | str]) -> list[Interval]:
    unique = {parse_interval(i) for i in intervals}
    return sorted(unique, key=Interval.sort_key)


def _check_sessions(opens: np.ndarray, closes: np.ndarray) -> None:
    if opens.shape != closes.shape or opens.ndim != 1:
        raise ValueError("sessions_open and sessions_close must be 1-d arrays of the same length")
    if len(opens) and not bool(np.all(closes > opens)):
        raise ValueError("every session must close after it opens")
    if len(opens) > 1 and not bool(np.all(opens[1:] >= closes[:-1])):
        raise ValueError("sessions must be sorted and must not overlap")


def _base_level(
    ts: np.ndarray,
    columns: tuple[np.ndarray, ...],
    opens: np.ndarray,
    closes: np.ndarray,
) -> _Level:
    """The in-session base bars, each tagged with its session's open (bars outside are skipped)."""
    first = np.searchsorted(ts, opens, side="left")
    stop = np.searchsorted(ts, closes, side="left")
    per_session = stop - first
    if int(per_session.sum()) != len(ts):
        # bars outside every session: keep only [first, stop) of each session
        delta = np.zeros(len(ts) + 1, np.int64)
        np.add.at(delta, first, 1)
        np.add.at(delta, stop, -1)
        keep = np.cumsum(delta[:-1]) > 0
        ts = ts[keep]
        columns = tuple(col[keep] for col in columns)
        first = np.searchsorted(ts, opens, side="left")
        per_session = np.searchsorted(ts, closes, side="left") - first
    session_open = np.repeat(opens, per_session)
    open_, high, low, close, volume = columns
    return _Level(None, ts, open_, high, low, close, volume, None, session_open, None)


def _derive(source: _Level, interval: Interval, base: _Level, exact: bool) -> _Level:
    """One reduction pass (the live engine's, :func:`core.derive.reduce.reduce_segments`): the windows
    of ``interval`` over the bars of ``source``, each bar keyed by its window's start (the session's
    open for ``1d``), which tells apart the windows of one session and the sessions alike. Volumes
    that add up ``exact``-ly sum ``source``'s; others are folded from ``base``'s, in time order."""
    session_open = source.session_open
    if interval.is_daily:
        key = session_open
    else:
        step = interval.seconds
        key = source.ts - session_open
        key //= step
        key *= step
        key += session_open
    starts = segment_starts(key)
    first_base = None if exact else starts if source.first_base is None else source.first_base[starts]
    volume, volume_starts = (source.volume, None) if first_base is None else (base.volume, first_base)
    bars = reduce_segments(
        starts, source.open, source.high, source.low, source.close, volume, source.count, volume_starts, exact
    )
    return _Level(
        interval, key[starts], bars.open, bars.high, bars.low, bars.close, bars.volume, bars.count,
        session_open[starts], first_base,
    )


def _source_for(interval: Interval, built: list[_Level]) -> _Level:
    """The coarsest level already built whose windows nest in ``interval``'s (the base otherwise)."""
    for level in reversed(built):
        if level.interval is None or level.interval.divides(interval):
            return level
    return built[0]


def derive_batch(
    ts: np.ndarray,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    sessions_open: np.ndarray,
    sessions_close: np.ndarray,
    intervals: Iterable[Interval | str],
) -> dict[str, DerivedBars]:
    """Derive every interval in ``intervals`` from sorted base bars spanning many sessions.

    ``ts`` are base bar starts (UTC epoch seconds, strictly increasing); ``sessions_open``
    and ``sessions_close`` are the regular sessions (sorted, not overlapping). Bars outside
    every ``[open, close)`` are skipped, as the live engine skips them (a calendar with a
    lunch break must drop the break's bars first: only opens and closes are passed here).
    Windows with no base bar make no bar. Returns ``{interval name: DerivedBars}`` in the order of
    ``intervals`` sorted shortest first (``1d`` last).

    Raises ``ValueError`` for unsorted or duplicate starts, arrays of unequal length or
    overlapping sessions.
    """
    wanted = _as_intervals(intervals)
    ts = np.asarray(ts, dtype=np.int64)
    columns = tuple(np.asarray(col, dtype=np.float64) for col in (open, high, low, close, volume))
    if ts.ndim != 1 or any(col.shape != ts.shape for col in columns):
        raise ValueError("ts, open, high, low, close and volume must be 1-d arrays of the same length")
    if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        raise ValueError("base bar starts must be strictly increasing")
    opens = np.asarray(sessions_open, dtype=np.int64)
    closes = np.asarray(sessions_close, dtype=np.int64)
    _check_sessions(opens, closes)

    base = _base_level(ts, columns, opens, closes)
    out: dict[str, DerivedBars] = {}
    if not len(base.ts):
        for interval in wanted:
            out[interval.name] = DerivedBars(BarArrays.empty(), np.empty(0, np.int32))
        return out
    built = [base]
    exact = adds_exactly(base.volume)  # (then so does every sum of them: checked once)
    for interval in wanted:
        level = _derive(_source_for(interval, built), interval, base, exact)
        built.append(level)
        assert level.count is not None  # only the base level has no counts
        out[interval.name] = DerivedBars(
            BarArrays(level.ts, level.open, level.high, level.low, level.close, level.volume),
            level.count.astype(np.int32, copy=False),
        )
    return out
