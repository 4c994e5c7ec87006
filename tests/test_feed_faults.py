"""Feed faults: a failing or stalling feed is marked down, retried, backfilled; others run on."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pytest

from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.feeds import FaultSchedule
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.demo import DemoSource
from session_monitor.core.sources.faulty import FaultySource
from session_monitor.core.sources.lean import LeanSource

CAL = get_calendar("XNYS")
DAY = CAL.session(dt.date(2015, 12, 28))


def run(source, symbols, speed=None, max_chunk=60.0, **kwargs):
    async def scenario():
        sd = SessionData()
        messages: list[str] = []
        sd.events.message.connect(lambda _level, text: messages.append(text))
        coord = SessionCoordinator(sd, source, CAL, [DAY], speed=speed, max_chunk=max_chunk, **kwargs)
        changes: list[tuple[str, bool]] = []
        coord.feed_changed.connect(lambda symbol, up: changes.append((symbol, up)))
        for symbol in symbols:
            await coord.add_symbol(symbol, ["1m", "5m", "1h"])
        await coord.run()
        return sd, coord, messages, changes

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def clean():
    sd, *_ = run(DemoSource(), ["GOOG", "SPY"])
    return sd


@pytest.mark.parametrize("kind", ["failures", "stalls"])
def test_a_faulty_feed_recovers_backfills_and_ends_equal_to_a_clean_run(clean, kind) -> None:
    outage = (DAY.open + 3600, DAY.open + 5400)  # 10:30-11:00 New York
    schedule = FaultSchedule(**{kind: (outage,)})
    source = FaultySource(DemoSource(), {"GOOG": schedule})
    sd, coord, messages, changes = run(source, ["GOOG", "SPY"], retry_base=0.0, retry_max=0.0)
    assert source.feeds["GOOG"].faults > 0
    assert changes == [("GOOG", False), ("GOOG", True)]
    assert any("GOOG: feed disconnected at 10:30:00" in m for m in messages)
    assert any("GOOG: feed reconnected at 11:00:00" in m for m in messages)
    for symbol in ("GOOG", "SPY"):
        for name in ("1m", "5m", "1h"):
            got, want = sd.get_symbol_data(symbol).bars[name], clean.get_symbol_data(symbol).bars[name]
            step = got.interval.seconds
            # every field of every bar as a clean run, except one: a GOOG window that ended while the
            # feed was down (its last bars came with the backfill) is flagged revised, and only that
            expected = [
                (*row[:9], row[9] or (symbol == "GOOG" and name != "1m" and outage[0] <= row[0] + step < outage[1]))
                for row in _rows(want.data)
            ]
            assert _rows(got.data) == expected, (symbol, name)
            assert (got.quality, got.gaps) == (want.quality, want.gaps)
    assert coord.status().disconnected == ()
    revised = [b.ts for b in sd.get_symbol_data("GOOG").bars["5m"].data if b.revised]
    assert revised == [outage[0] + k * 300 for k in range(-1, 5)]  # 10:25 … 10:50


def test_while_down_the_missed_span_is_a_disconnect_gap_and_other_symbols_run_on() -> None:
    async def scenario():
        sd = SessionData()
        schedule = FaultSchedule(failures=((DAY.open + 600, DAY.close),))
        source = FaultySource(DemoSource(drop_rate=0.0), {"GOOG": schedule})
        coord = SessionCoordinator(sd, source, CAL, [DAY], max_chunk=60.0, retry_base=3600.0)
        await coord.add_symbol("GOOG", ["1m", "5m"])
        await coord.add_symbol("SPY", ["1m", "5m"])
        for minute in range(1, 31):
            coord.step(DAY.open + 60 * minute)
        goog, spy = sd.get_symbol_data("GOOG"), sd.get_symbol_data("SPY")
        assert not coord.is_connected("GOOG") and coord.is_connected("SPY")
        assert coord.status().disconnected == ("GOOG",)
        demo = DemoSource(drop_rate=0.0)
        goog_day = demo.load_session("GOOG", goog.base_interval, DAY).bars.ts
        spy_day = demo.load_session("SPY", spy.base_interval, DAY).bars.ts
        assert list(goog.base.data.ts) == [t for t in goog_day if t + 60 < DAY.open + 600]  # the 10:00 poll failed
        assert list(spy.base.data.ts) == [t for t in spy_day if t + 60 <= DAY.open + 1800]  # SPY unaffected
        gap = goog.base.gaps[-1]
        assert (gap.end, gap.cause) == (DAY.open + 1800, "disconnect")
        assert gap.start <= DAY.open + 600
        assert goog.bars["5m"].gaps[-1].cause == "disconnect"

    asyncio.run(scenario())


def test_a_source_that_stops_early_closes_on_the_calendar_with_an_ended_gap(data_dir) -> None:
    crypto = LeanSource(data_dir / "lean" / "crypto" / "coinbase" / "minute")
    cal = get_calendar("24/7")
    day = cal.session(dt.date(2018, 4, 4))

    async def scenario():
        sd = SessionData()
        coord = SessionCoordinator(sd, crypto, cal, [day])
        data = await coord.add_symbol("BTCUSD", ["1m", "1h"])
        await coord.run()
        return data

    data = asyncio.run(scenario())
    base = data.base
    last_end = int(base.data.ts[-1]) + 60
    assert last_end == int(dt.datetime(2018, 4, 4, 16, 47, tzinfo=dt.UTC).timestamp()) + 60
    tail = base.gaps[-1]
    assert (tail.start, tail.end, tail.cause) == (last_end, day.close, "ended")
    assert tail.bars == (day.close - last_end) // 60
    assert base.elapsed == 1440  # the session still closed at midnight
    assert data.bars["1h"].gaps[-1].cause == "ended"


def _rows(series) -> list[tuple]:
    return [(b.ts, b.open, b.high, b.low, b.close, b.volume, b.count, b.expected, b.forming, b.revised) for b in series]


def test_push_feed_releases_on_the_clock_applies_corrections_and_raises_while_down() -> None:
    from session_monitor.core.bars import BarArrays
    from session_monitor.core.feeds import FeedError, PushFeed

    feed = PushFeed("SPY", 60, history=BarArrays.from_rows([(0, 1.0, 1.0, 1.0, 1.0, 1.0)]))
    feed.push(BarArrays.from_rows([(120, 3.0, 3.0, 3.0, 3.0, 3.0), (60, 2.0, 2.0, 2.0, 2.0, 2.0)]))
    feed.push(BarArrays.from_rows([(60, 2.5, 2.5, 2.5, 2.5, 2.5)]))  # a correction of 60
    assert list(feed.poll(120).ts) == [0, 60]
    assert feed.poll(120).ts.size == 0
    feed.disconnect("socket closed")
    with pytest.raises(FeedError, match="socket closed"):
        feed.poll(180)
    feed.reconnect()
    out = feed.poll(180)
    assert list(out.ts) == [120] and out.close[0] == 3.0


def test_a_refused_feed_is_reported_once_and_not_retried() -> None:
    from session_monitor.core.bars import BarArrays
    from session_monitor.core.feeds import PushFeed
    from session_monitor.core.sources.base import LoadedSession

    class RefusingSource(DemoSource):
        def open_feed(self, loaded: LoadedSession):
            feed = PushFeed(loaded.symbol, 60, history=BarArrays.empty())
            feed.disconnect("Alpaca rejected the credentials", fatal=True)
            return feed

    async def scenario():
        sd = SessionData()
        messages: list[str] = []
        sd.events.message.connect(lambda _level, text: messages.append(text))
        coord = SessionCoordinator(sd, RefusingSource(), CAL, [DAY], max_chunk=600.0, retry_base=0.0)
        await coord.add_symbol("SPY", ["1m"])
        await coord.run()
        return coord, messages

    coord, messages = asyncio.run(scenario())
    refused = [m for m in messages if "refused" in m]
    assert len(refused) == 1 and "rejected the credentials" in refused[0]
    assert coord.status().disconnected == ("SPY",)


def test_a_resumed_push_feed_skips_only_recorded_bars_so_its_backfill_fills_a_lost_span() -> None:
    from session_monitor.core.bars import BarArrays
    from session_monitor.core.feeds import PushFeed

    history = BarArrays.from_rows([(t, 1.0, 1.0, 1.0, 1.0, 1.0) for t in range(0, 600, 60)])  # the REST fill
    feed = PushFeed("SPY", 60, history=history)
    recorded = np.array([0, 60, 120, 300, 360, 420, 480, 540])  # 180 and 240 were lost from the recording
    feed.skip_recorded(recorded)
    feed.push(BarArrays.from_rows([(600, 2.0, 2.0, 2.0, 2.0, 2.0), (60, 3.0, 3.0, 3.0, 3.0, 3.0)]))
    assert list(feed.poll(660).ts) == [180, 240, 600]  # the lost span, then live bars; recorded ones never again
    assert feed.poll(720).ts.size == 0
