"""Feed health on the session clock: exact state timelines from scripted feeds."""

from __future__ import annotations

import datetime as dt

import pytest

from session_monitor.core.calendar import get_calendar
from session_monitor.core.feeds import FaultSchedule
from tests.health_helpers import SparseSource, at, scripted_run

DAY = dt.date(2024, 3, 5)
NY = get_calendar("XNYS", earliest=DAY).session(DAY)


@pytest.mark.parametrize("chunk", [60.0, 1800.0])
def test_two_symbols_silent_from_11_00_to_11_30_go_stale_and_recover_whatever_the_step(chunk) -> None:
    silent = FaultSchedule(silences=((at(NY, "11:00"), at(NY, "11:30")),))
    run = scripted_run(DAY, {"AAPL": silent, "MSFT": silent, "SPY": None}, max_chunk=chunk)
    for symbol in ("AAPL", "MSFT"):
        # the bar ending 10:59 is the last heard; five expected minutes later it is stale
        assert run.timeline(symbol) == [("09:30", "live"), ("11:04", "stale"), ("11:30", "live"), ("16:00", "closed")]
        health = run.session_data.get_symbol_data(symbol).health
        assert health.export() == {"live": 21600.0, "quiet": 240.0, "stale": 1560.0, "down": 0.0, "closed": 0.0}
    assert run.timeline("SPY") == [("09:30", "live"), ("16:00", "closed")]
    stale = [c for c in run.changes if c.state.value == "stale"]
    assert [(c.symbol, c.silent_slots) for c in stale] == [("AAPL", 5), ("MSFT", 5)]


def test_a_sparse_symbol_among_live_ones_is_quiet_never_stale_and_its_holes_are_quiet_gaps() -> None:
    run = scripted_run(DAY, {"AAPL": None, "SLOW": None}, inner=SparseSource({"SLOW": 3}))
    assert run.timeline("SLOW") == [("09:30", "live"), ("16:00", "closed")]
    health = run.session_data.get_symbol_data("SLOW").health.export()
    # live for the minute after each of its 130 bars (and the opening minute), quiet the rest
    assert health == {"live": 131 * 60.0, "quiet": 23400 - 131 * 60.0, "stale": 0.0, "down": 0.0, "closed": 0.0}
    gaps = run.session_data.get_symbol_data("SLOW").base.gaps
    assert {g.cause for g in gaps[:-1]} == {"quiet"} and len(gaps) == 130
    assert (gaps[-1].cause, gaps[-1].bars) == ("ended", 2)  # the last bar is 15:57: the file stops there


def test_a_sparse_symbol_learns_its_rhythm_k_times_its_p99_gap() -> None:
    """Bars every 10 s at a 1 s base: stale at 5 silent slots until 32 gaps are known, then never."""
    run = scripted_run(DAY, {"SLOW": None}, inner=SparseSource({"SLOW": 10}), intervals=("1s", "1m"), max_chunk=600)
    stale = [c.time for c in run.changes if c.state.value == "stale"]
    assert len(stale) == 32 and max(stale) < at(NY, "09:30") + 330
    assert run.session_data.get_symbol_data("SLOW").health.threshold == 30  # 3 x p99 (10 slots)


def test_a_disconnected_feed_is_down_until_it_reconnects() -> None:
    outage = FaultSchedule(failures=((at(NY, "10:30"), at(NY, "11:00")),))
    run = scripted_run(DAY, {"AAPL": outage, "SPY": None})
    assert run.timeline("AAPL") == [("09:30", "live"), ("10:30", "down"), ("11:00", "live"), ("16:00", "closed")]
    assert run.session_data.get_symbol_data("AAPL").health.export()["down"] == 1800.0
    assert run.timeline("SPY") == [("09:30", "live"), ("16:00", "closed")]


def test_a_feed_failing_before_the_open_is_closed_then_down_never_stale() -> None:
    early = FaultSchedule(failures=((at(NY, "09:00"), at(NY, "09:45")),))
    run = scripted_run(DAY, {"AAPL": early})
    assert all(c.time >= NY.open for c in run.changes)
    assert run.timeline("AAPL") == [("09:30", "live"), ("09:31", "down"), ("09:45", "live"), ("16:00", "closed")]
    assert run.session_data.get_symbol_data("AAPL").health.export()["stale"] == 0.0


def test_a_stall_across_the_lunch_break_is_closed_over_lunch_and_stale_either_side() -> None:
    hk = get_calendar("XHKG", earliest=DAY).session(DAY)
    silent = FaultSchedule(silences=((at(hk, "11:50"), at(hk, "13:10")),))
    run = scripted_run(DAY, {"AAPL": silent, "MSFT": None}, calendar="XHKG")
    assert run.timeline("AAPL") == [
        ("09:30", "live"), ("11:54", "stale"), ("12:00", "closed"), ("13:00", "stale"), ("13:10", "live"),
        ("16:00", "closed"),
    ]
    assert run.timeline("MSFT") == [("09:30", "live"), ("12:00", "closed"), ("13:00", "live"), ("16:00", "closed")]
    assert run.session_data.get_symbol_data("AAPL").health.export() == {
        "live": 18600.0, "quiet": 240.0, "stale": 960.0, "down": 0.0, "closed": 3600.0
    }


def test_health_and_causes_do_not_depend_on_the_other_symbols_of_the_run() -> None:
    alone = scripted_run(DAY, {"SLOW": None}, inner=SparseSource({"SLOW": 4}))
    together = scripted_run(DAY, {"AAPL": None, "SLOW": None, "MSFT": None}, inner=SparseSource({"SLOW": 4}))
    one, many = alone.session_data.get_symbol_data("SLOW"), together.session_data.get_symbol_data("SLOW")
    assert one.health.export() == many.health.export()
    assert one.base.gaps == many.base.gaps and one.bars["5m"].gaps == many.bars["5m"].gaps
    assert alone.timeline("SLOW", routine=True) == together.timeline("SLOW", routine=True)


def test_the_health_update_comes_in_parts_and_where_they_fall_changes_nothing(monkeypatch) -> None:
    """20 symbols, every fourth silent 11:00-11:30: cut into parts of 16 symbols (the coordinator
    lets the event loop in between them) or taken whole, the same changes and the same seconds."""
    import session_monitor.core.health as health_module

    silent = FaultSchedule(silences=((at(NY, "11:00"), at(NY, "11:30")),))
    symbols = {f"S{k:02d}": silent if k % 4 == 0 else None for k in range(20)}
    cut = scripted_run(DAY, symbols, max_chunk=1800)
    monkeypatch.setattr(health_module, "UPDATE_CHUNK", 1000)
    whole = scripted_run(DAY, symbols, max_chunk=1800)
    monkeypatch.undo()

    assert cut.changes == whole.changes
    assert [c.symbol for c in cut.changes if c.state.value == "stale"] == ["S00", "S04", "S08", "S12", "S16"]
    for symbol in symbols:
        assert (cut.session_data.get_symbol_data(symbol).health.export()
                == whole.session_data.get_symbol_data(symbol).health.export())
    pauses = list(cut.coordinator.health.update_parts(at(NY, "16:30")))
    assert len(pauses) == 1  # 20 symbols: parts of 16 and 4
