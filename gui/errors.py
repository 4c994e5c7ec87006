"""Unexpected errors end up as one line in the messages dock, never as a traceback dialog.

The full traceback still goes to the log (stderr), where a developer looks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["install_excepthook", "loop_exception_handler"]

log = logging.getLogger("session_monitor.gui")

Post = Callable[[int, str], None]


def install_excepthook(post: Post) -> Callable[[], None]:
    """Route uncaught exceptions (also from qasync's asyncSlot) to ``post``; returns an undo."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, exc, tb)
            return
        log.error("unexpected error", exc_info=(kind, exc, tb))
        # the dock may already be gone (shutting down): the log has it anyway
        with contextlib.suppress(Exception):
            post(logging.ERROR, f"Unexpected error: {kind.__name__}: {exc}")

    sys.excepthook = hook

    def restore() -> None:
        if sys.excepthook is hook:
            sys.excepthook = previous

    return restore


def loop_exception_handler(post: Post) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An asyncio exception handler that reports like the excepthook."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = context.get("message", "error in the event loop")
        log.error("%s", message, exc_info=exc)
        text = f"{type(exc).__name__}: {exc}" if exc is not None else message
        with contextlib.suppress(Exception):
            post(logging.ERROR, f"Unexpected error: {text}")

    return handler
