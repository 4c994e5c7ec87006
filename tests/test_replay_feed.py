"""The replay feed: every bar exactly once, in order, on the clock; what it delivered it lets go."""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import get_calendar
from session_monitor.core.feeds import PIECE_BARS, ReplayFeed
from session_monitor.core.sources.demo import ONE_SECOND, DemoSource
from session_monitor.core.sources.loaded import LoadedSession

DAY = get_calendar("XNYS").session(dt.date(2013, 10, 7))


@cache
def _session() -> BarArrays:
    return DemoSource().load_session("SPY", ONE_SECOND, DAY).bars


def _feed() -> ReplayFeed:
    return ReplayFeed(LoadedSession("SPY", DAY, ONE_SECOND, _session()))


def test_polls_deliver_each_bar_once_in_order_only_once_it_has_ended() -> None:
    bars = _session()
    feed = _feed()
    polled = []
    for clock in range(DAY.open, DAY.close + 997, 997):
        batch = feed.poll(float(clock) + 0.5)
        assert (batch.ts + 1 <= clock + 0.5).all()
        polled.append(batch)
    got = BarArrays.concat(polled)
    assert len(bars.ts) > 4 * PIECE_BARS  # several pieces, so every boundary is crossed
    for ours, theirs in zip(got, bars, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert feed.ended_at == float(bars.ts[-1] + 1)


def test_the_feed_lets_go_of_what_it_delivered() -> None:
    bars = _session()
    feed = _feed()
    assert feed.held_bars == len(bars.ts)
    half = int(bars.ts[len(bars.ts) // 2])
    delivered = len(feed.poll(float(half + 1)).ts)
    assert feed.held_bars <= len(bars.ts) - delivered + PIECE_BARS
    feed.poll(float(DAY.close))
    assert feed.held_bars == 0 and feed.ended_at is not None


def test_skip_recorded_drops_only_the_recorded_starts_still_waiting() -> None:
    bars = _session()
    feed = _feed()
    first = feed.poll(float(bars.ts[99] + 1))
    assert len(first.ts) == 100
    recorded = bars.ts[50:5000:2]  # some already delivered, most still waiting
    feed.skip_recorded(recorded)
    rest = feed.poll(float(DAY.close))
    expected = bars.ts[100:][~np.isin(bars.ts[100:], recorded)]
    np.testing.assert_array_equal(rest.ts, expected)
    assert feed.held_bars == 0


def test_a_poll_taking_the_whole_session_hands_it_over_at_once_and_holds_nothing() -> None:
    bars = _session()
    feed = _feed()
    whole = feed.poll(float(DAY.close))
    for ours, theirs in zip(whole, bars, strict=True):
        np.testing.assert_array_equal(ours, theirs)
        assert not ours.flags.writeable  # the source's own arrays: nobody downstream may write into them
    assert feed.held_bars == 0 and feed.ended_at == float(bars.ts[-1] + 1)
    assert len(feed.poll(float(DAY.close + 60)).ts) == 0


def test_a_feed_polled_in_parts_cuts_its_session_into_pieces_up_front() -> None:
    bars = _session()
    feed = _feed()
    feed.polled_in_parts()  # (the coordinator says so while loading, unless it steps whole sessions)
    whole = feed.poll(float(DAY.close))
    for ours, theirs in zip(whole, bars, strict=True):
        np.testing.assert_array_equal(ours, theirs)
        assert not np.shares_memory(ours, theirs)  # delivered from the pieces, the source's arrays let go
    assert feed.held_bars == 0
