"""Replay controls in core: step one bar while paused, seek forward and back, next session, restart."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import numpy as np
import pytest

from session_monitor.core.clock import ClockState
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.session_data import SessionData, SymbolSessionData
from tests.core_helpers import walk
from tests.test_coordinator import CAL, MinuteSource, sessions

DAYS = ("2013-10-07", "2013-10-08")


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.002)


async def paused_run(days: tuple[str, str] = DAYS) -> tuple[SessionCoordinator, SymbolSessionData, asyncio.Task[None]]:
    """A held run over ``days``, paused at the first open, watching SPY at 1m and 5m."""
    coord = SessionCoordinator(SessionData(), MinuteSource(), CAL, sessions(*days), speed=1.0)
    data = await coord.add_symbol("SPY", ["1m", "5m"])
    coord.pause()
    task = asyncio.create_task(coord.run(hold=True))
    await until(lambda: coord.state is ClockState.OPEN)
    return coord, data, task


async def finish(coord: SessionCoordinator, task: asyncio.Task[None]) -> None:
    coord.stop()
    await task


def source_bars(session_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """What MinuteSource serves SPY that day: bar starts and closes."""
    session = sessions(*DAYS)[session_index]
    ts = np.arange(session.open, session.close, 60)
    bars = walk(ts, seed=len("SPY"))
    return bars.ts, bars.close


def test_step_releases_exactly_one_base_bar_and_stays_paused() -> None:
    async def scenario() -> None:
        coord, data, task = await paused_run()
        open_ = coord.session.open
        starts, closes = source_bars()

        assert coord.step_bar()
        await until(lambda: len(data.base.data) == 1)
        assert coord.clock.now == open_ + 60 and coord.clock.paused
        assert coord.step_bar()
        await until(lambda: len(data.base.data) == 2)
        await asyncio.sleep(0.05)  # paused: nothing more arrives

        assert coord.clock.now == open_ + 120 and len(data.base.data) == 2
        assert list(data.base.data.ts) == list(starts[:2])
        five = data.bars["5m"].data
        assert len(five) == 1 and five.last.forming and five.close[0] == closes[1]
        assert coord.status().state is ClockState.PAUSED
        await finish(coord, task)

    asyncio.run(scenario())


def test_step_is_refused_while_playing() -> None:
    async def scenario() -> None:
        coord, _, task = await paused_run()
        coord.resume()
        assert not coord.step_bar()
        await finish(coord, task)

    asyncio.run(scenario())


def test_seek_forward_then_back_leaves_exactly_the_bars_before_the_target() -> None:
    async def scenario() -> None:
        coord, data, task = await paused_run()
        open_ = coord.session.open
        starts, _ = source_bars()

        coord.seek(open_ + 90 * 60)  # 11:00
        await until(lambda: len(data.base.data) == 90)
        assert coord.clock.now == open_ + 90 * 60 and data.base.quality == 100.0
        coord.seek(open_ + 30 * 60)  # back to 10:00: the session starts again empty and runs to it
        await until(lambda: coord.clock.now == open_ + 30 * 60 and len(data.base.data) == 30)
        await asyncio.sleep(0.05)

        assert list(data.base.data.ts) == list(starts[:30])
        assert len(data.bars["5m"].data) == 6 and not data.bars["5m"].data.last.forming
        assert data.bars["5m"].gaps == []
        assert coord.clock.paused and coord.session_index == 0
        await finish(coord, task)

    asyncio.run(scenario())


def test_next_session_completes_the_current_one_into_history() -> None:
    async def scenario() -> None:
        coord, data, task = await paused_run()
        closed: list[dt.date] = []
        coord.session_closed.connect(lambda s: closed.append(s.date))
        second = sessions(*DAYS)[1]

        assert coord.next_session()
        await until(lambda: coord.session_index == 1 and coord.clock.now == second.open)

        assert closed == [dt.date(2013, 10, 7)]
        assert [h.session.date for h in data.history] == [dt.date(2013, 10, 7)]
        assert len(data.history[0].bars["1m"].data) == 390
        assert len(data.base.data) == 0 and data.session == second
        assert not coord.next_session()  # the last session has no next one
        await finish(coord, task)

    asyncio.run(scenario())


def test_restart_forgets_every_bar_and_starts_the_range_again() -> None:
    async def scenario() -> None:
        coord, data, task = await paused_run()
        second = sessions(*DAYS)[1]
        coord.seek(second.open + 600)
        await until(lambda: coord.session_index == 1 and len(data.base.data) == 10)
        started: list[dt.date] = []
        coord.session_data.events.session_started.connect(lambda s: started.append(s.date))

        assert coord.restart()
        await until(lambda: coord.session_index == 0 and bool(started))

        assert coord.clock.now == sessions(*DAYS)[0].open and coord.clock.paused
        assert len(data.base.data) == 0 and len(data.history) == 0 and data.session.date == dt.date(2013, 10, 7)
        assert started == [dt.date(2013, 10, 7)]
        assert coord.progress_at(coord.clock.now) == 0.0
        await finish(coord, task)

    asyncio.run(scenario())


def test_a_finished_held_run_can_be_moved_again() -> None:
    async def scenario() -> None:
        coord, data, task = await paused_run(("2013-10-07", "2013-10-07"))
        coord.resume()
        coord.set_speed(None)
        await until(lambda: coord.state is ClockState.FINISHED)
        assert len(data.base.data) == 390 and not task.done()

        coord.pause()
        coord.seek(coord.session.open + 120)
        await until(lambda: coord.state is ClockState.OPEN and len(data.base.data) == 2)
        assert coord.clock.now == coord.session.open + 120
        await finish(coord, task)

    asyncio.run(scenario())


def test_progress_and_time_map_onto_each_other_across_sessions() -> None:
    coord = SessionCoordinator(SessionData(), MinuteSource(), CAL, sessions(*DAYS))
    first, second = sessions(*DAYS)

    assert coord.total_seconds == 2 * 23_400
    assert coord.progress_at(second.open + 60) == 23_400 + 60
    assert coord.time_at(23_400 + 60) == second.open + 60
    assert coord.progress_at(first.close + 3600) == 23_400  # overnight: the next open
    assert coord.time_at(-5) == first.open and coord.time_at(10**9) == second.close


@pytest.mark.parametrize("move", ["seek", "restart", "next_session"])
def test_a_live_session_cannot_be_moved(move: str) -> None:
    coord = SessionCoordinator(SessionData(), MinuteSource(), CAL, sessions(*DAYS), live=True)
    call = getattr(coord, move)
    assert (call(0.0) if move == "seek" else call()) is False


def test_restart_records_afresh(tmp_path) -> None:
    from session_monitor.core.recording import Recorder, RecordingScope

    async def scenario() -> int:
        recorder = Recorder(tmp_path / "rec.sqlite3", RecordingScope("test", CAL.name))
        coord = SessionCoordinator(SessionData(), MinuteSource(), CAL, sessions(*DAYS), speed=1.0, recorder=recorder)
        data = await coord.add_symbol("SPY", ["1m"])
        coord.pause()
        task = asyncio.create_task(coord.run(hold=True))
        await until(lambda: coord.state is ClockState.OPEN)
        key = recorder.key("1m", "SPY", coord.session.date)
        coord.seek(coord.session.open + 30 * 60)
        await until(lambda: len(data.base.data) == 30)
        assert len(recorder.load(key).bars.ts) == 30

        coord.restart()
        await until(lambda: coord.clock.now == coord.session.open and len(data.base.data) == 0)
        coord.step_bar()
        coord.step_bar()
        await until(lambda: len(data.base.data) == 2)
        recorded = len(recorder.load(key).bars.ts)
        await finish(coord, task)
        recorder.close(clean=False)
        return recorded

    assert asyncio.run(scenario()) == 2  # the 30 bars before the restart are gone, not resumable
