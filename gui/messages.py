"""The messages dock: warnings and errors as they happen, newest first, capped.

Times are the exchange's wall time, like every other time in the window, and the dock's
title names the zone (``Messages (3) · New York time``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from typing import Any, NamedTuple

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QDockWidget, QListView, QWidget

from session_monitor.gui import theme
from session_monitor.gui.formatting import zone, zone_label

__all__ = ["MESSAGE_CAP", "Message", "MessageLog", "MessagesDock"]

#: messages kept; the oldest drop off (a ragged Lean file can produce thousands)
MESSAGE_CAP = 5000

AnyIndex = QModelIndex | QPersistentModelIndex


class Message(NamedTuple):
    when: dt.datetime  # aware (UTC)
    level: int
    text: str


class MessageLog(QAbstractListModel):
    """A capped list model, newest first: row 0 is the latest message."""

    def __init__(self, cap: int = MESSAGE_CAP, parent: QObject | None = None, tz: str = "UTC") -> None:
        super().__init__(parent)
        self._items: deque[Message] = deque()
        self.cap = cap
        #: the zone message times are shown in (the exchange's)
        self.tz = tz

    def set_time_zone(self, tz: str) -> None:
        """Show times in ``tz`` (every row's text changes)."""
        self.tz = tz
        if self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1), [Qt.ItemDataRole.DisplayRole])

    def post(self, level: int, text: str) -> None:
        if len(self._items) >= self.cap:
            last = len(self._items) - 1
            self.beginRemoveRows(QModelIndex(), last, last)
            self._items.pop()
            self.endRemoveRows()
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._items.appendleft(Message(dt.datetime.now(dt.UTC), level, text))
        self.endInsertRows()

    def messages(self) -> list[Message]:
        return list(self._items)

    def clear(self) -> None:
        self.beginResetModel()
        self._items.clear()
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        message = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            when = message.when.astimezone(zone(self.tz))
            return f"{when:%H:%M:%S}  {logging.getLevelName(message.level).lower():<7}  {message.text}"
        if role == Qt.ItemDataRole.ToolTipRole:
            when = message.when.astimezone(zone(self.tz))
            return f"{when:%Y-%m-%d %H:%M:%S} {zone_label(self.tz)} time\n{message.text}"
        if role == Qt.ItemDataRole.ForegroundRole:
            if message.level >= logging.ERROR:
                return QBrush(theme.QUALITY_BAD)
            if message.level >= logging.WARNING:
                return QBrush(theme.QUALITY_WARN)
        return None


class MessagesDock(QDockWidget):
    """Dock holding the message list; its title counts what it holds."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Messages", parent)
        self.setObjectName("messagesDock")
        self.log = MessageLog(parent=self)
        self.view = QListView(self)
        self.view.setModel(self.log)
        self.view.setUniformItemSizes(True)
        self.view.setWordWrap(False)
        self.setWidget(self.view)
        self.log.rowsInserted.connect(self._update_title)

    def post(self, level: int, text: str) -> None:
        self.log.post(level, text)

    def set_time_zone(self, tz: str) -> None:
        self.log.set_time_zone(tz)
        self._update_title()

    def _update_title(self) -> None:
        self.setWindowTitle(f"Messages ({self.log.rowCount()}) · {zone_label(self.log.tz)} time")
