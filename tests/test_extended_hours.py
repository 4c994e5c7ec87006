"""Extended hours (``--hours extended``): calendar segments, windows anchored per segment,
the regular-session ``1d``, and the exports of real Lean minute data checked against an
independent pandas derivation anchored per segment."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from session_monitor.core.calendar import CalendarError, Session, get_calendar
from session_monitor.core.cli import main
from session_monitor.core.intervals import parse_interval
from session_monitor.core.windows import window_grid
from tests.core_helpers import walk, watch

MINUTE = Path(__file__).parent / "data" / "lean" / "equity" / "usa" / "minute"
NY = "America/New_York"


def extended(date: str) -> Session:
    return get_calendar("XNYS", hours="extended").session(dt.date.fromisoformat(date))


def local(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(NY)).strftime("%H:%M")


def segments_of(session: Session) -> list[tuple[str, str, str]]:
    return [(s.name, local(s.start), local(s.end)) for s in session.segments]


# -- calendar ------------------------------------------------------------------------------------


def test_a_full_day_is_pre_market_regular_and_after_hours() -> None:
    session = extended("2013-10-07")
    assert segments_of(session) == [("pre", "04:00", "09:30"), ("regular", "09:30", "16:00"),
                                    ("post", "16:00", "20:00")]
    assert (session.open, session.close) == (session.segments[0].start, session.segments[-1].end)
    assert (session.regular_open, session.regular_close) == (get_calendar("XNYS").session(session.date).open,
                                                            get_calendar("XNYS").session(session.date).close)


@pytest.mark.parametrize("date", ["2015-12-24", "2023-11-24"])
def test_an_early_close_keeps_after_hours_to_17_00(date: str) -> None:
    """pandas_market_calendars issue 387: post-market must not end at the 13:00 early close."""
    assert segments_of(extended(date)) == [("pre", "04:00", "09:30"), ("regular", "09:30", "13:00"),
                                           ("post", "13:00", "17:00")]


def test_the_dst_change_week_keeps_new_york_times() -> None:
    friday, monday = extended("2013-11-01"), extended("2013-11-04")  # EDT, then EST
    assert segments_of(friday) == segments_of(monday)
    assert monday.open - friday.open == 3 * 86400 + 3600  # 04:00 New York is an hour later in UTC


def test_a_holiday_is_no_session_with_extended_hours_either() -> None:
    with pytest.raises(CalendarError, match="not a XNYS session"):
        extended("2013-12-25")


def test_a_calendar_without_extended_hours_says_so_and_stays_regular() -> None:
    calendar = get_calendar("24/7", hours="extended")
    assert calendar.hours == "regular" and "no extended hours" in (calendar.hours_note or "")
    assert calendar.session(dt.date(2016, 10, 7)).segments == ()


def test_regular_hours_sessions_have_no_segments() -> None:
    session = get_calendar("XNYS").session(dt.date(2013, 10, 7))
    assert session.segments == () and (local(session.open), local(session.close)) == ("09:30", "16:00")


# -- windows -------------------------------------------------------------------------------------


def test_windows_are_anchored_per_segment_and_never_straddle_two() -> None:
    session = extended("2013-10-07")
    one_minute = parse_interval("1m")
    hourly = window_grid(session, parse_interval("1h"), one_minute)
    assert [local(int(t)) for t in hourly.starts] == [
        "04:00", "05:00", "06:00", "07:00", "08:00", "09:00",  # the 09:00 window is cut at 09:30
        "09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30",
        "16:00", "17:00", "18:00", "19:00"]
    assert list(hourly.expected) == [60] * 5 + [30] + [60] * 6 + [30] + [60] * 4
    for segment in session.segments:
        inside = (hourly.starts >= segment.start) & (hourly.starts < segment.end)
        assert (hourly.ends[inside] <= segment.end).all()
    counts = {name: window_grid(session, parse_interval(name), one_minute).size for name in ("1m", "5m", "15m", "1h")}
    assert counts == {"1m": 960, "5m": 192, "15m": 64, "1h": 17}
    ts = np.arange(session.open, session.close, 60)
    windows = hourly.window_of(ts)
    assert ((hourly.starts[windows] <= ts) & (ts < hourly.ends[windows])).all()
    assert [hourly.window_of_one(int(t)) for t in ts] == windows.tolist()


def test_1d_is_the_regular_session_and_other_bars_have_no_1d_window() -> None:
    session = extended("2015-12-24")
    daily = window_grid(session, parse_interval("1d"), parse_interval("1m"))
    assert (daily.size, int(daily.starts[0]), int(daily.ends[0])) == (1, session.regular_open, session.regular_close)
    assert int(daily.expected[0]) == 210
    probe = [session.open, session.regular_open, session.regular_close - 60, session.regular_close, session.close - 60]
    assert daily.window_of(np.array(probe)).tolist() == [-1, 0, 0, -1, -1]
    assert [daily.window_of_one(t) for t in probe] == [-1, 0, 0, -1, -1]


# -- the engine ----------------------------------------------------------------------------------


@pytest.mark.parametrize("one_by_one", [True, False])
def test_the_engine_leaves_bars_outside_the_regular_session_out_of_1d(one_by_one: bool) -> None:
    session = extended("2015-12-24")
    sd, data, proc = watch(session, "1m", ["1h", "1d"])
    bars = walk(np.arange(session.open, session.close, 60))
    if one_by_one:
        for i in range(len(bars.ts)):
            sd.add_base_bars("TEST", bars.take(slice(i, i + 1)))
            proc.process(int(bars.ts[i]) + 60)
    else:
        sd.add_base_bars("TEST", bars)
        proc.process(session.close)
    regular = (bars.ts >= session.regular_open) & (bars.ts < session.regular_close)
    daily = data.bars["1d"]
    (bar,) = list(daily.data)
    assert (bar.ts, bar.count, bar.expected) == (session.regular_open, 210, 210)
    assert (bar.open, bar.close) == (bars.open[regular][0], bars.close[regular][-1])
    assert (bar.high, bar.low, bar.volume) == (bars.high[regular].max(), bars.low[regular].min(),
                                               bars.volume[regular].sum())
    assert (daily.quality, daily.gap_count, daily.incomplete) == (100.0, 0, 0)
    hourly = data.bars["1h"]
    assert len(hourly.data) == 6 + 4 + 4 and hourly.quality == 100.0
    assert int(hourly.data.count.sum()) == len(bars.ts)


# -- real Lean minute data, end to end -----------------------------------------------------------


def _lean_day(path: Path) -> pd.DataFrame:
    """A Lean minute zip read with pandas alone: New York bar starts, prices / 10000."""
    with zipfile.ZipFile(path) as archive:
        raw = archive.read(archive.namelist()[0])
    frame = pd.read_csv(io.BytesIO(raw), header=None, names=["ms", "open", "high", "low", "close", "volume"])
    day = pd.Timestamp(path.name[:8]).tz_localize(NY)
    frame.index = day + pd.to_timedelta(frame.pop("ms"), unit="ms")
    frame[["open", "high", "low", "close"]] /= 10000
    frame["volume"] = frame["volume"].astype(float)
    return frame


def _reference(bars: pd.DataFrame, interval: str, anchors: list[tuple[pd.Timestamp, pd.Timestamp]]) -> pd.DataFrame:
    """Bars anchored at each ``[start, end)`` segment's start, pandas resample per segment."""
    rule = {"1m": "1min", "5m": "5min", "15m": "15min", "1h": "1h"}[interval]
    parts = []
    for start, end in anchors:
        inside = bars[(bars.index >= start) & (bars.index < end)]
        agg = inside.resample(rule, origin=start, label="left", closed="left").agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        parts.append(agg.dropna(subset=["open"]))
    out = pd.concat(parts)
    out.index = out.index.tz_convert("UTC")
    return out


