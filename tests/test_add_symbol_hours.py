"""Adding a symbol with its own session hours (the window's add-symbol control)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.demo import DemoSource
from session_monitor.core.symbols import SymbolError

DAY = dt.date(2024, 3, 7)


def _coordinator(calendar_name: str, hours: str) -> SessionCoordinator:
    calendar = get_calendar(calendar_name, hours=hours)
    return SessionCoordinator(SessionData(), DemoSource(), calendar, [calendar.session(DAY)], hours=hours)


def test_a_symbol_added_on_regular_hours_in_an_extended_run_gets_the_regular_session() -> None:
    coordinator = _coordinator("XNYS", "extended")
    data = asyncio.run(coordinator.add_symbol("spy", ["1m"], hours="regular"))
    assert (data.hours, data.session) == ("regular", coordinator.session.in_hours("regular"))
    assert coordinator.symbol_hours == {"SPY": "regular"}


@pytest.mark.parametrize(("calendar_name", "run_hours", "hours", "message"), [
    ("XNYS", "regular", "extended",
     "SPY: cannot follow extended hours: the run follows regular hours (start it with --hours extended)"),
    ("24/7", "extended", "extended",
     "SPY: cannot follow extended hours: the 24/7 calendar has no extended hours: using its regular sessions"),
    ("XNYS", "extended", "overnight", "SPY: unknown session hours 'overnight' (expected one of regular, extended)"),
])
def test_hours_a_run_cannot_give_are_refused_and_nothing_changes(
        calendar_name: str, run_hours: str, hours: str, message: str) -> None:
    coordinator = _coordinator(calendar_name, run_hours)
    with pytest.raises(SymbolError) as refused:
        asyncio.run(coordinator.add_symbol("SPY", ["1m"], hours=hours))
    assert str(refused.value) == message
    assert "SPY" not in coordinator.session_data and coordinator.symbol_hours == {}
