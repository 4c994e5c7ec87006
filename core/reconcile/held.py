"""Reconcile the bars a running app holds (``SessionData``) instead of re-reading a source.

The GUI compares what it shows: the base bars of the current session and of the finished
sessions kept for the charts. A session still running is compared up to its newest base
bar's end, so windows that have not ended are not called missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval
from session_monitor.core.reconcile.compare import SeriesReport, reconcile_series
from session_monitor.core.reconcile.reference import ReferenceSeries
from session_monitor.core.session_data import SessionData

__all__ = ["HeldBars", "held_bars", "reconcile_closed", "reconcile_held"]


@dataclass(frozen=True, slots=True)
class HeldBars:
    """Copies of one symbol's base bars per held session, oldest first (safe to use off the lock)."""

    symbol: str
    sessions: tuple[Session, ...]
    bars: tuple[BarArrays, ...]
    base_seconds: int
    #: how far the current session's clock has got (its close once it is over)
    until: int


def held_bars(session_data: SessionData, symbol: str) -> HeldBars | None:
    """Copy ``symbol``'s base bars under the session lock; None when it is not watched."""
    with session_data.lock:
        data = session_data.get_symbol_data(symbol)
        if data is None:
            return None
        base = data.base_interval.name
        parts = [(h.session, h.bars[base].data.arrays()) for h in data.history if base in h.bars]
        parts.append((data.session, data.base.data.arrays()))
        copies = tuple(BarArrays(*(col.copy() for col in bars)) for _, bars in parts)
        elapsed = data.base.elapsed  # base slots the session clock has passed
        until = int(data.base.grid.ends[elapsed - 1]) if elapsed else data.session.open
        return HeldBars(data.symbol, tuple(s for s, _ in parts), copies, data.base_interval.seconds, until)


def reconcile_held(reference: ReferenceSeries, held: HeldBars) -> SeriesReport:
    """:func:`reconcile_series` over the held sessions (no source is read)."""
    by_session = dict(zip(held.sessions, held.bars, strict=True))
    return reconcile_series(reference, list(held.sessions), Interval(held.base_seconds), by_session.__getitem__,
                            until=held.until)


def reconcile_closed(
    session_data: SessionData, references: list[ReferenceSeries], session: Session
) -> list[SeriesReport]:
    """Each reference series of a watched symbol over ``session`` alone (a replay's session that just
    closed), so a later session that matches can clear what an earlier one started."""
    out = []
    for series in references:
        held = held_bars(session_data, series.symbol)
        if held is None or session not in held.sessions:
            continue
        by_session = {session: held.bars[held.sessions.index(session)]}
        out.append(reconcile_series(series, [session], Interval(held.base_seconds), by_session.__getitem__))
    return out