def _exported(out: Path, symbol: str, interval: str) -> pd.DataFrame:
    frame = pd.read_csv(out / symbol / f"{interval}.csv", index_col="timestamp")
    frame.index = pd.to_datetime(frame.index, utc=True)
    return frame


def _replay(out: Path, source: Path, *extra: str) -> None:
    argv = ["replay", str(source), "--symbols", "SPY", "--intervals", "1m,5m,15m,1h,1d", "--hours", "extended",
            "--speed", "max", "--no-record", "--quiet", "--export", str(out), *extra]
    assert main(argv) == 0


def test_spy_pre_market_bars_equal_a_pandas_reference_anchored_per_segment(tmp_path: Path) -> None:
    _replay(tmp_path, MINUTE, "--start", "2013-10-07", "--end", "2013-10-07")
    bars = _lean_day(MINUTE / "spy" / "20131007_trade.zip")
    day = pd.Timestamp("2013-10-07").tz_localize(NY)
    pre, regular, post, end = (day + pd.Timedelta(h, unit="h") for h in (4, 9.5, 16, 20))
    for interval in ("5m", "15m", "1h"):
        ours = _exported(tmp_path, "SPY", interval)
        pre_market = ours[ours.index < regular.tz_convert("UTC")]
        want = _reference(bars, interval, [(pre, regular)])
        pd.testing.assert_frame_equal(pre_market, want.rename_axis("timestamp"), check_exact=True, check_freq=False)
        whole = _reference(bars, interval, [(pre, regular), (regular, post), (post, end)])
        pd.testing.assert_frame_equal(ours, whole.rename_axis("timestamp"), check_exact=True, check_freq=False)
    hourly = _exported(tmp_path, "SPY", "1h")
    assert [t.tz_convert(NY).strftime("%H:%M") for t in hourly.index] == [
        "04:00", "05:00", "06:00", "07:00", "08:00", "09:00", "09:30", "10:30", "11:30", "12:30", "13:30",
        "14:30", "15:30", "16:00", "17:00", "18:00", "19:00"]
    first = hourly.iloc[0]  # 04:00-05:00: the pre-market's first hour, checked by hand from the file
    in_hour = bars[bars.index < pre + pd.Timedelta(1, unit="h")]
    assert (first.open, first.close, first.volume) == (in_hour.open.iloc[0], in_hour.close.iloc[-1],
                                                       in_hour.volume.sum())
    daily = _exported(tmp_path, "SPY", "1d")
    in_regular = bars[(bars.index >= regular) & (bars.index < post)]
    assert daily.index.tolist() == [regular.tz_convert("UTC")]
    assert daily.iloc[0].tolist() == [in_regular.open.iloc[0], in_regular.high.max(), in_regular.low.min(),
                                      in_regular.close.iloc[-1], in_regular.volume.sum()]
    summary = json.loads((tmp_path / "session.json").read_text())["sessions"][0]
    assert (summary["open"], summary["close"]) == ("2013-10-07T08:00:00+00:00", "2013-10-08T00:00:00+00:00")
    minute = summary["symbols"]["SPY"]["intervals"]["1m"]
    counts = {name: part["bars"] for name, part in minute["segments"].items()}
    assert counts == {"pre": len(bars[bars.index < regular]), "regular": 390,
                      "post": len(bars[(bars.index >= post) & (bars.index < end)])}
    assert minute["segments"]["pre"]["quality"] == 100.0 * counts["pre"] / 330
    assert minute["segments"]["regular"]["quality"] == 100.0 and minute["segments"]["regular"]["gaps"] == []
    # sparse pre/post data: Lean omits minutes without trades, so their holes are quiet, fully covered
    for name in ("pre", "post"):
        part = minute["segments"][name]
        assert part["gaps"] and {g["cause"] for g in part["gaps"]} == {"quiet"} and part["coverage"] == 100.0
        assert sum(g["bars"] for g in part["gaps"]) == {"pre": 330, "post": 240}[name] - counts[name]
    assert list(summary["symbols"]["SPY"]["intervals"]["1d"]["segments"]) == ["regular"]
    assert summary["symbols"]["SPY"]["health"]["stale"] == 0.0
    by_segment = summary["symbols"]["SPY"]["health_segments"]  # seconds per state in each segment
    assert {name: sum(states.values()) for name, states in by_segment.items()} == {
        "pre": 5.5 * 3600, "regular": 6.5 * 3600, "post": 4 * 3600}
    assert by_segment["regular"]["live"] == 6.5 * 3600 and by_segment["pre"]["quiet"] > 0  # sparse: quiet


