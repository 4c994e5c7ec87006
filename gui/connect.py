"""``session-monitor connect redis://HOST:PORT/DB``: the desktop app on a replica fed by the engines.

The same MainWindow, tree and charts as a local run; only the coordinator differs: a
:class:`~core.bus.remote.RemoteCoordinator` keeps the window's ``SessionData`` equal to
what the ``serve`` engines publish, and turns add/remove into commands for them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass

from PySide6.QtWidgets import QApplication

from session_monitor.core.bus.remote import RemoteCoordinator
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.gui.app import freeze_startup_heap
from session_monitor.gui.engine_watch import EngineWatch
from session_monitor.gui.errors import install_excepthook, loop_exception_handler
from session_monitor.gui.event_loop import run_on_qt
from session_monitor.gui.icons import icon
from session_monitor.gui.main_window import MainWindow
from session_monitor.gui.settings import AppSettings
from session_monitor.gui.theme import apply_dark_palette

__all__ = ["ConnectedWindow", "build_connected_window", "build_parser", "catch_up", "close_connected_window",
           "main"]

PROG = "session-monitor connect"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Watch the session the serve engines publish to Redis.")
    parser.add_argument("url", metavar="redis://HOST:PORT/DB")
    parser.add_argument("--settings", metavar="FILE.ini", help="keep settings in this file instead of the user's")
    return parser


@dataclass
class ConnectedWindow:
    """A window over a replica, the watch over the engines feeding it, and the coordinator they share."""

    window: MainWindow
    remote: RemoteCoordinator
    engines: EngineWatch


def build_connected_window(url: str, settings: AppSettings) -> ConnectedWindow:
    """The window, shown at once: it fills in as the engines publish (the caller then awaits :func:`catch_up`)."""
    remote = RemoteCoordinator(connect_redis(url))
    window = MainWindow(remote.session_data, remote, settings, f"redis {url}")  # type: ignore[arg-type]
    window.persist = False  # the engines decide the watchlist: a connected window does not save one
    engines = EngineWatch(remote, window.statusBar(), window.post_message)
    window.show()
    return ConnectedWindow(window, remote, engines)


async def catch_up(connected: ConnectedWindow) -> None:
    """Wait for the engines, catch up with them, then boot the window (the caller runs ``remote.run()``)."""
    connected.window.post_message(logging.INFO, f"{connected.window.source_name}: waiting for the engines")
    await connected.remote.connect()
    await connected.window.boot([])


async def close_connected_window(connected: ConnectedWindow) -> None:
    """Stop watching, shut the window down and close the connection (after ``remote.run()`` returned)."""
    await connected.engines.stop()
    await connected.window.shutdown()
    await connected.remote.client.aclose()
    if connected.window.isVisible():
        connected.window.close()
    connected.window.deleteLater()


async def run_connected(url: str, settings: AppSettings) -> int:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    quit_event = asyncio.Event()
    app.aboutToQuit.connect(quit_event.set)
    connected = build_connected_window(url, settings)
    window, remote = connected.window, connected.remote
    window.closed.connect(quit_event.set)
    loop = asyncio.get_running_loop()
    restore_hook = install_excepthook(window.post_message)
    loop.set_exception_handler(loop_exception_handler(window.post_message))
    previous_sigint = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(window.close))
    runner: asyncio.Task[None] | None = None
    # closing the window while no engine has published yet quits too
    catching = asyncio.create_task(catch_up(connected), name="catch-up")
    quitting = asyncio.create_task(quit_event.wait())
    try:
        await asyncio.wait([catching, quitting], return_when=asyncio.FIRST_COMPLETED)
        if catching.done():
            catching.result()
            freeze_startup_heap()  # as a local window: full collections mid-stream made bars arrive late
            runner = asyncio.create_task(remote.run(), name="replica")
            await quitting
    finally:
        for task in (catching, quitting):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        remote.stop()
        if runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        await close_connected_window(connected)
        signal.signal(signal.SIGINT, previous_sigint if previous_sigint is not None else signal.SIG_DFL)
        restore_hook()
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s", stream=sys.stderr)
    settings = AppSettings.at(args.settings) if args.settings else AppSettings()
    app = QApplication.instance() or QApplication(["session-monitor"])
    assert isinstance(app, QApplication)
    app.setApplicationName("session-monitor")
    app.setOrganizationName("session-monitor")
    app.setWindowIcon(icon("app"))
    apply_dark_palette(app)
    return int(run_on_qt(run_connected(args.url, settings)))
