"""The app's coroutine runs on Qt's loop, and no other thread gets a Qt loop from it.

An SDK's connection thread calling ``asyncio.run()`` while the window runs must get a plain
asyncio loop: with ``qasync.run`` on Python < 3.12 it got a Qt loop and died.
"""

from __future__ import annotations

import asyncio
import threading

import qasync
from PySide6.QtCore import QTimer

from session_monitor.gui.event_loop import run_on_qt


async def _loop_name() -> str:
    return type(asyncio.get_running_loop()).__name__


def test_the_app_runs_on_qt_and_another_threads_asyncio_run_gets_a_plain_loop(qapp) -> None:
    seen: dict[str, object] = {}

    def sdk_thread() -> None:  # what an SDK's stream thread does
        try:
            seen["thread loop"] = asyncio.run(_loop_name())
        except BaseException as exc:  # the failure is what the test reports
            seen["thread loop"] = repr(exc)

    async def app() -> str:
        fired: list[bool] = []
        QTimer.singleShot(10, lambda: fired.append(True))  # Qt's own timers run on this loop
        worker = threading.Thread(target=sdk_thread)
        worker.start()
        while worker.is_alive() or not fired:
            await asyncio.sleep(0.01)
        worker.join()
        seen["policy during run"] = type(asyncio.get_event_loop_policy()).__name__
        return type(asyncio.get_running_loop()).__name__

    main_loop = run_on_qt(app())

    assert main_loop == qasync.QEventLoop.__name__
    assert seen["thread loop"] == "_UnixSelectorEventLoop"
    assert seen["policy during run"] == "_UnixDefaultEventLoopPolicy"
