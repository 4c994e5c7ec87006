"""Export of a finished run: one CSV per symbol and interval, and ``session.json``.

Written as each session closes, so a long replay leaves usable files behind even if it
is interrupted. Floats are written unrounded (Python's shortest repr). Every folder named
after a symbol is built by :func:`core.symbols.symbol_path` (escaped, checked to stay
inside the export folder): ``BTC/USD`` is written to ``BTC%2FUSD/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from session_monitor.core.bars import FORMING, PRICE_FIELDS
from session_monitor.core.calendar import Session
from session_monitor.core.coverage import coverage
from session_monitor.core.health import SymbolHealth
from session_monitor.core.segments import segment_figures
from session_monitor.core.session_data import BarIntervalData, SessionData
from session_monitor.core.symbols import SymbolError, UnsafePathError, normalise_symbol, symbol_path

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SessionExporter", "interval_summary", "session_snapshot"]

CSV_HEADER = ",".join(("timestamp", *PRICE_FIELDS)) + "\n"


def interval_summary(interval: BarIntervalData, base: BarIntervalData | None = None) -> dict[str, Any]:
    """The per-interval block of ``session.json`` (``base``: the symbol's base interval, for coverage).

    With extended hours it also holds ``segments``: the same figures per segment (``pre``,
    ``regular``, ``post``); the block's own figures are the whole day's.
    """
    own_base = base if base is not None else interval
    summary: dict[str, Any] = {
        "derived": interval.derived,
        "base": interval.base.name if interval.base is not None else None,
        "bars": len(interval.data),
        "incomplete": interval.incomplete,
        "quality": interval.quality if interval.quality is not None else 0.0,
        "gaps": [gap.as_dict() for gap in interval.gaps],
        "coverage": coverage(interval, own_base),
    }
    if interval.grid.session.segments:
        summary["segments"] = {f.segment.name: f.as_dict() for f in segment_figures(interval, own_base)}
    return summary


def session_snapshot(session_data: SessionData, session: Session) -> dict[str, Any]:
    """Every watched symbol of ``session`` as at that moment."""
    symbols: dict[str, Any] = {}
    for data in session_data.all_symbol_data():
        own = data.session_of(session)
        if data.session != own:
            continue
        wanted = {i.name for i in data.requested}
        symbols[data.symbol] = {
            "base_interval": data.base_interval.name,
            "intervals": {name: interval_summary(iv, data.base) for name, iv in data.bars.items() if name in wanted},
        }
        if own != session:  # a watchlist entry on hours of its own: its session, not the run's
            symbols[data.symbol]["session"] = {"hours": data.hours, "open": own.iso_open(), "close": own.iso_close()}
        if isinstance(data.health, SymbolHealth) and data.health.session == own:
            symbols[data.symbol]["health"] = data.health.export()  # seconds in each state
            if own.segments:
                symbols[data.symbol]["health_segments"] = data.health.export_segments()
    return {
        "date": session.date.isoformat(),
        "open": session.iso_open(),
        "close": session.iso_close(),
        "symbols": symbols,
    }


def format_bars(interval: BarIntervalData, final_only: bool = True) -> str:
    """CSV rows (no header) of an interval's bars; floats as Python's shortest repr."""
    series = interval.data
    ts, o, h, lo, c, v = (np.asarray(col) for col in series.arrays())
    if final_only and series.with_counts:
        keep = (series.flags & FORMING) == 0
        ts, o, h, lo, c, v = (col[keep] for col in (ts, o, h, lo, c, v))
    if not len(ts):
        return ""
    stamps = np.datetime_as_string(ts.astype("datetime64[s]"), unit="s").tolist()
    row = "{}+00:00,{!r},{!r},{!r},{!r},{!r}\n"  # (floats as their shortest repr)
    return "".join(map(row.format, stamps, *(col.tolist() for col in (o, h, lo, c, v))))


class SessionExporter:
    """Appends each closed session to ``OUTDIR/<SYMBOL>/<interval>.csv`` and rewrites ``session.json``."""

    def __init__(self, session_data: SessionData, outdir: str | Path, calendar_name: str) -> None:
        self.session_data = session_data
        self.outdir = Path(outdir)
        self.calendar_name = calendar_name
        self.sessions: list[dict[str, Any]] = []
        self._started: set[Path] = set()
        self.outdir.mkdir(parents=True, exist_ok=True)

    def on_session_closed(self, session: Session) -> None:
        with self.session_data.lock:
            for data in self.session_data.all_symbol_data():
                if data.session != data.session_of(session):
                    continue
                try:
                    folder = symbol_path(self.outdir, data.symbol)
                except (SymbolError, UnsafePathError) as exc:  # never written outside the export folder
                    self.session_data.warn(f"{data.symbol!r} not exported: {exc}")
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                for interval in data.requested:
                    self._append(folder / f"{interval.name}.csv", format_bars(data.bars[interval.name]))
            self.sessions.append(session_snapshot(self.session_data, session))
        self.write_json()

    def _append(self, path: Path, rows: str) -> None:
        first = path not in self._started
        self._started.add(path)
        with path.open("w" if first else "a", encoding="utf-8", newline="") as fh:
            if first:
                fh.write(CSV_HEADER)
            fh.write(rows)

    def write_json(self) -> None:
        payload = {"calendar": self.calendar_name, "sessions": self.sessions}
        tmp = self.outdir / "session.json.tmp"
        tmp.write_text(json.dumps(payload) + "\n", encoding="utf-8")  # no indent: the C encoder, 8x faster
        tmp.replace(self.outdir / "session.json")


def interval_frame(interval: BarIntervalData, final_only: bool = False) -> pd.DataFrame:
    """An interval's bars as a pandas DataFrame (UTC timestamps), forming bars marked."""
    import pandas as pd

    series = interval.data
    ts, o, h, lo, c, v = (np.asarray(col) for col in series.arrays())
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ts, unit="s", utc=True),
            "open": o, "high": h, "low": lo, "close": c, "volume": v,
        }
    )
    if series.with_counts:
        frame["base_bars"] = np.asarray(series.count)
        frame["expected_base_bars"] = np.asarray(series.expected)
        frame["forming"] = (np.asarray(series.flags) & FORMING) > 0
    if final_only and "forming" in frame:
        frame = frame[~frame["forming"]]
    return frame


