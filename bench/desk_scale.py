"""Desk scale: one watchlist served by 1 engine, then split over 3 engines on the same machine.

Each engine is a real ``session-monitor serve`` process (demo 1s → 1m,5m,15m,1h, one
session, ``--speed max --no-record``) publishing to one server; the watchlist is split by
the engines' own shard hash. Measured: wall seconds until every engine has finished
(everything published), the base bars they held in total, and each engine's peak
resident memory (``wait4``'s ``ru_maxrss``), so symbols per GB counts what the engines
need; the server's memory is not counted (it is one per desk, whatever the engine count).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

from session_monitor.core.calendar import get_calendar
from session_monitor.core.sources.demo import DemoSource

__all__ = ["ScaleRun", "serve_split"]


class ScaleRun(NamedTuple):
    engines: int
    symbols: int
    base_bars: int
    seconds: float
    #: summed peak resident memory of the engines, bytes
    peak_rss: int

    @property
    def bars_per_second(self) -> float:
        return self.base_bars / self.seconds

    @property
    def symbols_per_gb(self) -> float:
        return self.symbols / (self.peak_rss / 2**30)


def _base_bars(symbols: list[str], date: dt.date) -> int:
    session = get_calendar("XNYS").session(date)
    source = DemoSource()
    return sum(len(source.seconds(symbol, session)) for symbol in symbols)


def serve_split(url: str, symbols: list[str], date: dt.date, intervals: str, engines: int) -> ScaleRun:
    """Serve ``symbols`` with ``engines`` engines at once (shards 1..N of N); returns the run's figures."""
    with tempfile.TemporaryDirectory(prefix="sm-bench-scale-") as data:
        env = {**os.environ, "SESSION_MONITOR_DATA_DIR": data}
        day = date.isoformat()
        start = time.perf_counter()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "session_monitor", "serve", "demo", "--symbols", ",".join(symbols),
                 "--intervals", intervals, "--start", day, "--end", day, "--speed", "max", "--no-record",
                 "--redis", url, "--shard", f"{i}/{engines}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            )
            for i in range(1, engines + 1)
        ]
        peak = 0
        failed = []
        for process in processes:
            _pid, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            peak += usage.ru_maxrss * 1024  # KiB on Linux
            if process.returncode != 0:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                failed.append(f"exit {process.returncode}: {err[-500:]}")
            if process.stderr:
                process.stderr.close()
        seconds = time.perf_counter() - start
    if failed:
        raise RuntimeError("an engine failed: " + "; ".join(failed))
    return ScaleRun(engines, len(symbols), _base_bars(symbols, date), seconds, peak)
