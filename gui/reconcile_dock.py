"""Reconciliation in the GUI: load a vendor's bars, list the differing bars, mark them on the charts.

The comparison is core's (core/reconcile/): the bars the app holds are copied under the
session lock, compared off the event loop, and the differing bars fill a table; a click
on a row asks the window to show that bar. The windows of differing bars are published
per (symbol, interval) so the charts can mark them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from session_monitor.core.reconcile.compare import BarCheck, SeriesReport, Status
from session_monitor.core.reconcile.held import HeldBars, held_bars, reconcile_held
from session_monitor.core.reconcile.reference import ReferenceError, load_reference
from session_monitor.core.reconcile.windows import session_windows
from session_monitor.core.session_data import SessionData

__all__ = ["DifferencesModel", "Mismatch", "ReconcileDock", "mismatch_windows"]

_COLUMNS = ("Symbol", "Interval", "Bar start", "Status", "Differences", "Cause")
_Index = QModelIndex | QPersistentModelIndex


class Mismatch(dict[tuple[str, str], np.ndarray]):
    """``(symbol, interval) -> (n, 2)`` windows ``[start, end)`` of the differing bars."""


def mismatch_windows(reports: list[SeriesReport], sessions_of: dict[str, HeldBars]) -> Mismatch:
    """Where each differing bar's window lies (the reference's window, cut to the session)."""
    out = Mismatch()
    for report in reports:
        held = sessions_of.get(report.symbol)
        if held is None:
            continue
        labels, starts, ends = [], [], []
        for session in held.sessions:
            w = session_windows(session, report.interval, report.convention)
            labels.append(w.labels)
            starts.append(w.starts)
            ends.append(w.ends)
        label = np.concatenate(labels) if labels else np.empty(0, np.int64)
        start, end = (np.concatenate(starts), np.concatenate(ends)) if labels else (label, label)
        rows = []
        for check in report.differing:
            k = int(np.searchsorted(label, check.start))
            if k < len(label) and label[k] == check.start:
                rows.append((int(start[k]), int(end[k])))
        out[(report.symbol, report.interval.name)] = np.array(rows, np.int64).reshape(-1, 2)
    return out


class DifferencesModel(QAbstractTableModel):
    """One row per differing bar (never reset: a new result removes the old rows and inserts)."""

    def __init__(self, tz: str = "UTC", parent: Any = None) -> None:
        super().__init__(parent)
        self.tz = tz
        self._checks: list[BarCheck] = []

    @property
    def checks(self) -> list[BarCheck]:
        return list(self._checks)

    def set_checks(self, checks: list[BarCheck]) -> None:
        if self._checks:
            self.beginRemoveRows(QModelIndex(), 0, len(self._checks) - 1)
            self._checks = []
            self.endRemoveRows()
        if checks:
            self.beginInsertRows(QModelIndex(), 0, len(checks) - 1)
            self._checks = list(checks)
            self.endInsertRows()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._checks)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal and 0 <= section < len(
                _COLUMNS):
            return _COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._checks):
            return None
        check = self._checks[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(check, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{check.iso_start} UTC; our window holds {check.base_bars} of {check.expected} base bars"
        return None

    def _text(self, check: BarCheck, column: int) -> str:
        if column == 0:
            return check.symbol
        if column == 1:
            return check.interval.name
        if column == 2:
            return dt.datetime.fromtimestamp(check.start, ZoneInfo(self.tz)).strftime("%Y-%m-%d %H:%M")
        if column == 3:
            return check.status.value
        if column == 4:
            return ", ".join(f"{d.field} {d.ours:g} vs {d.reference:g}" for d in check.differences)
        if column == 5:
            return check.cause.value if check.cause is not None else ""
        return ""


class ReconcileDock(QDockWidget):
    """View → Reconciliation: load a reference, see the differing bars, click one to see it."""

    #: (symbol, interval, window start, window end) the user asked to see
    bar_requested = Signal(str, str, int, int)
    #: a :class:`Mismatch` for the charts to mark
    mismatches_changed = Signal(object)
    #: (list[SeriesReport]) a comparison finished (the alert engine's ``mismatch`` rule)
    reconciled = Signal(object)

    def __init__(self, session_data: SessionData, parent: QWidget | None = None) -> None:
        super().__init__("Reconciliation", parent)
        self.setObjectName("reconcileDock")
        self._sd = session_data
        self.reports: list[SeriesReport] = []
        self.mismatches = Mismatch()
        self.load_button = QPushButton("Compare with a reference…", self)
        self.load_button.setToolTip("a Lean hour/daily zip, or CSV/Parquet bars (timestamp,open,high,low,close,volume)")
        self.summary = QLabel("no reference loaded", self)
        self.model = DifferencesModel(parent=self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.clicked.connect(self._on_clicked)
        body = QWidget(self)
        top = QHBoxLayout()
        top.addWidget(self.load_button)
        top.addWidget(self.summary, 1)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.setWidget(body)
        self.load_button.clicked.connect(self._choose)
        self._dialog: QFileDialog | None = None

    def _choose(self) -> None:
        dialog = QFileDialog(self, "Reference bars", "", "Bars (*.zip *.csv *.parquet)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.on_reference_chosen)
        self._dialog = dialog
        dialog.open()

    @asyncSlot(str)
    async def on_reference_chosen(self, path: str) -> None:
        await self.compare(path)

    async def compare(self, path: str | Path) -> str:
        """Compare every watched symbol the reference holds; the summary line is returned and shown."""
        self.load_button.setEnabled(False)
        try:
            symbols = self._sd.get_active_symbols()
            held = {s: h for s in symbols if (h := held_bars(self._sd, s)) is not None}
            loop = asyncio.get_running_loop()
            try:
                reports = await loop.run_in_executor(None, _compare, path, held)
            except ReferenceError as exc:
                self.summary.setText(f"cannot read the reference: {exc}")
                return self.summary.text()
            self.show_reports(reports, held)
            return self.summary.text()
        finally:
            self.load_button.setEnabled(True)

    def show_reports(self, reports: list[SeriesReport], held: dict[str, HeldBars]) -> None:
        self.reports = reports
        tz = next(iter(held.values())).sessions[-1].tz if held else "UTC"
        self.model.tz = tz
        self.model.set_checks([c for r in reports for c in r.differing])
        checks = [c for r in reports for c in r.checks]
        count = {s: sum(1 for c in checks if c.status is s) for s in Status}
        notes = [f"{r.symbol} {r.interval}: {r.convention.value}" for r in reports]
        self.summary.setText(
            f"{len(checks)} bars: {count[Status.MATCH]} match, {count[Status.DIFFERS]} differ, "
            f"{count[Status.ONLY_REFERENCE]} only in the reference, {count[Status.ONLY_OURS]} only ours"
            + (f"  ({'; '.join(notes)} windows)" if notes else "  (no watched symbol in the reference)")
        )
        self.mismatches = mismatch_windows(reports, held)
        self.mismatches_changed.emit(self.mismatches)
        self.reconciled.emit(reports)

    def _on_clicked(self, index: QModelIndex) -> None:
        checks = self.model.checks
        if not 0 <= index.row() < len(checks):
            return
        check = checks[index.row()]
        windows = self.mismatches.get((check.symbol, check.interval.name))
        start, end = check.start, check.start + (check.interval.seconds or 86_400)
        if windows is not None and len(windows):
            k = int(np.searchsorted(windows[:, 1], check.start, side="right"))
            if k < len(windows):
                start, end = int(windows[k, 0]), int(windows[k, 1])
        self.bar_requested.emit(check.symbol, check.interval.name, start, end)


def _compare(path: str | Path, held: dict[str, HeldBars]) -> list[SeriesReport]:
    """Off the loop: read the reference and compare each series whose symbol is watched."""
    return [reconcile_held(series, held[series.symbol]) for series in load_reference(path) if series.symbol in held]
