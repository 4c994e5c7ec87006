"""The desk's columnar messages: a replica that applies an engine's flushes holds exactly the engine's
bars, gaps, quality, feed notes and health; only the gap runs that changed travel; a tick's base bars
reach the writer as soon as they are accepted, its derived bars right after the pass, both before its
feed-health update runs."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pytest

from session_monitor.core.bars import BarArrays
from session_monitor.core.bus import publisher as publisher_module
from session_monitor.core.bus.codec import BASE_COLUMNS, DERIVED_COLUMNS, Message, decode_batch
from session_monitor.core.bus.layout import ShardSpec
from session_monitor.core.bus.publisher import Batch, ShardPublisher
from session_monitor.core.bus.replica import Replica, ShardStatus
from session_monitor.core.bus.serve import publish_changes
from session_monitor.core.calendar import get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.export import session_snapshot
from session_monitor.core.intervals import parse_intervals
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import SessionData, SymbolSessionData
from session_monitor.core.sources.demo import DemoSource

SESSION = get_calendar("XNYS").sessions_between(dt.date(2024, 3, 4), dt.date(2024, 3, 4))[0]
SYMBOLS = ("SPY", "AAPL", "MSFT")


def _bars(minutes: list[int], price: float = 100.0) -> BarArrays:
    ts = SESSION.open + 60 * np.array(minutes)
    return BarArrays(ts, ts * 0 + price, ts * 0 + price + 1, ts * 0 + price - 1, ts * 0 + price, ts * 0 + 10.0)


class _Desk:
    """An engine's SessionData with a publisher, and a replica applying every batch it hands over."""

    def __init__(self) -> None:
        self.engine = SessionData()
        self.engine.start_session(SESSION)
        self.processor = DataProcessor(self.engine)
        self.publisher = ShardPublisher(self.engine, {})
        self.publisher.sink = self._apply
        self.replica = Replica(None)  # type: ignore[arg-type]  # applies batches; never reads Redis here
        self.status = ShardStatus(ShardSpec(1, 1))
        self.sent: list[Message] = []

    def _apply(self, batch: Batch) -> None:
        """What a reader does with each entry, in order (base bars go as soon as they are accepted)."""
        self.sent.extend(decode_batch(batch.payload, bytes(batch.blob)))
        self.replica.apply_messages(self.status, decode_batch(batch.payload, bytes(batch.blob)))

    def add(self, symbol: str) -> None:
        base, *derived = parse_intervals("1m,5m")
        data = SymbolSessionData.create(symbol, base, derived, SESSION, requested=[base, *derived])
        self.engine.register_symbol_data(data)

    def flush(self, clock_minutes: int) -> list[Message]:
        """A processor pass at ``clock_minutes`` after the open, then a flush; every message sent since the last."""
        self.processor.process(float(SESSION.open + 60 * clock_minutes))
        self.publisher.flush()
        sent, self.sent = self.sent, []
        return sent

    def assert_equal(self) -> None:
        assert session_snapshot(self.replica.session_data, SESSION) == session_snapshot(self.engine, SESSION)
        for data in self.engine.all_symbol_data():
            copy = self.replica.session_data.get_symbol_data(data.symbol)
            assert copy is not None
            for name, interval in data.bars.items():
                held = copy.bars[name]
                assert held.gaps == interval.gaps
                columns = DERIVED_COLUMNS if interval.data.with_counts else BASE_COLUMNS
                for column in columns:
                    assert held.data.column(column).tolist() == interval.data.column(column).tolist(), (name, column)
                assert (held.quality, held.incomplete, held.finalized) == (
                    interval.quality, interval.incomplete, interval.finalized)
                assert held.revisions == interval.revisions


