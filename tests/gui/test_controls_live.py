"""In a live session the controls offer no pause and no speed: the market runs on its own clock."""

from __future__ import annotations

from typing import Any

from session_monitor.core.clock import ClockState
from session_monitor.gui.controls import ControlsBar


def test_live_session_disables_pause_and_speed_for_good(qtbot: Any) -> None:
    controls = ControlsBar("1m,5m", 1.0)
    qtbot.addWidget(controls)
    assert controls.play_button.isEnabled() and controls.speed_combo.isEnabled()
    controls.set_live()
    controls.set_state(ClockState.OPEN)
    assert not controls.play_button.isEnabled()
    assert not controls.speed_combo.isEnabled()
    assert "clock" in controls.play_button.toolTip()
