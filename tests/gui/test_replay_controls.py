"""Replay controls in the window: Space from anywhere, step, restart, jump, slider, speed presets; Help menu."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSlider, QDialog, QTableWidget

from session_monitor.core.appinfo import app_version
from session_monitor.core.clock import ClockState
from session_monitor.core.logfile import log_file_path
from session_monitor.gui.chart.marks import LEGEND
from session_monitor.gui.replay_bar import SLIDER_STEPS
from session_monitor.gui.tree_model import Column
from tests.gui.gui_helpers import Harness, add_and_wait, fake_bars

MakeWindow = Callable[..., Harness]


def streaming(qtbot: Any, make_window: MakeWindow, speed: float = 1.0) -> Harness:
    """A window watching SPY (1m, 5m) whose held run is open, at a speed slow enough to count bars."""
    h = make_window(speed=speed)
    add_and_wait(qtbot, h.window, "SPY", "1m,5m")
    h.runner = asyncio.ensure_future(h.coordinator.run(hold=True))
    qtbot.waitUntil(lambda: h.coordinator.state is ClockState.OPEN, timeout=5000)
    return h


def base_count(h: Harness) -> int:
    data = h.session_data.get_symbol_data("SPY")
    assert data is not None
    return len(data.base.data)


def tree_bars(h: Harness, interval: str) -> str:
    model = h.window.model
    model.flush()
    return str(model.index(0 if interval == "1m" else 1, Column.BARS, model.symbol_index("SPY")).data())


def test_space_toggles_play_pause_from_a_focused_text_field_without_typing_a_space(
    qtbot: Any, make_window: MakeWindow
) -> None:
    h = streaming(qtbot, make_window)
    edit = h.window.controls.symbol_edit
    edit.setFocus()
    qtbot.keyClicks(edit, "AA")

    qtbot.keyClick(edit, Qt.Key.Key_Space)
    assert h.coordinator.clock.paused and h.window.controls.play_button.text() == "Play"
    qtbot.keyClicks(edit, "PL")
    qtbot.keyClick(edit, Qt.Key.Key_Space)

    assert not h.coordinator.clock.paused and h.window.controls.play_button.text() == "Pause"
    assert edit.text() == "AAPL"
    qtbot.keyClick(h.window.tree, Qt.Key.Key_Space)  # and from the tree
    assert h.coordinator.clock.paused


def test_step_adds_exactly_one_base_bar_while_paused(qtbot: Any, make_window: MakeWindow) -> None:
    h = streaming(qtbot, make_window)
    qtbot.keyClick(h.window.tree, Qt.Key.Key_Space)
    h.window.replay_bar.refresh()
    before, clock = base_count(h), h.coordinator.clock.now
    assert h.window.replay_bar.step_button.isEnabled()

    qtbot.mouseClick(h.window.replay_bar.step_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: base_count(h) == before + 1, timeout=5000)

    session = h.coordinator.session
    expected_end = session.open + (int(clock - session.open) // 60 + 1) * 60
    assert h.coordinator.clock.now == expected_end and h.coordinator.clock.paused
    assert tree_bars(h, "1m") == str(before + 1)


def test_jump_to_a_time_then_restart_from_the_menu(qtbot: Any, make_window: MakeWindow) -> None:
    h = streaming(qtbot, make_window)
    bar = h.window.replay_bar
    session = h.coordinator.session
    bar.jump_edit.setDateTime(bar._qt_time(session.open + 45 * 60))  # 10:15 at the exchange

    qtbot.mouseClick(bar.jump_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: base_count(h) >= 45, timeout=5000)

    data = h.session_data.get_symbol_data("SPY")
    assert data is not None
    expected = fake_bars("SPY", session)
    assert list(data.base.data.ts[:45]) == list(expected.ts[:45])
    assert list(data.base.data.close[:45]) == list(expected.close[:45])
    assert tree_bars(h, "5m") in {"9", "10"}  # 9 closed 5m bars; a forming 10th once 10:15 has passed
    bar.refresh()
    assert abs(bar.slider.value() - SLIDER_STEPS * 45 * 60 / 23_400) <= 20

    h.window.replay_actions["Restart"].trigger()
    qtbot.waitUntil(lambda: base_count(h) < 5 and h.coordinator.clock.now < session.open + 300, timeout=5000)
    assert tree_bars(h, "1m") == str(base_count(h))


def test_enter_in_the_jump_field_jumps(qtbot: Any, make_window: MakeWindow) -> None:
    h = streaming(qtbot, make_window)
    bar = h.window.replay_bar
    h.window.replay_actions["Jump to date and time"].trigger()
    bar.jump_edit.setDateTime(bar._qt_time(h.coordinator.session.open + 120 * 60))

    qtbot.keyClick(bar.jump_edit, Qt.Key.Key_Return)

    qtbot.waitUntil(lambda: base_count(h) >= 120, timeout=5000)
    assert h.coordinator.clock.now >= h.coordinator.session.open + 120 * 60


def test_the_slider_moves_the_replay_to_its_end(qtbot: Any, make_window: MakeWindow) -> None:
    h = streaming(qtbot, make_window)

    h.window.replay_bar.slider.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)
    qtbot.waitUntil(lambda: h.coordinator.state is ClockState.FINISHED, timeout=10_000)

    assert base_count(h) == 390 and tree_bars(h, "5m") == "78"


def test_speed_presets_step_up_to_max_and_back(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window(speed=600.0)
    faster, slower = h.window.replay_actions["Faster"], h.window.replay_actions["Slower"]

    faster.trigger()
    assert h.coordinator.clock.speed == 1800.0 and h.window.controls.speed_combo.currentText() == "1800×"
    faster.trigger()
    faster.trigger()
    assert h.coordinator.clock.speed is None and h.window.controls.speed_combo.currentText() == "max"
    slower.trigger()
    assert h.coordinator.clock.speed == 3600.0


def _dialog(h: Harness, name: str) -> QDialog:
    dialog = h.window.findChild(QDialog, name)
    assert isinstance(dialog, QDialog) and dialog.isVisible()
    return dialog


def test_help_menu_shows_shortcuts_legend_and_about(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window()

    h.window.help_actions["shortcuts"].trigger()
    table = _dialog(h, "shortcutsDialog").findChild(QTableWidget)
    keys = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert "Space" in keys and keys["Ctrl+R"] == "Session → Restart" and "Ctrl+Right" in keys

    h.window.help_actions["legend"].trigger()
    table = _dialog(h, "legendDialog").findChild(QTableWidget)
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == [e.name for e in LEGEND]
    assert {"forming", "gap band", "quiet gap band", "session line", "incomplete"} <= {e.name for e in LEGEND}

    h.window.help_actions["about"].trigger()
    text = _dialog(h, "aboutDialog").findChild(type(h.window.controls.feedback)).text()
    assert app_version() in text and str(log_file_path()) in text


def test_the_replay_bar_builds_before_a_connected_window_knows_any_session(qtbot: Any) -> None:
    """A window connected to engines that have not published a session yet (it raised IndexError)."""
    import redis.asyncio as aioredis

    from session_monitor.core.bus.remote import RemoteCoordinator
    from session_monitor.gui.replay_bar import ReplayBar

    coordinator = RemoteCoordinator(aioredis.Redis(host="127.0.0.1", port=1))  # never connected
    assert coordinator.sessions == []
    bar = ReplayBar(coordinator)  # type: ignore[arg-type]
    qtbot.addWidget(bar)
    assert bar.tz == str(coordinator.calendar.tz)
