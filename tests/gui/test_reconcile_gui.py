"""Reconciliation in the window: GOOG 2015-12-28 replayed from Lean, against a reference with two planted
differences; the table lists exactly those, the 15m chart marks their windows, a click shows the bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from session_monitor.core.clock import ClockState
from session_monitor.core.reconcile.held import held_bars
from session_monitor.core.reconcile.windows import Convention, derive_on, session_windows
from session_monitor.core.sources.factory import open_source
from session_monitor.gui.reconcile_dock import DifferencesModel
from tests.core_helpers import utc, write_bars_csv
from tests.gui.gui_helpers import LEAN_MINUTE, add_and_wait


def _reference(session_data: Any, folder: Path) -> Path:
    """GOOG's 15m bars as the app derived them, with a close changed at 12:00 New York (a window
    lacking 12:08) and a volume changed at 10:00."""
    held = held_bars(session_data, "GOOG")
    assert held is not None
    from session_monitor.core.intervals import Interval

    derived = derive_on(held.bars[-1], session_windows(held.sessions[-1], Interval(900), Convention.SESSION_ANCHORED))
    cols = [col.astype(float).tolist() for col in derived.bars]
    at = {int(t): i for i, t in enumerate(derived.bars.ts)}
    cols[4][at[utc("2015-12-28T17:00:00")]] += 0.5
    cols[5][at[utc("2015-12-28T15:00:00")]] += 7
    folder.mkdir()
    write_bars_csv(folder / "GOOG.csv", *cols)
    return folder / "GOOG.csv"


def test_differences_table_marks_and_jump(qtbot: Any, qtmodeltester: Any, make_window: Any, tmp_path: Path) -> None:
    h = make_window(source=open_source(str(LEAN_MINUTE)), speed=None)
    window = h.window
    add_and_wait(qtbot, window, "GOOG", "1m,15m,1h")
    h.start()
    qtbot.waitUntil(lambda: h.coordinator.state is ClockState.FINISHED, timeout=30_000)
    window.flush()
    reference = _reference(h.session_data, tmp_path / "ref")
    dock = window.reconcile
    qtmodeltester.check(dock.model, force_py=True)

    done = asyncio.ensure_future(dock.compare(reference))
    qtbot.waitUntil(done.done, timeout=10_000)
    assert done.result() == ("26 bars: 24 match, 2 differ, 0 only in the reference, 0 only ours  "
                             "(GOOG 15m: session-anchored windows)")
    model: DifferencesModel = dock.model
    rows = [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]
    assert [row[:4] + row[5:] for row in rows] == [
        ["GOOG", "15m", "2015-12-28 10:00", "differs", "volume-only"],
        ["GOOG", "15m", "2015-12-28 12:00", "differs", "missing-base-bars"],
    ]
    assert rows[1][4].startswith("close ")

    window.select_symbol("GOOG", "15m")
    window.charts.select_interval("15m")
    np.testing.assert_array_equal(window.charts.mismatch_ranges("15m"), [
        [utc("2015-12-28T15:00:00"), utc("2015-12-28T15:15:00")],
        [utc("2015-12-28T17:00:00"), utc("2015-12-28T17:15:00")],
    ])
    assert len(window.charts.mismatch_ranges("1m")) == 0

    window.select_symbol("GOOG", "1m")  # away, then a click on the second row brings the bar back
    dock.show()
    rect = dock.table.visualRect(model.index(1, 0))
    qtbot.mouseClick(dock.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.charts.current_interval() == "15m")
    (x0, x1), _ = window.charts.charts["15m"].view.viewRange()
    assert x0 < utc("2015-12-28T17:00:00") and utc("2015-12-28T17:15:00") < x1


def test_an_unreadable_reference_is_one_line(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    h = make_window()
    bad = tmp_path / "bad.csv"
    bad.write_text("when,open\n1,2\n", encoding="utf-8")
    done = asyncio.ensure_future(h.window.reconcile.compare(bad))
    qtbot.waitUntil(done.done, timeout=5000)
    assert done.result().startswith(f"cannot read the reference: {bad}: missing column(s) timestamp")
    assert h.window.reconcile.model.rowCount() == 0


def test_a_planted_price_difference_puts_a_mismatch_alert_in_the_alerts_dock(
        qtbot: Any, qtmodeltester: Any, make_window: Any, tmp_path: Path) -> None:
    h = make_window(source=open_source(str(LEAN_MINUTE)), speed=None)
    window = h.window
    add_and_wait(qtbot, window, "GOOG", "1m,15m,1h")
    h.start()
    qtbot.waitUntil(lambda: h.coordinator.state is ClockState.FINISHED, timeout=30_000)
    window.flush()
    alerts = window.alerts_dock.model

    def mismatch_rows() -> list[list[str]]:
        rows = [[alerts.index(r, c).data() for c in range(alerts.columnCount())] for r in range(alerts.rowCount())]
        return [row[:-1] for row in rows if row[3] == "mismatch" and row[-1] == ""]  # regular hours: no segment

    done = asyncio.ensure_future(window.reconcile.compare(_reference(h.session_data, tmp_path / "ref")))
    qtbot.waitUntil(done.done, timeout=10_000)
    # the close changed at 12:00 alerts; the volume-only bar at 10:00 does not (mismatch_volume is off)
    assert [row[1:] for row in mismatch_rows()] == [["GOOG", "15m", "mismatch", "start", "1: close"]]
    assert mismatch_rows()[0][0].startswith("12:00")
    qtmodeltester.check(alerts, force_py=True)

    held = held_bars(h.session_data, "GOOG")
    assert held is not None
    from session_monitor.core.intervals import Interval

    clean = derive_on(held.bars[-1], session_windows(held.sessions[-1], Interval(900), Convention.SESSION_ANCHORED))
    (tmp_path / "clean").mkdir()
    write_bars_csv(tmp_path / "clean" / "GOOG.csv", *(col.astype(float).tolist() for col in clean.bars))
    done = asyncio.ensure_future(window.reconcile.compare(tmp_path / "clean" / "GOOG.csv"))
    qtbot.waitUntil(done.done, timeout=10_000)
    assert [row[1:] for row in mismatch_rows()] == [["GOOG", "15m", "mismatch", "start", "1: close"],
                                                    ["GOOG", "15m", "mismatch", "clear", "0"]]
    assert mismatch_rows()[1][0].startswith("15:45")  # the newest bar compared
