"""AlpacaSource against a local protocol peer: real alpaca-py, real sockets, no internet.

Bars are real Lean minute bars (GOOG, 2015-12-28) pushed with their historical
timestamps; the source's ``now`` is a test-controlled clock, so a whole session runs
in well under a second. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

pytest.importorskip("alpaca")

from alpaca_peer import KEY, SECRET, AlpacaPeer, wait_until

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import get_calendar
from session_monitor.core.credentials import Credentials
from session_monitor.core.feeds import FeedError, PushFeed
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.alpaca import ONE_MINUTE, AlpacaSource
from session_monitor.core.sources.base import LoadedSession, SourceError
from session_monitor.core.sources.lean import LeanSource

DAY = get_calendar("XNYS").session(dt.date(2015, 12, 28))


class Clock:
    """The source's ``now``: moved by the test, not by the wall."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def goog(lean_minute) -> BarArrays:
    bars = LeanSource(lean_minute).load_session("GOOG", ONE_MINUTE, DAY).bars
    assert len(bars) > 300
    return bars


@pytest.fixture
def peer(goog: BarArrays) -> Iterator[AlpacaPeer]:
    with AlpacaPeer({"GOOG": goog}, page_size=25) as p:
        yield p


@pytest.fixture
def make_source(peer: AlpacaPeer) -> Iterator[Callable[..., AlpacaSource]]:
    made: list[AlpacaSource] = []

    def make(clock: Clock, secret: str = SECRET, **kwargs: object) -> AlpacaSource:
        options = {"backoff": (0.02, 0.1), "fill_retry_seconds": 0.01, **kwargs}
        source = AlpacaSource(KEY, secret, url_override=peer.ws_url, rest_url_override=peer.rest_url,
                              now=clock, **options)
        made.append(source)
        return source

    yield make
    for source in made:
        started = time.monotonic()
        source.close()
        assert time.monotonic() - started < 3, "closing the source must not hang"


def _drain(feed: PushFeed, clock: float, into: list[BarArrays]) -> BarArrays:
    into.append(feed.poll(clock))
    return _merged(into)


def _merged(batches: list[BarArrays]) -> BarArrays:
    """What SessionData would hold: concatenated in arrival order, the last value per start wins."""
    cols = [np.concatenate(c) for c in zip(*batches, strict=True)] if batches else list(BarArrays.empty())
    ts = cols[0]
    order = np.argsort(ts, kind="stable")
    merged = BarArrays(*(c[order] for c in cols))
    last = np.r_[merged.ts[1:] != merged.ts[:-1], True] if len(merged.ts) else np.zeros(0, bool)
    return merged.take(last)


def assert_same(got: BarArrays, want: BarArrays) -> None:
    assert got.ts.tolist() == want.ts.tolist()
    for name, g, w in zip(BarArrays._fields, got, want, strict=True):
        assert np.array_equal(g, w), name


def _connected(source: AlpacaSource, peer: AlpacaPeer, symbol: str = "GOOG") -> None:
    wait_until(lambda: peer.subscribed(symbol) and source.connected, 5, f"{symbol} subscribed")
    assert source.wait_idle(5)


def test_history_then_live_bars_fill_the_push_feed_with_exactly_the_session(
    peer: AlpacaPeer, make_source, goog: BarArrays
) -> None:
    clock = Clock(DAY.open + 30 * 60)
    source = make_source(clock)
    loaded = source.load_session("GOOG", ONE_MINUTE, DAY)
    history = goog.take(goog.ts + 60 <= clock.now)
    assert_same(loaded.bars, history)
    assert loaded.problems == [] and len(history) > 25  # more than one REST page …
    assert [q.get("page_token") for q in peer.rest_requests] == [None, "25"]  # … so the token was followed
    assert peer.rest_requests[0]["feed"] == "iex" and peer.rest_requests[0]["timeframe"] == "1Min"

    feed = source.open_feed(loaded)
    _connected(source, peer)
    got: list[BarArrays] = []
    assert_same(_drain(feed, clock.now, got), history)  # no look-ahead: only what has ended

    clock.now = DAY.close
    live = goog.take(goog.ts + 60 > DAY.open + 30 * 60)
    peer.send_bars("GOOG", live)
    wait_until(lambda: source.stats.streamed == len(live), 5, "every live bar")
    assert_same(_drain(feed, DAY.close, got), goog)
    assert source.stats.filled == 0 and len(peer.rest_requests) == 2  # live bars came over the socket


