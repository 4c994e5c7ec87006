"""Small builders for core tests: sessions, bars and a processed symbol."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session, get_calendar
from session_monitor.core.intervals import parse_interval
from session_monitor.core.processor import DataProcessor
from session_monitor.core.session_data import SessionData, SymbolSessionData


def xnys(date: str) -> Session:
    return get_calendar("XNYS").session(dt.date.fromisoformat(date))


def utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


def walk(ts: np.ndarray, seed: int = 1, integer_volume: bool = True) -> BarArrays:
    """Valid random-walk bars at the given starts."""
    rng = np.random.default_rng(seed)
    n = len(ts)
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    open_ = close + rng.normal(0, 0.05, n)
    high = np.maximum(open_, close) + rng.random(n) * 0.1
    low = np.minimum(open_, close) - rng.random(n) * 0.1
    volume = rng.integers(1, 1000, n).astype(float) if integer_volume else rng.random(n) * 10
    return BarArrays(np.asarray(ts, np.int64), open_, high, low, close, volume)


def watch(
    session: Session, base: str, derived: list[str], symbol: str = "TEST", grace: float = 0.0
) -> tuple[SessionData, SymbolSessionData, DataProcessor]:
    sd = SessionData()
    sd.start_session(session)
    data = SymbolSessionData.create(
        symbol, parse_interval(base), [parse_interval(i) for i in derived], session
    )
    sd.register_symbol_data(data)
    return sd, data, DataProcessor(sd, grace=grace)


def write_bars_csv(path: Path, ts, o, h, lo, c, v) -> None:
    """A ``timestamp,open,high,low,close,volume`` CSV (ISO 8601 UTC, floats unrounded)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        for row in zip(ts, o, h, lo, c, v, strict=True):
            stamp = dt.datetime.fromtimestamp(int(row[0]), dt.UTC).isoformat()
            fh.write(",".join([stamp, *map(repr, (float(x) for x in row[1:]))]) + "\n")
