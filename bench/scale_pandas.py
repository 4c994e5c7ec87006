"""11d. The 500-symbol demo replay versus the pandas script a user would write (whole processes).

Session Monitor: ``python -m session_monitor.core.cli replay demo --symbols S0,…,S499 --intervals
1s,1m,5m,15m,1h --start 2013-10-07 --end 2013-10-07 --speed max --no-record --quiet`` (the
command of the scale rows: it generates the demo's bars, derives, measures quality, gaps
and health, and keeps everything in memory). Reference: bench/pandas_reference_script.py
over the same bars (the demo's, written once as one Parquet file per symbol under the
system temp dir and reused), deriving 1m,5m,15m,1h session-anchored and keeping them in
memory. Both are timed as whole processes, interleaved. Before timing, a few symbols are
replayed with ``--export`` and every exported 1m/5m/15m/1h bar is checked against the
script's (the two derive the same bars).
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bench import Row, log, median, ratio
from bench.data import made_once
from bench.pandas_script import SCRIPT, compare_outputs, timed_process
from bench.replay import DATE, INTERVALS

__all__ = ["ROWS", "demo_folder", "run"]

TARGET = 0.6
ROW = "replay demo 1s→1m,5m,15m,1h, many symbols, vs pandas script"
ROWS = (ROW,)
DERIVED = "1m,5m,15m,1h"
CHECKED = 3
_VERSION = 1


def demo_folder(n_symbols: int) -> tuple[Path, int]:
    """One Parquet file of the demo's 1s bars per symbol (written once per machine) and the bar count."""
    return made_once(f"demo-1s-{DATE.replace('-', '')}-{n_symbols}-v{_VERSION}",
                     f"writing the demo's 1s bars of {n_symbols} symbols", lambda root: _write_demo(root, n_symbols))


def _write_demo(root: Path, n_symbols: int) -> int:
    from session_monitor.core.calendar import get_calendar
    from session_monitor.core.sources.demo import DemoSource

    session = get_calendar("XNYS").session(dt.date.fromisoformat(DATE))
    source = DemoSource()
    rows = 0
    for k in range(n_symbols):
        bars = source.load_session(f"S{k}", source.base_intervals(f"S{k}")[0], session).bars
        frame = pd.DataFrame({
            "timestamp": pd.to_datetime(bars.ts, unit="s", utc=True),
            "open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close, "volume": bars.volume,
        })
        frame.to_parquet(root / f"S{k}.parquet", index=False)
        rows += len(frame)
    return rows


def _timed(cmd: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="sm-bench-scale-pandas-") as data_dir:
        elapsed, _ = timed_process(cmd, data_dir)
    return elapsed


def _replay_cmd(symbols: list[str], export: Path | None = None) -> list[str]:
    return [
        sys.executable, "-m", "session_monitor.core.cli", "replay", "demo",
        "--symbols", ",".join(symbols),
        "--intervals", INTERVALS,
        "--start", DATE, "--end", DATE,
        "--speed", "max", "--quiet", "--no-record",
        *(["--export", str(export)] if export is not None else []),
    ]


def check_same_bars(folder: Path, symbols: list[str]) -> None:
    """The replay's exported bars of ``symbols`` equal the script's from the Parquet files."""
    with tempfile.TemporaryDirectory(prefix="sm-bench-scale-check-") as tmp:
        some, ours, theirs = Path(tmp) / "in", Path(tmp) / "ours", Path(tmp) / "pandas"
        some.mkdir()
        for symbol in symbols:
            (some / f"{symbol}.parquet").symlink_to(folder / f"{symbol}.parquet")
        _timed(_replay_cmd(symbols, ours))
        _timed([sys.executable, str(SCRIPT), str(some), str(theirs), DERIVED])
        compare_outputs(ours, theirs, symbols)


def run(quick: bool) -> list[Row]:
    n_symbols = 20 if quick else 500
    rounds = 1 if quick else 3
    folder, bars = demo_folder(n_symbols)
    symbols = [f"S{k}" for k in range(n_symbols)]
    check_same_bars(folder, symbols[:CHECKED])
    jobs = {"ours": _replay_cmd(symbols), "pandas": [sys.executable, str(SCRIPT), str(folder), "-", DERIVED]}
    times: dict[str, list[float]] = {"ours": [], "pandas": []}
    for r in range(rounds):
        for side in (("ours", "pandas") if r % 2 == 0 else ("pandas", "ours")):
            log(f"  {side} ({n_symbols} symbols) ...")
            times[side].append(_timed(jobs[side]))
    ours, ref = median(times["ours"]), median(times["pandas"])
    r = ratio(ours, ref)
    note = (
        f"{n_symbols} symbols × 1 session, {bars:,} 1s bars, whole processes; the replay generates the bars and "
        f"also measures quality, gaps and health, the script reads them from Parquet; {CHECKED} symbols' "
        "derived bars checked identical"
    )
    met = None if quick else r is not None and r <= TARGET
    return [Row(ROW, ours, ref, "s", r, f"≤ {TARGET:.1f}× pandas time", met, note, better="lower")]