def test_a_dropped_connection_marks_the_feed_down_and_the_reconnect_backfills_the_gap(
    peer: AlpacaPeer, make_source, goog: BarArrays
) -> None:
    clock = Clock(DAY.open + 10 * 60)
    source = make_source(clock)
    feed = source.open_feed(source.load_session("GOOG", ONE_MINUTE, DAY))
    _connected(source, peer)
    got: list[BarArrays] = []
    clock.now = DAY.open + 60 * 60
    before = goog.take((goog.ts + 60 > DAY.open + 10 * 60) & (goog.ts + 60 <= clock.now))
    peer.send_bars("GOOG", before)
    wait_until(lambda: source.stats.streamed == len(before), 5, "bars before the drop")
    _drain(feed, clock.now, got)

    peer.refuse = True
    peer.drop_connections()
    wait_until(lambda: not feed.connected, 5, "the feed to go down")
    with pytest.raises(FeedError, match="Alpaca stream disconnected"):
        feed.poll(clock.now)
    attempts = peer.connects
    wait_until(lambda: peer.connects >= attempts + 2, 5, "the SDK to retry")  # it keeps retrying, backing off
    assert not feed.connected  # a refused reconnect keeps it down

    clock.now = DAY.open + 150 * 60  # 90 minutes pass while down
    peer.refuse = False
    wait_until(lambda: feed.connected and peer.subscribed("GOOG"), 5, "the reconnect")
    missed = goog.take((goog.ts + 60 > DAY.open + 60 * 60) & (goog.ts + 60 <= clock.now))
    assert source.stats.filled == len(missed) > 80  # backfilled before the feed came back
    fill = peer.rest_requests[-1]
    assert fill["start"] == dt.datetime.fromtimestamp(int(before.ts[-1]) + 60, dt.UTC).isoformat()

    rest = goog.take(goog.ts + 60 > clock.now)
    clock.now = DAY.close
    peer.send_bars("GOOG", rest)
    wait_until(lambda: source.stats.streamed == len(before) + len(rest), 5, "bars after the reconnect")
    assert_same(_drain(feed, DAY.close, got), goog)  # the gap closed


def test_an_updated_bar_replaces_the_bar_it_corrects(peer: AlpacaPeer, make_source, goog: BarArrays) -> None:
    clock = Clock(DAY.open)  # before the first bar ends: nothing to fetch
    source = make_source(clock)
    loaded = source.load_session("GOOG", ONE_MINUTE, DAY)
    assert len(loaded.bars) == 0 and peer.rest_requests == []
    feed = source.open_feed(loaded)
    _connected(source, peer)
    first = goog.take(slice(0, 3))
    peer.send_bars("GOOG", first)
    wait_until(lambda: source.stats.streamed == 3, 5, "three bars")
    assert_same(feed.poll(DAY.open + 180), first)

    ts, o, h, lo, _, v = (col[1].item() for col in first)
    peer.send_bars("GOOG", BarArrays.from_rows([(ts, o, h + 1, lo, h + 1, v + 100)]), kind="u")
    wait_until(lambda: source.stats.corrected == 1, 5, "the correction")
    corrected = feed.poll(DAY.open + 180)
    assert corrected.ts.tolist() == [ts] and corrected.close[0] == h + 1 and corrected.volume[0] == v + 100
    peer.send_bars("GOOG", BarArrays.from_rows([(ts, o, h + 1, lo, h + 1, v + 100)]), kind="u")  # same again
    peer.send_bars("GOOG", goog.take(slice(3, 4)))  # arrives after it on the same socket
    wait_until(lambda: source.stats.streamed == 4, 5, "the next bar")
    assert source.stats.corrected == 1  # an unchanged bar is not pushed again
    assert feed.poll(DAY.open + 240).ts.tolist() == [goog.ts[3]]


