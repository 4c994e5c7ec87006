"""A seeded random walk of adds, removes and streamed bars: the Qt model mirrors SessionData at every step."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from session_monitor.core.calendar import Session, SessionCalendar
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.session_data import SessionData
from session_monitor.core.sources.demo import DemoSource
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.tree_model import SessionTreeModel
from tests.gui.gui_helpers import assert_model_synced


def test_random_adds_and_removes_while_streaming_keep_the_model_synced(
    qtmodeltester: Any, qtbot: Any, calendar: SessionCalendar, session: Session
) -> None:
    rng = random.Random(42)
    session_data = SessionData()
    model = SessionTreeModel(session_data, SessionBridge(session_data))
    resets: list[bool] = []
    model.modelAboutToBeReset.connect(lambda: resets.append(True))
    qtmodeltester.check(model, force_py=True)
    coordinator = SessionCoordinator(session_data, DemoSource(), calendar, [session])
    clock = float(session.open)
    watched: list[str] = []

    async def add(symbol: str) -> None:
        await coordinator.add_symbol(symbol, rng.choice([["1m", "5m"], ["1m", "15m", "1h"], ["5m"]]))

    for _step in range(30):
        action = rng.random()
        if action < 0.35 and len(watched) < 4:
            symbol = f"R{rng.randrange(12)}"
            if symbol not in watched:
                asyncio.run(add(symbol))
                watched.append(symbol)
        elif action < 0.45 and watched:
            coordinator.remove_symbol(watched.pop(rng.randrange(len(watched))))
        clock = min(clock + rng.randrange(30, 900), float(session.close))
        coordinator.step(clock)
        qtbot.wait(1)  # let the coalescing timer run now and then
        assert session_data.get_active_symbols() == watched
        model.flush()
        assert_model_synced(model, session_data)
    assert not resets