def export_symbols(
    session_data: SessionData,
    outdir: str | Path,
    symbols: list[str] | None = None,
    fmt: str = "csv",
    calendar_name: str = "XNYS",
) -> list[Path]:
    """Write the current session's intervals of ``symbols`` (default: all) and a JSON snapshot.

    ``fmt`` is ``csv`` (the replay export's format: final bars only) or ``parquet``
    (every bar, with base-bar counts and the forming flag). Returns the files written.
    Raises :class:`SymbolError` / :class:`UnsafePathError` before writing anything when a
    symbol cannot be a folder inside ``outdir``.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown export format {fmt!r}: use csv or parquet")
    out = Path(outdir)
    written: list[Path] = []
    # copy under the lock, write outside it: a long export must not stall the session
    with session_data.lock:
        chosen = [normalise_symbol(s) for s in symbols] if symbols else session_data.get_active_symbols()
        folders = {symbol: symbol_path(out, symbol) for symbol in chosen}
        session = session_data.session
        copies: list[tuple[str, str, object]] = []
        for symbol in chosen:
            data = session_data.get_symbol_data(symbol)
            if data is None:
                raise ValueError(f"{symbol} is not being watched")
            for name, interval in data.bars.items():
                payload = CSV_HEADER + format_bars(interval) if fmt == "csv" else interval_frame(interval)
                copies.append((symbol, name, payload))
        snapshot = session_snapshot(session_data, session) if session is not None else None
    for symbol, name, payload in copies:
        folder = folders[symbol]
        folder.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            path = folder / f"{name}.csv"
            path.write_text(payload, encoding="utf-8")  # type: ignore[arg-type]
        else:
            path = folder / f"{name}.parquet"
            payload.to_parquet(path, index=False)  # type: ignore[attr-defined]
        written.append(path)
    if snapshot is not None:
        snapshot["symbols"] = {k: v for k, v in snapshot["symbols"].items() if k in chosen}
        path = out / "session.json"
        path.write_text(json.dumps({"calendar": calendar_name, "sessions": [snapshot]}) + "\n", encoding="utf-8")
        written.append(path)
    return written
