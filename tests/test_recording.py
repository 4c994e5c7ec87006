"""Crash-safe recording: committed bars survive a SIGKILL, one writer per recording, damage is re-fetched."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.recording import MAX_OPEN_SEGMENTS, LostSpan, Recorder, RecordingBusy, RecordingScope
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.demo import DemoSource
from session_monitor.core.sources.tabular import TabularSource
from tests.core_helpers import walk

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2013, 10, 7)
DEMO = RecordingScope("demo:0", "XNYS")


def test_commit_and_load_roundtrip_with_corrections_and_isolated_keys(tmp_path) -> None:
    recorder = Recorder(tmp_path / "r.sqlite3", RecordingScope("lean:/x", "XNYS"))
    other = Recorder(tmp_path / "r.sqlite3", RecordingScope("lean:/y", "XNYS"))  # another source: its own writer
    key = recorder.key("1m", "SPY", DAY)
    first = walk(np.arange(0, 600, 60))
    recorder.commit([(key, first.take(slice(0, 5)))])
    recorder.commit([(key, first.take(slice(5, 10)))])
    other.commit([(other.key("1m", "SPY", DAY), first.take(slice(0, 1)))])
    correction = BarArrays.from_rows([(120, 1.0, 2.0, 0.5, 1.5, 9.0)])
    recorder.commit([(key, correction)])
    with pytest.raises(ValueError, match="not in this recorder's scope"):
        recorder.commit([(other.key("1m", "SPY", DAY), first)])
    recorder.close(clean=False)
    other.close(clean=False)

    reopened = Recorder(tmp_path / "r.sqlite3", RecordingScope("lean:/x", "XNYS"))
    assert reopened.resumable
    loaded = reopened.load(key).bars
    assert list(loaded.ts) == list(range(0, 600, 60))
    assert loaded.volume[2] == 9.0 and loaded.close[3] == first.close[3]
    assert len(reopened.load(reopened.key("1s", "SPY", DAY)).bars.ts) == 0  # another base never resumes this data
    reopened.close(clean=False)
    assert len(Recorder(tmp_path / "r.sqlite3", RecordingScope("lean:/y", "XNYS")).load(key._replace(
        source="lean:/y")).bars.ts) == 1


def test_a_clean_end_starts_fresh_and_an_unclean_one_resumes(tmp_path) -> None:
    db = tmp_path / "r.sqlite3"
    bars = walk(np.arange(0, 300, 60))
    first = Recorder(db, DEMO)
    assert not first.resumable
    first.commit([(first.key("1m", "SPY", DAY), bars)])
    first.close(clean=False)  # a crash: nothing marks the run as ended

    second = Recorder(db, DEMO)
    assert second.resumable
    assert np.array_equal(second.load(second.key("1m", "SPY", DAY)).bars.ts, bars.ts)
    second.close(clean=True)  # a quit the user asked for

    third = Recorder(db, DEMO)
    assert not third.resumable
    assert len(third.load(third.key("1m", "SPY", DAY)).bars.ts) == 0
    assert list((tmp_path / "r-segments").glob("*.bars")) == []  # the old recording's bytes are gone too
    later = DAY + dt.timedelta(days=1)
    third.commit([(third.key("1m", "SPY", DAY), bars), (third.key("1m", "SPY", later), bars)])
    third.discard(since=later)  # the replay moved back to the second session
    assert len(third.load(third.key("1m", "SPY", DAY)).bars.ts) == 5
    assert len(third.load(third.key("1m", "SPY", later)).bars.ts) == 0
    third.discard()  # Session → Restart: the whole range again
    assert len(third.load(third.key("1m", "SPY", DAY)).bars.ts) == 0
    third.commit([(third.key("1m", "SPY", DAY), bars.take(slice(0, 2)))])  # recording goes on afresh
    assert list(third.load(third.key("1m", "SPY", DAY)).bars.ts) == [0, 60]
    third.close(clean=False)


def test_damaged_and_missing_chunks_are_reported_as_lost_spans_between_good_bars(tmp_path) -> None:
    recorder = Recorder(tmp_path / "r.sqlite3", DEMO)
    key = recorder.key("1m", "SPY", DAY)
    bars = walk(np.arange(0, 1200, 60))
    for part in range(4):  # four chunks of five bars
        recorder.commit([(key, bars.take(slice(5 * part, 5 * part + 5)))])
    recorder.close(clean=False)
    segment = next((tmp_path / "r-segments").glob("*.bars"))
    raw = bytearray(segment.read_bytes())
    chunk = len(raw) // 4
    raw[chunk + 7] ^= 0x01  # one flipped bit in the second chunk
    segment.write_bytes(bytes(raw[: 3 * chunk + 10]) + b"half-written tail")  # the fourth is cut short

    loaded = Recorder(tmp_path / "r.sqlite3", DEMO).load(key)
    assert list(loaded.bars.ts) == list(range(0, 300, 60)) + list(range(600, 900, 60))
    assert loaded.lost == [LostSpan(after=240, before=600, bars=5), LostSpan(after=840, before=None, bars=5)]


def test_segment_files_open_at_once_stay_bounded_however_many_recordings(tmp_path) -> None:
    recorder = Recorder(tmp_path / "r.sqlite3", DEMO)
    fds = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").exists() else None
    bars = walk(np.arange(0, 120, 60))
    for day in range(12):
        date = DAY + dt.timedelta(days=day)
        recorder.commit([(recorder.key("1m", f"S{k}", date), bars) for k in range(100)])
    assert recorder.open_segments <= MAX_OPEN_SEGMENTS
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) <= fds + MAX_OPEN_SEGMENTS
    assert len(recorder.load(recorder.key("1m", "S0", DAY)).bars.ts) == 2  # an evicted file still reads back
    recorder.close(clean=False)


# -- one writer per recording ------------------------------------------------------------

HOLD = """
import sys
from session_monitor.core.recording import Recorder, RecordingScope
from tests.core_helpers import walk
import numpy as np, datetime as dt
recorder = Recorder(sys.argv[1], RecordingScope(sys.argv[2], "XNYS"))
key = recorder.key("1m", "GOOG", dt.date(2015, 12, 28))
recorder.commit([(key, walk(np.arange(0, 600, 60)))])
print("holding", flush=True)
sys.stdin.readline()
recorder.close(clean=False)
"""


def _python(code: str, *args: str, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "SESSION_MONITOR_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_second_writer_of_the_same_recording_is_refused_with_who_holds_it(tmp_path) -> None:
    db = tmp_path / "recordings.sqlite3"
    holder = _python(HOLD, str(db), "demo:0", data_dir=tmp_path)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(RecordingBusy, match=rf"demo:0 on XNYS is being recorded by .*pid {holder.pid}"):
            Recorder(db, DEMO)
        mine = Recorder(db, DEMO.labelled("second"))  # under a key of its own it records alongside
        mine.commit([(mine.key("1m", "GOOG", dt.date(2015, 12, 28)), walk(np.arange(0, 60, 60)))])
        mine.close(clean=False)
    finally:
        holder.communicate("\n", timeout=20)
    assert holder.returncode == 0, holder.stderr
    after = Recorder(db, DEMO)
    assert after.resumable  # the holder's bars are all there, untouched by the second instance
    assert len(after.load(after.key("1m", "GOOG", dt.date(2015, 12, 28))).bars.ts) == 10
    after.close(clean=False)


def test_a_second_replay_of_a_source_being_recorded_runs_unrecorded_or_under_its_own_key(
    tmp_path, lean_minute
) -> None:
    data_dir = tmp_path / "data"
    source = f"lean:{lean_minute.resolve()}"
    holder = _python(HOLD, str(data_dir / "recordings.sqlite3"), source, data_dir=data_dir)
    common = [str(lean_minute), "--symbols", "GOOG", "--intervals", "1m,5m",
              "--start", "2015-12-28", "--end", "2015-12-28", "--speed", "max", "--quiet"]
    try:
        assert holder.stdout.readline().strip() == "holding"
        refused = _replay([*common, "--export", str(tmp_path / "a")], data_dir)
        _, err_refused = refused.communicate(timeout=60)
        labelled = _replay([*common, "--export", str(tmp_path / "b"), "--record-as", "mine"], data_dir)
        _, err_labelled = labelled.communicate(timeout=60)
    finally:
        holder.communicate("\n", timeout=20)
    assert refused.returncode == 0 and labelled.returncode == 0, (err_refused, err_labelled)
    lines = err_refused.decode().splitlines()
    assert lines[0] == (
        f"warning: recording is off: {source} on XNYS is being recorded by another Session Monitor "
        f"(pid {holder.pid} on {os.uname().nodename}) in {data_dir / 'recordings.sqlite3'}; this run is not "
        "recorded (--record-as NAME records it under a key of its own)"
    )
    assert err_labelled.decode().startswith(f"recording to {data_dir / 'recordings.sqlite3'}")
    assert (tmp_path / "a" / "GOOG" / "1m.csv").read_text() == (tmp_path / "b" / "GOOG" / "1m.csv").read_text()
    with sqlite3.connect(data_dir / "recordings.sqlite3") as con:
        sources = dict(con.execute(
            "SELECT r.source, SUM(c.bars) FROM recordings r JOIN chunks c ON c.recording = r.id GROUP BY r.source"
        ).fetchall())
    assert sources == {source: 10, f"{source} as mine": 382}  # GOOG has 382 bars on 2015-12-28


# -- killed runs resume to the same result -------------------------------------------------


def _replay(args: list[str], data_dir: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "SESSION_MONITOR_DATA_DIR": str(data_dir)}
    return subprocess.Popen([sys.executable, "-m", "session_monitor.core.cli", "replay", *args], cwd=ROOT, env=env,
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


def _kill_when_recorded(victim: subprocess.Popen, db: Path, bars: int) -> None:
    deadline = time.monotonic() + 60
    while _recorded_bars(db) < bars and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def _assert_same_exports(run: Path, ref: Path, intervals: tuple[str, ...]) -> None:
    for interval in intervals:
        got = (run / "GOOG" / f"{interval}.csv").read_text()
        assert got == (ref / "GOOG" / f"{interval}.csv").read_text(), interval
    assert (run / "session.json").read_text() == (ref / "session.json").read_text()


def test_sigkill_at_many_points_then_resume_equals_an_uninterrupted_run(tmp_path, lean_minute) -> None:
    common = [str(lean_minute), "--symbols", "GOOG", "--intervals", "1m,5m,1h,1d",
              "--start", "2015-12-23", "--end", "2015-12-28", "--quiet"]
    reference = _replay([*common, "--speed", "max", "--export", str(tmp_path / "ref")], tmp_path / "ref-data")
    assert reference.wait(60) == 0

    data_dir = tmp_path / "data"
    db = data_dir / "recordings.sqlite3"
    kills = (1, 300, 450, 700)  # just started, mid first session, in the half day, in the last session
    for recorded in kills:  # each run resumes the one killed before it, and is killed later on
        victim = _replay([*common, "--speed", "15000", "--export", str(tmp_path / "run")], data_dir)
        _kill_when_recorded(victim, db, recorded)
    scope = RecordingScope(f"lean:{lean_minute.resolve()}", "XNYS")
    accepted = Recorder(db, scope)
    before = [accepted.load(accepted.key("1m", "GOOG", pd.Timestamp(d).date())).bars
              for d in ("2015-12-23", "2015-12-24", "2015-12-28")]
    accepted.close(clean=False)
    assert 700 <= sum(len(b.ts) for b in before) < 390 + 210 + 382  # killed mid-run, with bars accepted

    resumed = _replay([*common, "--speed", "max", "--export", str(tmp_path / "run")], data_dir)
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert b"ended uncleanly: resuming it" in err and b"GOOG: resumed" in err

    _assert_same_exports(tmp_path / "run", tmp_path / "ref", ("1m", "5m", "1h", "1d"))
    final = pd.read_csv(tmp_path / "run" / "GOOG" / "1m.csv")
    stamps = pd.to_datetime(final["timestamp"], utc=True).dt.as_unit("s").astype("int64")
    assert stamps.is_unique
    for bars in before:  # every accepted bar is there, once, with its values
        rows = final.set_index(stamps).loc[bars.ts]
        assert np.array_equal(rows["close"].to_numpy(), bars.close)

    again = _replay([*common, "--speed", "max"], data_dir)  # the last run completed: this one starts fresh
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0 and b"resum" not in err, err


# -- a damaged recording is re-fetched, a changed source replayed afresh -----------------------

CAL = get_calendar("XNYS")


def _run_until(source, recorder: Recorder | None, until: float | None, symbols: list[str],
               intervals: list[str], session=None) -> tuple[SessionData, list[str]]:
    """Run one session in-process up to session clock ``until`` (None: to the close)."""
    session = session or CAL.session(dt.date(2015, 12, 28))

    async def scenario() -> tuple[SessionData, list[str]]:
        sd = SessionData()
        messages: list[str] = []
        sd.events.message.connect(lambda _level, text: messages.append(text))
        coord = SessionCoordinator(sd, source, CAL, [session], max_chunk=300.0, recorder=recorder)
        for symbol in symbols:
            await coord.add_symbol(symbol, intervals)
        if until is None:
            await coord.run()
        else:
            for clock in np.arange(session.open + 300, until + 1, 300.0):
                coord.step(float(clock))
        return sd, messages

    return asyncio.run(scenario())


def _rows(sd: SessionData, symbol: str, interval: str) -> list[tuple]:
    return [dataclasses.astuple(b) for b in sd.get_symbol_data(symbol).bars[interval].data]


def test_a_lost_middle_chunk_is_fetched_again_on_resume_and_the_span_is_named(tmp_path) -> None:
    session = CAL.session(dt.date(2015, 12, 28))
    db = tmp_path / "r.sqlite3"
    recorder = Recorder(db, RecordingScope(DemoSource().key, "XNYS"))
    _run_until(DemoSource(), recorder, session.open + 3600, ["SPY"], ["1m", "5m", "1h"])  # killed at 10:30
    recorder.close(clean=False)
    with sqlite3.connect(db) as con:  # the chunk of the 10:00-10:05 pass
        offset, length = con.execute("SELECT offset, length FROM chunks ORDER BY seq LIMIT 1 OFFSET 6").fetchone()
    segment = next((tmp_path / "r-segments").glob("*.bars"))
    raw = bytearray(segment.read_bytes())
    raw[offset + length // 2] ^= 0x10
    segment.write_bytes(bytes(raw))

    resumed = Recorder(db, RecordingScope(DemoSource().key, "XNYS"))
    sd, messages = _run_until(DemoSource(), resumed, None, ["SPY"], ["1m", "5m", "1h"])
    resumed.close(clean=True)
    clean, _ = _run_until(DemoSource(), None, None, ["SPY"], ["1m", "5m", "1h"])
    lost = [m for m in messages if "lost" in m]
    assert lost == ["SPY: the recording of 2015-12-28 lost 5 bar(s) between 10:00:00 and 10:05:00 "
                    "(a damaged or missing chunk); fetching it again"]
    for interval in ("1m", "5m", "1h"):  # no hole, nothing revised: every field of every bar as a clean run
        assert _rows(sd, "SPY", interval) == _rows(clean, "SPY", interval), interval
        got, want = sd.get_symbol_data("SPY").bars[interval], clean.get_symbol_data("SPY").bars[interval]
        assert (got.quality, got.gaps) == (want.quality, want.gaps)
    healed = Recorder(db, RecordingScope(DemoSource().key, "XNYS"))  # the re-fetched bars were recorded again
    assert not healed.resumable
    healed.close(clean=False)


def test_a_changed_source_file_is_replayed_afresh_and_says_so(tmp_path) -> None:
    session = CAL.session(dt.date(2015, 12, 28))
    starts = session.open + 60 * np.arange(390)
    bars = walk(starts)
    csv = tmp_path / "SPY.csv"

    def write(frame_bars: BarArrays) -> None:
        stamps = pd.to_datetime(frame_bars.ts, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        frame = pd.DataFrame({"timestamp": stamps, "open": frame_bars.open, "high": frame_bars.high,
                              "low": frame_bars.low, "close": frame_bars.close, "volume": frame_bars.volume})
        frame.to_csv(csv, index=False)

    write(bars)
    db = tmp_path / "r.sqlite3"
    scope = RecordingScope(TabularSource(csv).key, "XNYS")
    recorder = Recorder(db, scope)
    _run_until(TabularSource(csv), recorder, session.open + 3600, ["SPY"], ["1m", "5m"])
    recorder.close(clean=False)  # killed at 10:30

    fixed = BarArrays(bars.ts, bars.open, bars.high.copy(), bars.low, bars.close.copy(), bars.volume)
    fixed.close[10] += 0.05  # a corrected price at 09:40, inside what was recorded
    fixed.high[10] = max(fixed.high[10], fixed.close[10])
    write(fixed)
    resumed = Recorder(db, scope)
    sd, messages = _run_until(TabularSource(csv), resumed, None, ["SPY"], ["1m", "5m"])
    resumed.close(clean=True)
    assert "SPY: the source's data for 2015-12-28 changed since it was recorded; replaying it afresh" in messages
    assert not any("resumed" in m for m in messages)
    got = sd.get_symbol_data("SPY").bars["1m"].data
    assert got.close[10] == fixed.close[10] and np.array_equal(got.ts, starts)


# -- a data or export folder that cannot be written; too few file handles ------------------

def _can_mount_private_tmpfs() -> bool:
    try:
        probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(not _can_mount_private_tmpfs(),
                                 reason="needs unshare -rm to mount a small private tmpfs (a full disk)")

FULL = "size=64k"


def _replay_on_tmpfs(args: list[str], data_dir: Path, mounts: dict[Path, str]) -> subprocess.CompletedProcess:
    """``replay ARGS`` in a private mount namespace where each folder of ``mounts`` is a small tmpfs.

    ``FULL`` mounts are filled up first: writing to them fails with ENOSPC, a real full disk.
    """
    steps = []
    for folder, options in mounts.items():
        folder.mkdir(parents=True, exist_ok=True)
        steps.append(f"mount -t tmpfs -o {options} tmpfs '{folder}'")
        if options == FULL:
            steps.append(f"(cat /dev/zero > '{folder}/filler') 2>/dev/null")
    script = "; ".join([*steps, 'exec "$@"'])
    env = {**os.environ, "SESSION_MONITOR_DATA_DIR": str(data_dir)}
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", sys.executable, "-m",
                           "session_monitor.core.cli", "replay",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


COMMON_DAY = ["--symbols", "GOOG", "--intervals", "1m,5m,1h", "--start", "2015-12-24", "--end", "2015-12-28",
              "--speed", "max", "--quiet"]


@pytest.fixture(scope="module")
def day_reference(tmp_path_factory, lean_minute) -> Path:
    """The export of an uninterrupted, recorded replay of ``COMMON_DAY``."""
    folder = tmp_path_factory.mktemp("day-reference")
    reference = _replay([str(lean_minute), *COMMON_DAY, "--export", str(folder / "out")], folder / "data")
    assert reference.wait(60) == 0
    return folder / "out"


@needs_tmpfs
@pytest.mark.parametrize(("mount", "problem"), [(FULL, "No space left on device|disk is full"),
                                               ("ro", "(?i)read-only")])
def test_a_full_or_read_only_data_folder_turns_recording_off_with_one_line_and_the_replay_runs(
    tmp_path, lean_minute, day_reference, mount, problem
) -> None:
    data_dir = tmp_path / "data"
    run = _replay_on_tmpfs([str(lean_minute), *COMMON_DAY, "--export", str(tmp_path / "run")], data_dir,
                           {data_dir: mount})
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    [line] = [text for text in run.stderr.splitlines() if "record" in text]
    assert line.startswith("warning: recording is") and str(data_dir) in line and re.search(problem, line), line
    _assert_same_exports(tmp_path / "run", day_reference, ("1m", "5m", "1h"))


def test_a_data_folder_that_is_a_file_turns_recording_off_with_one_line(tmp_path, lean_minute) -> None:
    (tmp_path / "data").write_text("not a folder")
    run = _replay([str(lean_minute), *COMMON_DAY, "--export", str(tmp_path / "run")], tmp_path / "data")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert err.decode().splitlines() == [
        f"warning: recording is off: cannot record in {tmp_path / 'data'}: it is a file, not a folder"
    ]
    assert (tmp_path / "run" / "GOOG" / "1h.csv").exists()


@needs_tmpfs
def test_an_export_to_a_full_disk_fails_with_one_line_and_keeps_the_recording_for_a_rerun(
    tmp_path, lean_minute, day_reference
) -> None:
    data_dir, out = tmp_path / "data", tmp_path / "out"
    failed = _replay_on_tmpfs([str(lean_minute), *COMMON_DAY, "--export", str(out)], data_dir, {out: FULL})
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    last = failed.stderr.splitlines()[-1]
    assert last.startswith(f"session-monitor replay: error: export to {out}") and "No space left on device" in last
    assert last.endswith("what was recorded is kept: run the same replay again to resume and export")

    again = _replay([str(lean_minute), *COMMON_DAY, "--export", str(out)], data_dir)  # the disk has room again
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert b"GOOG: resumed 210 recorded bar(s) of 2015-12-24" in err
    _assert_same_exports(out, day_reference, ("1m", "5m", "1h"))


def test_open_files_do_not_grow_with_symbols(tmp_path) -> None:
    """300 symbols under 256 file handles (the macOS default): recording and export keep working."""
    import resource

    def few_handles() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    symbols = ",".join(f"S{k}" for k in range(300))
    run = _replay(["demo", "--symbols", symbols, "--intervals", "1m,5m", "--start", "2015-12-24",
                   "--end", "2015-12-24", "--speed", "max", "--quiet", "--export", str(tmp_path / "out")],
                  tmp_path / "data", preexec_fn=few_handles)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err[-2000:]
    assert b"recording stopped" not in err and b"Too many open files" not in err
    assert len(list((tmp_path / "out").iterdir())) == 301  # a folder per symbol and session.json
    assert _recorded_bars(tmp_path / "data" / "recordings.sqlite3") > 300 * 210 * 0.95  # the demo drops ~1 %
