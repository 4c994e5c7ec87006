"""Helpers for the GUI tests: a deterministic source, a synchronous streamer, the
model/core sync check, and the window harness used by the flow tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, Qt

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.intervals import Interval, parse_interval
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import SessionData, SymbolSessionData
from session_monitor.core.sources.base import BarSource, LoadedSession
from session_monitor.gui.formatting import quality_text
from session_monitor.gui.main_window import MainWindow
from session_monitor.gui.tree_model import Column, SessionTreeModel

SESSION_DATE = dt.date(2015, 12, 28)
ONE_MINUTE = Interval(60)
LEAN_MINUTE = Path(__file__).parent.parent / "data" / "lean" / "equity" / "usa" / "minute"


class FakeSource(BarSource):
    """1m bars for any symbol except those in ``no_data``; ``holes`` drops minute indices."""

    name = "fake"

    def __init__(self, holes: dict[str, set[int]] | None = None, no_data: tuple[str, ...] = ("NODATA",)) -> None:
        self.holes = holes or {}
        self.no_data = no_data

    @property
    def key(self) -> str:
        return "fake"

    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        return () if symbol.upper() in self.no_data else (ONE_MINUTE,)

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        return LoadedSession(symbol, session, base, fake_bars(symbol, session, self.holes.get(symbol, set())))


def fake_bars(symbol: str, session: Session, holes: set[int] = frozenset(), count: int | None = None) -> BarArrays:
    """A seeded random walk of 1m bars over the session (or its first ``count`` minutes)."""
    ts = np.arange(session.open, session.close, 60, dtype=np.int64)
    if count is not None:
        ts = ts[:count]
    rng = np.random.default_rng(zlib.crc32(symbol.encode()))
    close = 100.0 + np.cumsum(rng.normal(0, 0.1, len(ts)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + rng.uniform(0, 0.05, len(ts))
    low = np.minimum(open_, close) - rng.uniform(0, 0.05, len(ts))
    volume = rng.integers(100, 1000, len(ts)).astype(np.float64)
    keep = np.ones(len(ts), bool)
    keep[[i for i in holes if i < len(ts)]] = False
    return BarArrays(ts, open_, high, low, close, volume).take(keep)


class Streamer:
    """Drives SessionData like the coordinator does, synchronously: bars in, one processor pass."""

    def __init__(self, session_data: SessionData, session: Session) -> None:
        self.session_data = session_data
        self.session = session
        self.processor = DataProcessor(session_data)
        session_data.start_session(session)

    def add(self, symbol: str, intervals: tuple[str, ...] = ("5m", "15m")) -> SymbolSessionData:
        data = SymbolSessionData.create(symbol, ONE_MINUTE, [parse_interval(i) for i in intervals], self.session)
        self.session_data.register_symbol_data(data)
        return data

    def stream(self, symbol: str, bars: BarArrays) -> None:
        self.session_data.add_base_bars(symbol, bars)
        self.processor.process(float(bars.ts[-1]) + 60 if len(bars.ts) else float(self.session.open))

    def tick(self, clock: float) -> None:
        self.processor.process(clock)


def assert_model_synced(model: SessionTreeModel, session_data: SessionData) -> None:
    """Walk core and the Qt model side by side (napari's _assert_models_synced idea)."""
    model.flush()
    symbols = session_data.get_active_symbols()
    assert model.rowCount() == len(symbols)
    for row, symbol in enumerate(symbols):
        index = model.index(row, Column.INTERVAL)
        assert index.data() == symbol
        assert model.parent(index) == QModelIndex()
        data = session_data.get_symbol_data(symbol)
        assert data is not None
        names = list(data.bars)
        assert model.rowCount(index) == len(names)
        for child_row, name in enumerate(names):
            bars = data.bars[name]
            child = model.index(child_row, Column.INTERVAL, index)
            assert child.data() == name
            assert model.parent(child) == index
            assert model.index(child_row, Column.BARS, index).data() == str(len(bars.data))
            assert model.index(child_row, Column.QUALITY, index).data() == quality_text(bars.quality)
            assert model.index(child_row, Column.GAPS, index).data() == str(bars.gap_count)
            assert model.index(child_row, Column.KIND, index).data() == ("derived" if bars.derived else "base")


@dataclass
class Harness:
    """A window over a coordinator, the way gui.app wires them (minus the process edges)."""

    window: MainWindow
    coordinator: SessionCoordinator
    session_data: SessionData
    runner: asyncio.Task[None] | None = None
    closed: bool = False

    def start(self) -> None:
        self.runner = asyncio.ensure_future(self.coordinator.run())


def close_harness(qtbot: Any, harness: Harness) -> None:
    """Close like the app does: window closes, coordinator stops, handlers finish."""
    if harness.closed:
        return
    harness.closed = True
    if harness.window.isVisible():
        harness.window.close()
    harness.coordinator.stop()
    if harness.runner is not None:
        qtbot.waitUntil(harness.runner.done, timeout=10_000)
        harness.runner.result()
        harness.runner = None
    done = asyncio.ensure_future(harness.window.shutdown())
    qtbot.waitUntil(done.done, timeout=5_000)
    done.result()
    harness.window.deleteLater()


def add_symbol_via_ui(qtbot: Any, window: MainWindow, symbol: str, intervals: str | None = None) -> None:
    """Type into the controls bar and press Add, as a user would."""
    controls = window.controls
    controls.symbol_edit.clear()
    qtbot.keyClicks(controls.symbol_edit, symbol)
    if intervals is not None:
        controls.intervals_edit.clear()
        qtbot.keyClicks(controls.intervals_edit, intervals)
    qtbot.mouseClick(controls.add_button, Qt.MouseButton.LeftButton)


def add_and_wait(qtbot: Any, window: MainWindow, symbol: str, intervals: str | None = None) -> None:
    """Add through the UI and wait until the handler finished (the new symbol is charted)."""
    add_symbol_via_ui(qtbot, window, symbol, intervals)
    qtbot.waitUntil(
        lambda: window.charts.symbol == symbol.upper() and window.controls.add_button.isEnabled(), timeout=5000
    )
