"""3. Replay end to end: ``session-monitor replay`` of the demo feed, recording on and off.

``python -m session_monitor.core.cli replay demo --symbols S0,…,S99 --intervals 1s,1m,5m,15m,1h --start
2013-10-07 --end 2013-10-07 --speed max --quiet`` (100 symbols × one session of 1s bars,
about 2.3 M base bars) timed as a whole process (start-up, bar generation, derivation,
quality, gaps, recording), with and without ``--no-record``, interleaved. Every run gets a
fresh ``SESSION_MONITOR_DATA_DIR`` so a recording never resumes a previous run; the
recorded bar count is checked against the feed's, and the segment files' size is noted.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench import REPO_ROOT, Row, median, ratio

__all__ = ["ROWS", "count_demo_bars", "run"]

DATE = "2013-10-07"
INTERVALS = "1s,1m,5m,15m,1h"
TARGET_COST = 0.20
ROW_OFF = "replay demo 1s→1m,5m,15m,1h (no recording)"
ROW_ON = "replay demo 1s, recording cost"
ROWS = (ROW_OFF, ROW_ON)


def count_demo_bars(symbols: list[str]) -> int:
    """Base bars the demo feed serves for ``symbols`` on DATE (what the replay streams)."""
    from session_monitor.core.calendar import get_calendar
    from session_monitor.core.sources.demo import DemoSource

    session = get_calendar("XNYS").session(dt.date.fromisoformat(DATE))
    source = DemoSource()
    return sum(len(source.seconds(s, session).ts) for s in symbols)


class _Run(NamedTuple):
    seconds: float  # wall time of the whole process
    recorded: int | None = None  # bars the recording's index holds (when recording)
    segment_bytes: int = 0  # what the segment files hold


def _replay(symbols: list[str], record: bool) -> _Run:
    """One replay process, timed."""
    with tempfile.TemporaryDirectory(prefix="sm-bench-replay-") as data_dir:
        env = {**os.environ, "SESSION_MONITOR_DATA_DIR": data_dir, "PYTHONPATH": str(REPO_ROOT)}
        cmd = [
            sys.executable, "-m", "session_monitor.core.cli", "replay", "demo",
            "--symbols", ",".join(symbols),
            "--intervals", INTERVALS,
            "--start", DATE, "--end", DATE,
            "--speed", "max", "--quiet",
        ]
        if not record:
            cmd.append("--no-record")
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"replay exited {done.returncode}: {tail[:200]}")
        path = Path(data_dir) / "recordings.sqlite3"
        if not record:
            if path.exists():
                raise RuntimeError("--no-record wrote a recording")
            return _Run(elapsed)
        with sqlite3.connect(path) as db:
            recorded = int(db.execute("SELECT COALESCE(SUM(bars), 0) FROM chunks").fetchone()[0])
        segments = sum(f.stat().st_size for f in Path(data_dir).glob("recordings-segments/*.bars"))
    return _Run(elapsed, recorded, segments)


def run(quick: bool) -> list[Row]:
    symbols = [f"S{k}" for k in range(5 if quick else 100)]
    rounds = 2 if quick else 5
    bars = count_demo_bars(symbols)
    times: dict[bool, list[float]] = {False: [], True: []}
    segment_bytes = 0
    for r in range(rounds):
        for record in ((False, True) if r % 2 == 0 else (True, False)):
            run = _replay(symbols, record)
            if record and run.recorded != bars:
                raise AssertionError(f"recorded {run.recorded} bars, the feed served {bars}")
            times[record].append(run.seconds)
            segment_bytes = max(segment_bytes, run.segment_bytes)
    off, on = median(times[False]), median(times[True])
    cost = on / off
    scope = f"{len(symbols)} symbols × 1 session, {bars:,} base bars, whole process"
    return [
        Row(ROW_OFF, bars / off, None, "bars/s", None, "—", None, f"{scope}; {off:.2f} s"),
        Row(
            ROW_ON,
            on,
            off,
            "s",
            ratio(on, off),
            f"cost ≤ {TARGET_COST:.0%} (≤ {1 + TARGET_COST:.2f}×)",
            cost <= 1 + TARGET_COST,
            f"ref = same replay --no-record; {bars / on:,.0f} bars/s recorded; cost {cost - 1:+.1%}; "
            f"segment files {segment_bytes / bars:.1f} B a bar",
            better="lower",
        ),
    ]
