"""``session-monitor [SOURCE] [options]``: the desktop app (:mod:`session_monitor.cli` parses the arguments).

Arguments are resolved (and refused, with one line) before Qt starts; so is the platform
(offscreen for a screenshot without a display, a clear message when a library is missing). One asyncio loop
(qasync) runs the coordinator and Qt together; closing the window sets an asyncio.Event
that :func:`run_window` awaits, after which the coordinator is stopped and awaited, so
the app exits with no stray task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import gc
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtWidgets import QApplication

from session_monitor.core.alerts import AlertConfig
from session_monitor.core.appinfo import PROG
from session_monitor.core.config import load_config
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.logfile import install_log_file
from session_monitor.core.recording_start import start_recording
from session_monitor.core.runconfig import RunSetup, UsageError, resolve_run
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.base import SourceError
from session_monitor.core.workspace import WorkspaceState
from session_monitor.gui.arguments import build_parser
from session_monitor.gui.errors import install_excepthook, loop_exception_handler
from session_monitor.gui.event_loop import run_on_qt
from session_monitor.gui.icons import icon
from session_monitor.gui.main_window import MainWindow
from session_monitor.gui.screenshot_view import ScreenshotView, stage_view
from session_monitor.gui.settings import AppSettings, WatchEntry
from session_monitor.gui.startup_error import show_startup_error
from session_monitor.gui.theme import apply_dark_palette

__all__ = ["PROG", "build_parser", "freeze_startup_heap", "hold_collections_for_startup", "run"]

log = logging.getLogger("session_monitor.gui")

DEFAULT_SPEED = 60.0
#: the screenshot mode runs faster so a few seconds show a chart worth looking at
SCREENSHOT_SPEED = 600.0
SCREENSHOT_SIZE = (1280, 800)


#: young-generation collections this far apart: the streaming loop allocates many short-lived
#: objects, and each collection is a pause of its own (the default is 700)
GC_YOUNG_THRESHOLD = 20_000


def hold_collections_for_startup() -> None:
    """No automatic collections while start-up builds objects that all live until exit.

    Each one would walk a heap that only grows (at 500 symbols, hundreds of collections
    and seconds of start-up); :func:`freeze_startup_heap` collects once at the end.
    """
    gc.disable()


def freeze_startup_heap() -> None:
    """Move everything alive after start-up out of the collector's sight, then collect as usual.

    With hundreds of symbols the start-up heap (modules, Qt wrappers, models, calendars)
    is millions of objects that live until exit, and every full collection walked them
    all: 75–89 ms stalls every few seconds. Frozen, a full collection sees only what was
    allocated since, a few milliseconds.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    gc.enable()


