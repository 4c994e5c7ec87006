"""Gap causes and feed coverage: a quiet symbol is told apart from a broken feed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from pathlib import Path

from session_monitor.core.calendar import get_calendar
from session_monitor.core.causes import FeedNotes
from session_monitor.core.cli import main
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.coverage import coverage
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.lean import LeanSource
from tests.health_helpers import SparseSource, scripted_run
from tests.sources_helpers import lean_lines, write_lean_zip


def replay_report(tmp_path: Path, source: Path, symbol: str, start: str, end: str, intervals: str) -> dict:
    out = tmp_path / "out"
    argv = ["replay", str(source), "--symbols", symbol, "--intervals", intervals, "--start", start, "--end", end,
            "--speed", "max", "--export", str(out), "--quiet", "--no-record"]
    assert main(argv) == 0
    return json.loads((out / "session.json").read_text())


def test_cause_rules_in_order() -> None:
    notes = FeedNotes(omits_empty=True)
    assert notes.cause_of(100, 160) == "missing"  # never heard from: nothing proves the hole quiet
    notes.heard(400.0)
    assert notes.cause_of(100, 160) == "quiet"
    assert notes.cause_of(400, 460) == "missing"  # still open: bars have not resumed
    notes.outages.append([120.0, 130.0])
    assert notes.cause_of(100, 160) == "disconnect"
    notes.ended_at = 400.0
    assert notes.cause_of(400, 460) == "ended"
    assert FeedNotes(ended_at=0.0).cause_of(0, 60) == "no-data"
    assert FeedNotes(omits_empty=False, bars_until=400.0).cause_of(100, 160) == "missing"
    live = FeedNotes(omits_empty=True, bars_until=100.0, alive_until=500.0)
    assert live.cause_of(100, 160) == "quiet"  # the connection was alive after the gap


def test_spy_1s_lean_no_trade_seconds_are_quiet_and_coverage_is_complete(tmp_path, lean_second) -> None:
    report = replay_report(tmp_path, lean_second, "SPY", "2013-10-07", "2013-10-08", "1s,1m")
    for session, (bars, quality) in zip(report["sessions"], [(14432, 61.675), (19516, 83.402)], strict=True):
        block = session["symbols"]["SPY"]
        seconds, minutes = block["intervals"]["1s"], block["intervals"]["1m"]
        assert (seconds["bars"], round(seconds["quality"], 3)) == (bars, quality)  # unchanged definitions
        assert Counter(g["cause"] for g in seconds["gaps"]) == {"quiet": len(seconds["gaps"])}
        assert seconds["coverage"] >= 99.0 and minutes["coverage"] >= 99.0
        assert seconds["coverage"] == 100.0
        assert block["health"]["stale"] == 0.0 and block["health"]["quiet"] > 0  # sparse, never stale
        assert sum(block["health"].values()) == 23400.0


def test_shy_2008_03_07_states_its_gaps_causes(tmp_path, lean_minute) -> None:
    report = replay_report(tmp_path, lean_minute, "SHY", "2008-03-07", "2008-03-07", "1m,5m")
    block = report["sessions"][0]["symbols"]["SHY"]["intervals"]
    gaps = block["1m"]["gaps"]
    assert len(gaps) == 40 and sum(g["bars"] for g in gaps) == 57  # as before
    assert {g["cause"] for g in gaps} == {"quiet"}  # an illiquid day: every hole is a minute without trades
    assert block["1m"]["quality"] == 100 * 333 / 390 and block["1m"]["coverage"] == 100.0
    assert block["5m"]["coverage"] == 100.0


def test_a_session_without_data_is_no_data_not_ended(tmp_path) -> None:
    root = tmp_path / "equity" / "usa" / "minute"
    write_lean_zip(root, "ABC", dt.date(2024, 1, 2), lean_lines(30))
    write_lean_zip(root, "XYZ", dt.date(2024, 1, 3), lean_lines(30))
    cal = get_calendar("XNYS", earliest=dt.date(2024, 1, 2))
    day = cal.session(dt.date(2024, 1, 3))

    async def scenario() -> SessionData:
        sd = SessionData()
        coord = SessionCoordinator(sd, LeanSource(root), cal, [day])
        await coord.add_symbol("ABC", ["1m"])
        await coord.run()
        return sd

    data = asyncio.run(scenario()).get_symbol_data("ABC")
    assert [(g.cause, g.bars) for g in data.base.gaps] == [("no-data", 390)]
    assert coverage(data.base, data.base) == 0.0


def test_demo_drops_are_losses_and_coverage_equals_quality() -> None:
    """The demo feed's dropped bars are real losses (it sends a bar for every minute)."""
    run = scripted_run(dt.date(2024, 3, 5), {"SPY": None}, inner=SparseSource({"SPY": 2}, omits_empty=False))
    spy = run.session_data.get_symbol_data("SPY")
    assert {g.cause for g in spy.base.gaps} == {"missing", "ended"}
    assert coverage(spy.base, spy.base) == spy.base.quality == 50.0
    assert coverage(spy.bars["5m"], spy.base) == spy.bars["5m"].quality


def test_a_sparse_omitting_source_covers_its_quiet_minutes_in_every_interval() -> None:
    run = scripted_run(dt.date(2024, 3, 5), {"SPY": None}, inner=SparseSource({"SPY": 2}))
    spy = run.session_data.get_symbol_data("SPY")
    assert spy.base.quality == 50.0
    assert coverage(spy.base, spy.base) == 100.0 * 389 / 390  # the last minute after 15:58: ended
    assert coverage(spy.bars["5m"], spy.base) == 100.0 * 389 / 390
