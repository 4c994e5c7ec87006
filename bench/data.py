"""Deterministic benchmark data: numpy random-walk bars on the XNYS session grid."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import log
from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session, get_calendar

__all__ = [
    "SessionBars", "csv_symbols", "made_once", "random_walk", "session_minutes", "write_csv_folder", "xnys_sessions",
]

FIRST_DATE = dt.date(2010, 1, 4)


@dataclass(frozen=True)
class SessionBars:
    """Base bars spanning consecutive sessions, with the sessions' opens and closes."""

    bars: BarArrays
    sessions: list[Session]

    @property
    def opens(self) -> np.ndarray:
        return np.array([s.open for s in self.sessions], np.int64)

    @property
    def closes(self) -> np.ndarray:
        return np.array([s.close for s in self.sessions], np.int64)


def xnys_sessions(first: dt.date, count: int) -> list[Session]:
    """``count`` consecutive XNYS sessions from ``first`` (holidays and half days included)."""
    cal = get_calendar("XNYS")
    span = dt.timedelta(days=int(count * 1.5) + 10)
    sessions = cal.sessions_between(first, min(first + span, cal.last_date))
    if len(sessions) < count:
        raise ValueError(f"the XNYS calendar has only {len(sessions)} sessions from {first}")
    return sessions[:count]


def random_walk(ts: np.ndarray, seed: int, start: float = 100.0, cents: bool = True) -> BarArrays:
    """Valid OHLCV bars at ``ts``: a random walk, prices in cents, integer volumes."""
    rng = np.random.default_rng(seed)
    n = len(ts)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    open_ = np.empty(n)
    if n:
        open_[0] = start
        open_[1:] = close[:-1]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, 0.0004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, 0.0004, n)))
    if cents:
        open_, high, low, close = (np.round(x, 2) for x in (open_, high, low, close))
        high = np.maximum(high, np.maximum(open_, close))
        low = np.minimum(low, np.minimum(open_, close))
    volume = rng.integers(1, 5000, n).astype(np.float64)
    return BarArrays(np.asarray(ts, np.int64), open_, high, low, close, volume)


def session_minutes(n_bars: int, seed: int = 0, first: dt.date = FIRST_DATE) -> SessionBars:
    """``n_bars`` one-minute bars: every regular minute of consecutive XNYS sessions.

    1,000,000 bars fill about 2,564 sessions; the last session is cut short when the
    count runs out mid-session.
    """
    cal = get_calendar("XNYS")
    sessions = cal.sessions_between(first, cal.last_date)
    stamps = []
    total = 0
    used: list[Session] = []
    for s in sessions:
        if total >= n_bars:
            break
        minutes = np.arange(s.open, s.close, 60, dtype=np.int64)
        stamps.append(minutes)
        used.append(s)
        total += len(minutes)
    if total < n_bars:
        raise ValueError(f"the XNYS calendar has only {total:,} regular minutes from {first}")
    ts = np.concatenate(stamps)[:n_bars]
    return SessionBars(random_walk(ts, seed), used)


def csv_symbols(n_symbols: int) -> list[str]:
    return [f"S{k:03d}" for k in range(n_symbols)]


def write_csv_folder(folder: Path, n_symbols: int, date: dt.date, missing: float = 0.10, seed: int = 7) -> int:
    """One CSV of 1s bars per symbol for the XNYS session on ``date``; returns the rows written.

    Header ``timestamp,open,high,low,close,volume``, ISO 8601 UTC times with an offset
    (``2013-10-07T13:30:00+00:00``), prices in cents, integer volumes, about ``missing``
    of the seconds left out. Deterministic: the same arguments write the same bytes.
    """
    import pandas as pd

    session = get_calendar("XNYS").session(date)
    seconds = np.arange(session.open, session.close, dtype=np.int64)
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    for k, symbol in enumerate(csv_symbols(n_symbols)):
        rng = np.random.default_rng([seed, k])
        ts = seconds[rng.random(len(seconds)) >= missing]
        bars = random_walk(ts, seed=seed * 1000 + k, start=float(20 + 7 * k))
        stamps = np.char.add(np.datetime_as_string(ts.astype("datetime64[s]"), unit="s"), "+00:00")
        frame = pd.DataFrame(
            {
                "timestamp": stamps,
                "open": bars.open,
                "high": bars.high,
                "low": bars.low,
                "close": bars.close,
                "volume": bars.volume.astype(np.int64),
            }
        )
        frame.to_csv(folder / f"{symbol}.csv", index=False, float_format="%.2f")
        rows += len(ts)
    return rows


def made_once(name: str, what: str, write: Callable[[Path], int]) -> tuple[Path, int]:
    """A generated input folder under the system temp dir, made once per machine, and its row count.

    ``write`` fills the (new) folder and returns its rows; a ``ROWS`` file, written last, marks
    the folder complete, so an interrupted run makes it again.
    """
    root = Path(tempfile.gettempdir()) / "session-monitor-bench" / name
    marker = root / "ROWS"
    if marker.exists():
        return root, int(marker.read_text())
    if root.exists():
        shutil.rmtree(root)
    log(f"  {what} in {root} (once) ...")
    root.mkdir(parents=True)
    rows = write(root)
    marker.write_text(str(rows))
    return root, rows
