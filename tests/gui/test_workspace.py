"""The chart workspace: layouts, linked time and crosshair, bar updates, save/restore through settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.lean import LeanSource
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.chart.selection import BaseBarSelection
from session_monitor.gui.chart.symbol_charts import SymbolCharts
from session_monitor.gui.chart.workspace import ChartSpec, ChartWorkspace, WorkspaceState
from session_monitor.gui.settings import AppSettings
from tests.core_helpers import utc, watch, xnys
from tests.gui.gui_helpers import Streamer, fake_bars
from tests.gui.test_base_derived import _click_at


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


def test_a_base_bar_clicked_anywhere_outlines_its_holders_on_every_chart(qtbot: Any, lean_minute: Any) -> None:
    """GOOG 2015-12-28 12:09 New York: its 15m (12:00) and 1h (11:30) bars are outlined on the workspace's
    charts when it is clicked in the base + derived view, and the other way round."""
    session = xnys("2015-12-28")
    sd, _, processor = watch(session, "1m", ["15m", "1h"], symbol="GOOG")
    sd.add_base_bars("GOOG", LeanSource(lean_minute).load_session("GOOG", Interval(60), session).bars)
    processor.process(session.close)
    bridge = SessionBridge(sd)
    selection = BaseBarSelection()  # one per window (MainWindow hands it to both)
    charts = SymbolCharts(sd, bridge, selection=selection)
    workspace = ChartWorkspace(sd, bridge, selection=selection)
    for widget in (charts, workspace):
        qtbot.addWidget(widget)
        widget.resize(1100, 700)
        widget.show()
        qtbot.waitExposed(widget)
    charts.show_symbol("GOOG")
    view = charts.show_combined("15m")
    assert view is not None
    workspace.set_layout("2x2")
    minute, quarter, hour = (workspace.slots[i].show_chart("GOOG", name) for i, name in enumerate(("1m", "15m", "1h")))
    assert minute is not None and quarter is not None and hour is not None
    morning = (utc("2015-12-28T15:30:00"), utc("2015-12-28T18:30:00"))
    view.base_chart.view.setXRange(*morning, padding=0)
    minute.view.setXRange(*morning, padding=0)  # linked: every workspace chart shows the morning
    qtbot.wait(20)

    _click_at(qtbot, view.base_chart, utc("2015-12-28T17:09:30"))
    qtbot.waitUntil(lambda: quarter.held.window is not None)
    assert quarter.held.window == (utc("2015-12-28T17:00:00"), utc("2015-12-28T17:15:00"))
    assert hour.held.window == (utc("2015-12-28T16:30:00"), utc("2015-12-28T17:30:00"))
    assert minute.held.window == (utc("2015-12-28T17:09:00"), utc("2015-12-28T17:10:00"))  # the bar itself
    bars = sd.get_symbol_data("GOOG").bars["15m"].data
    i = bars.index_of(utc("2015-12-28T17:00:00"))
    np.testing.assert_array_equal(quarter.held.item.boxes, [[utc("2015-12-28T17:00:00"), utc("2015-12-28T17:15:00"),
                                                             bars.low[i], bars.high[i]]])
    assert view.derived_chart.held.window == quarter.held.window
    assert charts.chart("1h").held.window == hour.held.window  # the interval tabs' charts too

    _click_at(qtbot, minute, utc("2015-12-28T16:45:20"))  # the workspace's base chart: 11:45
    qtbot.waitUntil(lambda: view.selection is not None and view.selection.ts == utc("2015-12-28T16:45:00"))
    assert view.derived_chart.held.window == (utc("2015-12-28T16:45:00"), utc("2015-12-28T17:00:00"))
    assert quarter.held.window == view.derived_chart.held.window
    assert hour.held.window == (utc("2015-12-28T16:30:00"), utc("2015-12-28T17:30:00"))
    assert view.panel.text() == "base 1m bar 2015-12-28 11:45 is in: 15m 11:45–12:00, 1h 11:30–12:30"

    _click_at(qtbot, view.derived_chart, utc("2015-12-28T17:20:00"))  # explaining a derived bar ends it
    qtbot.waitUntil(lambda: quarter.held.window is None)
    assert minute.held.window is None and hour.held.window is None and not len(hour.held.item.boxes)


def _drop_target(widget: QWidget) -> QWidget:
    """The widget Qt hands a drop over ``widget`` to: the first one up the parents that accepts drops."""
    target: QWidget | None = widget
    while target is not None and not target.acceptDrops():
        target = target.parentWidget()
    assert target is not None, "nothing under the cursor accepts drops"
    return target


def _drop(target: QWidget, mime: QMimeData) -> bool:
    """Drag ``mime`` into ``target`` and drop it there, as Qt delivers a drag; True when it was taken."""
    centre = target.rect().center()
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    enter = QDragEnterEvent(centre, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(centre), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop.isAccepted()


def test_dragging_a_tree_row_onto_a_chart_binds_it(qtbot: Any, make_window: Any) -> None:
    from tests.gui.gui_helpers import add_and_wait

    window = make_window().window
    add_and_wait(qtbot, window, "IBM", "1m,5m,15m")
    add_and_wait(qtbot, window, "MSFT", "1m,5m")
    assert window.tree.dragEnabled()
    model = window.tree.model()
    window.workspace_dock.show()
    workspace = window.workspace
    workspace.set_layout("1x2")
    left, right = workspace.slots[0], workspace.slots[1]
    left.show_chart("MSFT", "1m")
    assert left.chart is not None

    # onto a chart already bound: the row's interval replaces it (the drop lands on the slot, not the plot)
    mime = model.mimeData([window.model.interval_index("IBM", "15m")])
    assert _drop_target(left.chart.graphics.viewport()) is left
    assert _drop(left, mime)
    assert (workspace.state().charts[0].symbol, workspace.state().charts[0].interval) == ("IBM", "15m")
    assert left.chart.data.interval_name == "15m" and left.chart.data.symbol_data.symbol == "IBM"
    assert (left.symbol_box.currentText(), left.interval_box.currentText()) == ("IBM", "15m")

    # onto an empty chart: a symbol row stands for its base interval
    assert right.chart is None and _drop_target(right.placeholder) is right
    assert _drop(right, model.mimeData([window.model.symbol_index("MSFT")]))
    assert [(c.symbol, c.interval) for c in workspace.state().charts[:2]] == [("IBM", "15m"), ("MSFT", "1m")]
    assert right.chart is not None
    window.window_lines_action.setChecked(True)  # View → Window boundaries reaches the workspace too
    assert list(right.chart.window_lines.shown_xs()) == ["5m"]

    # anything else is refused and changes nothing
    text = QMimeData()
    text.setText("IBM 5m")
    assert not _drop(right, text)
    window.session_data.remove_symbol("IBM")
    assert not _drop(right, mime)  # a row of a symbol no longer watched
    assert (workspace.state().charts[1].symbol, workspace.state().charts[1].interval) == ("MSFT", "1m")