def test_a_replica_applying_the_flushes_holds_exactly_the_engines_bars_gaps_and_quality() -> None:
    desk = _Desk()
    for symbol in SYMBOLS:
        desk.add(symbol)
    for k, symbol in enumerate(SYMBOLS):
        desk.engine.add_base_bars(symbol, _bars([0, 2, 3, 5, 8, 9], 100.0 + k))
    desk.flush(10)
    desk.assert_equal()
    spy = desk.replica.session_data.get_symbol_data("SPY")
    assert spy is not None
    assert [(g.start - SESSION.open) // 60 for g in spy.bars["1m"].gaps] == [1, 4, 6]
    # late bars: one fills a gap of one bar (its run goes), one splits nothing but shortens a run,
    # and a new gap opens at the end, all in one flush (the run count stays, the runs do not)
    desk.engine.add_base_bars("SPY", _bars([1]))
    desk.engine.add_base_bars("SPY", _bars([6]))
    desk.engine.add_base_bars("SPY", _bars([12]))
    desk.flush(13)
    desk.assert_equal()
    assert [(g.start - SESSION.open) // 60 for g in spy.bars["1m"].gaps] == [4, 7, 10]
    assert spy.bars["5m"].revisions  # the late bars revised final 5m bars, and the replica shows it


def test_a_symbol_removed_and_another_added_keep_every_other_symbols_bars(
) -> None:
    desk = _Desk()
    for symbol in SYMBOLS:
        desk.add(symbol)
        desk.engine.add_base_bars(symbol, _bars([0, 1, 2]))
    desk.flush(3)
    desk.engine.remove_symbol("AAPL")
    desk.add("QQQ")
    for symbol in ("SPY", "MSFT", "QQQ"):
        desk.engine.add_base_bars(symbol, _bars([3, 5], 200.0))
    desk.flush(6)
    desk.assert_equal()
    assert desk.replica.session_data.get_active_symbols() == ["SPY", "MSFT", "QQQ"]


def test_a_flush_carries_only_the_gap_runs_that_changed() -> None:
    desk = _Desk()
    desk.add("SPY")
    desk.engine.add_base_bars("SPY", _bars(list(range(0, 40, 2))))  # 19 gaps of one bar
    first = [m for m in desk.flush(40) if m["k"] == "qb" and m["i"] == "1m"]
    assert [len(runs) for _, _, runs in first[0]["gr"]] == [19]
    desk.engine.add_base_bars("SPY", _bars([41]))
    later = [m for m in desk.flush(42) if m["k"] == "qb" and m["i"] == "1m"]
    (_, keep, runs), = later[0]["gr"]
    assert (keep, len(runs)) == (19, 1)  # the 19 runs the replica holds stay; one new run travels
    desk.assert_equal()


def test_a_ticks_bars_reach_the_writer_base_first_and_before_its_health_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publisher_module, "NEW_BARS_FLUSH_SECONDS", 0.0)
    calendar = get_calendar("XNYS")
    sd = SessionData()
    # paced (a finite speed, ~10 bars a symbol per tick); at max speed base bars wait for the pass
    coordinator = SessionCoordinator(sd, DemoSource(), calendar, [SESSION], speed=20_000)
    publisher = ShardPublisher(sd, {})
    batches: list[list[Message]] = []
    publisher.sink = lambda batch: batches.append(decode_batch(batch.payload, bytes(batch.blob)))
    publish_changes(coordinator, publisher)
    ticks: list[tuple[float, list[list[Message]]]] = []
    done = [0]

    def health_updated(clock: float) -> None:  # the batches sent during this tick, before its health update
        ticks.append((clock, batches[done[0]:]))
        done[0] = len(batches)

    coordinator.health.updated.connect(health_updated)

    async def run() -> None:
        for symbol in ("SPY", "AAPL"):
            await coordinator.add_symbol(symbol, parse_intervals("1m,5m"))
        await coordinator.run()

    asyncio.run(run())
    with_bars = []
    for clock, sent in ticks:
        kinds = [[(m["k"], m.get("i")) for m in batch if m["k"] in ("bb", "qb", "hs")] for batch in sent]
        if any(kinds):
            with_bars.append((clock, kinds))
    assert len(with_bars) >= 6
    for clock, kinds in with_bars:
        # the feed's bars as soon as they were accepted, then what the pass derived from them
        assert [("bb", "1m")] in kinds and [("bb", "5m")] in kinds, (clock, kinds)
        assert kinds.index([("bb", "1m")]) < kinds.index([("bb", "5m")])
        # quality and health follow the tick (the previous tick's come before this tick's bars)
        first = kinds.index([("bb", "1m")])
        assert not any(kind in ("qb", "hs") for batch in kinds[first:] for kind, _ in batch)