@dataclass
class StartPlan:
    """What the window starts with, decided before Qt runs."""

    setup: RunSetup
    source_spec: str
    watchlist: list[WatchEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: alert rules from the session file (None: the defaults)
    alerts: AlertConfig | None = None
    #: the chart workspace from the session file (None: the one kept in the settings)
    workspace: WorkspaceState | None = None
    #: the arguments the plan was made from (Session → Extended hours starts them again with other hours)
    args: argparse.Namespace | None = None


def plan_start(args: argparse.Namespace, settings: AppSettings) -> StartPlan:
    """Resolve the run; the last source and watchlist come from settings unless given.

    Something restored from settings that no longer works is dropped with a note; what
    the user typed (arguments or a ``--config`` file) is never second-guessed: it fails
    with UsageError/SourceError.
    """
    notes: list[str] = []
    from_config = bool(getattr(args, "config", None))
    source_given = args.source is not None or from_config
    symbols_given = args.symbols is not None or from_config
    if not source_given:
        args.source = settings.last_source()  # None: core's default for the GUI (demo)
    saved = None if symbols_given else (settings.watchlist() or None)
    if saved:
        args.symbols = ",".join(entry.symbol for entry in saved)
    speed_default = SCREENSHOT_SPEED if args.screenshot else DEFAULT_SPEED
    if str(args.source or "").lower() == "alpaca":
        args.source = f"alpaca:{settings.alpaca_feed()}"  # the feed chosen in File > Live data
    try:
        setup = resolve_run(args, default_speed=speed_default)
    except (UsageError, SourceError) as exc:
        live_without_keys = isinstance(exc, SourceError) and str(args.source or "").lower().startswith("alpaca")
        restored = (not source_given and args.source is not None) or saved
        if not restored and not live_without_keys:
            raise
        if live_without_keys:
            notes.append(f"{exc}; staying on the demo feed (File > Live data (Alpaca)... stores keys)")
            args.source = "demo"
        else:
            notes.append(f"saved settings ignored: {exc}")
        if not source_given and not live_without_keys:
            args.source = None
        if saved:
            args.symbols, saved = None, None
        setup = resolve_run(args, default_speed=speed_default)
    notes.extend(setup.warnings)
    watchlist = saved or [WatchEntry(symbol, tuple(i.name for i in ivs)) for symbol, ivs in setup.watchlist]
    spec = setup.source_spec
    if spec.lower() != "demo" and not spec.lower().startswith("demo:") and Path(spec).expanduser().exists():
        spec = str(Path(spec).expanduser().resolve())  # restorable from any working directory
    config = load_config(args.config) if from_config else None  # checked already by resolve_run
    alerts = config.alerts if config is not None else None
    workspace = config.workspace if config is not None else None
    return StartPlan(setup, spec, watchlist, notes, alerts, workspace, copy.copy(args))


async def run_window(
    plan: StartPlan,
    settings: AppSettings,
    screenshot: str | None,
    after: float,
    view: ScreenshotView | None = None,
    own_process: bool = False,
) -> int:
    """Run windows until the user quits: File > Open session replaces the window's run.

    ``own_process``: the app owns the interpreter, so it may tune the garbage collector
    (:func:`freeze_startup_heap` after each start-up); tests running a window leave it alone.
    """
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # the window's close ends main(), not app.exec()
    quit_event = asyncio.Event()
    app.aboutToQuit.connect(quit_event.set)
    next_plan: StartPlan | None = plan
    code = 0
    while next_plan is not None:
        code, next_plan = await _run_one(next_plan, settings, screenshot, after, quit_event, view, own_process)
    return code


async def _run_one(
    plan: StartPlan, settings: AppSettings, screenshot: str | None, after: float, quit_event: asyncio.Event,
    view: ScreenshotView | None = None,
    own_process: bool = False,
) -> tuple[int, StartPlan | None]:
    """One window over one coordinator; returns the exit code, or the plan to open next."""
    setup = plan.setup
    session_data = SessionData()
    recording = start_recording(setup.source.key, setup.calendar.scope, setup.record_as) \
        if setup.record and not screenshot else None
    recorder = recording.recorder if recording is not None else None
    coordinator = SessionCoordinator(
        session_data, setup.source, setup.calendar, setup.sessions, speed=setup.speed, recorder=recorder,
        live=setup.live, grace=setup.grace, known_missing=setup.missing,
        hours=setup.hours, symbol_hours=setup.symbol_hours,
    )
    window = MainWindow(session_data, coordinator, settings, plan.source_spec, alert_config=plan.alerts,
                        workspace=plan.workspace)
    window.closed.connect(quit_event.set)
    loop = asyncio.get_running_loop()
    reopen: asyncio.Future[StartPlan] = loop.create_future()

    def open_session(path: str) -> None:
        try:
            new_plan = plan_start(build_parser().parse_args(["--config", path]), settings)
        except (UsageError, SourceError) as exc:
            window.report_problem(f"Could not open {Path(path).name}: {exc}")
            return
        if not reopen.done():
            reopen.set_result(new_plan)

    def change_hours(hours: str) -> None:
        """The same run again with other session hours (a new calendar: every session starts afresh)."""
        args = copy.copy(plan.args) if plan.args is not None else build_parser().parse_args([])
        args.hours = hours
        try:
            new_plan = plan_start(args, settings)
        except (UsageError, SourceError) as exc:
            window.report_problem(f"Could not switch to {hours} hours: {exc}")
            return
        if not reopen.done():
            reopen.set_result(new_plan)

    window.open_session_requested.connect(open_session)
    window.hours_change_requested.connect(change_hours)
    restore_hook = install_excepthook(window.post_message)
    loop.set_exception_handler(loop_exception_handler(window.post_message))
    previous_sigint = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(window.close))
    for note in plan.notes:
        window.post_message(logging.WARNING, note)
    if recording is not None and recording.off:
        window.notify(logging.WARNING, recording.message[:1].upper() + recording.message[1:])  # status bar too
    elif recording is not None:
        window.post_message(logging.INFO, recording.message)
    if screenshot:
        window.persist = False
        window.resize(*SCREENSHOT_SIZE)
    window.show()
    runner: asyncio.Task[None] | None = None
    closed_by_user = False
    quitting = asyncio.ensure_future(quit_event.wait())
    try:
        await window.boot(plan.watchlist)
        if own_process:
            freeze_startup_heap()
        runner = asyncio.create_task(coordinator.run(hold=not setup.live), name="coordinator")
        if screenshot:
            return await _take_screenshot(window, Path(screenshot), after, quit_event, view), None
        await asyncio.wait([quitting, reopen], return_when=asyncio.FIRST_COMPLETED)
        closed_by_user = True
        return 0, (reopen.result() if reopen.done() and not quit_event.is_set() else None)
    finally:
        quitting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await quitting
        coordinator.stop()
        if runner is not None:
            await runner
        await window.shutdown()
        if recorder is not None:
            # a quit the user asked for starts fresh next time; anything else resumes
            recorder.close(clean=closed_by_user)
        setup.source.close()
        window.closed.disconnect(quit_event.set)  # replacing the window is not quitting
        if window.isVisible():
            window.close()
        window.deleteLater()
        signal.signal(signal.SIGINT, previous_sigint if previous_sigint is not None else signal.SIG_DFL)
        restore_hook()


