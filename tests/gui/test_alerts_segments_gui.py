"""The Alerts dock with extended hours: each event names its segment (a column that appears
with the first such event) and so does the desktop notification."""

from __future__ import annotations

from typing import Any

from session_monitor.core.calendar import get_calendar
from session_monitor.core.feeds import FaultSchedule
from session_monitor.core.sources.faulty import FaultySource
from session_monitor.gui.alerts_dock import SEGMENT_COLUMN
from tests.gui.gui_helpers import SESSION_DATE, FakeSource, add_and_wait


def test_a_pre_market_stale_alert_names_its_segment(qtbot: Any, qtmodeltester: Any, make_window: Any) -> None:
    calendar = get_calendar("XNYS", hours="extended")
    session = calendar.session(SESSION_DATE)
    silent = FaultSchedule(silences=((session.open + 3600, session.open + 5400),))  # 05:00-05:30 New York
    h = make_window(source=FaultySource(FakeSource(), {"SPY": silent}), speed=None, cal=calendar, sessions=[session],
                    hours="extended")
    window = h.window
    add_and_wait(qtbot, window, "SPY", "1m,5m")
    dock = window.alerts_dock
    qtmodeltester.check(dock.model, force_py=True)
    assert dock.view.isColumnHidden(SEGMENT_COLUMN)
    h.coordinator.step(session.open + 7200)  # 06:00: stale from 05:04, live again at 05:30
    window.flush()

    rows = [[dock.model.index(r, c).data() for c in range(dock.model.columnCount())]
            for r in range(dock.model.rowCount())]
    assert rows == [["05:04:00", "SPY", "", "stale", "start", "5", "pre-market"],
                    ["05:30:00", "SPY", "", "stale", "clear", "1560.0", "pre-market"]]
    assert not dock.view.isColumnHidden(SEGMENT_COLUMN)
    assert window.notifier.notified == ["SPY stale started 05:04:00 pre-market (5)"]
    dock.filter.setText("after-hours")
    assert dock.proxy.rowCount() == 0
    dock.filter.setText("pre-market")
    assert dock.proxy.rowCount() == 2
