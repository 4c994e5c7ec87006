"""The Alerts dock: every alert event of the run (filter, clear, jump to the bar), and the
desktop notification / sound when one starts.

The list model reads the alert engine's history (core keeps it; the model keeps no copy)
and grows one row per event with beginInsertRows, newest last. With extended hours an
event names its segment (pre-market, regular, after-hours): the Segment column, shown once
such an event arrives (a regular-hours run never has one).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSystemTrayIcon,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from session_monitor.core.alerts import AlertEngine, AlertEvent
from session_monitor.gui import theme
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.formatting import SEGMENT_NAMES, exchange_time

__all__ = ["ALERT_COLUMNS", "SEGMENT_COLUMN", "AlertListModel", "AlertNotifier", "AlertsDock", "segment_text"]

AnyIndex = QModelIndex | QPersistentModelIndex
ALERT_COLUMNS = ("Time", "Symbol", "Interval", "Rule", "Event", "Value", "Segment")
#: the column that names an extended session's segment
SEGMENT_COLUMN = ALERT_COLUMNS.index("Segment")
#: the alert event behind a row (for jump-to-bar and tests)
ALERT_ROLE = Qt.ItemDataRole.UserRole + 1


def alert_text(alert: AlertEvent) -> str:
    """One line for a notification: ``AAPL stale started 11:04:00 (5)``, ``… 09:24:00 pre-market (5)``."""
    where = f" {alert.interval}" if alert.interval else ""
    verb = "started" if alert.event == "start" else "cleared"
    segment = f" {segment_text(alert)}" if alert.segment else ""
    value = "" if alert.value is None else f" ({value_text(alert)})"
    when = exchange_time(alert.time, alert.tz, seconds=True)
    return f"{alert.symbol}{where} {alert.rule.value} {verb} {when}{segment}{value}"


def segment_text(alert: AlertEvent) -> str:
    """The segment the alert concerns (``pre-market``), or "" (regular hours, whole-day figures)."""
    return SEGMENT_NAMES.get(alert.segment, alert.segment) if alert.segment else ""


def value_text(alert: AlertEvent) -> str:
    """The measured value, with the differing fields of a mismatch (``2: high, low``)."""
    if alert.value is None:
        return ""
    return f"{alert.value}: {', '.join(alert.fields)}" if alert.fields else str(alert.value)


class AlertListModel(QAbstractTableModel):
    """The alert engine's history as rows, oldest first."""

    def __init__(self, engine: AlertEngine, bridge: SessionBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._rows = len(engine.history)
        bridge.alert_fired.connect(self._on_alert)

    def _on_alert(self, alert: AlertEvent) -> None:
        count = len(self.engine.history)
        if count > self._rows:
            self.beginInsertRows(QModelIndex(), self._rows, count - 1)
            self._rows = count
            self.endInsertRows()

    def clear(self) -> None:
        """Forget the shown history (a reset: the whole list goes)."""
        self.beginResetModel()
        self.engine.clear_history()
        self._rows = 0
        self.endResetModel()

    def alert(self, row: int) -> AlertEvent | None:
        return self.engine.history[row] if 0 <= row < self._rows else None

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ALERT_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ALERT_COLUMNS[section] if 0 <= section < len(ALERT_COLUMNS) else None
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        alert = self.alert(index.row())
        if alert is None:
            return None
        if role == ALERT_ROLE:
            return alert
        if role == Qt.ItemDataRole.ForegroundRole and alert.event == "start":
            return QBrush(theme.QUALITY_WARN)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return (
            exchange_time(alert.time, alert.tz, seconds=True),
            alert.symbol,
            alert.interval or "",
            alert.rule.value,
            alert.event,
            value_text(alert),
            segment_text(alert),
        )[index.column()]


class AlertNotifier(QObject):
    """A desktop notification (``QSystemTrayIcon``, where the desktop has a tray) and an
    optional beep when an alert starts."""

    def __init__(self, bridge: SessionBridge, icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sound = False
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon, self)
            self.tray.setToolTip("Session Monitor")
            self.tray.show()
        #: what was notified, newest last (the tray's balloons cannot be read back)
        self.notified: list[str] = []
        bridge.alert_fired.connect(self._on_alert)

    def _on_alert(self, alert: AlertEvent) -> None:
        if alert.event != "start":
            return
        text = alert_text(alert)
        self.notified.append(text)
        if self.tray is not None:
            self.tray.showMessage("Session Monitor alert", text, QSystemTrayIcon.MessageIcon.Warning, 8000)
        if self.sound:
            QApplication.beep()


class AlertsDock(QDockWidget):
    """The alert history with a filter, a clear button, a sound switch; double-click jumps to the bar."""

    #: (symbol, interval or "", session-clock time) the user asked to see this alert's bar
    jump_requested = Signal(str, str, float)

    def __init__(self, engine: AlertEngine, bridge: SessionBridge, notifier: AlertNotifier | None,
                 parent: QWidget | None = None) -> None:
        super().__init__("Alerts", parent)
        self.setObjectName("alertsDock")
        self.model = AlertListModel(engine, bridge, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)  # any column
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter: symbol, rule, interval…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.clicked.connect(self.model.clear)
        self.rules_button = QPushButton("Rules…", self)
        self.sound = QCheckBox("Sound", self)
        if notifier is not None:
            self.sound.toggled.connect(lambda on: setattr(notifier, "sound", on))
        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.doubleClicked.connect(self._on_double_clicked)
        self.proxy.rowsInserted.connect(lambda *_: self.view.scrollToBottom())
        self.view.setColumnHidden(SEGMENT_COLUMN, not any(alert.segment for alert in engine.history))
        bridge.alert_fired.connect(self._show_segments)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.sound)
        top.addWidget(self.rules_button)
        top.addWidget(self.clear_button)
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.view)
        self.setWidget(body)

    def _show_segments(self, alert: AlertEvent) -> None:
        """The Segment column appears with the first event that names one."""
        if alert.segment and self.view.isColumnHidden(SEGMENT_COLUMN):
            self.view.setColumnHidden(SEGMENT_COLUMN, False)

    def _on_double_clicked(self, index: QModelIndex) -> None:
        alert = self.proxy.data(index, ALERT_ROLE)
        if isinstance(alert, AlertEvent):
            self.jump_requested.emit(alert.symbol, alert.interval or "", alert.time)
