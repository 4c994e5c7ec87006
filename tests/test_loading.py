"""Loading a watchlist: sessions are read side by side, registered in the watchlist's order."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time

import pytest

from session_monitor.core.calendar import Session, get_calendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.intervals import Interval
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.base import DataProblem, LoadedSession
from session_monitor.core.sources.demo import DemoSource
from session_monitor.core.symbols import SymbolError

CAL = get_calendar("XNYS")
DAY = CAL.session(dt.date(2015, 12, 28))


class MeetingSource(DemoSource):
    """Each read waits until the other one is in flight too, then the first listed finishes last."""

    def __init__(self) -> None:
        super().__init__()
        self.both_reading = threading.Barrier(2, timeout=10)

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        self.both_reading.wait()  # raises (a failed load) if the reads ran one at a time
        if symbol == "AAA":
            time.sleep(0.2)
        loaded = super().load_session(symbol, base, session)
        loaded.problems.append(DataProblem("checked", symbol=symbol))
        return loaded


def test_a_watchlist_is_read_side_by_side_and_registered_in_its_order() -> None:
    async def scenario() -> tuple[SessionData, list[str]]:
        sd = SessionData()
        messages: list[str] = []
        sd.events.message.connect(lambda _level, text: messages.append(text))
        coord = SessionCoordinator(sd, MeetingSource(), CAL, [DAY], max_chunk=3600.0)
        await coord.add_symbols([("AAA", ["1m", "5m"]), ("BBB", ["1m", "5m"])])
        await coord.run()
        return sd, messages

    sd, messages = asyncio.run(scenario())
    assert [m for m in messages if "checked" in m] == ["AAA: checked", "BBB: checked"]
    assert not [m for m in messages if "could not load" in m]
    for symbol in ("AAA", "BBB"):
        data = sd.get_symbol_data(symbol)
        assert data is not None and len(data.bars["1m"].data) > 300


def test_a_watchlist_with_a_repeated_symbol_adds_nothing() -> None:
    async def scenario() -> SessionData:
        sd = SessionData()
        coord = SessionCoordinator(sd, DemoSource(), CAL, [DAY])
        with pytest.raises(SymbolError, match="SPY is already being watched"):
            await coord.add_symbols([("SPY", ["1m"]), ("QQQ", ["1m"]), ("spy", ["5m"])])
        return sd

    sd = asyncio.run(scenario())
    assert sd.get_symbol_data("SPY") is None and sd.get_symbol_data("QQQ") is None
