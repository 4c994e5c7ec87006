"""10. Storage at scale: whole-process peak memory of a demo replay of many 1s symbols.

``python -m session_monitor.core.cli replay demo --symbols S0,… --intervals 1s,1m,5m,15m,1h --speed max
--no-record --quiet`` of one session, one process per size; its peak resident set (the
kernel's ``ru_maxrss`` of that child) over the base bars the demo serves. Three rows:

- bytes per base bar at 500 symbols (target ≤ 80 B: SessionData's store is ~50 B, so the
  feed must not keep a second copy of the session and padding must not be resident);
- 1,025 symbols against 1,024, bytes per base bar (target within 5 %: no power-of-two step
  when one symbol joins);
- 10,000 symbols within 24 GiB (the peak, and the time it took).

``--quick`` runs 40, 16 vs 17 (the row blocks' first step) and 100 symbols: the rows print,
the sizes are too small to judge the targets (the interpreter's own ~130 MiB dominates),
so they are not judged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from bench import REPO_ROOT, Row, log
from bench.replay import DATE, INTERVALS, count_demo_bars

__all__ = ["ROWS", "run"]

TARGET_BYTES_PER_BAR = 80.0
TARGET_STEP = 0.05
TARGET_GIB = 24.0
ROW_PER_BAR = "replay demo 1s, peak bytes per base bar"
ROW_STEP = "replay demo 1s, one symbol past a power of two"
ROW_HUGE = "replay demo 1s, largest run, peak memory"
ROWS = (ROW_PER_BAR, ROW_STEP, ROW_HUGE)
_GIB = 2.0**30


@dataclass(frozen=True)
class Replay:
    """One replay process: its symbols' base bars, its peak resident bytes and its wall time."""

    bars: int
    peak_bytes: float
    seconds: float

    @property
    def bytes_per_bar(self) -> float:
        return self.peak_bytes / self.bars


def replay(n_symbols: int) -> Replay:
    """Run the replay of ``n_symbols`` demo symbols in a process of its own and measure it."""
    symbols = [f"S{k}" for k in range(n_symbols)]
    bars = count_demo_bars(symbols)
    log(f"  replay of {n_symbols} symbols ({bars:,} base bars) ...")
    with tempfile.TemporaryDirectory(prefix="sm-bench-scale-") as data_dir:
        env = {**os.environ, "SESSION_MONITOR_DATA_DIR": data_dir, "PYTHONPATH": str(REPO_ROOT)}
        cmd = [
            sys.executable, "-m", "session_monitor.core.cli", "replay", "demo",
            "--symbols", ",".join(symbols),
            "--intervals", INTERVALS,
            "--start", DATE, "--end", DATE,
            "--speed", "max", "--quiet", "--no-record",
        ]
        start = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert process.stderr is not None
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, not every child's
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = (errors.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"replay of {n_symbols} symbols exited {process.returncode}: {tail[:200]}")
    return Replay(bars, usage.ru_maxrss * 1024.0, seconds)


def run(quick: bool) -> list[Row]:
    per_bar_symbols, step_symbols, huge_symbols = (40, 16, 100) if quick else (500, 1024, 10_000)
    scale = replay(per_bar_symbols)
    below, above = replay(step_symbols), replay(step_symbols + 1)
    huge = replay(huge_symbols)
    step = above.bytes_per_bar / below.bytes_per_bar
    return [
        Row(
            ROW_PER_BAR, scale.bytes_per_bar, None, "bytes/bar", None, f"≤ {TARGET_BYTES_PER_BAR:.0f} B/bar",
            None if quick else scale.bytes_per_bar <= TARGET_BYTES_PER_BAR,
            f"{per_bar_symbols} symbols, {scale.bars:,} base bars, peak RSS {scale.peak_bytes / _GIB:.2f} GiB, "
            f"{scale.seconds:.1f} s, whole process",
            better="lower",
        ),
        Row(
            ROW_STEP, above.bytes_per_bar, below.bytes_per_bar, "bytes/bar", step,
            f"within {TARGET_STEP:.0%} (≤ {1 + TARGET_STEP:.2f}×)", None if quick else abs(step - 1.0) <= TARGET_STEP,
            f"{step_symbols + 1} symbols ({above.peak_bytes / _GIB:.2f} GiB) vs ref = {step_symbols} symbols "
            f"({below.peak_bytes / _GIB:.2f} GiB), whole-process peak per base bar",
            better="lower",
        ),
        Row(
            ROW_HUGE, huge.peak_bytes / _GIB, None, "GiB", None, f"≤ {TARGET_GIB:.0f} GiB at 10,000",
            None if quick else huge.peak_bytes / _GIB <= TARGET_GIB,
            f"{huge_symbols:,} symbols, {huge.bars:,} base bars, {huge.seconds:.0f} s "
            f"({huge.bars / huge.seconds:,.0f} bars/s), {huge.bytes_per_bar:.0f} B/bar",
            better="lower",
        ),
    ]
