"""The one place where core's plain-callback events reach the widgets.

Core emits synchronously in the thread that mutates SessionData. In this app that is the
GUI thread (the coordinator runs on the qasync loop), so every signal is delivered
directly and ``symbol_adding`` really arrives *before* the row exists, as
``beginInsertRows`` needs. Widgets subscribe here, never to core.

Bar and quality changes are the exception to "one core event, one Qt signal": streaming
100 symbols produces tens of thousands of them a second, and a PySide signal emission
with Python slots costs tens of microseconds. They are collected instead into one
:class:`ChangeSet` per subscriber (core hands them over in batches, one call per pass,
and each change is a dict update), which the subscriber drains on its own timer; it is
told only when its set goes from empty to non-empty.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Signal

from session_monitor.core.alerts import AlertEngine
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.events import Event
from session_monitor.core.health import HealthChange
from session_monitor.core.session_data import SessionData

__all__ = ["ChangeSet", "SessionBridge"]


class ChangeSet:
    """Bar and quality changes since the subscriber last drained them.

    ``bars``: (symbol, interval) → lowest changed bar index; ``quality``: (symbol, interval)
    pairs whose quality, gaps or incomplete count changed.
    """

    __slots__ = ("_wake", "bars", "quality")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.bars: dict[tuple[str, str], int] = {}
        self.quality: set[tuple[str, str]] = set()
        self._wake = wake

    def __bool__(self) -> bool:
        return bool(self.bars) or bool(self.quality)

    def drain(self) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]]]:
        """Everything collected so far; the set starts empty again."""
        bars, quality = self.bars, self.quality
        self.bars, self.quality = {}, set()
        return bars, quality

    def _bars_changed(self, items: list[tuple[str, str, int]]) -> None:
        bars = self.bars
        if not bars and not self.quality:
            self._wake()
        get = bars.get
        for symbol, interval, first in items:
            key = (symbol, interval)
            old = get(key)
            if old is None or first < old:
                bars[key] = first

    def _quality_changed(self, items: list[tuple[str, str]]) -> None:
        if not self.quality and not self.bars:
            self._wake()
        self.quality.update(items)


class SessionBridge(QObject):
    """Mirrors ``SessionData.events`` (and the coordinator's run events) as signals."""

    #: (symbol, row) before / after a symbol is registered
    symbol_adding = Signal(str, int)
    symbol_added = Signal(str, int)
    #: (symbol, row) before / after a symbol is removed
    symbol_removing = Signal(str, int)
    symbol_removed = Signal(str, int)
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
    #: (symbol, core.health.HealthChange): the symbol's newest health change of a pass
    health_changed = Signal(str, object)
    #: (core.alerts.AlertEvent) an alert started or cleared
    alert_fired = Signal(object)

    def __init__(self, session_data: SessionData, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._links: list[tuple[Event, Callable[..., Any]]] = []
        #: symbols whose feed is down right now (a feed event, or a connected window's silent engine):
        #: the one set the tree and the status bar read; kept by the first slot on ``feed_changed``
        self.disconnected: set[str] = set()
        self.feed_changed.connect(self._on_feed_changed)
        self.symbol_removed.connect(self._on_symbol_removed)
        # If Qt deletes the bridge (its window went away) core must stop calling into it;
        # the handler holds the link list, not self, so it still works during destruction.
        self.destroyed.connect(partial(_unlink, self._links))
        events = self._events = session_data.events
        self._link(events.symbol_adding, self.symbol_adding.emit)
        self._link(events.symbol_added, self.symbol_added.emit)
        self._link(events.symbol_removing, self.symbol_removing.emit)
        self._link(events.symbol_removed, self.symbol_removed.emit)
        self._link(events.session_started, self.session_started.emit)
        self._link(events.message, self.message_posted.emit)

    def _on_feed_changed(self, symbol: str, connected: bool) -> None:
        if connected:
            self.disconnected.discard(symbol)
        else:
            self.disconnected.add(symbol)

    def _on_symbol_removed(self, symbol: str, _row: int) -> None:
        self.disconnected.discard(symbol)

    def subscribe_changes(self, owner: QObject, wake: Callable[[], None]) -> ChangeSet:
        """A change set filled from core's bar and quality events until ``owner`` is destroyed;
        ``wake()`` is called when it goes from empty to non-empty (start a flush timer there)."""
        changes = ChangeSet(wake)
        links = [
            (self._events.bars_changed, changes._bars_changed),
            (self._events.quality_changed, changes._quality_changed),
        ]
        for event, callback in links:
            event.connect_batch(callback)  # one call per processor pass, not one per change
            self._links.append((event, callback))
        owner.destroyed.connect(partial(self._unsubscribe, links))
        return changes

    def _unsubscribe(self, links: list[tuple[Event, Callable[..., Any]]], *_: object) -> None:
        for link in links:
            if link in self._links:
                self._links.remove(link)
                link[0].disconnect(link[1])

    def attach_coordinator(self, coordinator: SessionCoordinator) -> None:
        self._link(coordinator.state_changed, self.state_changed.emit)
        self._link(coordinator.session_closed, self.session_closed.emit)
        self._link(coordinator.feed_changed, self.feed_changed.emit)
        coordinator.health.changed.connect_batch(self._on_health_batch)
        self._links.append((coordinator.health.changed, self._on_health_batch))

    def attach_alerts(self, engine: AlertEngine) -> None:
        self._link(engine.fired, self.alert_fired.emit)

    def _on_health_batch(self, items: list[tuple[HealthChange]]) -> None:
        """One signal per symbol per pass: its newest state is what the widgets show."""
        newest = {change.symbol: change for (change,) in items}
        for symbol, change in newest.items():
            self.health_changed.emit(symbol, change)

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
