"""The GUI's live path end to end: the Qt loop → the window → AlpacaSource → alpaca-py → the local peer.

This runs the app the way ``session-monitor alpaca`` does (``gui.app.run_window`` under
``gui.event_loop.run_on_qt``), so the SDK's stream thread must not end up with a Qt loop.
The wall clock is shifted (``WALL_CLOCK.offset``) to a real historical session, so the
stand-in serves the Lean GOOG day as if it were live.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

pytest.importorskip("alpaca")

from PySide6.QtWidgets import QApplication

from session_monitor.core.calendar import get_calendar
from session_monitor.core.clock import WALL_CLOCK
from session_monitor.core.sources.alpaca import ONE_MINUTE, REST_URL_VARIABLE, STREAM_URL_VARIABLE, AlpacaSource
from session_monitor.core.sources.lean import LeanSource
from session_monitor.gui.app import build_parser, plan_start, run_window
from session_monitor.gui.event_loop import run_on_qt
from session_monitor.gui.main_window import MainWindow
from session_monitor.gui.settings import AppSettings
from session_monitor.gui.tree_model import Column
from tests.alpaca_peer import KEY, SECRET, AlpacaPeer
from tests.gui.gui_helpers import LEAN_MINUTE

DAY = get_calendar("XNYS").session(__import__("datetime").date(2015, 12, 28))


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def _window() -> MainWindow | None:
    return next((w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()), None)


@pytest.fixture
def live_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    goog = LeanSource(LEAN_MINUTE).load_session("GOOG", ONE_MINUTE, DAY).bars
    monkeypatch.setattr(WALL_CLOCK, "offset", DAY.open + 30 * 60 - time.time())
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("SESSION_MONITOR_DATA_DIR", str(tmp_path / "data"))
    with AlpacaPeer({"GOOG": goog}) as peer:
        monkeypatch.setenv(STREAM_URL_VARIABLE, peer.ws_url)
        monkeypatch.setenv(REST_URL_VARIABLE, peer.rest_url)
        yield peer, goog


def test_the_window_streams_live_bars_into_session_data_and_the_tree(
    qapp: QApplication, tmp_path: Path, live_env, caplog: pytest.LogCaptureFixture
) -> None:
    peer, goog = live_env
    settings = AppSettings.at(tmp_path / "s.ini")
    args = build_parser().parse_args(["alpaca", "--symbols", "GOOG", "--intervals", "1m,5m", "--no-record"])
    plan = plan_start(args, settings)
    assert isinstance(plan.setup.source, AlpacaSource) and plan.setup.sessions == [DAY]
    assert plan.setup.source.url_override == peer.ws_url  # the documented variables were read
    seen: dict[str, object] = {}

    async def drive() -> int:
        run = asyncio.ensure_future(run_window(plan, settings, None, 0.0))
        await _until(lambda: _window() is not None, 10, "the window")
        window = _window()
        assert window is not None
        data = window.session_data
        def bars() -> int:
            goog_data = data.get_symbol_data("GOOG")
            return 0 if goog_data is None else len(goog_data.base.data)

        await _until(lambda: bars() >= 29, 15, "the history over REST")
        await _until(lambda: peer.subscribed("GOOG"), 10, "the subscription")
        seen["connections"] = peer.clients
        history = bars()
        WALL_CLOCK.offset += 5 * 60  # five minutes pass on the exchange ...
        live = goog.take((goog.ts + 60 > DAY.open + 30 * 60) & (goog.ts + 60 <= DAY.open + 35 * 60))
        peer.send_bars("GOOG", live)  # ... and the stream brings their bars
        await _until(lambda: bars() == history + len(live), 10, "the streamed bars")
        window.flush()
        seen["base"] = data.get_symbol_data("GOOG").base.data.ts.tolist()
        seen["tree_bars"] = window.model.data(window.model.interval_index("GOOG", "1m", Column.BARS))
        seen["connected"] = window.coordinator.is_connected("GOOG")
        window.close()
        return await run

    with caplog.at_level(logging.WARNING):
        code = run_on_qt(drive())

    assert code == 0
    assert seen["connections"] >= 1
    want = goog.ts[goog.ts + 60 <= DAY.open + 35 * 60].tolist()
    assert seen["base"] == want
    assert seen["tree_bars"] == str(len(want))
    assert seen["connected"] is True
    assert not [r for r in caplog.records if "stream thread" in r.getMessage()]
