"""Alerts per segment with extended hours: an event that concerns a time names its segment
(pre, regular, post); sparse extended-hours data fire nothing; regular hours name none."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

from session_monitor.core.alerts import AlertConfig, AlertLog, AlertRules, attach_alerts
from session_monitor.core.calendar import get_calendar
from session_monitor.core.cli import main
from session_monitor.core.feeds import FaultSchedule
from tests.health_helpers import Run, SparseSource, at, scripted_run

DAY = dt.date(2024, 3, 5)
EXTENDED = get_calendar("XNYS", earliest=DAY, hours="extended").session(DAY)
GAPS = AlertConfig(AlertRules(gap_slots=2))


def _alerts(symbols, config: AlertConfig | None = None, **kwargs) -> list[dict]:
    out = io.StringIO()

    def attach(run: Run) -> None:
        attach_alerts(run.coordinator, config).fired.connect(AlertLog(out).write)

    scripted_run(DAY, symbols, extra=attach, hours="extended", **kwargs)
    return [json.loads(text) for text in out.getvalue().splitlines()]


def _line(time: str, interval: str | None, rule: str, event: str, value, segment: str | None) -> dict:
    out = {"time": f"2024-03-05T{time}-05:00", "symbol": "AAPL", "interval": interval, "rule": rule,
           "event": event, "value": value}
    return out if segment is None else {**out, "segment": segment}


def test_a_silence_across_the_regular_open_alerts_per_segment() -> None:
    """Silent 09:20-09:40 on a feed that sends every minute: the 1m bars 09:19-09:38 are lost
    (a bar is heard at its end). The gap is cut at 09:30 like session.json's segments block:
    11 pre-market bars and 9 regular ones, each judged on its own (more than 2 slots: the
    start once the third slot ended); the stale alert starts in the pre-market and clears in
    the regular session. The 5m gap (09:20 and 09:25 pre-market, 09:30 regular) is 2 + 1 bars:
    no alert, where uncut its 3 bars would have been one."""
    silent = FaultSchedule(silences=((at(EXTENDED, "09:20"), at(EXTENDED, "09:40")),))
    assert _alerts({"AAPL": silent}, GAPS) == [
        _line("09:24:00", None, "stale", "start", 5, "pre"),
        _line("09:22:00", "1m", "gap", "start", 11, "pre"),
        _line("09:30:00", "1m", "gap", "clear", 11, "pre"),
        _line("09:33:00", "1m", "gap", "start", 9, "regular"),
        _line("09:39:00", "1m", "gap", "clear", 9, "regular"),
        _line("09:40:00", None, "stale", "clear", 960.0, "regular"),
    ]


def test_a_lost_half_hour_of_the_regular_session_alerts_its_coverage_at_the_close() -> None:
    """Silent 10:00-10:30 (the bars 09:59-10:28 lost): the whole extended day still holds
    930 of 960 minutes (96.9 %, above the default 95 %), but the regular session only 360 of
    390 (92.308 %, what a regular-hours run reports): that segment's coverage alerts at the close."""
    silent = FaultSchedule(silences=((at(EXTENDED, "10:00"), at(EXTENDED, "10:30")),))
    assert _alerts({"AAPL": silent}) == [
        _line("10:04:00", None, "stale", "start", 5, "regular"),
        _line("10:30:00", None, "stale", "clear", 1560.0, "regular"),
        _line("20:00:00", "1m", "coverage", "start", round(100 * 360 / 390, 3), "regular"),
        _line("20:00:00", "5m", "coverage", "start", round(100 * 360 / 390, 3), "regular"),
    ]


def test_a_feed_down_in_the_after_hours_names_the_post_market() -> None:
    down = FaultSchedule(failures=((at(EXTENDED, "17:00"), at(EXTENDED, "17:30")),))
    alerts = [a for a in _alerts({"AAPL": down}, max_chunk=10.0) if a["rule"] == "down"]
    assert alerts == [
        _line("17:00:10", None, "down", "start", 10.0, "post"),
        _line("17:30:00", None, "down", "clear", 1790.0, "post"),
    ]


def test_sparse_extended_hours_data_fire_no_alert() -> None:
    """Every third minute, from a source that omits minutes without trades (as Lean and Alpaca):
    quiet before, during and after the regular session, so no stale, gap or coverage alert."""
    assert _alerts({"AAPL": None}, GAPS, inner=SparseSource({"AAPL": 3})) == []


def _replay_alerts(tmp_path: Path, lean_minute: Path, hours: str) -> list[str]:
    config = tmp_path / "rules.toml"
    config.write_text("[alerts]\nquality_below = 99\ngap_slots = 1\n")
    out = tmp_path / f"{hours}.jsonl"
    argv = ["replay", str(lean_minute), "--symbols", "SPY", "--intervals", "1m,5m,1h", "--hours", hours,
            "--start", "2013-10-07", "--end", "2013-10-07", "--speed", "max", "--quiet", "--no-record",
            "--config", str(config), "--alerts", str(out), "--reference", str(lean_minute.parent / "hour")]
    assert main(argv) == 0
    return out.read_text().splitlines()


def test_real_extended_data_name_the_segment_of_a_mismatch_and_not_of_whole_day_figures(
        tmp_path: Path, lean_minute: Path) -> None:
    """SPY 2013-10-07 (Lean minute file, 828 of the 960 extended minutes hold a trade) against
    Lean's own hour bars: the pre-market's holes are quiet (no gap alert); quality is the whole
    day's (828/960, no segment); the first differing hour bar is the pre-market's 09:00 bar."""
    def quality(interval: str) -> dict:
        return {"time": "2013-10-07T20:00:00-04:00", "symbol": "SPY", "interval": interval, "rule": "quality",
                "event": "start", "value": round(100 * 828 / 960, 3)}

    assert [json.loads(text) for text in _replay_alerts(tmp_path, lean_minute, "extended")] == [
        quality("1m"), quality("5m"), quality("1h"),
        {"time": "2013-10-07T09:00:00-04:00", "symbol": "SPY", "interval": "1h", "rule": "mismatch",
         "event": "start", "value": 4, "fields": ["open", "high", "low"], "segment": "pre"},
    ]
    # regular hours: no segment key at all (the lines as before)
    assert _replay_alerts(tmp_path, lean_minute, "regular")[-1] == json.dumps(
        {"time": "2013-10-07T10:00:00-04:00", "symbol": "SPY", "interval": "1h", "rule": "mismatch",
         "event": "start", "value": 3, "fields": ["open", "high", "low"]})
