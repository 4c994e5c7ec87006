"""Which session hours a symbol added in the window may follow, and how the tree names them.

A symbol on extended hours needs a run whose clock spans the extended day (``--hours
extended``, or a session file entry that asked for it); a calendar without pre- and
post-market times (``24/7``, calendars with a lunch break) never offers them.
"""

from __future__ import annotations

from session_monitor.core.calendar import Session, no_extended_hours
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.session_data import SymbolSessionData
from session_monitor.gui.formatting import SEGMENT_NAMES, exchange_time

__all__ = ["hours_label", "hours_tooltip", "hours_unavailable"]


def hours_unavailable(coordinator: SessionCoordinator, desk: bool) -> str | None:
    """Why the add-symbol control offers no choice of hours (None: it does)."""
    if desk:
        return "A desk's engines choose each symbol's session hours"
    calendar = coordinator.calendar
    reason = no_extended_hours(calendar.name)
    if reason is not None:
        return f"{reason[:1].upper()}{reason[1:]}: every symbol follows its regular session"
    if calendar.hours != "extended":
        return ("This run follows regular hours: Session → Extended hours starts it again from 04:00, "
                "then each symbol added can follow regular or extended hours")
    return None


def hours_label(symbol: SymbolSessionData, run: Session | None) -> str:
    """The tree's word for the hours ``symbol`` follows, in a run whose clock spans the extended
    day (``run``: the run's session); nothing in a regular run, where every symbol is regular."""
    if symbol.session.extended:
        return "extended"
    return "regular" if run is not None and run.extended else ""


def hours_tooltip(symbol: SymbolSessionData, run: Session | None) -> str | None:
    """The symbol's own session, segment by segment (None in a regular run)."""
    if not hours_label(symbol, run):
        return None
    session, tz = symbol.session, symbol.session.tz
    spans = [f"{SEGMENT_NAMES[part.name]} {exchange_time(part.start, tz)}-{exchange_time(part.end, tz)}"
             for part in session.anchors]
    return f"{hours_label(symbol, run)} hours: " + ", ".join(spans)