def test_a_day_with_pre_market_data_only(tmp_path: Path) -> None:
    """The pre-market bars are derived; 1d has no bar (nothing in the regular session)."""
    source = tmp_path / "lean" / "equity" / "usa" / "minute"
    (source / "spy").mkdir(parents=True)
    with zipfile.ZipFile(MINUTE / "spy" / "20131007_trade.zip") as archive:
        name = archive.namelist()[0]
        rows = [r for r in archive.read(name).decode().splitlines() if int(r.split(",")[0]) < 34_200_000]
    with zipfile.ZipFile(source / "spy" / "20131007_trade.zip", "w") as archive:
        archive.writestr(name, "\n".join(rows) + "\n")
    out = tmp_path / "out"
    _replay(out, source)
    assert len(_exported(out, "SPY", "1m")) == len(rows)
    assert len(_exported(out, "SPY", "1d")) == 0
    assert len(_exported(out, "SPY", "1h")) == 6
    segments = json.loads((out / "session.json").read_text())["sessions"][0]["symbols"]["SPY"]["intervals"]["1m"][
        "segments"]
    assert (segments["pre"]["bars"], segments["regular"]["bars"], segments["post"]["bars"]) == (len(rows), 0, 0)
    assert segments["regular"]["quality"] == 0.0


