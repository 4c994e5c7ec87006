"""The chart workspace: layouts, linked time and crosshair, bar updates, save/restore through settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF

from session_monitor.core.calendar import Session
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.chart.workspace import ChartSpec, ChartWorkspace, WorkspaceState
from session_monitor.gui.settings import AppSettings
from tests.gui.gui_helpers import Streamer, fake_bars


@pytest.fixture
def workspace(qtbot: Any, session_data: Any, streamer: Streamer, session: Session) -> ChartWorkspace:
    for symbol in ("SPY", "AAPL"):
        streamer.add(symbol, ("5m", "15m"))
        streamer.stream(symbol, fake_bars(symbol, session, count=120))
    widget = ChartWorkspace(session_data, SessionBridge(session_data))
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_layouts_show_one_two_or_four_charts_in_rows_and_columns(workspace: ChartWorkspace) -> None:
    shown = {}
    for name in ("1", "1x2", "2x1", "2x2"):
        workspace.set_layout(name)
        for slot in workspace.visible_slots:
            slot.show_chart("SPY", "1m")
        shown[name] = [(s.mapTo(workspace, s.rect().topLeft()).x() > 100,
                        s.mapTo(workspace, s.rect().topLeft()).y() > 200) for s in workspace.visible_slots]
    assert shown["1"] == [(False, False)]
    assert shown["1x2"] == [(False, False), (True, False)]  # side by side
    assert shown["2x1"] == [(False, False), (False, True)]  # stacked
    assert shown["2x2"] == [(False, False), (True, False), (False, True), (True, True)]


def test_linked_time_and_crosshair(qtbot: Any, workspace: ChartWorkspace, session: Session) -> None:
    workspace.set_layout("1x2")
    left = workspace.slots[0].show_chart("SPY", "1m")
    right = workspace.slots[1].show_chart("AAPL", "5m")
    assert left is not None and right is not None
    workspace.relink()
    right.view.setXRange(session.open + 600, session.open + 4200, padding=0)
    assert left.view.viewRange()[0] == pytest.approx([session.open + 600, session.open + 4200])

    qtbot.waitUntil(lambda: left.graphics.width() > 300 and right.graphics.width() > 300)  # laid out
    x = session.open + 1830.0
    (_, _), (y0, y1) = left.view.viewRange()
    pos = left.graphics.mapFromScene(left.view.mapViewToScene(QPointF(x, (y0 + y1) / 2)))
    qtbot.mouseMove(left.graphics.viewport(), pos)
    qtbot.waitUntil(lambda: right.v_line.isVisible())
    assert right.v_line.value() == pytest.approx(x, abs=10)  # within a pixel
    assert left.v_line.value() == pytest.approx(right.v_line.value())

    workspace.link_box.setChecked(False)
    right.view.setXRange(session.open, session.open + 7200, padding=0)
    assert left.view.viewRange()[0] == pytest.approx([session.open + 600, session.open + 4200])


def test_charts_follow_the_bars_of_their_own_symbol(workspace: ChartWorkspace, streamer: Streamer,
                                                    session: Session) -> None:
    workspace.set_layout("1x2")
    spy = workspace.slots[0].show_chart("SPY", "15m")
    aapl = workspace.slots[1].show_chart("AAPL", "1m")
    assert spy is not None and aapl is not None
    streamer.stream("SPY", fake_bars("SPY", session, count=180).take(slice(120, 180)))
    workspace.flush()
    assert len(spy.data.current) == 12 and len(aapl.data.current) == 120


def test_removing_a_symbol_empties_its_charts(workspace: ChartWorkspace, session_data: Any, qtbot: Any) -> None:
    workspace.set_layout("1x2")
    workspace.slots[0].show_chart("SPY", "5m")
    workspace.slots[1].show_chart("AAPL", "5m")
    session_data.remove_symbol("SPY")
    qtbot.waitUntil(lambda: workspace.slots[0].chart is None)
    assert workspace.slots[1].chart is not None
    assert [workspace.slots[1].symbol_box.itemText(i) for i in range(workspace.slots[1].symbol_box.count())] == [
        "", "AAPL"]


def test_layout_round_trips_through_the_settings(qtbot: Any, workspace: ChartWorkspace, tmp_path: Path,
                                                  session_data: Any, session: Session) -> None:
    workspace.set_layout("2x2")
    workspace.link_box.setChecked(False)
    workspace.slots[0].show_chart("SPY", "1m", (session.open + 60, session.open + 3660))
    workspace.slots[1].show_chart("SPY", "5m", (session.open, session.open + 7200))
    workspace.slots[2].show_chart("AAPL", "15m", (session.open + 1800, session.open + 9000))
    saved = workspace.state()
    settings = AppSettings.at(tmp_path / "s.ini")
    settings.set_workspace(saved.to_json())
    settings.sync()

    again = ChartWorkspace(session_data, SessionBridge(session_data))
    qtbot.addWidget(again)
    again.resize(1200, 800)
    again.show()
    qtbot.waitExposed(again)
    stored = AppSettings.at(tmp_path / "s.ini").workspace()
    assert stored is not None
    again.restore(WorkspaceState.from_json(stored))
    restored = again.state()
    assert (restored.layout, restored.linked) == ("2x2", False)
    assert [(c.symbol, c.interval) for c in restored.charts] == [
        ("SPY", "1m"), ("SPY", "5m"), ("AAPL", "15m"), (None, None)]
    for before, after in zip(saved.charts[:3], restored.charts[:3], strict=True):
        assert after.x_range == pytest.approx(before.x_range)


def test_a_damaged_saved_state_gives_the_default() -> None:
    assert WorkspaceState.from_json("{not json") == WorkspaceState()
    assert WorkspaceState.from_json('{"layout": "3x3", "charts": []}') == WorkspaceState()
    state = WorkspaceState("1x2", (ChartSpec("SPY", "5m", (1.0, 2.0)), ChartSpec()), True)
    assert WorkspaceState.from_json(state.to_json()) == state


def test_tree_context_menu_shows_a_row_in_the_workspace_or_over_its_base(qtbot: Any, make_window: Any) -> None:
    from tests.gui.gui_helpers import add_and_wait

    h = make_window()
    window = h.window
    add_and_wait(qtbot, window, "IBM", "1m,5m")
    menu = window.tree_menu_actions(window.model.interval_index("IBM", "5m"))
    actions = menu.actions()
    assert [a.text() for a in actions] == ["Show IBM 5m in the chart workspace", "Show IBM 5m over its base 1m"]
    actions[0].trigger()
    assert window.workspace_dock.isVisible()
    first = window.workspace.state().charts[0]
    assert (first.symbol, first.interval) == ("IBM", "5m")
    actions[1].trigger()
    assert window.charts.combined is not None and window.charts.combined.interval == "5m"
    assert window.charts.tabs.currentWidget() is window.charts.combined.parentWidget()
    base_menu = window.tree_menu_actions(window.model.interval_index("IBM", "1m"))
    assert [a.text() for a in base_menu.actions()] == ["Show IBM 1m in the chart workspace"]


def test_linked_charts_of_a_grid_show_the_same_times(qtbot: Any, workspace: ChartWorkspace, session: Session) -> None:
    """Charts side by side sit at different screen positions: each still shows the same time range."""
    workspace.set_layout("2x2")
    for slot, interval in zip(workspace.slots, ("1m", "5m", "1m", "15m"), strict=True):
        slot.show_chart("SPY" if interval != "15m" else "AAPL", interval)
    workspace.relink()
    workspace.rows.widget(0).setSizes([700, 500])  # the top row split unevenly
    qtbot.wait(20)
    workspace.slots[2].chart.view.setXRange(session.open + 300, session.open + 9300, padding=0)
    for chart in workspace.charts:
        assert chart.view.viewRange()[0] == pytest.approx([session.open + 300, session.open + 9300])