def test_refused_credentials_give_one_clear_message_and_no_retries(
    peer: AlpacaPeer, make_source, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock(DAY.open)
    source = make_source(clock, secret="wrong-secret")
    feed = source.open_feed(source.load_session("GOOG", ONE_MINUTE, DAY))
    wait_until(lambda: source.error is not None, 5, "the refusal")
    assert str(source.error) == "Alpaca rejected the credentials: auth failed"
    with pytest.raises(FeedError, match="Alpaca rejected the credentials: auth failed"):
        feed.poll(DAY.open + 60)
    time.sleep(0.3)  # with a 0.02 s backoff the SDK would have retried many times by now
    assert peer.auths == 1 and peer.connects == 1
    clock.now = DAY.open + 3600
    with pytest.raises(SourceError, match="rejected the credentials"):
        source.load_session("SPY", ONE_MINUTE, DAY)
    again = source.open_feed(LoadedSession("SPY", DAY, ONE_MINUTE, BarArrays.empty()))
    assert not again.connected  # never raises: the coordinator shows the reason
    assert "wrong-secret" not in caplog.text and "wrong-secret" not in repr(source)


def test_refused_credentials_on_rest_raise_a_clear_source_error(peer: AlpacaPeer, make_source) -> None:
    source = make_source(Clock(DAY.open + 3600), secret="wrong-secret")
    with pytest.raises(SourceError, match=r"^Alpaca rejected the credentials: forbidden\.$"):
        source.load_session("GOOG", ONE_MINUTE, DAY)


def test_malformed_messages_are_logged_and_the_stream_goes_on(
    peer: AlpacaPeer, make_source, goog: BarArrays, caplog: pytest.LogCaptureFixture
) -> None:
    import msgpack
    from alpaca_peer import bar_message

    clock = Clock(DAY.open)
    source = make_source(clock)
    feed = source.open_feed(source.load_session("GOOG", ONE_MINUTE, DAY))
    _connected(source, peer)
    good = [tuple(col[i].item() for col in goog) for i in range(2)]
    missing_close = {k: v for k, v in bar_message("GOOG", good[0]).items() if k != "c"}
    bad_time = {**bar_message("GOOG", good[0]), "t": "not a time"}
    peer.send_frame(b"\xc1 not msgpack")
    peer.send_frame(msgpack.packb({"T": "b"}))  # not a list of messages
    peer.send_messages([missing_close, bad_time, {"T": "zz", "S": "GOOG"}, {"T": "error", "code": 500, "msg": "x"}])
    peer.send_messages([bar_message("GOOG", good[0]), {**bar_message("GOOG", good[1]), "h": 1.0}])
    wait_until(lambda: source.stats.streamed == 1 and source.stats.malformed == 3, 5, "the good bar after bad ones")
    assert_same(feed.poll(DAY.open + 120), BarArrays.from_rows(good[:1]))
    assert "malformed b message (field 'c' is missing)" in caplog.text
    assert "malformed b message (Invalid isoformat" in caplog.text
    assert peer.connects == 1 and feed.connected and source.connected  # one connection throughout


def test_a_symbol_closed_is_unsubscribed_and_its_bars_dropped(peer: AlpacaPeer, make_source, goog) -> None:
    peer.data["SPY"] = goog
    source = make_source(Clock(DAY.open))
    goog_feed = source.open_feed(LoadedSession("GOOG", DAY, ONE_MINUTE, BarArrays.empty()))
    spy_feed = source.open_feed(LoadedSession("SPY", DAY, ONE_MINUTE, BarArrays.empty()))
    _connected(source, peer, "GOOG")
    _connected(source, peer, "SPY")
    source.close_feed("goog")
    wait_until(lambda: not peer.subscribed("GOOG") and not peer.subscribed("GOOG", "updatedBars"), 5, "unsubscribe")
    assert peer.subscribed("SPY")
    source.on_bar(
        {"T": "b", "S": "GOOG", "o": 1, "h": 1, "l": 1, "c": 1, "v": 1, "t": "2015-12-28T14:30:00Z"}, False
    )  # one already in flight
    peer.send_bars("SPY", goog.take(slice(0, 1)))
    wait_until(lambda: source.stats.streamed == 1, 5, "the SPY bar")
    assert len(goog_feed.poll(DAY.close)) == 0 and len(spy_feed.poll(DAY.close)) == 1


def test_failed_history_is_a_problem_and_is_fetched_again_once_streaming(
    peer: AlpacaPeer, make_source, goog: BarArrays
) -> None:
    clock = Clock(DAY.open + 20 * 60)
    source = make_source(clock)
    peer.rest_failures = [500]
    loaded = source.load_session("GOOG", ONE_MINUTE, DAY)
    assert len(loaded.bars) == 0
    assert [p.message for p in loaded.problems] == [
        'could not fetch the history so far (Alpaca answered 500: injected 500); it is retried once streaming'
    ]
    peer.rest_failures = [500]  # the first backfill attempt fails too, the second succeeds
    feed = source.open_feed(loaded)
    _connected(source, peer)
    history = goog.take(goog.ts + 60 <= clock.now)
    assert source.stats.filled == len(history) and source.stats.fills == 2
    assert_same(feed.poll(clock.now), history)


def test_a_stream_that_cannot_connect_keeps_feeds_down_until_it_can(
    peer: AlpacaPeer, make_source, goog: BarArrays
) -> None:
    peer.refuse = True
    clock = Clock(DAY.open + 5 * 60)
    source = make_source(clock)
    feed = source.open_feed(source.load_session("GOOG", ONE_MINUTE, DAY))
    wait_until(lambda: not feed.connected, 5, "the feed to go down")
    with pytest.raises(FeedError, match="cannot connect to Alpaca: server rejected WebSocket connection: HTTP 503"):
        feed.poll(clock.now)
    late = source.open_feed(LoadedSession("SPY", DAY, ONE_MINUTE, BarArrays.empty()))
    assert not late.connected  # a feed opened while down is down too
    peer.refuse = False
    wait_until(lambda: feed.connected and late.connected, 5, "the connection")
    assert_same(feed.poll(clock.now), goog.take(goog.ts + 60 <= clock.now))


def test_session_helpers_are_plain(make_source) -> None:
    source = make_source(Clock(DAY.open), feed="SIP")
    assert (source.key, source.name, source.calendar_hint) == (
        f"alpaca:sip@{source.url_override}", "alpaca sip", "XNYS"
    )
    assert source.base_intervals("ANY") == (ONE_MINUTE,) and source.dates("ANY") == []
    loaded = source.load_session("GOOG", Interval(1), DAY)
    assert "1m bars, not 1s" in loaded.problems[0].message
    with pytest.raises(SourceError, match="unknown Alpaca feed"):
        AlpacaSource(KEY, SECRET, feed="otc")
    with pytest.raises(SourceError, match="needs an API key id and a secret key"):
        AlpacaSource(KEY, "")
    keyed = AlpacaSource.from_credentials(Credentials(KEY, SECRET, "keyring"), feed="iex")
    assert keyed.key == "alpaca:iex" and SECRET not in repr(keyed) and KEY not in repr(keyed)


def test_a_feed_the_plan_lacks_stops_the_stream_with_a_clear_message(peer: AlpacaPeer, make_source) -> None:
    source = make_source(Clock(DAY.open), feed="sip")
    feed = source.open_feed(source.load_session("GOOG", ONE_MINUTE, DAY))
    _connected(source, peer)
    peer.send_messages([{"T": "error", "code": 409, "msg": "insufficient subscription"}])
    wait_until(lambda: source.error is not None, 5, "the refusal")
    assert str(source.error) == (
        "Alpaca refused the sip feed for these credentials: insufficient subscription (the free plan has iex only)"
    )
    with pytest.raises(FeedError, match=r"insufficient subscription \(the free plan"):
        feed.poll(DAY.open + 60)
    wait_until(lambda: peer.clients == 0, 5, "the stream to close")
    time.sleep(0.2)
    assert peer.connects == 1  # and it does not come back


def test_symbols_added_while_the_stream_connects_are_all_subscribed(peer: AlpacaPeer, make_source) -> None:
    """A symbol added while a connect sends the subscription list must not be lost (an SDK race)."""
    source = make_source(Clock(DAY.open))
    symbols = [f"S{i:02d}" for i in range(40)]
    for symbol in symbols:
        source.open_feed(LoadedSession(symbol, DAY, ONE_MINUTE, BarArrays.empty()))
        time.sleep(0.0005)
    wait_until(lambda: all(peer.subscribed(s) and peer.subscribed(s, "updatedBars") for s in symbols), 5,
               "every symbol subscribed")
    for symbol in symbols[::2]:
        source.close_feed(symbol)
    wait_until(lambda: not any(peer.subscribed(s) for s in symbols[::2]), 5, "half unsubscribed")
    assert all(peer.subscribed(s) for s in symbols[1::2])


def test_a_symbol_added_while_the_subscription_list_is_sent_is_not_lost(
    peer: AlpacaPeer, make_source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK marks itself running only after sending the list; its own subscribe_bars loses a symbol then."""
    from alpaca.data.live.websocket import DataStream

    original = DataStream._send_subscribe_msg
    sent = threading.Event()

    async def slow_send(self: DataStream) -> None:
        await original(self)
        sent.set()
        await asyncio.sleep(0.2)  # widen the window before ``_running = True``

    monkeypatch.setattr(DataStream, "_send_subscribe_msg", slow_send)
    source = make_source(Clock(DAY.open))
    source.open_feed(LoadedSession("GOOG", DAY, ONE_MINUTE, BarArrays.empty()))
    assert sent.wait(5)
    source.open_feed(LoadedSession("SPY", DAY, ONE_MINUTE, BarArrays.empty()))  # inside the window
    wait_until(lambda: peer.subscribed("GOOG") and peer.subscribed("SPY"), 5, "both symbols subscribed")


def test_a_bad_bar_in_the_history_is_a_problem_and_the_rest_is_kept(peer: AlpacaPeer, make_source, goog) -> None:
    bad = BarArrays(*(col.copy() for col in goog))
    bad.high[5] = bad.low[5] - 1
    peer.data["GOOG"] = bad
    clock = Clock(DAY.open + 20 * 60)
    loaded = make_source(clock).load_session("goog", ONE_MINUTE, DAY)
    history = goog.take(goog.ts + 60 <= clock.now)
    assert_same(loaded.bars, history.take(np.arange(len(history)) != 5))
    assert [(p.file, p.row, p.symbol) for p in loaded.problems] == [("alpaca REST", 6, "GOOG")]
    assert "is below low" in loaded.problems[0].message


def test_open_alpaca_takes_the_keys_from_the_environment_or_says_where_to_put_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import session_monitor.core.credentials as credentials_module
    from session_monitor.core.sources.alpaca import open_alpaca

    def no_keyring() -> None:
        raise ImportError("keyring")

    monkeypatch.setattr(credentials_module, "_keyring", no_keyring)  # hermetic: never the user's keyring
    source = open_alpaca("sip", {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET})
    try:
        assert source.feed == "sip" and source.key == "alpaca:sip"
    finally:
        source.close()
    with pytest.raises(SourceError, match=r"^Alpaca needs API keys: the keyring package is not installed: set APCA_"):
        open_alpaca("iex", {})


def test_a_stream_thread_that_dies_marks_the_feed_down_and_is_started_again(
    peer: AlpacaPeer, make_source, goog: BarArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_monitor.core.sources import alpaca_stream

    real_serve = alpaca_stream._SdkStream.serve
    runs = [0]

    async def serve_failing_once(self: alpaca_stream._SdkStream) -> None:
        runs[0] += 1
        if runs[0] == 1:
            raise RuntimeError("the stream loop broke")
        await real_serve(self)

    monkeypatch.setattr(alpaca_stream._SdkStream, "serve", serve_failing_once)
    clock = Clock(DAY.open + 10 * 60)
    source = make_source(clock)
    feed = source.open_feed(source.load_session("GOOG", ONE_MINUTE, DAY))

    wait_until(lambda: not feed.connected, 5, "the feed to be marked down")
    with pytest.raises(FeedError, match=r"Alpaca stream stopped \(the stream loop broke\); retrying"):
        feed.poll(clock.now)
    clock.now = DAY.open + 40 * 60  # the session goes on while the thread restarts
    wait_until(lambda: feed.connected and peer.subscribed("GOOG"), 5, "the restarted stream")
    assert runs[0] == 2
    live = goog.take((goog.ts + 60 > clock.now) & (goog.ts + 60 <= DAY.open + 50 * 60))
    clock.now = DAY.open + 50 * 60
    peer.send_bars("GOOG", live)
    wait_until(lambda: source.stats.streamed == len(live), 5, "bars on the restarted stream")
    got = _drain(feed, clock.now, [])
    assert_same(got, goog.take(goog.ts + 60 <= clock.now))  # history, the backfill and the live bars


def test_endpoints_come_from_the_documented_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import session_monitor.core.credentials as credentials_module
    from session_monitor.core.sources.alpaca import (
        REST_URL_VARIABLE,
        STREAM_URL_VARIABLE,
        endpoint_overrides,
        open_alpaca,
    )

    monkeypatch.setattr(credentials_module, "_keyring", lambda: (_ for _ in ()).throw(ImportError("keyring")))
    env = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET,
           STREAM_URL_VARIABLE: "ws://127.0.0.1:9/v2/iex", REST_URL_VARIABLE: "http://127.0.0.1:9/"}
    source = open_alpaca("iex", env)
    try:
        assert (source.url_override, source.rest_url_override) == ("ws://127.0.0.1:9/v2/iex", "http://127.0.0.1:9")
        assert source.key == "alpaca:iex@ws://127.0.0.1:9/v2/iex"  # recordings of another endpoint stay apart
    finally:
        source.close()
    assert endpoint_overrides({}) == {}
    with pytest.raises(SourceError, match=rf"^{STREAM_URL_VARIABLE}='http://x' is not a ws:// or wss:// URL"):
        endpoint_overrides({STREAM_URL_VARIABLE: "http://x"})
    with pytest.raises(SourceError, match=rf"^{REST_URL_VARIABLE}='127.0.0.1:9' is not a http:// or https:// URL"):
        endpoint_overrides({REST_URL_VARIABLE: "127.0.0.1:9"})


def test_symbols_come_from_alpacas_asset_list(make_source: Callable[..., AlpacaSource], peer: AlpacaPeer) -> None:
    source = make_source(Clock(DAY.open))
    assert source.symbols() == ["GOOG"]  # tradable ones only (the peer also lists NOTRADE)
    assert peer.rest_requests[-1].get("asset_class") == "us_equity"
    refused = make_source(Clock(DAY.open), secret="wrong")
    assert refused.symbols() == []  # no completion, no error


def test_extended_hours_fetch_and_stream_the_pre_and_post_market(lean_minute) -> None:
    """With extended hours the REST history starts at 04:00 and the stream's after-hours bars are kept."""
    day = get_calendar("XNYS", hours="extended").session(DAY.date)
    bars = LeanSource(lean_minute).load_session("GOOG", ONE_MINUTE, day).bars
    pre, post = bars.ts < day.regular_open, bars.ts >= day.regular_close
    assert pre.sum() > 5 and post.sum() > 5  # the Lean day holds extended-hours trades
    with AlpacaPeer({"GOOG": bars}, page_size=25) as peer:
        clock = Clock(day.regular_open + 30 * 60)
        source = AlpacaSource(KEY, SECRET, url_override=peer.ws_url, rest_url_override=peer.rest_url, now=clock,
                              backoff=(0.02, 0.1), fill_retry_seconds=0.01)
        try:
            loaded = source.load_session("GOOG", ONE_MINUTE, day)
            history = bars.take(bars.ts + 60 <= clock.now)
            assert_same(loaded.bars, history)  # the pre-market and the first half hour
            assert dt.datetime.fromisoformat(peer.rest_requests[0]["start"]).timestamp() == day.open  # 04:00
            feed = source.open_feed(loaded)
            _connected(source, peer)
            got: list[BarArrays] = []
            _drain(feed, clock.now, got)
            clock.now = day.close
            live = bars.take(bars.ts + 60 > day.regular_open + 30 * 60)
            peer.send_bars("GOOG", live)
            wait_until(lambda: source.stats.streamed == len(live), 5, "every live bar, after-hours included")
            assert_same(_drain(feed, day.close, got), bars)
        finally:
            source.close()
