"""Builders shared by the bar-source tests (the lead owns conftest.py)."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Sequence
from pathlib import Path

from session_monitor.core.calendar import Session, get_calendar

DATA = Path(__file__).parent / "data"
LEAN = DATA / "lean"
EQUITY_MINUTE = LEAN / "equity" / "usa" / "minute"
EQUITY_SECOND = LEAN / "equity" / "usa" / "second"
CRYPTO_MINUTE = LEAN / "crypto" / "coinbase" / "minute"

#: a plain full XNYS day used by the synthetic cases (open 14:30Z, close 21:00Z)
DAY = dt.date(2024, 1, 2)
LEAN_DAY = dt.date(2013, 10, 7)
OPEN_MS = 34_200_000  # 09:30 New York in ms after midnight


def xnys(date: dt.date) -> Session:
    return get_calendar("XNYS", earliest=date).session(date)


def utc_day(date: dt.date) -> Session:
    return get_calendar("24/7", earliest=date).session(date)


def epoch(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def lean_lines(count: int = 5, start_ms: int = OPEN_MS, step_ms: int = 60_000) -> list[str]:
    """Valid equity minute rows (prices ×10000) from 09:30 New York."""
    out = []
    for k in range(count):
        p = 1_000_000 + 100 * k  # 100.00, 100.01, ...
        out.append(f"{start_ms + k * step_ms},{p},{p + 500},{p - 500},{p + 100},{1000 + k}")
    return out


def write_lean_zip(
    root: Path,
    ticker: str,
    date: dt.date,
    content: Sequence[str] | bytes,
    member: str | None = None,
) -> Path:
    """A Lean ``YYYYMMDD_trade.zip`` under ``root/ticker`` holding ``content``."""
    folder = root / ticker.lower()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{date:%Y%m%d}_trade.zip"
    data = content if isinstance(content, bytes) else ("\n".join(content) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member or f"{date:%Y%m%d}_{ticker.lower()}_minute_trade.csv", data)
    return path


def lean_root(tmp_path: Path, resolution: str = "minute", security: str = "equity", market: str = "usa") -> Path:
    root = tmp_path / security / market / resolution
    root.mkdir(parents=True, exist_ok=True)
    return root


def csv_rows(count: int = 5, start: str = "2024-01-02T14:30:00Z", step: int = 60) -> list[str]:
    """Valid CSV data rows (no header) starting at ``start``."""
    t0 = epoch(start)
    out = []
    for k in range(count):
        ts = dt.datetime.fromtimestamp(t0 + k * step, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        p = 100 + k / 100
        out.append(f"{ts},{p:.2f},{p + 0.05:.2f},{p - 0.05:.2f},{p + 0.01:.2f},{1000 + k}")
    return out


HEADER = "timestamp,open,high,low,close,volume"


def write_csv(path: Path, rows: Sequence[str], header: str = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path
