"""Plain-callback events, so core can notify a GUI (or a test) without importing Qt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Event", "SessionEvents"]

log = logging.getLogger(__name__)


class Event:
    """A list of callbacks; emitting calls each in order, in the emitting thread.

    A busy event (bars changing for 100 symbols many times a second) can be emitted in
    batches with :meth:`emit_many`; subscribers that connect with :meth:`connect_batch`
    then get one call per batch (a list of argument tuples) instead of one per item,
    which is what keeps a GUI listening to every pass cheap. Plain subscribers still get
    one call per item, and batch subscribers also see single :meth:`emit` calls.
    """

    __slots__ = ("_batch_callbacks", "_callbacks", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: tuple[Callable[..., Any], ...] = ()
        self._batch_callbacks: tuple[Callable[[list[tuple[Any, ...]]], Any], ...] = ()

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks = (*self._callbacks, callback)

    def connect_batch(self, callback: Callable[[list[tuple[Any, ...]]], Any]) -> None:
        """``callback(items)`` once per batch; ``items`` is a list of argument tuples (do not keep it)."""
        if callback not in self._batch_callbacks:
            self._batch_callbacks = (*self._batch_callbacks, callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks = tuple(c for c in self._callbacks if c != callback)
        self._batch_callbacks = tuple(c for c in self._batch_callbacks if c != callback)

    def __bool__(self) -> bool:
        return bool(self._callbacks) or bool(self._batch_callbacks)

    def emit(self, *args: Any) -> None:
        for callback in self._callbacks:
            callback(*args)
        if self._batch_callbacks:
            for callback in self._batch_callbacks:
                callback([args])

    def emit_many(self, items: list[tuple[Any, ...]]) -> None:
        """Emit every argument tuple of ``items``, in order (as :meth:`emit` per item would)."""
        if not items:
            return
        if self._callbacks:
            for args in items:
                for callback in self._callbacks:
                    callback(*args)
        for batch_callback in self._batch_callbacks:
            batch_callback(items)


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
