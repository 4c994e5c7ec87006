"""End-to-end replays of real Lean data, checked against pandas as an independent reference."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from session_monitor.core.calendar import get_calendar
from session_monitor.core.cli import main

INTERVALS = ["1m", "5m", "15m", "1h", "1d"]


def replay(tmp_path: Path, source: Path, symbol: str, start: str, end: str, intervals=INTERVALS) -> Path:
    out = tmp_path / f"out-{symbol}"
    argv = ["replay", str(source), "--symbols", symbol, "--intervals", ",".join(intervals),
            "--start", start, "--end", end, "--speed", "max", "--export", str(out), "--quiet"]
    assert main(argv) == 0
    return out


def read_export(out: Path, symbol: str, interval: str) -> pd.DataFrame:
    frame = pd.read_csv(out / symbol / f"{interval}.csv")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.set_index("timestamp")


def lean_day(source: Path, symbol: str, date: dt.date) -> pd.DataFrame:
    """Read a Lean equity zip with pandas alone (independent of the project's reader)."""
    raw = pd.read_csv(source / symbol.lower() / f"{date:%Y%m%d}_trade.zip", header=None,
                      names=["ms", "open", "high", "low", "close", "volume"])
    midnight = pd.Timestamp(date, tz="America/New_York")
    index = (midnight + pd.to_timedelta(raw["ms"], unit="ms")).dt.tz_convert("UTC")
    frame = raw[["open", "high", "low", "close"]].div(10000).assign(volume=raw["volume"].astype(float))
    frame.index = pd.DatetimeIndex(index, name="timestamp")
    return frame


def pandas_reference(source: Path, symbol: str, start: str, end: str, interval: str) -> pd.DataFrame:
    """Session-anchored resample of every session in the range."""
    cal = get_calendar("XNYS")
    parts = []
    for session in cal.sessions_between(dt.date.fromisoformat(start), dt.date.fromisoformat(end)):
        day = lean_day(source, symbol, session.date)
        open_, close = pd.Timestamp(session.open, unit="s", tz="UTC"), pd.Timestamp(session.close, unit="s", tz="UTC")
        day = day[(day.index >= open_) & (day.index < close)]
        rule = f"{close.value // 10**9 - open_.value // 10**9}s" if interval == "1d" else pd.Timedelta(interval)
        agg = day.resample(rule, origin=open_, closed="left", label="left").agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        )
        parts.append(agg.dropna(subset=["open"]))
    return pd.concat(parts)


@pytest.mark.parametrize(
    ("symbol", "start", "end"),
    [("SPY", "2013-10-04", "2013-10-11"), ("GOOG", "2015-12-23", "2015-12-28"), ("SHY", "2008-03-07", "2008-03-10")],
)
def test_replay_equals_pandas_session_anchored_resample(tmp_path, lean_minute, symbol, start, end) -> None:
    out = replay(tmp_path, lean_minute, symbol, start, end)
    for interval in INTERVALS:
        got = read_export(out, symbol, interval)
        want = pandas_reference(lean_minute, symbol, start, end, interval)
        assert list(got.index) == list(want.index), interval
        for column in ("open", "high", "low", "close", "volume"):
            assert np.array_equal(got[column].to_numpy(), want[column].to_numpy()), (interval, column)
    report = json.loads((out / "session.json").read_text())
    assert report["calendar"] == "XNYS"
    for session in report["sessions"]:
        block = session["symbols"][symbol]["intervals"]
        assert block["1m"]["derived"] is False and block["1m"]["base"] is None and block["1m"]["incomplete"] == 0
        for interval in INTERVALS[1:]:
            assert block[interval]["derived"] is True and block[interval]["base"] == "1m"
            assert block[interval]["quality"] == block["1m"]["quality"]


def test_goog_2015_12_28_matches_the_documented_export(tmp_path, lean_minute) -> None:
    out = replay(tmp_path, lean_minute, "GOOG", "2015-12-28", "2015-12-28", ["1m", "1h"])
    lines = (out / "GOOG" / "1m.csv").read_text().splitlines()
    assert lines[:2] == [
        "timestamp,open,high,low,close,volume",
        "2015-12-28T14:30:00+00:00,752.92,753.55,752.23,753.3,27714.0",
    ]
    session = json.loads((out / "session.json").read_text())["sessions"][0]
    assert (session["date"], session["open"], session["close"]) == (
        "2015-12-28", "2015-12-28T14:30:00+00:00", "2015-12-28T21:00:00+00:00"
    )
    goog = session["symbols"]["GOOG"]
    assert goog["base_interval"] == "1m"
    one_minute, hourly = goog["intervals"]["1m"], goog["intervals"]["1h"]
    assert (one_minute["bars"], one_minute["incomplete"], one_minute["quality"]) == (382, 0, 97.94871794871794)
    assert one_minute["gaps"][0] == {
        "start": "2015-12-28T17:08:00+00:00", "end": "2015-12-28T17:09:00+00:00", "bars": 1, "cause": "quiet"
    }  # Lean sends no bar for a minute without trades, and GOOG's bars resumed at 17:09
    assert sum(g["bars"] for g in one_minute["gaps"]) == 8
    assert (hourly["bars"], hourly["incomplete"], hourly["quality"], hourly["gaps"]) == (7, 4, 97.94871794871794, [])


