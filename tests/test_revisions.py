"""Revisions: how often a derived bar changed after it was final, and the clock of the last change.

Every path that changes a final bar counts it, at most once per pass: a base bar that lands
in a final newest window (the vectorised pass and the scalar live path), and a late bar or a
correction re-aggregated into final windows (the per-symbol path).
"""

from __future__ import annotations

import numpy as np
import pytest

from session_monitor.core.bars import BarArrays
from session_monitor.core.intervals import parse_interval
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import Revision, SessionData, SymbolSessionData
from tests.core_helpers import walk, xnys

SESSION = xnys("2013-10-07")
OPEN = SESSION.open


def engine(grouped: bool, symbols: tuple[str, ...] = ("SPY", "QQQ")) -> tuple[SessionData, DataProcessor]:
    sd = SessionData(group_rows=grouped)
    sd.start_session(SESSION)
    for symbol in symbols:
        derived = [parse_interval("5m"), parse_interval("15m")]
        sd.register_symbol_data(SymbolSessionData.create(symbol, parse_interval("1m"), derived, SESSION))
    return sd, DataProcessor(sd)


def one(ts: int, seed: int) -> BarArrays:
    return walk(np.array([ts], np.int64), seed=seed)


@pytest.mark.parametrize("late_for", [3, 2], ids=["every-symbol", "some-symbols"])
@pytest.mark.parametrize("grouped", [True, False])
def test_a_bar_arriving_in_a_final_window_is_a_revision(grouped: bool, late_for: int) -> None:
    """Every symbol in step takes the uniform pass; some symbols take the general vectorised pass."""
    symbols = ["SPY", "QQQ", "IWM"]
    sd, processor = engine(grouped, tuple(symbols))
    for minute in range(4):  # minutes 0..3 of the first 5m window
        sd.add_base_rows(symbols, BarArrays.concat([one(OPEN + 60 * minute, k + minute) for k in range(3)]))
        processor.process(float(OPEN + 60 * (minute + 1)))
    processor.process(float(OPEN + 300))  # the 5m window ends: its bar is final
    late = symbols[:late_for]
    for symbol, seed in zip(late, range(7, 10), strict=False):  # minute 4 arrives late
        sd.add_base_bars(symbol, one(OPEN + 240, seed))
    processor.process(float(OPEN + 310))
    for symbol in symbols:
        data = sd.get_symbol_data(symbol)
        assert data is not None
        five = data.bars["5m"]
        if symbol in late:
            assert five.revisions == {OPEN: Revision(1, float(OPEN + 310))}
            assert five.data[0].revised and five.data[0].count == 5
        else:
            assert five.revisions == {} and not five.data[0].revised and five.data[0].count == 4
        assert data.bars["15m"].revisions == {}  # still forming: a change, not a revision
        assert data.bars["1m"].revisions == {}


@pytest.mark.parametrize("grouped", [True, False])
def test_late_bars_and_corrections_count_once_per_pass(grouped: bool) -> None:
    sd, processor = engine(grouped)
    ts = np.arange(OPEN, OPEN + 20 * 60, 60, dtype=np.int64)
    full = walk(ts, seed=3)
    keep = np.ones(len(ts), bool)
    keep[[2, 3]] = False  # minutes 2 and 3 arrive late
    for symbol in ("SPY", "QQQ"):
        sd.add_base_bars(symbol, full.take(keep))
    processor.process(float(OPEN + 20 * 60))
    sd.add_base_bars("SPY", full.take(slice(2, 4)))  # both late bars, one pass
    processor.process(float(OPEN + 20 * 60 + 5))
    fixed = full.take(slice(3, 4))
    sd.add_base_bars("SPY", BarArrays(fixed.ts, fixed.open, fixed.high + 1.0, fixed.low, fixed.close, fixed.volume))
    processor.process(float(OPEN + 20 * 60 + 9))
    spy, qqq = sd.get_symbol_data("SPY"), sd.get_symbol_data("QQQ")
    assert spy is not None and qqq is not None
    assert spy.bars["5m"].revisions == {OPEN: Revision(2, float(OPEN + 20 * 60 + 9))}
    assert spy.bars["15m"].revisions == {OPEN: Revision(2, float(OPEN + 20 * 60 + 9))}
    assert spy.bars["5m"].data[0].high == pytest.approx(max(full.high[:5].max(), fixed.high[0] + 1.0))
    assert qqq.bars["5m"].revisions == {} and qqq.bars["15m"].revisions == {}
