"""The tree model mirrors SessionData through add, streaming, session change and removal."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.session_data import SessionData, SymbolSessionData
from session_monitor.gui import theme
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.tree_model import COLUMNS, Column, SessionTreeModel
from tests.gui.gui_helpers import ONE_MINUTE, Streamer, assert_model_synced, fake_bars


def make_model(session_data: SessionData) -> SessionTreeModel:
    return SessionTreeModel(session_data, SessionBridge(session_data))


def test_model_stays_valid_and_synced_through_add_stream_remove(
    qtmodeltester: Any, session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    # Arrange: the tester watches the model before the first change
    model = make_model(session_data)
    resets: list[bool] = []
    model.modelAboutToBeReset.connect(lambda: resets.append(True))
    qtmodeltester.check(model, force_py=True)
    assert_model_synced(model, session_data)

    # Act + Assert after every step
    streamer.add("SPY")
    assert_model_synced(model, session_data)
    streamer.add("AAPL", ("5m", "15m", "1h"))
    assert_model_synced(model, session_data)
    spy = fake_bars("SPY", session, count=40)
    aapl = fake_bars("AAPL", session, holes={3, 4, 20}, count=60)
    for i in range(0, 40, 7):  # bursts of bars, like a coordinator tick
        streamer.stream("SPY", spy.take(slice(i, i + 7)))
        assert_model_synced(model, session_data)
    streamer.stream("AAPL", aapl)
    assert_model_synced(model, session_data)
    session_data.remove_symbol("SPY")
    assert_model_synced(model, session_data)
    streamer.add("MSFT", ("5m",))
    streamer.stream("MSFT", fake_bars("MSFT", session, count=12))
    assert_model_synced(model, session_data)
    session_data.remove_symbol("MSFT")
    session_data.remove_symbol("AAPL")
    assert_model_synced(model, session_data)
    assert model.rowCount() == 0
    assert not resets, "the model must never reset while streaming"


def test_bar_updates_are_coalesced_into_few_data_changed(
    qtbot: Any, session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = make_model(session_data)
    streamer.add("SPY")
    changes: list[tuple[QModelIndex, QModelIndex, list[Any]]] = []
    model.dataChanged.connect(lambda a, b, roles: changes.append((a, b, list(roles))))
    bars = fake_bars("SPY", session, count=50)

    for i in range(50):  # fifty single-bar updates in quick succession
        streamer.stream("SPY", bars.take(slice(i, i + 1)))
    assert changes == []  # nothing yet: the timer coalesces
    qtbot.waitUntil(lambda: len(changes) > 0, timeout=1000)

    assert len(changes) == 2  # the symbol row, then its interval rows as one range
    (top_left, bottom_right, roles), (child_tl, child_br, _) = changes
    assert top_left.row() == bottom_right.row() == 0 and not top_left.parent().isValid()
    assert child_tl.parent() == model.index(0, 0) and child_br.row() == 2
    assert child_br.column() == len(COLUMNS) - 1
    assert Qt.ItemDataRole.DisplayRole in roles and Qt.ItemDataRole.ForegroundRole in roles
    assert model.index(0, Column.BARS, model.index(0, 0)).data() == "50"


def test_new_session_updates_rows_without_reset(
    session_data: SessionData, streamer: Streamer, session: Session, calendar: Any
) -> None:
    model = make_model(session_data)
    streamer.add("SPY")
    streamer.stream("SPY", fake_bars("SPY", session, count=30))
    resets: list[bool] = []
    changed: list[int] = []
    model.modelAboutToBeReset.connect(lambda: resets.append(True))
    model.dataChanged.connect(lambda a, b, roles: changed.append(a.row()))
    persistent = QPersistentModelIndex(model.index(1, 0, model.index(0, 0)))

    next_session = calendar.session(session.date.replace(day=29))
    session_data.start_session(next_session)

    assert not resets and changed
    assert persistent.isValid() and persistent.data() == "5m"
    assert model.index(0, Column.BARS, model.index(0, 0)).data() == "0"
    assert_model_synced(model, session_data)


def test_gap_tooltip_lists_missing_ranges_in_exchange_time(
    session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = make_model(session_data)
    streamer.add("SPY")
    streamer.stream("SPY", fake_bars("SPY", session, holes={3, 4, 10}, count=30))
    base = model.index(0, Column.GAPS, model.index(0, 0))

    tip = base.data(Qt.ItemDataRole.ToolTipRole)

    assert base.data() == "2"
    assert tip.splitlines() == ["2 gaps, 3 missing bars", "09:33–09:35 (2 bars)", "09:40–09:41 (1 bar)"]


def test_gap_tooltip_is_capped(session_data: SessionData, streamer: Streamer, session: Session) -> None:
    model = make_model(session_data)
    streamer.add("SPY")
    holes = set(range(1, 90, 2))  # 45 single-bar gaps
    streamer.stream("SPY", fake_bars("SPY", session, holes=holes, count=92))

    lines = model.index(0, Column.GAPS, model.index(0, 0)).data(Qt.ItemDataRole.ToolTipRole).splitlines()

    assert len(lines) == 1 + 30 + 1
    assert lines[-1] == "… and 15 more"


def test_quality_is_coloured_and_dashed_before_the_first_window(
    session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = make_model(session_data)
    streamer.add("SPY", ("5m", "1h"))
    # 1m: 2 of 40 missing = 95 %; 5m: windows all hold a bar = 100 %; 1h: not elapsed yet
    streamer.stream("SPY", fake_bars("SPY", session, holes={5, 6}, count=40))
    symbol = model.index(0, 0)

    def cell(row: int) -> QModelIndex:
        return model.index(row, Column.QUALITY, symbol)

    assert cell(0).data() == "95.0"
    assert cell(0).data(Qt.ItemDataRole.ForegroundRole).color() == theme.QUALITY_WARN
    assert cell(2).data() == "—"
    assert cell(2).data(Qt.ItemDataRole.ForegroundRole) is None
    streamer.add("QQQ", ("5m",))
    streamer.stream("QQQ", fake_bars("QQQ", session, count=10))
    qqq = model.index(0, Column.QUALITY, model.index(1, 0))
    assert qqq.data(Qt.ItemDataRole.ForegroundRole).color() == theme.QUALITY_GOOD
    streamer.add("IWM", ("5m",))
    streamer.stream("IWM", fake_bars("IWM", session, holes={1, 2, 3}, count=20))
    iwm = model.index(0, Column.QUALITY, model.index(2, 0))
    assert iwm.data() == "85.0"
    assert iwm.data(Qt.ItemDataRole.ForegroundRole).color() == theme.QUALITY_BAD


def test_indices_carry_kept_alive_objects_not_ints(session_data: SessionData, streamer: Streamer) -> None:
    model = make_model(session_data)
    streamer.add("SPY")
    streamer.add("AAPL")
    child = QPersistentModelIndex(model.index(0, 0, model.index(1, 0)))

    assert not isinstance(model.index(0, 0, model.index(0, 0)).internalPointer(), int)
    session_data.remove_symbol("SPY")  # the row above moves up

    assert child.isValid()
    assert child.parent().row() == 0 and child.parent().data() == "AAPL"
    session_data.remove_symbol("AAPL")
    assert not child.isValid()


def _shown(model: SessionTreeModel) -> dict[tuple[int, int, int], tuple[Any, ...]]:
    """(symbol row, interval row or -1, column) -> (text, colour name, tooltip) of every cell."""
    cells: dict[tuple[int, int, int], tuple[Any, ...]] = {}

    def read(index: QModelIndex) -> tuple[Any, ...]:
        brush = index.data(Qt.ItemDataRole.ForegroundRole)
        return index.data(), None if brush is None else brush.color().name(), index.data(Qt.ItemDataRole.ToolTipRole)

    for row in range(model.rowCount()):
        parent = model.index(row, 0)
        for column in range(len(COLUMNS)):
            cells[(row, -1, column)] = read(model.index(row, column))
            for child in range(model.rowCount(parent)):
                cells[(row, child, column)] = read(model.index(child, column, parent))
    return cells


def test_every_cell_that_shows_something_new_is_signalled(
    session_data: SessionData, streamer: Streamer, session: Session, calendar: Any
) -> None:
    # Arrange: three symbols, gaps, a feed outage, a silent "source ended" note, a new session
    model = make_model(session_data)
    streamer.add("SPY", ("5m", "15m", "1h"))
    streamer.add("AAPL", ("5m",))
    streamer.add("QQQ", ("15m",))
    bars = {s: fake_bars(s, session, holes={7, 8, 31}, count=70) for s in ("SPY", "AAPL", "QQQ")}
    signalled: list[tuple[int, int, int, int, int]] = []  # (symbol row or -1, top, bottom, left, right)

    def on_changed(top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any) -> None:
        assert top_left.parent() == bottom_right.parent()
        parent = top_left.parent()
        signalled.append(
            (parent.row() if parent.isValid() else -1, top_left.row(), bottom_right.row(),
             top_left.column(), bottom_right.column())
        )

    def covered(symbol_row: int, child: int, column: int) -> bool:
        for parent, top, bottom, left, right in signalled:
            if child < 0 and parent == -1 and top <= symbol_row <= bottom and left <= column <= right:
                return True
            if child >= 0 and parent == symbol_row and top <= child <= bottom and left <= column <= right:
                return True
        return False

    model.dataChanged.connect(on_changed)
    def stream(i: int) -> None:  # three bars each; QQQ's source stops after 42
        for symbol, series in bars.items():
            if symbol != "QQQ" or i < 40:
                streamer.stream(symbol, series.take(slice(i, i + 3)))

    steps: list[Any] = []
    for i in range(0, 70, 3):
        steps.append(lambda i=i: stream(i))
        if i == 21:
            steps.append(lambda: model._bridge.feed_changed.emit("AAPL", False))
        if i == 30:
            steps.append(lambda: model._bridge.feed_changed.emit("AAPL", True))
        if i == 45:  # the coordinator notes a source's end silently, then releases its last bars
            notes = session_data.get_symbol_data("QQQ").notes  # type: ignore[union-attr]
            steps.append(
                lambda notes=notes: (
                    setattr(notes, "ended_at", float(session.open + 45 * 60)),
                    streamer.stream("QQQ", bars["QQQ"].take(slice(42, 45))),
                )
            )
    steps.append(lambda: session_data.start_session(calendar.session(session.date.replace(day=29))))
    model.flush()
    before = _shown(model)

    for step in steps:
        # Act
        signalled.clear()
        step()
        model.flush()
        after = _shown(model)

        # Assert: whatever a cell shows anew lies in a signalled range
        stale = [key for key, value in after.items() if before.get(key) != value and not covered(*key)]
        assert not stale, f"cells changed without dataChanged: {[(k, before.get(k), after[k]) for k in stale[:3]]}"
        before = after


def test_rows_that_show_the_same_are_not_signalled(
    session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = make_model(session_data)
    streamer.add("SPY", ("5m", "15m", "1h"))
    bars = fake_bars("SPY", session, count=30)
    streamer.stream("SPY", bars.take(slice(0, 11)))
    model.flush()
    changes: list[tuple[QModelIndex, QModelIndex]] = []
    model.dataChanged.connect(lambda a, b, _roles: changes.append((a, b)))

    streamer.stream("SPY", bars.take(slice(11, 12)))  # 09:41: inside every derived window
    model.flush()

    symbol_rows = [(a.row(), b.row()) for a, b in changes if not a.parent().isValid()]
    interval_rows = [(a.row(), b.row()) for a, b in changes if a.parent().isValid()]
    assert symbol_rows == [(0, 0)]
    assert interval_rows == [(0, 0)]  # the 1m row only: 5m, 15m and 1h still show the same


def _signalled_cells(model: SessionTreeModel) -> list[tuple[int, int, int, int, int]]:
    """Every range the model signals from now on: (symbol row or -1, top, bottom, left, right)."""
    ranges: list[tuple[int, int, int, int, int]] = []

    def on_changed(top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any) -> None:
        parent = top_left.parent()
        ranges.append((parent.row() if parent.isValid() else -1, top_left.row(), bottom_right.row(),
                       top_left.column(), bottom_right.column()))

    model.dataChanged.connect(on_changed)
    return ranges


def _in_ranges(ranges: list[tuple[int, int, int, int, int]], index: QModelIndex) -> bool:
    parent = index.parent()
    key = parent.row() if parent.isValid() else -1
    return any(p == key and top <= index.row() <= bottom and left <= index.column() <= right
               for p, top, bottom, left, right in ranges)


def test_a_quality_that_drops_while_no_bar_arrives_shows_its_new_text(
    session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    # Arrange: ten bars from the open, all shown
    model = make_model(session_data)
    streamer.add("SPY", ("5m",))
    streamer.stream("SPY", fake_bars("SPY", session, count=10))
    model.flush()
    spy = model.index(0, 0)
    base_quality, base_gaps = model.index(0, Column.QUALITY, spy), model.index(0, Column.GAPS, spy)
    assert (base_quality.data(), base_gaps.data(), model.index(0, Column.BARS, spy).data()) == ("100.0", "0", "10")
    signalled = _signalled_cells(model)

    # Act: the feed falls silent; the clock reaches 09:45 (15 windows elapsed, 10 bars)
    streamer.tick(float(session.open + 15 * 60))
    model.flush()

    # Assert: the base row's count is unchanged, its quality and gaps are new, and shown
    assert model.index(0, Column.BARS, spy).data() == "10"
    assert (base_quality.data(), base_gaps.data()) == ("66.7", "1")
    assert model.index(0, Column.QUALITY).data() == "66.7"  # the symbol row summarises its base
    assert _in_ranges(signalled, base_quality) and _in_ranges(signalled, base_gaps)
    assert _in_ranges(signalled, model.index(0, Column.QUALITY))


def test_a_revised_newest_bar_shows_its_new_price_on_the_symbol_row(
    session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    # Arrange: ten bars from the open (the first opens at 100.00), all shown
    model = make_model(session_data)
    streamer.add("SPY", ("5m",))
    bars = fake_bars("SPY", session, count=10)
    streamer.stream("SPY", bars)
    model.flush()
    signalled = _signalled_cells(model)
    newest = bars.take(slice(9, 10))
    revised = BarArrays(newest.ts, newest.open, np.array([123.5]), newest.low, np.array([123.45]), newest.volume)

    # Act: the feed corrects its newest bar: same start, so the same count
    streamer.stream("SPY", revised)
    model.flush()

    # Assert: the symbol row's price and change read the corrected close
    last, change = model.index(0, Column.LAST), model.index(0, Column.CHANGE)
    assert model.index(0, Column.BARS).data() == "10"
    assert (last.data(), change.data()) == ("123.45", "+23.45")
    assert _in_ranges(signalled, last) and _in_ranges(signalled, change)


def test_symbols_added_while_inserts_are_held_arrive_in_one_insert(
    qtmodeltester: Any, session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    # Arrange: two symbols already rows, the tester watching
    model = make_model(session_data)
    qtmodeltester.check(model, force_py=True)
    streamer.add("SPY")
    streamer.add("QQQ")
    inserts: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda parent, first, last: inserts.append((first, last)))
    changes: list[QModelIndex] = []
    model.dataChanged.connect(lambda top_left, _bottom_right, _roles: changes.append(top_left))

    # Act: a watchlist of 40 added while held, streaming meanwhile
    model.hold_inserts()
    names = [f"S{k:02d}" for k in range(40)]
    for name in names:
        streamer.add(name)
    streamer.stream("S05", fake_bars("S05", session, count=3))
    streamer.stream("SPY", fake_bars("SPY", session, count=3))
    model.flush()

    # Assert: until released the views see only the first two; then all 40 at once, in order
    assert inserts == []
    assert model.rowCount() == 2
    assert not model.symbol_index("S05").isValid() and not model.interval_index("S05", "1m").isValid()
    signalled = {index.parent().row() if index.parent().isValid() else index.row() for index in changes}
    assert 0 in signalled and signalled <= {0, 1}  # SPY streamed; nothing of a held symbol
    model.release_inserts()
    assert inserts == [(2, 41)]
    assert [model.index(row, 0).data() for row in range(model.rowCount())] == ["SPY", "QQQ", *names]
    assert model.index(model.symbol_index("S05").row(), Column.BARS).data() == "3"
    assert_model_synced(model, session_data)


def test_a_removal_or_a_middle_insert_while_held_first_inserts_what_is_held(
    qtmodeltester: Any, session_data: SessionData, streamer: Streamer, session: Session
) -> None:
    model = make_model(session_data)
    qtmodeltester.check(model, force_py=True)
    streamer.add("SPY")
    inserts: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda parent, first, last: inserts.append((first, last)))
    model.hold_inserts()
    streamer.add("AAPL")
    streamer.add("MSFT")

    session_data.remove_symbol("SPY")  # rows below move up: the views must know them first
    assert inserts == [(1, 2)]
    assert [model.index(row, 0).data() for row in range(model.rowCount())] == ["AAPL", "MSFT"]

    streamer.add("QQQ")  # held again
    first = SymbolSessionData.create("IBM", ONE_MINUTE, [], session)
    session_data.register_symbol_data(first, row=0)  # not an append: QQQ goes in first, then IBM at 0
    assert inserts == [(1, 2), (2, 2), (0, 0)]
    assert model.rowCount() == 4
    streamer.add("TSLA")
    model.release_inserts()
    assert inserts == [(1, 2), (2, 2), (0, 0), (4, 4)]
    assert_model_synced(model, session_data)