def test_the_folded_time_axis_keeps_every_segment() -> None:
    from session_monitor.gui.chart.timeline import Timeline

    friday, monday = extended("2013-10-04"), extended("2013-10-07")
    timeline = Timeline.of_sessions([friday, monday])
    x = timeline.to_x(np.array([friday.close, monday.open, monday.regular_open, monday.regular_close, monday.close]))
    assert x[0] == x[1]  # Friday 20:00 sits next to Monday 04:00: only the night is folded
    assert (x[2] - x[1], x[3] - x[2], x[4] - x[3]) == (5.5 * 3600, 6.5 * 3600, 4 * 3600)


def test_sparse_extended_hours_raise_no_alerts_and_stay_covered(tmp_path: Path) -> None:
    """GOOG trades a few times an hour before and after the regular session (its first bar on
    2015-12-23 is at 04:59, its last at 19:31): quiet, fully covered, no stale or coverage alert."""
    alerts = tmp_path / "alerts.jsonl"
    argv = ["replay", str(MINUTE), "--symbols", "GOOG", "--intervals", "1m,5m,1h", "--hours", "extended",
            "--speed", "max", "--no-record", "--quiet", "--alerts", str(alerts), "--export", str(tmp_path / "out")]
    assert main(argv) == 0
    assert alerts.read_text() == ""
    sessions = json.loads((tmp_path / "out" / "session.json").read_text())["sessions"]
    for session in sessions:
        goog = session["symbols"]["GOOG"]
        assert goog["health"]["stale"] == 0.0
        minute = goog["intervals"]["1m"]
        assert minute["coverage"] == 100.0
        assert {g["cause"] for g in minute["gaps"]} == {"quiet"}
        assert minute["segments"]["post"]["quality"] <= 10.0  # sparse indeed: at most 24 of 240 minutes



def test_the_demo_streams_a_thin_pre_market_from_04_00() -> None:
    from session_monitor.core.sources.demo import DemoSource

    session = extended("2024-03-08")
    bars = DemoSource(drop_rate=0.0).load_session("SPY", parse_interval("1m"), session).bars
    assert (local(int(bars.ts[0])), local(int(bars.ts[-1]))) == ("04:00", "19:59") and len(bars.ts) == 960
    pre = bars.ts < session.regular_open
    regular = ~pre & (bars.ts < session.regular_close)
    assert bars.volume[pre].mean() < bars.volume[regular].mean() / 2  # thin before the open


def test_an_extended_session_crosses_the_desk_bus_with_its_segments() -> None:
    from session_monitor.core.bus.codec import decode, encode, session_from_wire, session_to_wire

    for session in (extended("2015-12-24"), get_calendar("XNYS").session(dt.date(2015, 12, 24))):
        assert session_from_wire(decode(encode(session_to_wire(session)))) == session
    assert "sg" not in session_to_wire(get_calendar("XNYS").session(dt.date(2015, 12, 24)))  # regular: as before


