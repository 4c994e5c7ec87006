"""GUI test fixtures: offscreen Qt, a qasync loop per test that fails on stray errors,
isolated settings, and a window factory."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import
os.environ["QT_API"] = "pyside6"

import asyncio
import gc
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from qasync import QEventLoop

from session_monitor.core.calendar import Session, SessionCalendar, get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.base import BarSource
from session_monitor.core.workspace import WorkspaceState
from session_monitor.gui.main_window import MainWindow
from session_monitor.gui.settings import AppSettings
from tests.gui.gui_helpers import SESSION_DATE, FakeSource, Harness, Streamer, close_harness


@pytest.fixture(scope="session")
def calendar() -> SessionCalendar:
    return get_calendar("XNYS")


@pytest.fixture(scope="session")
def session(calendar: SessionCalendar) -> Session:
    return calendar.session(SESSION_DATE)


@pytest.fixture
def session_data() -> SessionData:
    return SessionData()


@pytest.fixture
def streamer(session_data: SessionData, session: Session) -> Streamer:
    return Streamer(session_data, session)


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[QEventLoop]:
    """A qasync loop marked running for this test; any error it reports fails the test.

    qasync's asyncSlot silently does nothing without a running loop, so window tests need
    this and must still assert on effects to prove a handler ran.
    """
    loop = QEventLoop(qapp, already_running=True)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    asyncio.set_event_loop(loop)
    try:
        yield loop
        stray = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in stray:
            task.cancel()
        deadline = time.monotonic() + 5
        while any(not t.done() for t in stray) and time.monotonic() < deadline:
            qapp.processEvents()
        assert not stray, f"tasks left running: {stray}"
        qapp.processEvents()
        assert not errors, f"errors in the event loop: {errors}"
    finally:
        qapp.aboutToQuit.disconnect(loop._after_run_forever)
        # loop.stop() would call app.exit(), which leaves Qt's quitNow flag set and starves
        # every later test's timers; mark the loop stopped without touching the app instead
        loop._QEventLoop__is_running = False
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
        loop.close()


@pytest.fixture(autouse=True)
def collect_in_the_gui_thread() -> Iterator[None]:
    """After each GUI test, collect garbage here, in the GUI thread: a widget a test left in a
    reference cycle must never be destroyed by a collection that a worker thread (a source
    loading on the coordinator's pool) happens to trigger; that segfaulted a run once."""
    yield
    gc.collect()


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings.at(tmp_path / "settings.ini")


@pytest.fixture
def make_window(
    qtbot: Any, qloop: QEventLoop, calendar: SessionCalendar, session: Session, settings: AppSettings
) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(
        source: BarSource | None = None,
        speed: float | None = None,
        app_settings: AppSettings | None = None,
        sessions: list[Session] | None = None,
        spec: str = "fake",
        cal: SessionCalendar | None = None,
        workspace: WorkspaceState | None = None,
        hours: str | None = None,
    ) -> Harness:
        session_data = SessionData()
        coordinator = SessionCoordinator(
            session_data, source or FakeSource(), cal or calendar, sessions or [session], speed=speed, hours=hours
        )
        window = MainWindow(session_data, coordinator, app_settings or settings, spec, workspace=workspace)
        window.show()  # not qtbot.addWidget: pytest-qt would delete it before the coordinator stops
        harness = Harness(window, coordinator, session_data)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        close_harness(qtbot, harness)
