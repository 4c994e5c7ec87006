"""User flows through the main window, on a qasync loop, against a real coordinator."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from session_monitor.core.clock import ClockState
from session_monitor.core.feeds import FaultSchedule
from session_monitor.core.sources.factory import open_source
from session_monitor.core.sources.faulty import FaultySource
from session_monitor.gui.errors import install_excepthook
from session_monitor.gui.settings import AppSettings, WatchEntry
from session_monitor.gui.tree_model import Column
from tests.gui.gui_helpers import (
    LEAN_MINUTE,
    FakeSource,
    Harness,
    add_and_wait,
    add_symbol_via_ui,
    assert_model_synced,
    close_harness,
)

MakeWindow = Callable[..., Harness]


def test_typing_a_symbol_and_add_shows_rows_and_charts(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()
    window = h.window

    add_and_wait(qtbot, window, "ibm", "1m,5m,15m")

    assert h.session_data.get_active_symbols() == ["IBM"]
    assert_model_synced(window.model, h.session_data)
    assert window.model.rowCount(window.model.index(0, 0)) == 3
    assert window.charts.intervals == ["1m", "5m", "15m"]
    assert "Watching IBM" in window.controls.feedback.text()
    assert window.controls.symbol_edit.text() == ""
    assert window.controls.add_button.isEnabled()  # the finally block re-enabled it

    # Enter in the symbol field adds too
    qtbot.keyClicks(window.controls.symbol_edit, "QQQ")
    qtbot.keyClick(window.controls.symbol_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.charts.symbol == "QQQ", timeout=5000)
    assert h.session_data.get_active_symbols() == ["IBM", "QQQ"]


@pytest.mark.parametrize(
    ("symbol", "intervals", "reason"),
    [
        ("", "1m,5m", "symbol is empty"),
        ("BAD SYM!", "1m,5m", "malformed"),
        ("../../PWNED", "1m", "symbol '../../PWNED' is malformed: use at most 20 letters and digits"),
        ("./SPY", "1m", "symbol './SPY' is malformed"),
        ("SPY", "1m,5m", "already being watched"),
        (" spy ", "1m", "SPY is already being watched"),
        ("IBM", "5m,7x", "unknown interval"),
        ("IBM", "90s", "cannot be derived"),
        ("IBM", "30s", "finer than"),
        ("IBM", " , ", "no intervals"),
        ("NODATA", "1m", "no data"),
    ],
)
def test_bad_input_is_explained_and_changes_nothing(
    qtbot: Any, make_window: MakeWindow, symbol: str, intervals: str, reason: str
) -> None:
    h = make_window()
    window = h.window
    add_and_wait(qtbot, window, "SPY", "1m,5m")
    before = h.session_data.get_active_symbols()
    messages = window.messages.log.rowCount()

    add_symbol_via_ui(qtbot, window, symbol, intervals)
    qtbot.waitUntil(lambda: window.messages.log.rowCount() == messages + 1, timeout=5000)

    assert reason in window.controls.feedback.text()
    assert reason in window.messages.log.messages()[0].text
    assert window.messages.log.messages()[0].level == logging.WARNING
    assert h.session_data.get_active_symbols() == before
    assert_model_synced(window.model, h.session_data)
    assert window.charts.symbol == "SPY" and window.charts.intervals == ["1m", "5m"]
    assert window.controls.add_button.isEnabled()


def test_remove_with_delete_key_and_button(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window(speed=None)
    window = h.window
    for symbol in ("SPY", "IBM", "QQQ"):
        add_and_wait(qtbot, window, symbol, "1m,5m")
    h.start()
    qtbot.waitUntil(lambda: len(h.session_data.get_symbol_data("IBM").base.data) > 0, timeout=5000)

    window.select_symbol("IBM", "5m")
    window.tree.setFocus()
    qtbot.keyClick(window.tree, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: "IBM" not in h.session_data, timeout=5000)

    assert_model_synced(window.model, h.session_data)
    assert window.charts.symbol != "IBM"
    window.select_symbol("QQQ")
    qtbot.waitUntil(lambda: window.charts.symbol == "QQQ", timeout=1000)
    qtbot.mouseClick(window.controls.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "QQQ" not in h.session_data, timeout=5000)
    assert h.session_data.get_active_symbols() == ["SPY"]
    assert_model_synced(window.model, h.session_data)
    assert "QQQ" not in {window.charts.symbol}


def test_remove_with_nothing_selected_says_so(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()
    window = h.window
    window.tree.selectionModel().clear()
    window.tree.selectionModel().setCurrentIndex(window.model.index(-1, 0), QItemSelectionModel.SelectionFlag.Clear)

    qtbot.mouseClick(window.controls.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.messages.log.rowCount() == 1, timeout=5000)

    assert "Select a symbol" in window.controls.feedback.text()


def test_selecting_an_interval_row_brings_its_chart_forward(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()
    window = h.window
    add_and_wait(qtbot, window, "SPY", "1m,5m,15m,1h")

    window.select_symbol("SPY", "15m")
    assert window.charts.current_interval() == "15m"
    window.charts.select_interval("1h")  # and a tab change moves the tree selection
    assert window.tree.currentIndex().data() == "1h"


def test_replaying_lean_goog_to_the_end_charts_hold_exactly_the_core_bars(
    qtbot: Any, make_window: MakeWindow, calendar: Any
) -> None:
    source = open_source(str(LEAN_MINUTE))
    h = make_window(source=source, speed=None)
    window = h.window
    add_and_wait(qtbot, window, "GOOG", "1m,5m,15m,1h")

    h.start()
    qtbot.waitUntil(lambda: h.coordinator.state is ClockState.FINISHED, timeout=30_000)
    window.flush()

    data = h.session_data.get_symbol_data("GOOG")
    assert data is not None and len(data.base.data) > 300
    assert window.charts.intervals == ["1m", "5m", "15m", "1h"]
    assert list(window.charts.charts) == ["1m"]  # other tabs are built when first shown
    for name in window.charts.intervals:
        window.charts.select_interval(name)
        chart = window.charts.charts[name]
        series = data.bars[name].data
        shown = chart.data.current
        assert len(chart.data) == len(series), name
        for column in ("ts", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(shown, column), getattr(series, column), err_msg=name)
        assert chart.view.viewRange()[0][1] >= chart.data.last_end  # still following the newest bar
    assert_model_synced(window.model, h.session_data)
    last = window.model.index(0, Column.LAST_BAR, window.model.index(0, 0)).data()
    assert last == "15:59"  # exchange time of the newest 1m bar
    window.grab()  # paints every visible item without error


def test_play_pause_and_speed_reach_the_coordinator(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window(speed=60.0)
    window = h.window
    add_and_wait(qtbot, window, "SPY", "1m,5m")
    h.start()
    qtbot.waitUntil(lambda: h.coordinator.state is ClockState.OPEN, timeout=5000)

    qtbot.mouseClick(window.controls.play_button, Qt.MouseButton.LeftButton)
    assert h.coordinator.clock.paused
    assert window.controls.play_button.text() == "Play"
    window.status.refresh()
    assert window.status.state.text() == "paused"

    qtbot.mouseClick(window.controls.play_button, Qt.MouseButton.LeftButton)
    assert not h.coordinator.clock.paused
    assert window.controls.play_button.text() == "Pause"

    combo = window.controls.speed_combo
    combo.setCurrentIndex(combo.findText("600×"))
    combo.activated.emit(combo.currentIndex())
    assert h.coordinator.clock.speed == 600.0
    combo.setCurrentIndex(combo.findText("max"))
    combo.activated.emit(combo.currentIndex())
    assert h.coordinator.clock.speed is None
    window.status.refresh()
    assert window.status.speed.text() == "speed max"
    assert window.status.session.text().startswith("session 2015-12-28")


def _first_window(qtbot: Any, make_window: MakeWindow, tmp_path: Any) -> Any:
    """A window watching IBM (1m,5m) and QQQ (1m,15m), sized to fit the 800x600 offscreen screen."""
    first = make_window(app_settings=AppSettings.at(tmp_path / "keep.ini"))
    add_and_wait(qtbot, first.window, "IBM", "1m,5m")
    add_and_wait(qtbot, first.window, "QQQ", "1m,15m")
    first.window.resize(780, 500)  # restoreGeometry keeps a window on the 800x600 offscreen screen
    return first


def _reopened(qtbot: Any, make_window: MakeWindow, tmp_path: Any) -> tuple[AppSettings, Any]:
    """A second window over the settings the first one left, booted with the saved watchlist."""
    reopened = AppSettings.at(tmp_path / "keep.ini")
    second = make_window(app_settings=reopened)
    booted = asyncio.ensure_future(second.window.boot(reopened.watchlist() or []))
    qtbot.waitUntil(booted.done, timeout=5000)
    booted.result()
    return reopened, second


def test_settings_survive_closing_and_reopening(qtbot: Any, make_window: MakeWindow, tmp_path: Any) -> None:
    first = _first_window(qtbot, make_window, tmp_path)
    first.window.splitter.setSizes([250, first.window.splitter.width() - 250])
    saved_size, saved_split = first.window.size(), first.window.splitter.sizes()
    close_harness(qtbot, first)

    reopened, second = _reopened(qtbot, make_window, tmp_path)

    assert reopened.watchlist() == [WatchEntry("IBM", ("1m", "5m")), WatchEntry("QQQ", ("1m", "15m"))]
    assert second.session_data.get_active_symbols() == ["IBM", "QQQ"]
    assert list(second.session_data.get_symbol_data("QQQ").bars) == ["1m", "15m"]
    assert second.window.size() == saved_size and saved_size.height() == 500
    assert second.window.splitter.sizes() == saved_split
    assert second.window.controls.intervals_edit.text() == "1m,15m"
    assert reopened.last_source() == "fake"
    assert second.window.charts.symbol == "IBM"


def test_the_chart_workspace_survives_closing_and_reopening(qtbot: Any, make_window: MakeWindow, tmp_path: Any) -> None:
    first = _first_window(qtbot, make_window, tmp_path)
    first.window.workspace_dock.show()
    qtbot.waitUntil(lambda: first.window.workspace_dock.isVisible())
    first.window.splitter.setSizes([250, first.window.splitter.width() - 250])
    first.window.workspace.set_layout("1x2")
    first.window.workspace.slots[0].show_chart("QQQ", "15m")
    first.window.workspace.slots[1].show_chart("IBM", "5m")
    close_harness(qtbot, first)

    _, second = _reopened(qtbot, make_window, tmp_path)

    workspace = second.window.workspace.state()
    assert workspace.layout == "1x2"
    assert [(c.symbol, c.interval) for c in workspace.charts[:2]] == [("QQQ", "15m"), ("IBM", "5m")]
    assert second.window.workspace_dock.isVisibleTo(second.window)
    # the tree keeps its width; the dock's width is Qt's to settle (it varied by ~60 px here)
    qtbot.waitUntil(lambda: second.window.splitter.sizes()[0] == 250, timeout=3000)


def test_unexpected_errors_go_to_the_messages_dock(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()
    restore = install_excepthook(h.window.post_message)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            sys.excepthook(*sys.exc_info())
    finally:
        restore()

    newest = h.window.messages.log.messages()[0]
    assert newest.level == logging.ERROR
    assert newest.text == "Unexpected error: ValueError: boom"
    assert "Traceback" not in newest.text


def test_core_warnings_appear_newest_first_and_capped(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()
    log = h.window.messages.log
    log.cap = 5
    for i in range(8):
        h.session_data.warn(f"warning {i}")

    assert [m.text for m in log.messages()] == [f"warning {i}" for i in (7, 6, 5, 4, 3)]


def test_a_feed_outage_is_reported_and_marked_in_the_tree(qtbot: Any, make_window: MakeWindow, session: Any) -> None:
    schedule = FaultSchedule(failures=((session.open + 600, session.open + 1200),))
    h = make_window(source=FaultySource(FakeSource(), {"SPY": schedule}), speed=None)
    h.coordinator.max_chunk = 60.0  # small steps, so the clock lands inside the outage
    window = h.window
    seen: list[tuple[str, bool]] = []
    window.bridge.feed_changed.connect(lambda symbol, up: seen.append((symbol, up)))
    add_and_wait(qtbot, window, "SPY", "1m,5m")

    h.start()
    qtbot.waitUntil(lambda: ("SPY", False) in seen, timeout=10_000)
    window.model.flush()
    kind = window.model.index(0, Column.KIND)
    assert kind.data() == "disconnected"
    assert window.model.index(0, Column.HEALTH).data().split(" ")[-1] == "down"
    window.status.refresh()
    assert window.status.feeds.text() == "feed down: SPY"
    window.health_status.refresh()
    assert window.health_status.label.text() == "1 down · down: SPY"
    qtbot.waitUntil(lambda: h.coordinator.state is ClockState.FINISHED, timeout=20_000)

    assert seen[-1] == ("SPY", True)
    window.model.flush()
    assert kind.data() == ""
    assert any("feed disconnected" in m.text for m in window.messages.log.messages())
    data = h.session_data.get_symbol_data("SPY")
    assert len(data.base.data) == 390  # the replay feed backfilled the outage


def test_a_large_start_up_watchlist_arrives_in_one_insert_in_its_order_and_sorts_once_compact(
    qtbot: Any, make_window: MakeWindow
) -> None:
    # Arrange: 120 symbols in no particular order, one the source does not have, one twice
    # (qtmodeltester walks the whole model on every signal: tests/gui/test_tree_model.py runs it
    # through held inserts on a few symbols)
    h = make_window()
    window = h.window
    names = [f"S{(k * 37) % 120:03d}" for k in range(120)]
    watchlist = [WatchEntry(name, ("1m", "5m")) for name in names]
    watchlist.insert(60, WatchEntry("NODATA", ("1m",)))
    watchlist.append(WatchEntry(names[3], ("1m",)))
    inserts: list[tuple[int, int]] = []
    window.model.rowsInserted.connect(
        lambda parent, first, last: inserts.append((first, last)) if not parent.isValid() else None
    )

    # Act
    booted = asyncio.ensure_future(window.boot(watchlist))
    qtbot.waitUntil(booted.done, timeout=20_000)
    booted.result()

    # Assert: every good symbol in one insert, in the watchlist's order, all expanded; the two
    # refused ones said so; the hidden compact watchlist sorts when it is shown
    assert inserts == [(0, 119)]
    model = window.model
    assert [model.index(row, Column.INTERVAL).data() for row in range(model.rowCount())] == names
    assert all(window.tree.isExpanded(model.index(row, 0)) for row in range(model.rowCount()))
    assert model.index(0, Column.BARS).data() == "0" and model.rowCount(model.index(0, 0)) == 2
    problems = [m.text for m in window.messages.log.messages() if m.level == logging.WARNING]
    assert any(t.startswith("Could not restore NODATA: ") for t in problems)
    assert any(t == f"Could not restore {names[3]}: {names[3]} is already being watched" for t in problems)
    assert not window.compact.active  # the tree is shown: the compact watchlist does not re-sort meanwhile
    window.compact_action.trigger()
    assert window.compact.active
    assert window.compact.symbols() == sorted(names)
    assert_model_synced(model, h.session_data)