def test_a_session_file_chooses_the_hours_and_a_bad_value_is_named(tmp_path: Path) -> None:
    from session_monitor.core.config import ConfigError, load_config

    good = tmp_path / "good.toml"
    good.write_text('source = "demo"\nhours = "extended"\n', encoding="utf-8")
    assert load_config(good).hours == "extended"
    bad = tmp_path / "bad.toml"
    bad.write_text('source = "demo"\nhours = "overnight"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.toml: hours: 'overnight': expected one of regular, extended"):
        load_config(bad)
    out = tmp_path / "out"
    argv = ["replay", "--config", str(good), "--symbols", "SPY", "--intervals", "1h", "--start", "2024-03-08",
            "--end", "2024-03-08", "--speed", "max", "--no-record", "--quiet", "--export", str(out)]
    assert main(argv) == 0
    hourly = _exported(out, "SPY", "1h")
    assert local(int(hourly.index[0].timestamp())) == "04:00" and len(hourly) == 17


def test_the_command_line_refuses_unknown_hours(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["replay", "demo", "--hours", "overnight"])
    assert exit_.value.code == 2 and "--hours: invalid choice: 'overnight'" in capsys.readouterr().err


def test_batch_derivation_takes_the_segments_as_its_sessions() -> None:
    """core.batch derives many sessions from their opens and closes; given the segments instead,
    its intraday windows are the ones anchored per segment, bar for bar what the engine derives."""
    from session_monitor.core.batch import derive_batch
    from session_monitor.core.sources.lean import LeanSource

    session = extended("2013-10-07")
    bars = LeanSource(MINUTE).load_session("SPY", parse_interval("1m"), session).bars
    sd, data, proc = watch(session, "1m", ["5m", "15m", "1h"], symbol="SPY")
    sd.add_base_bars("SPY", bars)
    proc.process(session.close)
    starts = [s.start for s in session.segments]
    ends = [s.end for s in session.segments]
    batch = derive_batch(*bars, starts, ends, ["5m", "15m", "1h"])
    for name, derived in batch.items():
        series = data.bars[name].data
        for got, want in zip(derived.bars, series.arrays(), strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(derived.count, series.count)


def test_reconciliation_derives_on_our_windows_per_segment() -> None:
    from session_monitor.core.reconcile.windows import Convention, session_windows

    session = extended("2013-10-07")
    hourly = session_windows(session, parse_interval("1h"), Convention.SESSION_ANCHORED)
    grid = window_grid(session, parse_interval("1h"), parse_interval("1m"))
    np.testing.assert_array_equal(hourly.starts, grid.starts)
    np.testing.assert_array_equal(hourly.ends, grid.ends)
    daily = session_windows(session, parse_interval("1d"), Convention.SESSION_ANCHORED)
    assert (int(daily.starts[0]), int(daily.ends[0])) == (session.regular_open, session.regular_close)


def test_a_csv_of_hourly_bars_anchored_per_segment_is_on_the_grid(tmp_path: Path) -> None:
    """A vendor's extended-hours hour bars (04:00 … 09:00, 09:30 … 15:30, 16:00 … 19:00) are all on
    the 1h grid of the extended session: none is rejected as off-grid, and they come back as they are."""
    from tests.core_helpers import write_bars_csv

    session = extended("2013-10-07")
    starts = window_grid(session, parse_interval("1h"), parse_interval("1h")).starts
    bars = walk(starts)
    write_bars_csv(tmp_path / "SPY.csv", *bars)
    out = tmp_path / "out"
    argv = ["replay", str(tmp_path / "SPY.csv"), "--symbols", "SPY", "--intervals", "1h", "--hours", "extended",
            "--speed", "max", "--no-record", "--quiet", "--export", str(out)]
    assert main(argv) == 0
    hourly = _exported(out, "SPY", "1h")
    assert [int(t.timestamp()) for t in hourly.index] == starts.tolist()
    np.testing.assert_array_equal(hourly["close"].to_numpy(), bars.close)
