"""Plain-callback events, so core can notify a GUI (or a test) without importing Qt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Event", "SessionEvents"]

log = logging.getLogger(__name__)


class Event:
    """A list of callbacks; emitting calls each in order, in the emitting thread."""

    __slots__ = ("_callbacks", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def emit(self, *args: Any) -> None:
        for callback in tuple(self._callbacks):
            callback(*args)


class SessionEvents:
    """Everything ``SessionData`` announces.

    Structural changes come as before/after pairs carrying the row they affect, so a Qt
    model can call ``beginInsertRows``/``endInsertRows`` around the real change.
    """

    def __init__(self) -> None:
        #: (symbol, row) before / after a symbol is registered
        self.symbol_adding = Event("symbol_adding")
        self.symbol_added = Event("symbol_added")
        #: (symbol, row) before / after a symbol is removed
        self.symbol_removing = Event("symbol_removing")
        self.symbol_removed = Event("symbol_removed")
        #: (symbol, interval name, first changed bar index): bars from that index on are new or changed
        self.bars_changed = Event("bars_changed")
        #: (symbol, interval name): quality, gaps or incomplete count changed
        self.quality_changed = Event("quality_changed")
        #: (session): a new trading session started; the previous one moved to history
        self.session_started = Event("session_started")
        #: (level, message): a warning the user should see (rejected bar, dropped bar, source error)
        self.message = Event("message")
