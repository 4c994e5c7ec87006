"""Running the app's coroutine on Qt's event loop, without touching the global policy.

Why not ``qasync.run``: on Python < 3.12 it installs qasync's event-loop *policy* for the
whole run, so every other thread's ``asyncio.run()`` (an SDK's connection thread, a
library's helper) builds a *Qt* loop and dies (``QApplication::exec: Must be called from
the main thread``). ``asyncio.Runner`` with a loop factory (Python 3.11+) puts the Qt loop
on this thread only, and other threads keep the standard policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import qasync

T = TypeVar("T")


def run_on_qt(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a ``qasync.QEventLoop`` of the running QApplication."""
    with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
        return runner.run(main)
