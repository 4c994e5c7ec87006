"""The compact watchlist: one row per symbol, sorted by any column, filtered, intervals on demand."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from session_monitor.core.calendar import Session
from session_monitor.core.session_data import SessionData
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.tree_model import PENDING, Column, SessionTreeModel
from session_monitor.gui.watchlist import COMPACT_COLUMNS, CompactWatchlist, WatchlistProxy
from tests.gui.gui_helpers import Streamer, fake_bars


def _watch(streamer: Streamer, session: Session, counts: dict[str, int], holes: dict[str, set[int]]) -> None:
    for symbol, count in counts.items():
        streamer.add(symbol, ("5m", "15m"))
        streamer.stream(symbol, fake_bars(symbol, session, holes.get(symbol, set()), count=count))


def _column(widget: CompactWatchlist, column: int) -> list[str]:
    proxy = widget.proxy
    return [proxy.index(row, column).data() for row in range(proxy.rowCount())]


def test_the_proxy_passes_qtmodeltester_through_add_stream_sort_filter_remove(
    qtmodeltester: Any, session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = SessionTreeModel(session_data, SessionBridge(session_data))
    proxy = WatchlistProxy(model)
    qtmodeltester.check(proxy, force_py=True)
    _watch(streamer, session, {"SPY": 12, "MSFT": 20}, {"MSFT": {3}})
    model.flush()
    proxy.sort(Column.GAPS, Qt.SortOrder.DescendingOrder)
    streamer.stream("SPY", fake_bars("SPY", session, count=14).take(slice(12, 14)))
    model.flush()
    proxy.setFilterFixedString("ms")
    assert proxy.rowCount() == 1
    proxy.setFilterFixedString("")
    session_data.remove_symbol("SPY")
    model.flush()
    assert proxy.rowCount() == 1


def test_compact_rows_sort_by_any_column_and_filter(
    qtbot: Any, session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = SessionTreeModel(session_data, SessionBridge(session_data))
    widget = CompactWatchlist(model)
    qtbot.addWidget(widget)
    resets: list[bool] = []
    widget.proxy.modelAboutToBeReset.connect(lambda: resets.append(True))
    # the same minute for all (as a coordinator pass); MSFT misses 4 bars, AAPL 1
    _watch(streamer, session, {"SPY": 30, "MSFT": 30, "AAPL": 30}, {"MSFT": {3, 4, 10, 11}, "AAPL": {7}})
    model.flush()

    # one row per symbol, by symbol at first; the columns a trader reads
    assert widget.symbols() == ["AAPL", "MSFT", "SPY"]
    header = widget.view.header()
    order = [header.logicalIndex(v) for v in range(header.count())]
    shown = [column for column in order if not header.isSectionHidden(column)]
    assert shown == list(COMPACT_COLUMNS)
    assert [widget.proxy.headerData(c, Qt.Orientation.Horizontal) for c in shown] == [
        "Symbol", "Last", "Chg %", "Quality %", "Gaps", "Health", "Last bar", "Bars",
    ]
    spy = session_data.get_symbol_data("SPY")
    assert spy is not None
    assert widget.proxy.index(2, Column.LAST).data() == f"{spy.base.data.close[-1]:,.2f}"
    expected_change = 100 * (spy.base.data.close[-1] / spy.base.data.open[0] - 1)
    assert widget.proxy.index(2, Column.CHANGE).data() == f"{expected_change:+.2f}"

    # sorted by quality (numbers, not text): worst first
    widget.view.sortByColumn(Column.WORST, Qt.SortOrder.AscendingOrder)
    assert widget.symbols() == ["MSFT", "AAPL", "SPY"]
    worst = [float(q) for q in _column(widget, Column.WORST)]
    assert worst == sorted(worst) and worst[-1] == 100.0
    # by gaps, most first
    widget.view.sortByColumn(Column.GAPS, Qt.SortOrder.DescendingOrder)
    assert _column(widget, Column.GAPS) == ["2", "1", "0"] and widget.symbols() == ["MSFT", "AAPL", "SPY"]
    # by last price
    widget.view.sortByColumn(Column.LAST, Qt.SortOrder.AscendingOrder)
    lasts = [float(v.replace(",", "")) for v in _column(widget, Column.LAST)]
    assert lasts == sorted(lasts)

    # filter on the symbol; an expanded symbol keeps all its intervals
    widget.filter_edit.setText("sp")
    assert widget.symbols() == ["SPY"]
    spy_row = widget.proxy.index(0, 0)
    assert widget.proxy.rowCount(spy_row) == 3
    assert not widget.view.isExpanded(spy_row)  # intervals on demand
    widget.view.expand(spy_row)
    assert [widget.proxy.index(r, 0, spy_row).data() for r in range(3)] == ["1m", "5m", "15m"]
    widget.filter_edit.clear()
    assert len(widget.symbols()) == 3

    # live updates re-sort incrementally, never with a reset
    widget.view.sortByColumn(Column.BARS, Qt.SortOrder.DescendingOrder)
    streamer.add("QQQ", ("5m",))
    streamer.stream("QQQ", fake_bars("QQQ", session, count=31))
    model.flush()
    assert widget.symbols()[0] == "QQQ"
    session_data.remove_symbol("MSFT")
    model.flush()
    assert "MSFT" not in widget.symbols() and len(widget.symbols()) == 3
    assert not resets


def test_bars_column_fits_six_digits(qtbot: Any, session_data: SessionData) -> None:
    model = SessionTreeModel(session_data, SessionBridge(session_data))
    widget = CompactWatchlist(model)
    qtbot.addWidget(widget)
    metrics = widget.view.fontMetrics()
    assert widget.view.columnWidth(Column.BARS) >= metrics.horizontalAdvance("999999")


def test_a_symbol_being_loaded_shows_pending_not_a_red_zero(
    session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = SessionTreeModel(session_data, SessionBridge(session_data))
    model.expect_load("ibm")
    streamer.add("IBM", ("5m",))
    streamer.tick(session.open + 600)  # a pass measures it before its bars are in: 0 %, 1 gap
    model.flush()
    ibm = model.index(0, 0)
    assert session_data.get_symbol_data("IBM").base.quality == 0.0  # type: ignore[union-attr]
    for column in (Column.QUALITY, Column.GAPS, Column.WORST):
        assert model.index(0, column).data() == PENDING
        assert model.index(0, column).data(Qt.ItemDataRole.ForegroundRole) is None
    assert model.index(0, Column.QUALITY, ibm).data() == PENDING
    # the session so far arrives: real figures
    streamer.stream("IBM", fake_bars("IBM", session, count=10))
    model.flush()
    assert model.index(0, Column.QUALITY).data() == "100.0"


def test_a_symbol_whose_load_brought_nothing_shows_its_real_figures_once_settled(
    session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = SessionTreeModel(session_data, SessionBridge(session_data))
    model.expect_load("IBM")
    streamer.add("IBM", ("5m",))
    streamer.tick(session.open + 600)
    model.flush()
    assert model.index(0, Column.GAPS).data() == PENDING
    model.settle("IBM")
    model.flush()
    assert model.index(0, Column.QUALITY).data() == "0.0" and model.index(0, Column.GAPS).data() == "1"
    assert QModelIndex() == model.parent(model.index(0, 0))
