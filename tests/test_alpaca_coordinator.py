"""End to end: SessionCoordinator (live) ← AlpacaSource ← alpaca-py ← the local peer.

The coordinator's clock is stepped by hand (``coord.step``) with the same historical
time the source's ``now`` reads, so a whole session with a drop, a backfill and a
correction runs in a second.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pytest

pytest.importorskip("alpaca")

from alpaca_peer import KEY, SECRET, AlpacaPeer, wait_until

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.session_data import SessionData, SymbolSessionData
from session_monitor.core.sources.alpaca import ONE_MINUTE, AlpacaSource
from session_monitor.core.sources.lean import LeanSource

CAL = get_calendar("XNYS")
DAY = CAL.session(dt.date(2015, 12, 28))


def test_a_live_session_with_a_drop_a_backfill_and_a_correction_ends_equal_to_the_lean_day(lean_minute) -> None:
    goog = LeanSource(lean_minute).load_session("GOOG", ONE_MINUTE, DAY).bars
    now = [DAY.open + 30 * 60.0]
    corrected_at = int(goog.ts[40])
    with AlpacaPeer({"GOOG": goog}) as peer:
        source = AlpacaSource(KEY, SECRET, url_override=peer.ws_url, rest_url_override=peer.rest_url,
                              now=lambda: now[0], backoff=(0.02, 0.1))

        sent = [0]

        def send_until(minutes: float) -> None:
            """Move time on and stream the bars that ended meanwhile."""
            start, now[0] = now[0], DAY.open + minutes * 60
            bars = goog.take((goog.ts + 60 > start) & (goog.ts + 60 <= now[0]))
            peer.send_bars("GOOG", bars)
            sent[0] += len(bars)
            wait_until(lambda: source.stats.streamed == sent[0], 5, f"live bars up to minute {minutes}")

        async def scenario() -> SymbolSessionData:
            sd = SessionData()
            coord = SessionCoordinator(sd, source, CAL, [DAY], live=True, retry_base=0.0)
            data = await coord.add_symbol("GOOG", ["1m", "5m", "1h"])
            wait_until(lambda: source.connected and peer.subscribed("GOOG"), 5, "the stream")
            assert source.wait_idle(5)
            coord.step(now[0])
            assert data.base.data.ts.tolist() == goog.ts[goog.ts + 60 <= now[0]].tolist()  # history

            send_until(60)
            coord.step(now[0])
            ts, o, h, lo, _, v = (col[40].item() for col in goog)
            peer.send_bars("GOOG", BarArrays.from_rows([(ts, o, h + 2, lo, h + 2, v + 7)]), kind="u")
            wait_until(lambda: source.stats.corrected == 1, 5, "the correction")
            coord.step(now[0])
            assert data.base.data[data.base.data.index_of(corrected_at)].close == h + 2

            peer.refuse = True
            peer.drop_connections()
            wait_until(lambda: (coord.step(now[0] + 1), not coord.is_connected("GOOG"))[1], 5, "the drop")
            assert coord.status().disconnected == ("GOOG",)

            now[0] = DAY.open + 200 * 60.0
            coord.step(now[0])  # still down: nothing arrives
            assert data.base.data.ts[-1] + 60 <= DAY.open + 60 * 60
            peer.refuse = False
            wait_until(lambda: source.connected and peer.subscribed("GOOG"), 5, "the reconnect")
            assert source.wait_idle(5)
            coord.step(now[0])
            assert coord.is_connected("GOOG")
            assert data.base.data.ts.tolist() == goog.ts[goog.ts + 60 <= now[0]].tolist()  # the gap closed

            send_until(390)
            coord.step(float(DAY.close), final=True)
            coord.remove_symbol("GOOG")
            source.close_feed("GOOG")  # the hook the coordinator should call
            wait_until(lambda: not peer.subscribed("GOOG"), 5, "the unsubscribe")
            return data

        try:
            data = asyncio.run(scenario())
        finally:
            source.close()

    want = BarArrays(*(col.copy() for col in goog))
    i = int(np.searchsorted(want.ts, corrected_at))
    want.high[i] = want.close[i] = goog.high[i] + 2
    want.volume[i] += 7
    base = data.base.data
    assert base.ts.tolist() == want.ts.tolist()
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(base, name), getattr(want, name)), name
    assert data.base.quality == pytest.approx(100 * len(goog) / 390)
    assert all(gap.cause != "disconnect" for gap in data.base.gaps)  # the outage was backfilled
    start = corrected_at - (corrected_at - DAY.open) % 300
    window = data.bars["5m"].data[data.bars["5m"].data.index_of(start)]
    inside = (want.ts >= start) & (want.ts < start + 300)
    assert (window.high, window.volume) == (want.high[inside].max(), want.volume[inside].sum())  # re-derived


def test_live_a_symbol_without_bars_is_quiet_while_the_connection_carries_others_then_stale(lean_minute) -> None:
    """Alpaca sends no bar for a minute without trades: other symbols' bars on the same
    connection prove it alive, so a silent symbol is quiet; when the connection goes
    silent too, both go stale five minutes after the last message."""
    goog = LeanSource(lean_minute).load_session("GOOG", ONE_MINUTE, DAY).bars
    now = [DAY.open + 30 * 60.0]
    with AlpacaPeer({"GOOG": goog, "QUIET": goog}) as peer:
        source = AlpacaSource(KEY, SECRET, url_override=peer.ws_url, rest_url_override=peer.rest_url,
                              now=lambda: now[0], backoff=(0.02, 0.1))

        async def scenario() -> list[tuple[str, int, str]]:
            sd = SessionData()
            coord = SessionCoordinator(sd, source, CAL, [DAY], live=True, retry_base=0.0)
            changes: list[tuple[str, int, str]] = []
            coord.health.changed.connect(
                lambda c: changes.append((c.symbol, int(c.time - DAY.open) // 60, c.state.value))
            )
            for symbol in ("GOOG", "QUIET"):
                await coord.add_symbol(symbol, ["1m"])
            wait_until(lambda: source.connected and peer.subscribed("GOOG") and peer.subscribed("QUIET"), 5, "stream")
            assert source.wait_idle(5)
            coord.step(now[0])
            sent = 0
            for minute in range(31, 61):  # only GOOG trades
                now[0] = DAY.open + minute * 60.0
                bars = goog.take(goog.ts + 60 == now[0])
                peer.send_bars("GOOG", bars)
                sent += len(bars)
                wait_until(lambda sent=sent: source.stats.streamed == sent, 5, f"minute {minute}")
                coord.step(now[0])
            quiet = sd.get_symbol_data("QUIET")
            assert quiet.health.state.value == "quiet" and quiet.health.durations["stale"] == 0.0
            for minute in range(61, 71):  # the connection falls silent
                now[0] = DAY.open + minute * 60.0
                coord.step(now[0])
            assert quiet.health.state.value == "stale"
            gaps = quiet.base.gaps
            assert gaps[-1].cause == "missing"  # still open: nothing proves it quiet after minute 60
            coord.stop()
            return changes

        try:
            changes = asyncio.run(scenario())
        finally:
            source.close()  # else its stream thread keeps reconnecting to the closed peer
    assert [c for c in changes if c[2] == "stale"] == [("GOOG", 65, "stale"), ("QUIET", 65, "stale")]
