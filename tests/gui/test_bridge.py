"""SessionBridge change sets: core's per-bar events collected per subscriber, drained on its timer."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import shiboken6
from PySide6.QtCore import QObject

from session_monitor.core.session_data import SessionData
from session_monitor.gui.bridge import ChangeSet, SessionBridge
from tests.gui.gui_helpers import Streamer, fake_bars


@dataclass
class Subscriber:
    """A stand-in widget subscribed to the bridge, counting how often it is woken."""

    bridge: SessionBridge
    owner: QObject = field(default_factory=QObject)
    wakes: list[int] = field(default_factory=list)
    changes: ChangeSet = field(init=False)

    def __post_init__(self) -> None:
        self.changes = self.bridge.subscribe_changes(self.owner, lambda: self.wakes.append(1))


@pytest.fixture
def subscriber(session_data: SessionData) -> Subscriber:
    return Subscriber(SessionBridge(session_data))


def test_a_change_set_keeps_the_lowest_changed_bar_and_wakes_once_per_fill(
    subscriber: Subscriber, streamer: Streamer
) -> None:
    changes, wakes = subscriber.changes, subscriber.wakes
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


def test_a_destroyed_owner_stops_receiving(subscriber: Subscriber, streamer: Streamer) -> None:
    changes, wakes = subscriber.changes, subscriber.wakes
    streamer.add("AAA")
    streamer.add("BBB")
    streamer.stream("AAA", fake_bars("X", streamer.session, count=3))
    streamer.stream("BBB", fake_bars("X", streamer.session, count=3))
    assert {symbol for symbol, _ in changes.bars} == {"AAA", "BBB"}
    assert {symbol for symbol, _ in changes.quality} == {"AAA", "BBB"}
    changes.drain()
    shiboken6.delete(subscriber.owner)  # the widget went away: it must not be called any more
    streamer.stream("BBB", fake_bars("X", streamer.session, count=4).take(slice(3, 4)))
    assert not changes and len(wakes) == 1
