"""Crash-safe recording: committed bars survive a SIGKILL and the run resumes to the same result."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.bars import BarArrays
from core.recording import Recorder
from tests.core_helpers import walk

ROOT = Path(__file__).resolve().parents[1]


def test_commit_and_load_roundtrip_with_corrections_and_isolated_keys(tmp_path) -> None:
    recorder = Recorder(tmp_path / "r.sqlite3")
    key = Recorder.key("lean:/x", "XNYS", "1m", "SPY", pd.Timestamp("2013-10-07").date())
    other = Recorder.key("lean:/y", "XNYS", "1m", "SPY", pd.Timestamp("2013-10-07").date())
    first = walk(np.arange(0, 600, 60))
    recorder.commit([(key, first.take(slice(0, 5)))])
    recorder.commit([(key, first.take(slice(5, 10))), (other, first.take(slice(0, 1)))])
    correction = BarArrays.from_rows([(120, 1.0, 2.0, 0.5, 1.5, 9.0)])
    recorder.commit([(key, correction)])
    recorder.close()

    reopened = Recorder(tmp_path / "r.sqlite3")
    loaded = reopened.load(key)
    assert list(loaded.ts) == list(range(0, 600, 60))
    assert loaded.volume[2] == 9.0 and loaded.close[3] == first.close[3]
    assert len(reopened.load(other).ts) == 1
    missing = Recorder.key("lean:/x", "XNYS", "1s", "SPY", pd.Timestamp("2013-10-07").date())
    assert len(reopened.load(missing).ts) == 0  # another base never resumes this data


def _replay(args: list[str], data_dir: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "SESSION_MONITOR_DATA_DIR": str(data_dir)}
    return subprocess.Popen([sys.executable, "-m", "core.cli", "replay", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


def _recorded_bars(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute("SELECT COALESCE(SUM(bars), 0) FROM chunks").fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0


def test_sigkill_mid_session_then_resume_equals_an_uninterrupted_run(tmp_path, lean_minute) -> None:
    common = [str(lean_minute), "--symbols", "GOOG", "--intervals", "1m,5m,1h,1d",
              "--start", "2015-12-23", "--end", "2015-12-28", "--quiet"]
    reference = _replay([*common, "--speed", "max", "--export", str(tmp_path / "ref")], tmp_path / "ref-data")
    assert reference.wait(60) == 0

    data_dir = tmp_path / "data"
    db = data_dir / "recordings.sqlite3"
    victim = _replay([*common, "--speed", "6000", "--export", str(tmp_path / "run")], data_dir)
    deadline = time.monotonic() + 60
    while _recorded_bars(db) < 300 and time.monotonic() < deadline:  # well into the first session
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert victim.returncode == -signal.SIGKILL
    accepted = Recorder(db)
    before = {}
    for date in ("2015-12-23", "2015-12-24", "2015-12-28"):
        key = Recorder.key(f"lean:{lean_minute.resolve()}", "XNYS", "1m", "GOOG", pd.Timestamp(date).date())
        before[date] = accepted.load(key)
    accepted.close()
    n_before = sum(len(b.ts) for b in before.values())
    assert 300 <= n_before < 390 + 210 + 382  # killed mid-run, with bars accepted

    resumed = _replay([*common, "--speed", "max", "--export", str(tmp_path / "run")], data_dir)
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert b"resumed" in err

    for interval in ("1m", "5m", "1h", "1d"):
        got = (tmp_path / "run" / "GOOG" / f"{interval}.csv").read_text()
        want = (tmp_path / "ref" / "GOOG" / f"{interval}.csv").read_text()
        assert got == want, interval
    assert (tmp_path / "run" / "session.json").read_text() == (tmp_path / "ref" / "session.json").read_text()
    final = pd.read_csv(tmp_path / "run" / "GOOG" / "1m.csv")
    stamps = pd.to_datetime(final["timestamp"], utc=True).dt.as_unit("s").astype("int64")
    assert stamps.is_unique
    for bars in before.values():  # every accepted bar is there, once, with its values
        rows = final.set_index(stamps).loc[bars.ts]
        assert np.array_equal(rows["close"].to_numpy(), bars.close)


def test_a_damaged_chunk_is_dropped_and_unindexed_bytes_are_ignored(tmp_path) -> None:
    recorder = Recorder(tmp_path / "r.sqlite3")
    key = Recorder.key("demo:0", "XNYS", "1m", "SPY", pd.Timestamp("2013-10-07").date())
    bars = walk(np.arange(0, 600, 60))
    recorder.commit([(key, bars.take(slice(0, 5)))])
    recorder.commit([(key, bars.take(slice(5, 10)))])
    recorder.close()
    segment = next((tmp_path / "r-segments").iterdir())
    raw = bytearray(segment.read_bytes())
    raw[-1] ^= 0xFF  # damage the second chunk
    segment.write_bytes(bytes(raw) + b"half-written tail of a pass that never committed")
    loaded = Recorder(tmp_path / "r.sqlite3").load(key)
    assert list(loaded.ts) == list(range(0, 300, 60))
