"""What the window shows about feed health and alerts: tree column and badge, chart banner
and gap bands, status bar, the Alerts dock (filter, clear, jump to the bar), notifications."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt

from session_monitor.core.feeds import FaultSchedule
from session_monitor.core.sources.faulty import FaultySource
from session_monitor.gui import theme
from session_monitor.gui.alerts_dock import ALERT_COLUMNS, SEGMENT_COLUMN
from session_monitor.gui.tree_model import ALERT_BADGE, Column
from tests.gui.gui_helpers import FakeSource, Harness, add_and_wait

MakeWindow = Callable[..., Harness]


class QuietFakeSource(FakeSource):
    """The fake 1m feed declared to send no bar for a minute without trades (as Lean does)."""

    omits_empty_intervals = True


def _row_texts(model: Any, row: int) -> list[str]:
    return [model.index(row, c).data() for c in range(model.columnCount())]


def test_a_stale_symbol_is_shown_everywhere_and_its_alert_is_listed(
    qtbot: Any, qtmodeltester: Any, make_window: MakeWindow, session: Any
) -> None:
    silent = FaultSchedule(silences=((session.open + 5400, session.open + 7200),))  # 11:00-11:30
    h = make_window(source=FaultySource(FakeSource(), {"SPY": silent}), speed=None)
    window = h.window
    add_and_wait(qtbot, window, "QQQ", "1m,5m")
    add_and_wait(qtbot, window, "SPY", "1m,5m")
    qtmodeltester.check(window.alerts_dock.model, force_py=True)
    h.coordinator.step(session.open + 6000)  # 11:10 New York
    window.flush()

    model = window.model
    spy, qqq = model.symbol_index("SPY", Column.HEALTH), model.symbol_index("QQQ", Column.HEALTH)
    assert (spy.data(), qqq.data()) == (f"{ALERT_BADGE} stale", "live")
    assert spy.data(Qt.ItemDataRole.ForegroundRole).color() == theme.QUALITY_WARN
    assert "stale since 11:04:00" in spy.data(Qt.ItemDataRole.ToolTipRole)
    assert "alert: stale" in spy.data(Qt.ItemDataRole.ToolTipRole)
    window.select_symbol("SPY")
    assert window.health_banner.warning.isVisibleTo(window)
    assert window.health_banner.warning.text() == "SPY stale: no bar since 11:04:00"
    assert window.health_status.label.text() == "1 live · 1 stale · stale: SPY"
    dock = window.alerts_dock
    assert _row_texts(dock.model, 0) == ["11:04:00", "SPY", "", "stale", "start", "5", ""]  # no segment
    assert dock.view.isColumnHidden(SEGMENT_COLUMN)  # regular hours: no Segment column
    assert dock.model.columnCount() == len(ALERT_COLUMNS)
    assert window.notifier.notified == ["SPY stale started 11:04:00 (5)"]
    window.select_symbol("QQQ")
    assert not window.health_banner.warning.isVisibleTo(window)

    h.coordinator.step(session.open + 8100)  # 11:45: live again, the clear confirmed after its hold-off
    window.flush()
    assert spy.data() == "live"
    assert [_row_texts(dock.model, r)[3:5] for r in range(dock.model.rowCount())] == [
        ["stale", "start"], ["stale", "clear"]
    ]
    assert _row_texts(dock.model, 1)[0] == "11:30:00"

    dock.filter.setText("qqq")
    assert dock.proxy.rowCount() == 0
    dock.filter.setText("spy")
    assert dock.proxy.rowCount() == 2

    # double-clicking the start jumps to SPY's 1m chart around 11:04
    cell = dock.proxy.index(0, 1)
    dock.view.doubleClicked.emit(cell)
    assert window.charts.symbol == "SPY"
    (x0, x1), _ = window.charts.chart("1m").view.viewRange()
    assert x0 < session.open + 5040 < x1

    dock.clear_button.click()
    assert dock.model.rowCount() == 0 and dock.proxy.rowCount() == 0


def test_quiet_gaps_are_drawn_faint_and_can_be_hidden_lost_ones_strong(
    qtbot: Any, make_window: MakeWindow, session: Any
) -> None:
    holes = {"SPY": {10, 11, 12}}
    silent = FaultSchedule(silences=((session.open + 3600, session.open + 3900),))  # 10:30-10:35: lost
    h = make_window(source=FaultySource(QuietFakeSource(holes), {"SPY": silent}), speed=None)
    window = h.window
    add_and_wait(qtbot, window, "SPY", "1m,5m")
    h.coordinator.step(session.open + 7200)
    window.flush()
    window.select_symbol("SPY", "1m")
    chart = window.charts.chart("1m")
    chart.refresh_gaps()
    minute = 60
    # 09:40-09:43: no trades (bars resumed, the source omits empty minutes); 10:29-10:34 was lost to
    # the silence, but bars resumed after it and nothing tells the two apart in a replay: quiet too
    assert chart.quiet_bands.ranges.tolist() == [
        [session.open + 10 * minute, session.open + 13 * minute],
        [session.open + 59 * minute, session.open + 64 * minute],
    ]
    assert chart.gap_bands.ranges.tolist() == []  # nothing lost for sure
    assert "quiet (no trades)" in window.health_banner.legend.text()
    assert chart.quiet_bands.isVisible()
    window.quiet_gaps_action.setChecked(False)
    assert not chart.quiet_bands.isVisible()
    window.quiet_gaps_action.setChecked(True)
    assert chart.quiet_bands.isVisible()


def test_missing_gaps_are_strong_and_coverage_column_shows_on_request(
    qtbot: Any, make_window: MakeWindow, session: Any
) -> None:
    h = make_window(source=FakeSource({"SPY": {10, 11, 12}}), speed=None)
    window = h.window
    add_and_wait(qtbot, window, "SPY", "1m,5m")
    h.coordinator.step(session.open + 3600)
    window.flush()
    window.select_symbol("SPY", "1m")
    chart = window.charts.chart("1m")
    chart.refresh_gaps()
    assert chart.gap_bands.ranges.tolist() == [[session.open + 600, session.open + 780]]
    assert chart.quiet_bands.ranges.tolist() == []
    assert window.tree.isColumnHidden(Column.COVERAGE)
    window.coverage_action.setChecked(True)
    assert not window.tree.isColumnHidden(Column.COVERAGE)
    coverage = window.model.symbol_index("SPY", Column.COVERAGE)
    assert coverage.data() == "95.0"  # 57 of 60 minutes; the demo-like fake source drops nothing on purpose
    assert coverage.data(Qt.ItemDataRole.ForegroundRole).color() == theme.QUALITY_WARN


def test_the_alert_rules_dialog_sets_global_and_per_symbol_rules(qtbot: Any, make_window: MakeWindow) -> None:
    h = make_window(speed=None)
    window = h.window
    add_and_wait(qtbot, window, "SPY", "1m")
    add_and_wait(qtbot, window, "QQQ", "1m")
    dialog = window.show_alert_rules()
    assert [dialog.scope.itemText(i) for i in range(dialog.scope.count())] == ["All symbols", "SPY", "QQQ"]
    assert (dialog.stale.value(), dialog.down.value(), dialog.coverage.value(), dialog.quality.value()) == (
        5.0, 10.0, 95.0, None
    )
    dialog.quality.set_value(90.0)
    dialog.scope.setCurrentText("SPY")
    assert not dialog.stale.isEnabled()  # follows the global rules until given its own
    dialog.own.setChecked(True)
    dialog.stale.set_value(12)
    dialog.down.set_value(None)
    assert dialog.mismatch.isChecked() and not dialog.mismatch_volume.isChecked()  # the defaults
    dialog.mismatch_volume.setChecked(True)
    dialog.buttons.button(dialog.buttons.StandardButton.Apply).click()
    config = window.alerts.config
    assert config.rules_for("QQQ").quality_below == 90.0 and config.rules_for("QQQ").stale_slots == 5
    assert not config.rules_for("QQQ").mismatch_volume
    spy = config.rules_for("SPY")
    assert (spy.stale_slots, spy.down_seconds, spy.quality_below, spy.mismatch_volume) == (12, None, 90.0, True)
    assert h.coordinator.health.stale_slots == {"SPY": 12}  # the stale rule is the health threshold
    dialog.scope.setCurrentText("QQQ")
    assert not dialog.own.isChecked() and dialog.quality.value() == 90.0
    dialog.reject()


def test_the_status_bar_health_summary_follows_by_itself_counting_once_for_many_changes(
    qtbot: Any, make_window: MakeWindow, session: Any
) -> None:
    silent = FaultSchedule(silences=((session.open + 5400, session.open + 7200),))  # 11:00-11:30
    h = make_window(source=FaultySource(FakeSource(), {"SPY": silent}), speed=None)
    window = h.window
    for symbol in ("QQQ", "SPY", "IWM"):
        add_and_wait(qtbot, window, symbol, "1m")
    status = window.health_status
    changes: list[str] = []
    window.bridge.health_changed.connect(lambda symbol, _change: changes.append(symbol))
    shown: list[str] = []
    set_text = status.label.setText
    status.label.setText = lambda text: (shown.append(text), set_text(text))  # type: ignore[method-assign]

    h.coordinator.step(session.open + 6000)  # 11:10: every symbol's health moves on in one pass

    qtbot.waitUntil(lambda: status.label.text() == "2 live · 1 stale · stale: SPY", timeout=5000)
    assert sorted(changes) == ["IWM", "QQQ", "SPY"]
    assert shown == ["2 live · 1 stale · stale: SPY"]  # counted once for the three changes
    assert theme.QUALITY_WARN.name() in status.label.styleSheet()
