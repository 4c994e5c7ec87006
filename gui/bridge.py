"""The one place where core's plain-callback events become Qt signals.

Core emits synchronously in the thread that mutates SessionData. In this app that is the
GUI thread (the coordinator runs on the qasync loop), so every signal is delivered
directly and ``symbol_adding`` really arrives *before* the row exists, as
``beginInsertRows`` needs. Widgets subscribe here, never to core.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.coordinator import SessionCoordinator
from core.events import Event
from core.session_data import SessionData

__all__ = ["SessionBridge"]


class SessionBridge(QObject):
    """Mirrors ``SessionData.events`` (and the coordinator's run events) as signals."""

    #: (symbol, row) before / after a symbol is registered
    symbol_adding = Signal(str, int)
    symbol_added = Signal(str, int)
    #: (symbol, row) before / after a symbol is removed
    symbol_removing = Signal(str, int)
    symbol_removed = Signal(str, int)
    #: (symbol, interval name, first changed bar index)
    bars_changed = Signal(str, str, int)
    #: (symbol, interval name): quality, gaps or incomplete count changed
    quality_changed = Signal(str, str)
    #: (core.calendar.Session)
    session_started = Signal(object)
    #: (logging level, text): a warning for the messages dock
    message_posted = Signal(int, str)
    #: (core.clock.ClockState)
    state_changed = Signal(object)
    #: (core.calendar.Session) every bar of it is final
    session_closed = Signal(object)
    #: (symbol, connected): a feed went down or came back
    feed_changed = Signal(str, bool)

    def __init__(self, session_data: SessionData, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._links: list[tuple[Event, Callable[..., Any]]] = []
        # If Qt deletes the bridge (its window went away) core must stop calling into it;
        # the handler holds the link list, not self, so it still works during destruction.
        self.destroyed.connect(partial(_unlink, self._links))
        events = session_data.events
        self._link(events.symbol_adding, self.symbol_adding.emit)
        self._link(events.symbol_added, self.symbol_added.emit)
        self._link(events.symbol_removing, self.symbol_removing.emit)
        self._link(events.symbol_removed, self.symbol_removed.emit)
        self._link(events.bars_changed, self.bars_changed.emit)
        self._link(events.quality_changed, self.quality_changed.emit)
        self._link(events.session_started, self.session_started.emit)
        self._link(events.message, self.message_posted.emit)

    def attach_coordinator(self, coordinator: SessionCoordinator) -> None:
        self._link(coordinator.state_changed, self.state_changed.emit)
        self._link(coordinator.session_closed, self.session_closed.emit)
        self._link(coordinator.feed_changed, self.feed_changed.emit)

    def _link(self, event: Event, callback: Callable[..., Any]) -> None:
        event.connect(callback)
        self._links.append((event, callback))

    def detach(self) -> None:
        """Stop listening to core (a closed window must not keep receiving events)."""
        _unlink(self._links)


def _unlink(links: list[tuple[Event, Callable[..., Any]]], *_: object) -> None:
    for event, callback in links:
        event.disconnect(callback)
    links.clear()
