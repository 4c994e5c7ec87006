"""Shared test setup: Qt never needs a display, and only PySide6 is ever picked."""

from __future__ import annotations

import os
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


pytest_plugins = ["tests.bus_helpers"]  # the real Redis server fixture
