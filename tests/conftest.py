"""Shared test setup: Qt never needs a display, and only PySide6 is ever picked."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def lean_minute() -> Path:
    return DATA / "lean" / "equity" / "usa" / "minute"


@pytest.fixture(scope="session")
def lean_second() -> Path:
    return DATA / "lean" / "equity" / "usa" / "second"


@pytest.fixture(autouse=True)
def _private_recordings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Recordings go to a fresh folder per test, never the user's data directory."""
    folder = tmp_path_factory.mktemp("recordings")
    monkeypatch.setenv("SESSION_MONITOR_DATA_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _no_stream_thread_outlives_its_test() -> Iterator[None]:
    """A live source left open keeps reconnecting behind later tests: fail the test that leaked it."""
    before = {t for t in threading.enumerate() if t.name.startswith("alpaca-")}
    yield
    deadline = time.monotonic() + 3.0
    while True:
        leaked = [t.name for t in threading.enumerate() if t.name.startswith("alpaca-") and t not in before]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"threads still running after the test: {leaked} (close the AlpacaSource)"


pytest_plugins = ["tests.bus_helpers"]  # the real Redis server fixture
