"""The asyncSlot handlers a widget has running, so it can wait for them before it goes away.

A qasync ``asyncSlot`` handler outlives the click that started it; one still awaiting a
keyring call or a file write when its window closes must be cancelled and finished
first, or it would touch deleted widgets.
"""

from __future__ import annotations

import asyncio

__all__ = ["RunningHandlers"]


class RunningHandlers:
    """The tasks of handlers that called :meth:`enter` and not yet :meth:`leave`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def enter(self) -> None:
        """Call first thing in a handler (it runs as the current task)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)

    def leave(self) -> None:
        """Call last thing in a handler, in a ``finally``."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.discard(task)

    async def cancel_all(self) -> None:
        """Cancel every handler still running (but the caller) and wait until each has finished."""
        pending = [t for t in self._tasks if not t.done() and t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
