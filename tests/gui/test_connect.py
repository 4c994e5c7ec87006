"""``connect``: the unchanged MainWindow over a replica fed by a running ``serve`` engine through Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from session_monitor.core.bus.remote import RemoteCoordinator
from session_monitor.core.bus.server import EmbeddedServer
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.gui.main_window import MainWindow
from session_monitor.gui.settings import AppSettings
from session_monitor.gui.tree_model import Column
from tests.bus_helpers import STARTED, _env
from tests.gui.gui_helpers import add_and_wait


def _bars_cell(window: MainWindow, symbol: str, interval: str) -> str | None:
    model = window.model
    for row in range(model.rowCount()):
        parent = model.index(row, 0)
        if model.data(parent) != symbol:
            continue
        for child in range(model.rowCount(parent)):
            if model.data(model.index(child, Column.INTERVAL, parent)) == interval:
                return model.data(model.index(child, Column.BARS, parent), Qt.ItemDataRole.DisplayRole)
    return None


def test_connected_window_shows_what_the_engine_publishes_and_sends_adds_to_it(
    qtbot: Any, qloop: Any, qtmodeltester: Any, tmp_path: Path, redis_server: EmbeddedServer, settings: AppSettings
) -> None:
    engine = subprocess.Popen(
        [sys.executable, "-m", "session_monitor", "serve", "demo", "--symbols", "SPY,AAPL", "--intervals", "1m,5m",
         "--start", "2024-03-04", "--end", "2024-03-04", "--speed", "300", "--redis", redis_server.url,
         "--lease-seconds", "1", "--no-record"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "engine.log").open("w"), env=_env(tmp_path),
    )
    STARTED.append(engine)  # type: ignore[arg-type]
    remote = RemoteCoordinator(connect_redis(redis_server.url))
    connected = asyncio.ensure_future(remote.connect())
    qtbot.waitUntil(connected.done, timeout=60_000)
    connected.result()
    window = MainWindow(remote.session_data, remote, settings, "redis")  # type: ignore[arg-type]
    window.show()
    runner = asyncio.ensure_future(remote.run())
    try:
        qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=30_000)
        assert [window.model.data(window.model.index(r, 0)) for r in range(2)] == ["SPY", "AAPL"]
        qtbot.waitUntil(lambda: int(_bars_cell(window, "SPY", "1m") or 0) >= 3, timeout=30_000)
        seen = int(_bars_cell(window, "SPY", "1m") or 0)
        qtbot.waitUntil(lambda: int(_bars_cell(window, "SPY", "1m") or 0) > seen, timeout=30_000)
        # the tree shows the replica's bars, and the replica holds what the engine published
        spy = remote.session_data.get_symbol_data("SPY")
        assert spy is not None
        qtbot.waitUntil(lambda: _bars_cell(window, "SPY", "5m") == f"{len(spy.bars['5m'].data):,}", timeout=5_000)
        # adding in the GUI is a command to the owning engine; the symbol appears once it publishes it
        add_and_wait(qtbot, window, "NVDA", "1m,5m")
        assert window.model.data(window.model.index(2, 0)) == "NVDA"
        qtbot.waitUntil(lambda: int(_bars_cell(window, "NVDA", "1m") or 0) > 0, timeout=30_000)
        qtmodeltester.check(window.model)
        # removing is a command too: the row goes when the engine publishes the removal
        window.select_symbol("NVDA")
        window.on_remove()
        qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=30_000)
        assert "NVDA" not in remote.session_data
    finally:
        remote.stop()
        qtbot.waitUntil(runner.done, timeout=10_000)
        done = asyncio.ensure_future(window.shutdown())
        qtbot.waitUntil(done.done, timeout=5_000)
        closing = asyncio.ensure_future(remote.client.aclose())
        qtbot.waitUntil(closing.done, timeout=5_000)
        window.close()
        window.deleteLater()