async def _take_screenshot(
    window: MainWindow, path: Path, after: float, quit_event: asyncio.Event, view: ScreenshotView | None = None
) -> int:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(quit_event.wait(), timeout=after)
    window.flush()
    if view is not None:
        problem = stage_view(window.charts, view)
        if problem is not None:
            print(f"{PROG}: warning: {problem}", file=sys.stderr)
        await asyncio.sleep(0.2)  # let the staged view lay out and paint
    path.parent.mkdir(parents=True, exist_ok=True)
    # a staged chart view is the subject: the tree and charts only (no status bar, no messages)
    target = window.centralWidget() if view is not None and view.chart else window
    if not target.grab().save(str(path)):
        print(f"{PROG}: error: could not write {path}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    """Open the app for parsed arguments (``session_monitor.cli`` parses them and checks the platform)."""
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s", stream=sys.stderr)
    settings = AppSettings.at(args.settings) if args.settings else AppSettings()
    try:
        plan = plan_start(args, settings)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        show_startup_error(PROG, str(exc))
        return 2
    except SourceError as exc:  # same code as ``replay`` for a source that cannot be used
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        show_startup_error(PROG, str(exc))
        return 1
    install_log_file()
    hold_collections_for_startup()
    app = QApplication.instance() or QApplication([PROG])
    assert isinstance(app, QApplication)
    app.setApplicationName(PROG)
    app.setOrganizationName(PROG)
    app.setDesktopFileName(PROG)  # matches the installed .desktop entry (taskbar icon on Wayland)
    app.setWindowIcon(icon("app"))
    apply_dark_palette(app)
    view = ScreenshotView(args.chart, args.explain)
    try:
        return int(run_on_qt(run_window(plan, settings, args.screenshot, args.after, view, own_process=True)))
    finally:
        gc.enable()  # also when start-up failed before freeze_startup_heap
