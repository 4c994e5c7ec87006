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
