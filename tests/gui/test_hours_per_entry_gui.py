"""File → Save session keeps each watchlist entry's own hours and the run's own choice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from session_monitor.core.calendar import get_calendar
from session_monitor.core.config import load_config, save_config
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.demo import DemoSource
from session_monitor.gui.session_file import run_hours, session_config
from session_monitor.gui.settings import WatchEntry


def test_a_saved_session_keeps_an_entrys_hours_and_the_runs_regular_hours(tmp_path: Path) -> None:
    # a regular run whose SPY entry asked for extended hours: the calendar (clock) is extended
    calendar = get_calendar("XNYS", hours="extended")
    coordinator = SessionCoordinator(SessionData(), DemoSource(), calendar, [calendar.session(dt.date(2024, 3, 8))],
                                     hours="regular", symbol_hours={"SPY": "extended"})
    assert run_hours(coordinator) == "regular"  # Session → Extended hours stays unchecked
    config = session_config("demo", coordinator, [WatchEntry("SPY", ("1m",)), WatchEntry("AAPL", ("5m",))])
    save_config(config, tmp_path / "s.toml")
    reopened = load_config(tmp_path / "s.toml")
    assert reopened.hours is None  # the run stays regular
    assert [(w.symbol, w.hours) for w in reopened.watchlist] == [("SPY", "extended"), ("AAPL", None)]
