"""The symbol tree's view: what the user sees after streaming, and what a refresh repaints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QPoint, Qt
from PySide6.QtGui import QFontMetrics, QImage, QRegion
from PySide6.QtWidgets import QAbstractItemView, QApplication, QTreeView

from session_monitor.core.calendar import Session
from session_monitor.core.session_data import SessionData
from session_monitor.gui import theme
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.tree_model import COLUMNS, COMPACT_ONLY, Column, SessionTreeModel
from session_monitor.gui.tree_view import SessionTreeView
from tests.gui.gui_helpers import Streamer, fake_bars


class PaintLog(QObject):
    """Records the region of every paint event a viewport gets."""

    def __init__(self, widget: Any) -> None:
        super().__init__()
        self.regions: list[QRegion] = []
        widget.installEventFilter(self)

    def eventFilter(self, watched: Any, event: Any) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.regions.append(QRegion(event.region()))
        return False

    def painted(self, view: QTreeView, index: QModelIndex) -> bool:
        rect = view.visualRect(index)
        return any(region.intersects(rect) for region in self.regions)


def set_up(view: QTreeView, model: SessionTreeModel, size: tuple[int, int] = (1100, 400)) -> QTreeView:
    """As MainWindow sets up its tree (wide enough for every column at Qt's default 100 px, so
    no horizontal scroll bar comes and goes, repainting everything, once they are fitted)."""
    view.setModel(model)
    view.setUniformRowHeights(True)
    view.setAlternatingRowColors(True)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.header().setStretchLastSection(False)
    view.resize(*size)
    view.show()
    view.expandAll()
    for column in range(model.columnCount()):
        view.resizeColumnToContents(column)
    for column in COMPACT_ONLY:
        view.hideColumn(column)
    QApplication.processEvents()
    return view


@pytest.fixture
def model(qapp: QApplication, session_data: SessionData) -> Iterator[SessionTreeModel]:
    theme.apply_dark_palette(qapp)
    yield SessionTreeModel(session_data, SessionBridge(session_data))


@pytest.fixture
def views(qtbot: Any) -> Iterator[list[QTreeView]]:
    made: list[QTreeView] = []
    yield made
    for view in made:
        view.close()
        view.deleteLater()


def make_view(views: list[QTreeView], model: SessionTreeModel, cls: type = SessionTreeView, **kw: Any) -> Any:
    view = set_up(cls(), model, **kw)
    views.append(view)
    return view


def fill(streamer: Streamer, session: Session, model: SessionTreeModel, symbols: list[str], bars: int = 20) -> None:
    for symbol in symbols:
        streamer.add(symbol, ("5m", "15m"))
        streamer.stream(symbol, fake_bars(symbol, session, count=bars))
    model.flush()


def row_image(view: QTreeView, index: QModelIndex) -> QImage:
    rect = view.visualRect(index)
    return view.viewport().grab().toImage().copy(0, rect.y(), view.viewport().width(), rect.height())


def test_cell_answers_what_data_answers(
    model: SessionTreeModel, streamer: Streamer, session: Session, session_data: SessionData
) -> None:
    fill(streamer, session, model, ["SPY", "QQQ"])
    streamer.add("EMPTY", ("5m",))  # nothing streamed yet: dashes, no colour
    model._bridge.feed_changed.emit("QQQ", False)  # the disconnected note is red
    model.flush()
    parents = [QModelIndex()] + [model.index(r, 0) for r in range(model.rowCount())]
    seen = 0
    for parent in parents:
        for row in range(model.rowCount(parent)):
            for column in range(model.columnCount()):
                index = model.index(row, column, parent)
                brush = index.data(Qt.ItemDataRole.ForegroundRole)
                assert model.cell(index) == (
                    index.data() or "",
                    None if brush is None else brush.color(),
                    index.data(Qt.ItemDataRole.TextAlignmentRole),
                )
                seen += 1
    assert seen == (3 + 2 * 3 + 2) * len(COLUMNS)


def test_renders_exactly_like_a_plain_tree_view(
    views: list[QTreeView], model: SessionTreeModel, streamer: Streamer, session: Session
) -> None:
    fill(streamer, session, model, ["SPY", "QQQ", "IWM", "DIA"], bars=90)
    model._bridge.feed_changed.emit("QQQ", False)
    model.flush()
    plain, ours = make_view(views, model, QTreeView), make_view(views, model)
    for view in (plain, ours):
        view.setColumnWidth(Column.LAST_BAR, 30)  # elided
        view.collapse(model.index(2, 0))
        view.selectionModel().setCurrentIndex(
            model.index(1, Column.BARS, model.index(0, 0)),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
        )
    QApplication.processEvents()
    expected, got = plain.viewport().grab().toImage(), ours.viewport().grab().toImage()
    assert got == expected


def test_plain_cells_are_painted_without_asking_data(
    views: list[QTreeView], model: SessionTreeModel, streamer: Streamer, session: Session, monkeypatch: Any
) -> None:
    fill(streamer, session, model, ["SPY", "QQQ"])
    view = make_view(views, model)
    asked: list[int] = []
    original = SessionTreeModel.data

    def counting(self: SessionTreeModel, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        asked.append(role)
        return original(self, index, role)

    monkeypatch.setattr(SessionTreeModel, "data", counting)
    view.viewport().repaint()
    assert not asked  # nothing selected or focused: every cell came from one cell() call


def test_a_flush_repaints_the_changed_rows_with_the_new_values(
    views: list[QTreeView], model: SessionTreeModel, streamer: Streamer, session: Session
) -> None:
    fill(streamer, session, model, ["QQQ"], bars=20)
    fill(streamer, session, model, ["SPY"], bars=19)  # a bar behind: catching up moves no clock for QQQ
    view = make_view(views, model)
    qqq, qqq_1m = model.index(0, 0), model.index(0, 0, model.index(0, 0))
    spy, spy_1m = model.index(1, 0), model.index(0, 0, model.index(1, 0))
    before = {k: row_image(view, k) for k in (spy, spy_1m, qqq, qqq_1m)}
    log = PaintLog(view.viewport())

    streamer.stream("SPY", fake_bars("SPY", session, count=20).take(slice(19, 20)))
    model.flush()
    QApplication.processEvents()

    assert log.painted(view, spy_1m)
    assert not log.painted(view, qqq) and not log.painted(view, qqq_1m)  # QQQ did not change
    assert model.index(0, Column.BARS, spy).data() == "20"
    assert row_image(view, spy_1m) != before[spy_1m]  # the new bar count is on screen
    assert row_image(view, spy) != before[spy]
    assert row_image(view, qqq) == before[qqq]
    assert row_image(view, qqq_1m) == before[qqq_1m]


def test_selection_and_current_row_survive_a_flush(
    qtbot: Any, views: list[QTreeView], model: SessionTreeModel, streamer: Streamer, session: Session
) -> None:
    fill(streamer, session, model, ["SPY", "QQQ"])
    view = make_view(views, model)
    target = model.index(1, Column.INTERVAL, model.index(1, 0))  # QQQ 5m
    view.setFocus()
    view.selectionModel().setCurrentIndex(
        target, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    )
    streamer.stream("QQQ", fake_bars("QQQ", session, count=40).take(slice(20, 40)))
    model.flush()
    QApplication.processEvents()
    assert view.currentIndex() == target
    assert view.selectionModel().isRowSelected(1, model.index(1, 0))
    # the keyboard still moves and folds from there
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.currentIndex().data() == "15m"
    qqq = model.index(1, 0)
    for _ in range(3):  # Left walks out to the parent (the first press may scroll sideways)
        if view.currentIndex().siblingAtColumn(0) == qqq:
            break
        qtbot.keyClick(view, Qt.Key.Key_Left)
    assert view.currentIndex().siblingAtColumn(0) == qqq
    qtbot.keyClick(view, Qt.Key.Key_Left)  # folds it
    assert not view.isExpanded(qqq)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.isExpanded(qqq)


def test_collapsed_and_scrolled_off_rows_are_not_repainted(
    views: list[QTreeView], model: SessionTreeModel, streamer: Streamer, session: Session
) -> None:
    symbols = [f"S{k:02d}" for k in range(30)]  # 120 rows: most are below the viewport
    for symbol in symbols:
        streamer.add(symbol, ("5m", "15m"))
    # S00 and S29 are behind the others, so that catching up moves no clock for the others
    # (their rows stay as they are)
    for k, symbol in enumerate(symbols):
        streamer.stream(symbol, fake_bars(symbol, session, count=19 if k == 0 else 18 if k == 29 else 20))
    model.flush()
    view = make_view(views, model, size=(900, 300))
    view.collapse(model.index(0, 0))
    QApplication.processEvents()
    log = PaintLog(view.viewport())

    streamer.stream("S29", fake_bars("S29", session, count=19).take(slice(18, 19)))  # far below
    model.flush()
    QApplication.processEvents()
    assert log.regions == []

    streamer.stream("S00", fake_bars("S00", session, count=20).take(slice(19, 20)))  # folded
    model.flush()
    QApplication.processEvents()
    s00, s01 = model.index(0, 0), model.index(1, 0)
    assert log.painted(view, s00)
    assert not log.painted(view, s01)
    assert sum(region.boundingRect().height() for region in log.regions) == view.visualRect(s00).height()

    # scrolled to the bottom, the same symbol far below is repainted where it now is
    view.scrollToBottom()
    QApplication.processEvents()
    log.regions.clear()
    streamer.stream("S29", fake_bars("S29", session, count=20).take(slice(19, 20)))
    model.flush()
    QApplication.processEvents()
    s29_1m = model.index(0, 0, model.index(29, 0))
    assert view.visualRect(s29_1m).intersects(view.viewport().rect())
    assert log.painted(view, s29_1m)
    assert model.index(0, Column.BARS, model.index(29, 0)).data() == "20"


def test_rows_that_moved_are_repainted_where_they_are_now(
    views: list[QTreeView], model: SessionTreeModel, streamer: Streamer, session: Session, session_data: SessionData
) -> None:
    fill(streamer, session, model, ["SPY", "QQQ", "IWM"])
    view = make_view(views, model)
    QApplication.processEvents()
    log = PaintLog(view.viewport())
    session_data.remove_symbol("SPY")  # every row below moves up: no event-loop pass in between
    streamer.stream("IWM", fake_bars("IWM", session, count=21).take(slice(20, 21)))
    model.flush()
    QApplication.processEvents()
    iwm = model.symbol_index("IWM")
    assert iwm.row() == 1
    assert log.painted(view, model.index(0, 0, iwm))

    log.regions.clear()
    streamer.add("AAA", ("5m",))  # a new last symbol, streamed in the same pass
    streamer.stream("AAA", fake_bars("AAA", session, count=5))
    model.flush()
    QApplication.processEvents()
    aaa = model.symbol_index("AAA")
    view.expand(aaa)
    QApplication.processEvents()
    assert log.painted(view, aaa)
    assert view.indexAt(view.visualRect(aaa).center()) == aaa
    assert model.index(0, Column.BARS, aaa).data() == "5"


def test_resize_column_to_contents_fits_the_widest_text(
    views: list[QTreeView], model: SessionTreeModel, streamer: Streamer, session: Session
) -> None:
    fill(streamer, session, model, ["SPY", "A_RATHER_LONG_SYMBOL_NAME"])
    model._bridge.feed_changed.emit("SPY", False)
    model.flush()
    plain, ours = make_view(views, model, QTreeView), make_view(views, model)
    metrics = QFontMetrics(ours.font())
    for column in range(model.columnCount()):
        assert ours.columnWidth(column) == plain.columnWidth(column)
    widest = max(metrics.horizontalAdvance(model.index(r, 0).data()) for r in range(model.rowCount()))
    assert ours.columnWidth(Column.INTERVAL) >= widest + ours.indentation()
    kind = metrics.horizontalAdvance("disconnected")
    assert ours.columnWidth(Column.KIND) >= kind


def test_uniform_row_heights_cannot_be_turned_off(qapp: QApplication) -> None:
    view = SessionTreeView()
    assert view.uniformRowHeights()
    with pytest.raises(ValueError):
        view.setUniformRowHeights(False)
    view.deleteLater()


def test_a_model_without_cell_is_painted_by_qt(views: list[QTreeView], qapp: QApplication) -> None:
    from PySide6.QtGui import QStandardItem, QStandardItemModel

    items = QStandardItemModel()
    items.appendRow([QStandardItem("x"), QStandardItem("y")])
    plain = set_up(QTreeView(), items)  # type: ignore[arg-type]
    ours = set_up(SessionTreeView(), items)  # type: ignore[arg-type]
    views.extend((plain, ours))
    assert ours.viewport().grab().toImage() == plain.viewport().grab().toImage()
    assert ours.indexAt(QPoint(5, 5)).data() == "x"
