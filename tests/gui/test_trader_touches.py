"""The small things that erode trust: autocomplete, Ctrl+E anywhere, one named time zone,
lag only when it means something, a finer base said out loud, the compact watchlist."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication

from session_monitor.core.sources.factory import open_source
from session_monitor.gui.export_dialog import ExportDialog
from session_monitor.gui.formatting import zone
from session_monitor.gui.tree_model import SYMBOL_ROLE
from tests.gui.gui_helpers import LEAN_MINUTE, Harness, add_and_wait

MakeWindow = Callable[..., Harness]


def _boot(qtbot: Any, h: Harness) -> None:
    done = asyncio.ensure_future(h.window.boot([]))
    qtbot.waitUntil(done.done, timeout=5000)
    done.result()


def test_symbol_entry_completes_from_the_lean_folder(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window(source=open_source(str(LEAN_MINUTE)), spec=str(LEAN_MINUTE))
    _boot(qtbot, h)
    controls = h.window.controls
    assert controls.symbol_choices("s") == ["SHY", "SPY"]
    assert controls.symbol_choices("G") == ["GOOG"]
    assert controls.symbol_choices("x") == []


class _X11EndOfLine(QObject):
    """Claims Ctrl+E for the field, as QLineEdit does under X11 key bindings (Ctrl+E = end of
    line; the offscreen platform binds only End, so the test adds the binding itself)."""

    def eventFilter(self, watched: Any, event: Any) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_E:
            event.accept()
        return False


def test_ctrl_e_opens_export_while_a_text_field_has_focus(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()
    window = h.window
    window.activateWindow()
    edit = window.controls.symbol_edit
    x11 = _X11EndOfLine(edit)
    edit.installEventFilter(x11)  # runs before the window's filter, like the field's own handling
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    qtbot.keyClick(edit, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in window.findChildren(ExportDialog)), timeout=2000)
    assert edit.text() == ""  # the key went to the shortcut, not into the field
    for dialog in window.findChildren(ExportDialog):
        dialog.close()


def test_message_times_are_exchange_times_and_the_zone_is_named(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()
    messages = h.window.messages
    messages.post(logging.WARNING, "something to keep")
    shown = messages.log.index(0).data()
    now = dt.datetime.now(zone("America/New_York"))
    stamp = dt.datetime.strptime(shown[:8], "%H:%M:%S").replace(year=now.year, month=now.month, day=now.day)
    assert abs((now.replace(tzinfo=None) - stamp).total_seconds()) < 60  # New York wall time, not local
    assert messages.windowTitle().endswith("· New York time")
    assert "New York time" in messages.log.index(0).data(Qt.ItemDataRole.ToolTipRole)


def test_lag_shows_only_while_bars_stream(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window(speed=None)
    status = h.window.status
    status.refresh()
    assert status.lag.isHidden()  # no symbols: nothing to lag behind
    assert "trails the session clock" in status.lag.toolTip()


def test_a_finer_base_than_asked_for_is_said_with_its_cost(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window(source=open_source("demo"), spec="demo")
    add_and_wait(qtbot, h.window, "SPY", "1m,90s")
    text = h.window.controls.feedback.text()
    assert text == (
        "Watching SPY: streams 1s bars (60× the bars of 1m) because 90s is not a whole number of 1m bars; "
        "1m is derived from 1s; drop 90s to stream 1m instead"
    )
    assert any("streams 1s bars" in m.text and m.level == logging.WARNING for m in h.window.messages.log.messages())
    add_and_wait(qtbot, h.window, "QQQ", "1m,5m")
    assert h.window.controls.feedback.text() == "Watching QQQ: streams 1m, derives 5m"


def test_compact_watchlist_from_the_view_menu_drives_the_charts(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()
    window = h.window
    for symbol in ("SPY", "AAPL"):
        add_and_wait(qtbot, window, symbol, "1m,5m")
    window.compact_action.trigger()
    assert window.watchlist_stack.currentWidget() is window.compact
    assert window.settings.chart_option("compact_watchlist", False)
    view = window.compact.view
    assert window.compact.symbols() == ["AAPL", "SPY"]
    assert view.currentIndex().data(SYMBOL_ROLE) == "AAPL"  # the selection followed into compact mode
    window.select_symbol("SPY")
    assert window.charts.symbol == "SPY" and window.selected_symbol() == "SPY"
    view.setFocus()
    QApplication.processEvents()
    window.compact_action.trigger()
    assert window.watchlist_stack.currentWidget() is window.tree and window.selected_symbol() == "SPY"


def test_a_refused_start_is_shown_in_a_window_where_there_is_a_screen(qapp: Any) -> None:
    from session_monitor.gui.startup_error import can_show_window, startup_error_box

    assert can_show_window({"DISPLAY": ":0"}, "linux")
    assert can_show_window({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not can_show_window({}, "linux")  # no display: the terminal line is all there is
    assert not can_show_window({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert can_show_window({}, "win32") and can_show_window({}, "darwin")
    box = startup_error_box("session-monitor", "speed 'fast' is not a number or 'max'")
    assert box.text() == "session-monitor could not start:\n\nspeed 'fast' is not a number or 'max'"
    assert "--help" in box.informativeText()


def test_a_base_the_source_simply_lacks_is_no_warning(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window(source=open_source("demo"), spec="demo")
    add_and_wait(qtbot, h.window, "SPY", "15m,1h")  # the demo streams 1m for it: nothing switched
    assert h.window.controls.feedback.text() == "Watching SPY: streams 1m, derives 15m, 1h"


def test_the_trees_bars_column_has_room_for_six_digits(qtbot: Any, make_window: MakeWindow) -> None:
    from session_monitor.gui.tree_model import Column

    h = make_window()
    add_and_wait(qtbot, h.window, "SPY", "1m,5m")
    tree = h.window.tree
    six = tree.fontMetrics().horizontalAdvance("999999")
    qtbot.waitUntil(lambda: tree.columnWidth(Column.BARS) >= six, timeout=2000)
