"""9. A folder of many CSV files: time until the first session can start.

N files of one 1m session each (``S00000.csv`` …, generated in a temporary folder) are
opened the way ``replay`` and the GUI open them (``resolve_run``: list, plan the range,
check every watched symbol) and the first symbol's session is loaded. Two cases: one
symbol named with ``--symbols`` (only its file is parsed) and every symbol of the folder
(all files parsed on the thread pool). Before the folder was indexed by symbol, 10,000
files took 150-370 s here, growing with files × symbols.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from bench import Row, median

__all__ = ["ROWS", "run"]

ROW_ONE = "CSV folder → first session, one symbol named"
ROW_ALL = "CSV folder → first session, every symbol"
ROWS = (ROW_ONE, ROW_ALL)
TARGET_ONE = 5.0
TARGET_ALL = 30.0


def write_folder(folder: Path, files: int) -> None:
    """``files`` one-session 1m CSV files (390 rows each)."""
    start = dt.datetime(2013, 10, 7, 13, 30, tzinfo=dt.UTC)
    rows = []
    for k in range(390):
        p = 100 + k * 0.01
        stamp = (start + dt.timedelta(minutes=k)).isoformat()
        rows.append(f"{stamp},{p:.2f},{p + 0.05:.2f},{p - 0.05:.2f},{p + 0.01:.2f},{1000 + k}")
    body = "timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n"
    for i in range(files):
        (folder / f"S{i:05d}.csv").write_text(body)


def first_session_seconds(folder: Path, symbols: str | None) -> float:
    """Wall seconds from opening the source to the first symbol's bars of the first session."""
    from session_monitor.core.runconfig import add_run_arguments, resolve_run

    parser = argparse.ArgumentParser()
    add_run_arguments(parser, source_required=True)
    argv = [str(folder), *(["--symbols", symbols] if symbols else [])]
    began = time.perf_counter()
    setup = resolve_run(parser.parse_args(argv), default_speed=None)
    base = setup.source.base_intervals(setup.symbols[0])[0]
    loaded = setup.source.load_session(setup.symbols[0], base, setup.sessions[0])
    elapsed = time.perf_counter() - began
    if len(loaded.bars) != 390:
        raise AssertionError(f"{len(loaded.bars)} bars loaded, 390 written")
    return elapsed


def run(quick: bool) -> list[Row]:
    files = 200 if quick else 10_000
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="sm-bench-csv-folder-") as tmp:
        folder = Path(tmp)
        write_folder(folder, files)
        one = median([first_session_seconds(folder, "S00042") for _ in range(rounds)])
        every = median([first_session_seconds(folder, None) for _ in range(rounds)])
    scope = f"{files:,} files × 390 1m rows"
    return [
        Row(ROW_ONE, one, None, "s", None, f"≤ {TARGET_ONE:g} s", one <= TARGET_ONE, scope, better="lower"),
        Row(ROW_ALL, every, None, "s", None, f"≤ {TARGET_ALL:g} s", every <= TARGET_ALL, scope, better="lower"),
    ]