def test_goog_half_day_ends_at_13_00_with_a_half_hour_hourly_bar(tmp_path, lean_minute) -> None:
    out = replay(tmp_path, lean_minute, "GOOG", "2015-12-24", "2015-12-24", ["1m", "1h"])
    hourly = read_export(out, "GOOG", "1h")
    assert [t.tz_convert("America/New_York").strftime("%H:%M") for t in hourly.index] == [
        "09:30", "10:30", "11:30", "12:30"
    ]
    minutes = read_export(out, "GOOG", "1m")
    assert minutes.index.max() == pd.Timestamp("2015-12-24T17:59:00Z")  # 12:59 New York, nothing after the close
    raw = lean_day(lean_minute, "GOOG", dt.date(2015, 12, 24))
    last_half_hour = raw[(raw.index >= "2015-12-24T17:30:00Z") & (raw.index < "2015-12-24T18:00:00Z")]
    assert hourly["volume"].iloc[-1] == last_half_hour["volume"].sum()
    assert hourly["high"].iloc[-1] == last_half_hour["high"].max()


def test_shy_2008_03_07_quality_and_gaps(tmp_path, lean_minute) -> None:
    out = replay(tmp_path, lean_minute, "SHY", "2008-03-07", "2008-03-07", ["1m", "5m"])
    block = json.loads((out / "session.json").read_text())["sessions"][0]["symbols"]["SHY"]["intervals"]
    one_minute = block["1m"]
    assert one_minute["bars"] == 333
    assert one_minute["quality"] == 100 * 333 / 390
    gaps = [(g["start"][11:16], g["end"][11:16], g["bars"]) for g in one_minute["gaps"]]
    assert len(gaps) == 40 and sum(g[2] for g in gaps) == 57
    assert gaps[:6] == [("14:49", "14:50", 1), ("14:58", "14:59", 1), ("15:10", "15:11", 1),
                        ("15:56", "15:57", 1), ("16:10", "16:11", 1), ("16:17", "16:19", 2)]
    assert ("18:52", "18:57", 5) in gaps and gaps[-1] == ("20:45", "20:47", 2)
    assert (block["5m"]["bars"], block["5m"]["incomplete"], block["5m"]["gaps"]) == (78, 37, [])


def test_spy_seconds_to_minutes_equals_the_lean_minute_file(tmp_path, lean_second, lean_minute) -> None:
    out = replay(tmp_path, lean_second, "SPY", "2013-10-07", "2013-10-08", ["1s", "1m"])
    derived = read_export(out, "SPY", "1m")
    minute_file = pd.concat(
        [lean_day(lean_minute, "SPY", dt.date(2013, 10, d)) for d in (7, 8)]
    )
    minute_file = minute_file.loc[derived.index.min(): derived.index.max()]
    common = derived.index.intersection(minute_file.index)
    assert len(common) == len(derived) == 780  # every regular minute, both days
    for column in ("open", "high", "low", "close"):
        assert np.array_equal(derived.loc[common, column].to_numpy(), minute_file.loc[common, column].to_numpy())
    volume_differs = int((derived.loc[common, "volume"] != minute_file.loc[common, "volume"]).sum())
    assert 0 < volume_differs < 200  # Lean's own boundary convention, a few dozen minutes a day


def test_export_symbols_writes_csv_parquet_and_a_snapshot(tmp_path) -> None:
    import asyncio

    from session_monitor.core.coordinator import SessionCoordinator
    from session_monitor.core.export import export_symbols
    from session_monitor.core.session_data import SessionData
    from session_monitor.core.sources.demo import DemoSource

    async def scenario() -> SessionData:
        sd = SessionData()
        cal = get_calendar("XNYS")
        day = cal.sessions_between(dt.date(2024, 3, 4), dt.date(2024, 3, 4))
        coord = SessionCoordinator(sd, DemoSource(), cal, day)
        await coord.add_symbol("SPY", ["1m", "5m"])
        await coord.add_symbol("QQQ", ["1m", "15m"])
        coord.step(coord.session.open + 3600)
        return sd

    sd = asyncio.run(scenario())
    files = export_symbols(sd, tmp_path / "csv", ["spy"], fmt="csv")
    assert sorted(p.name for p in files) == ["1m.csv", "5m.csv", "session.json"]
    five = pd.read_csv(tmp_path / "csv" / "SPY" / "5m.csv")
    spy = sd.get_symbol_data("SPY")
    assert len(five) == len(spy.bars["5m"].data) == 12  # all final at 10:30
    snapshot = json.loads((tmp_path / "csv" / "session.json").read_text())
    assert list(snapshot["sessions"][0]["symbols"]) == ["SPY"]
    export_symbols(sd, tmp_path / "pq", fmt="parquet")
    quarter = pd.read_parquet(tmp_path / "pq" / "QQQ" / "15m.parquet")
    assert list(quarter.columns)[-3:] == ["base_bars", "expected_base_bars", "forming"]
    assert quarter["base_bars"].sum() == len(sd.get_symbol_data("QQQ").base.data)
    assert np.array_equal(quarter["close"].to_numpy(), sd.get_symbol_data("QQQ").bars["15m"].data.close)
