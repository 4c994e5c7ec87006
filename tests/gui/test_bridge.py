"""SessionBridge change sets: core's per-bar events collected per subscriber, drained on its timer."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject

from core.session_data import SessionData
from gui.bridge import SessionBridge
from tests.gui.gui_helpers import Streamer, fake_bars


def test_a_change_set_keeps_the_lowest_changed_bar_and_wakes_once_per_fill(
    session_data: SessionData, streamer: Streamer
) -> None:
    bridge = SessionBridge(session_data)
    owner = QObject()
    wakes: list[int] = []
    changes = bridge.subscribe_changes(owner, lambda: wakes.append(1))
    streamer.add("AAA")
    bars = fake_bars("X", streamer.session, count=12)
    streamer.stream("AAA", bars.take(slice(0, 7)))
    streamer.stream("AAA", bars.take(slice(7, 12)))
    assert len(wakes) == 1  # told once, however many events followed
    collected, quality = changes.drain()
    # 1m: bars 0..6 then 7..11 → lowest is 0; 5m: bar 0 formed in the first pass
    assert collected[("AAA", "1m")] == 0
    assert collected[("AAA", "5m")] == 0
    assert set(collected) == {("AAA", "1m"), ("AAA", "5m"), ("AAA", "15m")}
    assert ("AAA", "1m") in quality
    assert not changes
    streamer.stream("AAA", fake_bars("X", streamer.session, count=13).take(slice(12, 13)))
    assert len(wakes) == 2
    collected, _ = changes.drain()
    assert collected[("AAA", "1m")] == 12


def test_a_removed_symbol_is_forgotten_and_a_destroyed_owner_stops_receiving(
    session_data: SessionData, streamer: Streamer
) -> None:
    bridge = SessionBridge(session_data)
    owner = QObject()
    wakes: list[int] = []
    changes = bridge.subscribe_changes(owner, lambda: wakes.append(1))
    streamer.add("AAA")
    streamer.add("BBB")
    streamer.stream("AAA", fake_bars("X", streamer.session, count=3))
    streamer.stream("BBB", fake_bars("X", streamer.session, count=3))
    changes.forget("AAA")
    assert {symbol for symbol, _ in changes.bars} == {"BBB"}
    assert {symbol for symbol, _ in changes.quality} == {"BBB"}
    changes.drain()
    shiboken6.delete(owner)  # the widget went away: it must not be called any more
    streamer.stream("BBB", fake_bars("X", streamer.session, count=4).take(slice(3, 4)))
    assert not changes and len(wakes) == 1
