"""The add-symbol control's hours choice: a symbol added by hand follows regular or extended
hours, like a session file entry's ``hours``; the tree says which."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from PySide6.QtCore import Qt

from session_monitor.core.calendar import get_calendar
from session_monitor.core.clock import ClockState
from session_monitor.core.sources.demo import DemoSource
from session_monitor.gui.settings import WatchEntry
from session_monitor.gui.tree_model import Column
from tests.core_helpers import utc
from tests.gui.gui_helpers import add_and_wait

DAY = dt.date(2024, 3, 7)


def _kind(window: Any, row: int) -> tuple[str, str]:
    index = window.model.index(row, Column.KIND)
    return index.data(), index.data(Qt.ItemDataRole.ToolTipRole)


def test_a_symbol_added_on_extended_hours_streams_from_0400_and_one_on_regular_from_0930(
        qtbot: Any, qtmodeltester: Any, make_window: Any) -> None:
    extended = get_calendar("XNYS", hours="extended")
    harness = make_window(source=DemoSource(), cal=extended, sessions=[extended.session(DAY)], hours="extended")
    window = harness.window
    qtmodeltester.check(window.model, force_py=True)
    combo = window.controls.hours_combo
    assert combo.isEnabled() and combo.currentText() == "Extended"  # the run's hours, preselected

    add_and_wait(qtbot, window, "SPY", "1m,15m")
    combo.setCurrentIndex(combo.findData("regular"))
    add_and_wait(qtbot, window, "AAPL", "1m,15m")

    assert [window.model.index(row, 0).data() for row in range(window.model.rowCount())] == ["SPY", "AAPL"]
    assert _kind(window, 0) == ("extended", "extended hours: pre-market 04:00-09:30, regular 09:30-16:00, "
                                            "after-hours 16:00-20:00")
    assert _kind(window, 1) == ("regular", "regular hours: regular 09:30-16:00")
    assert harness.coordinator.symbol_hours == {"SPY": "extended", "AAPL": "regular"}  # File → Save keeps them

    harness.start()
    qtbot.waitUntil(lambda: harness.coordinator.state is ClockState.FINISHED, timeout=20_000)
    spy, aapl = (harness.session_data.get_symbol_data(s) for s in ("SPY", "AAPL"))
    assert spy is not None and aapl is not None
    assert int(spy.bars["1m"].data.ts[0]) == utc("2024-03-07T09:00:00")  # 04:00 New York (EST)
    assert int(spy.bars["15m"].data.ts[0]) == utc("2024-03-07T09:00:00")
    assert int(aapl.bars["1m"].data.ts[0]) == utc("2024-03-07T14:30:00")  # 09:30
    assert int(aapl.bars["1m"].data.ts[-1]) < utc("2024-03-07T21:00:00")  # nothing after 16:00
    assert int(spy.bars["1m"].data.ts[-1]) >= utc("2024-03-08T00:00:00") - 5 * 60  # into the after-hours


def test_a_regular_run_offers_no_extended_hours_and_says_how_to_get_them(make_window: Any) -> None:
    combo = make_window().window.controls.hours_combo
    assert not combo.isEnabled() and combo.currentText() == "Regular"
    assert combo.toolTip() == ("This run follows regular hours: Session → Extended hours starts it again from "
                               "04:00, then each symbol added can follow regular or extended hours")


def test_a_calendar_without_extended_hours_says_so(make_window: Any) -> None:
    crypto = get_calendar("24/7")
    window = make_window(cal=crypto, sessions=[crypto.session(DAY)]).window
    combo = window.controls.hours_combo
    assert not combo.isEnabled()
    assert combo.toolTip() == "The 24/7 calendar has no extended hours: every symbol follows its regular session"
    assert not window.extended_hours_action.isEnabled()
    assert window.extended_hours_action.toolTip() == "The 24/7 calendar has no extended hours"


def test_a_symbols_own_hours_are_kept_in_the_settings_and_restored(
        qtbot: Any, make_window: Any, settings: Any) -> None:
    extended = get_calendar("XNYS", hours="extended")
    first = make_window(source=DemoSource(), cal=extended, sessions=[extended.session(DAY)], hours="extended")
    combo = first.window.controls.hours_combo
    combo.setCurrentIndex(combo.findData("regular"))
    add_and_wait(qtbot, first.window, "AAPL", "1m")
    first.window.save_settings()
    assert settings.watchlist() == [WatchEntry("AAPL", ("1m",), "regular")]

    again = make_window(source=DemoSource(), cal=extended, sessions=[extended.session(DAY)], hours="extended")
    booted = asyncio.ensure_future(again.window.boot(settings.watchlist() or []))
    qtbot.waitUntil(booted.done, timeout=5000)
    booted.result()
    aapl = again.session_data.get_symbol_data("AAPL")
    assert aapl is not None and not aapl.session.extended and again.coordinator.symbol_hours == {"AAPL": "regular"}

    # a regular run cannot give extended hours: the symbol follows the run's, and the window says so
    regular = make_window(source=DemoSource())
    booted = asyncio.ensure_future(regular.window.boot([WatchEntry("SPY", ("1m",), "extended")]))
    qtbot.waitUntil(booted.done, timeout=5000)
    booted.result()
    assert regular.session_data.get_symbol_data("SPY") is not None and regular.coordinator.symbol_hours == {}
    assert "SPY was watched on extended hours; this run follows regular hours" in [
        m.text for m in regular.window.messages.log.messages()]
