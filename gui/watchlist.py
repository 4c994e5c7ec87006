"""The compact watchlist: one row per symbol, sortable by any column, filterable.

What TradingView and Sierra Chart call a watchlist: symbol, last price, change, the
worst quality among its intervals, gaps, feed health, last bar and bar count on one row,
intervals folded away until the row is expanded. It is a QSortFilterProxyModel over the
same SessionTreeModel the detailed tree shows (no second copy of anything): the proxy
sorts on the model's SORT_ROLE (numbers, not text) and filters symbol rows only, so an
expanded symbol keeps all its intervals.

While the detailed tree is shown the watchlist is :meth:`CompactWatchlist.set_active`
False: the proxy then keeps its rows in place instead of re-sorting and re-filtering on
every refresh (at 500 symbols each refresh asked the model for ~1,000 sort keys of a view
nobody sees) and sorts once when it is shown again.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from session_monitor.gui.tree_model import SORT_ROLE, Column, SessionTreeModel
from session_monitor.gui.tree_view import FIT_ROWS

__all__ = ["COMPACT_COLUMNS", "CompactWatchlist", "WatchlistProxy"]

AnyIndex = QModelIndex | QPersistentModelIndex

#: the compact watchlist's columns, in the order shown (the others are hidden)
COMPACT_COLUMNS = (
    Column.INTERVAL, Column.LAST, Column.CHANGE, Column.WORST, Column.GAPS, Column.HEALTH, Column.LAST_BAR, Column.BARS,
)
_HEADERS = {Column.INTERVAL: "Symbol", Column.WORST: "Quality %"}
#: widest text a column must fit without eliding (the Bars column: six digits)
_FIT = {Column.BARS: "000000", Column.LAST: "00,000.00"}


class WatchlistProxy(QSortFilterProxyModel):
    """Sorts symbols by any column (numerically where it is a number), filters by symbol."""

    def __init__(self, source: SessionTreeModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(Column.INTERVAL)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if source_parent.isValid():
            return True  # an interval row goes with its symbol
        return super().filterAcceptsRow(source_row, source_parent)

    def lessThan(self, left: AnyIndex, right: AnyIndex) -> bool:
        if left.parent().isValid():  # intervals keep their own order, whichever way symbols sort
            return (left.row() < right.row()) == (self.sortOrder() == Qt.SortOrder.AscendingOrder)
        return super().lessThan(left, right)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and section in _HEADERS:
            return _HEADERS[section]
        return super().headerData(section, orientation, role)


class CompactWatchlist(QWidget):
    """A filter field over a sortable one-row-per-symbol view of the session tree."""

    def __init__(self, model: SessionTreeModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.proxy = WatchlistProxy(model, self)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter symbols")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.view = QTreeView(self)
        self.view.setObjectName("compactWatchlist")
        self.view.setModel(self.proxy)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setIndentation(14)  # intervals are one level deep: a narrow indent leaves room for the figures
        self.view.setSortingEnabled(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(FIT_ROWS)
        for column in range(model.columnCount()):
            if column not in COMPACT_COLUMNS:
                header.hideSection(column)
        for position, column in enumerate(COMPACT_COLUMNS):
            header.moveSection(header.visualIndex(column), position)
        self.view.sortByColumn(Column.INTERVAL, Qt.SortOrder.AscendingOrder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.view, 1)
        self.fit_columns()

    @property
    def active(self) -> bool:
        return self.proxy.dynamicSortFilter()

    def set_active(self, active: bool) -> None:
        """Keep sorted and filtered while rows change (shown), or not (hidden: sorted once when
        activated again; the rows never leave the proxy, so selection and expansion stay)."""
        if active != self.proxy.dynamicSortFilter():
            self.proxy.setDynamicSortFilter(active)  # enabling sorts by the current column

    def symbols(self) -> list[str]:
        """Symbols in the order shown (sorted and filtered)."""
        return [self.proxy.index(row, 0).data() for row in range(self.proxy.rowCount())]

    def fit_columns(self) -> None:
        """Size the columns to their contents, never narrower than their widest expected value."""
        metrics = QFontMetrics(self.view.font())
        for column in COMPACT_COLUMNS:
            self.view.resizeColumnToContents(column)
            sample = _FIT.get(column)
            if sample is not None:
                need = metrics.horizontalAdvance(sample) + 12
                if self.view.columnWidth(column) < need:
                    self.view.setColumnWidth(column, need)

    def map_from_model(self, index: QModelIndex) -> QModelIndex:
        return self.proxy.mapFromSource(index)
