"""8. GUI responsiveness: event-loop lag of the real window streaming the demo feed.

Session Monitor: the desktop app as ``gui/app.py`` builds it — ``plan_start`` over
``demo --symbols S000,… --intervals 1s,1m,5m,15m --speed 60 --no-record`` (one XNYS session,
settings in a temp file), a ``SessionCoordinator``, the real ``gui.main_window.MainWindow``
(1280×800, dark palette, shown on the offscreen platform), ``window.boot`` adding every
symbol, then ``coordinator.run()`` as an asyncio task on the qasync loop (``qasync.run``,
as the app does, so the window's asyncSlots really run). Once the coordinator is streaming
(state OPEN), a probe — a ``QTimer`` (PreciseTimer) firing every 10 ms — records how late
each firing is (time since the previous firing minus 10 ms) for the measured seconds:
100 symbols for 60 s (1 hour of session at 60×; ``--quick``: 5 symbols, 3 s). The first
symbol's 1s chart is on screen, the tree shows every symbol expanded.

Reference: the same probe, the same window with the same symbols booted, but no
coordinator running (an idle window): what the Qt/qasync loop costs by itself.

Each run is a subprocess (``python -m bench.gui_responsiveness --child …`` printing JSON;
add ``--profile FILE.prof`` to get a cProfile of the probed seconds),
so no Qt state leaks into the suite's process or from one run into the next. The live and
idle runs alternate; figures are the probe's p50, p99 and max over all firings.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import REPO_ROOT, Row, log, ratio

__all__ = ["ROWS", "run"]

DATE = "2013-10-07"
INTERVALS = "1s,1m,5m,15m"
SPEED = 60
PROBE_MS = 10
TARGET_P99_MS = 50.0
#: no more than this long to load the feeds and reach the OPEN state
START_TIMEOUT = 120.0
#: a run still going this long after its measured seconds (plus start-up) is killed and reported as blocked
KILL_AFTER = 240.0

ROW_P50 = "GUI event-loop lag p50, demo streaming"
ROW_P99 = "GUI event-loop lag p99, demo streaming"
ROW_MAX = "GUI event-loop lag max, demo streaming"
ROWS = (ROW_P50, ROW_P99, ROW_MAX)


# -- the child process ------------------------------------------------------------------------------
async def _measure(
    plan: Any, settings: Any, live: bool, seconds: float, profile: str | None, stamps_path: str | None,
    started: float, freeze: bool = True,
) -> dict[str, Any]:
    """One window over one coordinator, as gui.app._run_one wires them, probed for ``seconds``.

    ``profile``: write a cProfile of the probed seconds (only those) to this file.
    ``stamps_path``: also append every probe firing's time there as it happens, so a parent
    that has to kill a hung run still knows how long the loop was blocked.
    """
    import asyncio

    from PySide6.QtCore import Qt, QTimer

    from session_monitor.core.clock import ClockState
    from session_monitor.core.coordinator import SessionCoordinator
    from session_monitor.core.session_data import SessionData
    from session_monitor.gui.app import freeze_startup_heap
    from session_monitor.gui.main_window import MainWindow

    setup = plan.setup
    session_data = SessionData()
    coordinator = SessionCoordinator(session_data, setup.source, setup.calendar, setup.sessions, speed=setup.speed)
    window = MainWindow(session_data, coordinator, settings, plan.source_spec)
    window.persist = False
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(str(context.get("message"))))
    window.show()
    runner: asyncio.Task[None] | None = None
    stamps: list[float] = []
    #: the GUI thread's CPU seconds at each firing: a late firing with little CPU spent since the
    #: previous one was the machine (other processes), one with as much CPU was the app's own work
    cpu_stamps: list[float] = []
    sink = open(stamps_path, "w", buffering=1) if stamps_path else None  # noqa: SIM115 - closed below

    def fired() -> None:
        now = time.perf_counter()
        stamps.append(now)
        cpu_stamps.append(time.thread_time())
        if sink is not None:
            sink.write(f"{now!r}\n")

    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PROBE_MS)
    probe.timeout.connect(fired)
    try:
        await window.boot(plan.watchlist)
        if freeze:
            freeze_startup_heap()  # as gui.app does after boot
        if live:
            runner = asyncio.create_task(coordinator.run(), name="coordinator")
            deadline = time.monotonic() + START_TIMEOUT
            while coordinator.state is not ClockState.OPEN:
                if runner.done() or time.monotonic() > deadline:
                    raise RuntimeError(f"the coordinator did not start streaming (state {coordinator.state.value})")
                await asyncio.sleep(0.01)
            startup = time.perf_counter() - started
            startup_cpu = time.process_time()  # the child's CPU seconds so far: start-up's own cost
        else:
            startup = time.perf_counter() - started
            startup_cpu = time.process_time()
            await asyncio.sleep(0.5)  # let the boot's repaints settle, as the live run's loading does
        clock_start = coordinator.clock.now
        bars_start = sum(len(d.base.data) for d in session_data.all_symbol_data())
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        fired()
        gc_pauses: list[float] = []
        gc_started = [0.0]

        def on_gc(phase: str, _info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                gc_pauses.append((time.perf_counter() - gc_started[0]) * 1000.0)

        gc.callbacks.append(on_gc)
        cpu_start = time.process_time()
        probe.start()
        await asyncio.sleep(seconds)
        probe.stop()
        gc.callbacks.remove(on_gc)
        cpu_used = time.process_time() - cpu_start
        fired()  # a stall just before the end counts too
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        clock_end = coordinator.clock.now
        bars_end = sum(len(d.base.data) for d in session_data.all_symbol_data())
        rows_shown = window.model.rowCount() + sum(
            window.model.rowCount(window.model.index(r, 0)) for r in range(window.model.rowCount())
        )
        chart = window.charts.chart(window.charts.current_interval() or "")
        candles = len(chart.data.bars.data) if chart is not None else 0
    finally:
        probe.stop()
        if sink is not None:
            sink.close()
        coordinator.stop()
        if runner is not None:
            await runner
        await window.shutdown()
        if window.isVisible():
            window.close()
        window.deleteLater()
    if errors:
        raise RuntimeError(f"errors in the event loop: {errors[:3]}")
    lags = np.maximum(np.diff(np.asarray(stamps)) * 1000.0 - PROBE_MS, 0.0)
    busy = np.diff(np.asarray(cpu_stamps)) * 1000.0
    return {
        "live": live,
        "lags_ms": lags.round(3).tolist(),
        #: GUI-thread CPU milliseconds between consecutive firings (see cpu_stamps)
        "busy_ms": busy.round(3).tolist(),
        "seconds": seconds,
        "session_seconds": clock_end - clock_start,
        "bars": bars_end - bars_start,
        "rows": rows_shown,
        "chart_candles": candles,
        "startup_s": round(startup, 3),
        "startup_cpu_s": round(startup_cpu, 3),
        "gc_pauses_ms": [round(p, 3) for p in gc_pauses],
        #: CPU seconds per probed second: near 1 the app saturates its core, well below 1 the machine is busy
        "cpu_share": round(cpu_used / seconds, 3),
    }


def _child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gui_responsiveness --child")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--symbols", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--idle", action="store_true", help="no coordinator running (the reference)")
    parser.add_argument("--profile", metavar="FILE.prof", help="cProfile the probed seconds into FILE.prof")
    parser.add_argument("--stamps", metavar="FILE", help="append each probe firing's perf_counter() to FILE")
    parser.add_argument("--no-freeze", action="store_true", help="leave the start-up heap to the collector (reference)")
    args = parser.parse_args(argv)
    started = time.perf_counter()  # start-up: from here (Qt not imported yet) to streaming
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["QT_API"] = "pyside6"
    import tempfile

    import qasync
    from PySide6.QtWidgets import QApplication

    from session_monitor.gui.app import PROG, build_parser, hold_collections_for_startup, plan_start
    from session_monitor.gui.settings import AppSettings
    from session_monitor.gui.theme import apply_dark_palette

    if not args.no_freeze:
        hold_collections_for_startup()  # as gui.app.run does; freeze_startup_heap enables them again
    app = QApplication([PROG])
    app.setApplicationName(PROG)
    apply_dark_palette(app)
    symbols = ",".join(f"S{k:03d}" for k in range(args.symbols))
    with tempfile.TemporaryDirectory(prefix="sm-bench-gui-") as tmp:
        settings = AppSettings.at(Path(tmp) / "settings.ini")
        cli = [
            "demo", "--symbols", symbols, "--intervals", INTERVALS, "--speed", str(SPEED),
            "--start", DATE, "--end", DATE, "--no-record",
        ]
        plan = plan_start(build_parser().parse_args(cli), settings)
        result = qasync.run(_measure(plan, settings, not args.idle, args.seconds, args.profile, args.stamps,
                                           started, freeze=not args.no_freeze))
    print(json.dumps(result))
    return 0


# -- the parent -------------------------------------------------------------------------------------
def _run_child(symbols: int, seconds: float, idle: bool, freeze: bool = True) -> dict[str, Any]:
    """One GUI run in a subprocess; a run still blocked at the deadline is killed and reported from its stamps."""
    import tempfile

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "QT_QPA_PLATFORM": "offscreen", "QT_API": "pyside6"}
    with tempfile.TemporaryDirectory(prefix="sm-bench-probe-") as tmp:
        stamps = os.path.join(tmp, "stamps.txt")
        cmd = [sys.executable, "-m", "bench.gui_responsiveness", "--child", "--symbols", str(symbols),
               "--seconds", str(seconds), "--stamps", stamps]
        if idle:
            cmd.append("--idle")
        if not freeze:
            cmd.append("--no-freeze")
        limit = seconds + START_TIMEOUT + KILL_AFTER
        try:
            done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            killed = time.perf_counter()  # CLOCK_MONOTONIC, the child's clock too
            path = Path(stamps)
            fired = [float(x) for x in path.read_text().split()] if path.exists() else []
            if len(fired) < 2:
                raise RuntimeError(f"GUI run still not probing after {limit:.0f} s (killed)") from None
            fired.append(killed)  # at least this late when killed
            lags = np.maximum(np.diff(np.asarray(fired)) * 1000.0 - PROBE_MS, 0.0)
            return {"live": not idle, "lags_ms": lags.round(3).tolist(), "killed_after": limit}
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or "no output"
        raise RuntimeError(f"GUI run exited {done.returncode}: {tail[:300]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[Row]:
    symbols, seconds = (5, 3.0) if quick else (100, 60.0)
    lags: dict[bool, list[float]] = {False: [], True: []}
    info: dict[str, Any] = {}
    for idle in (False, True):  # one run each (a full run is a minute); live first, idle second
        result = _run_child(symbols, seconds, idle)
        lags[idle].extend(result["lags_ms"])
        if not idle:
            info = result
        which = "idle" if idle else "live"
        lag = np.asarray(result["lags_ms"])
        log(f"  {which}: {len(lag):,} probe firings, p50 {np.percentile(lag, 50):.2f} ms, "
            f"p99 {np.percentile(lag, 99):.1f} ms, max {lag.max():.1f} ms")
    live, idle = np.asarray(lags[False]), np.asarray(lags[True])
    what = f"real MainWindow, demo {symbols} symbols {INTERVALS} at {SPEED}×, {seconds:.0f} s"
    if "killed_after" in info:
        what += (
            f" — NOT FINISHED: still blocked {info['killed_after']:.0f} s after start, killed; "
            f"the last lag is the time from its last probe firing to the kill (lower bounds)"
        )
    else:
        if info.get("bars", 0) <= 0:
            raise RuntimeError("the live run streamed no bars")
        what += (
            f" ({info['session_seconds']:.0f} s of session, {info['bars']:,} base bars, {info['rows']} tree rows, "
            f"{info['chart_candles']:,} candles on the 1s chart)"
        )
    base_note = (
        f"{what}; {PROBE_MS} ms QTimer probe, lateness per firing ({len(live):,} firings); "
        f"ref: same window booted, coordinator not running ({len(idle):,} firings)"
    )
    rows = []
    for name, q in ((ROW_P50, 50.0), (ROW_P99, 99.0), (ROW_MAX, 100.0)):
        mine, theirs = float(np.percentile(live, q)), float(np.percentile(idle, q))
        judged = name == ROW_P99
        rows.append(
            Row(
                name,
                mine,
                theirs,
                "ms",
                ratio(mine, theirs),
                f"≤ {TARGET_P99_MS:.0f} ms" if judged else "—",
                (mine <= TARGET_P99_MS) if judged else None,
                base_note if judged else "",
                better="lower",
            )
        )
    return rows


if __name__ == "__main__":
    if "--child" in sys.argv[1:]:
        sys.exit(_child(sys.argv[1:]))
    sys.exit("run through 'python -m bench --only gui-responsiveness'")
