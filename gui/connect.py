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

from PySide6.QtWidgets import QApplication

from session_monitor.core.bus.remote import RemoteCoordinator
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.gui.app import freeze_startup_heap
from session_monitor.gui.errors import install_excepthook, loop_exception_handler
from session_monitor.gui.event_loop import run_on_qt
from session_monitor.gui.icons import icon
from session_monitor.gui.main_window import MainWindow
from session_monitor.gui.settings import AppSettings
from session_monitor.gui.theme import apply_dark_palette

__all__ = ["build_parser", "main", "open_connected_window"]

PROG = "session-monitor connect"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Watch the session the serve engines publish to Redis.")
    parser.add_argument("url", metavar="redis://HOST:PORT/DB")
    parser.add_argument("--settings", metavar="FILE.ini", help="keep settings in this file instead of the user's")
    return parser


async def open_connected_window(url: str, settings: AppSettings) -> tuple[MainWindow, RemoteCoordinator]:
    """Catch up with the engines, then show the window over the replica (the caller runs ``remote.run()``)."""
    remote = RemoteCoordinator(connect_redis(url))
    await remote.connect()
    window = MainWindow(remote.session_data, remote, settings, f"redis {url}")  # type: ignore[arg-type]
    window.persist = False  # the engines decide the watchlist: a connected window does not save one
    window.show()
    await window.boot([])
    return window, remote


async def run_connected(url: str, settings: AppSettings) -> int:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    quit_event = asyncio.Event()
    app.aboutToQuit.connect(quit_event.set)
    window, remote = await open_connected_window(url, settings)
    freeze_startup_heap()  # as a local window: full collections mid-stream made bars arrive late
    window.closed.connect(quit_event.set)
    loop = asyncio.get_running_loop()
    restore_hook = install_excepthook(window.post_message)
    loop.set_exception_handler(loop_exception_handler(window.post_message))
    previous_sigint = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(window.close))
    runner = asyncio.create_task(remote.run(), name="replica")
    try:
        await quit_event.wait()
    finally:
        remote.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await window.shutdown()
        await remote.client.aclose()
        if window.isVisible():
            window.close()
        window.deleteLater()
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
