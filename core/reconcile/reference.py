"""Reference bars to reconcile against: Lean ``hour``/``daily`` zips, or CSV/Parquet bar files.

A reference is a set of series, one per symbol and interval, each stamped as its vendor
stamps it (Lean's hour bars carry the clock hour, its daily bars local midnight): the
window convention is worked out later (:mod:`core.reconcile.windows`), never assumed here.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from session_monitor.core.bars import BarArrays
from session_monitor.core.intervals import DAILY, Interval
from session_monitor.core.sources.base import DataError, DataProblem
from session_monitor.core.sources.lean import SECURITIES, LeanLayout
from session_monitor.core.sources.tabular import SUFFIXES, parse_timestamps, read_tabular_file, to_float
from session_monitor.core.sources.validation import validate_bars

__all__ = ["LEAN_REFERENCE_RESOLUTIONS", "ReferenceError", "ReferenceSeries", "load_reference"]

#: Lean resolutions whose files are one zip per ticker (``<ticker>.zip``)
LEAN_REFERENCE_RESOLUTIONS = {"hour": Interval(3600), "daily": DAILY}
_REQUIRED = ("timestamp", "open", "high", "low", "close", "volume")


class ReferenceError(Exception):
    """A reference that cannot be read at all: one-line reason naming the file."""


@dataclass(frozen=True, slots=True)
class ReferenceSeries:
    """One symbol's reference bars of one interval, sorted by their stamp (UTC epoch seconds)."""

    symbol: str
    interval: Interval
    bars: BarArrays
    #: where the bars came from, for messages
    file: str
    #: rows that were rejected (bad values, bad timestamps)
    problems: tuple[DataProblem, ...] = field(default=())


def load_reference(path: str | Path) -> list[ReferenceSeries]:
    """Every series in ``path``: a Lean ``hour``/``daily`` zip or folder, or CSV/Parquet file(s).

    Raises :class:`ReferenceError` when nothing can be read (missing path, unknown
    layout, a corrupt file).
    """
    given = Path(path).expanduser()
    if not given.exists():
        raise ReferenceError(f"reference path does not exist: {path}")
    lean = _lean_layout(given)
    if lean is not None:
        files = [given] if given.is_file() else sorted(given.glob("*.zip"))
        if not files:
            raise ReferenceError(f"no <ticker>.zip files in the Lean {lean.resolution} folder {path}")
        return [_read_lean_zip(f, lean) for f in files]
    if given.is_file():
        if given.suffix.lower() not in SUFFIXES:
            raise ReferenceError(
                f"cannot tell what kind of reference {path} is (a Lean hour/daily zip, .csv or .parquet)"
            )
        return _read_tabular(given, str(path))
    files = sorted(p for p in given.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise ReferenceError(f"no Lean hour/daily zips and no .csv or .parquet files in {path}")
    return [series for f in files for series in _read_tabular(f, f.name)]


# -- Lean hour / daily -------------------------------------------------------------------------
def _lean_layout(path: Path) -> LeanLayout | None:
    """``<security>/<market>/<hour|daily>`` (the folder, or the folder of a zip), else None."""
    folder = path.resolve().parent if path.is_file() else path.resolve()
    if path.is_file() and path.suffix.lower() != ".zip":
        return None
    parts = [p.lower() for p in folder.parts]
    if len(parts) < 3 or parts[-1] not in LEAN_REFERENCE_RESOLUTIONS or parts[-3] not in SECURITIES:
        if path.is_file():
            raise ReferenceError(
                f"{path}: a Lean reference zip must sit in a <security>/<market>/hour or /daily folder"
            )
        return None
    return LeanLayout(parts[-3], parts[-2], parts[-1])


def _read_lean_zip(path: Path, layout: LeanLayout) -> ReferenceSeries:
    """``YYYYMMDD HH:MM,open,high,low,close,volume`` rows (exchange time, equity prices ×10000)."""
    display = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if not i.is_dir()]
            if not members:
                raise ReferenceError(f"{display}: zip holds no file")
            with archive.open(members[0]) as member:
                frame = pd.read_csv(
                    member, header=None, names=list(_REQUIRED), dtype={"timestamp": str}, on_bad_lines="error"
                )
    except (OSError, zipfile.BadZipFile, ValueError, pd.errors.ParserError) as exc:
        raise ReferenceError(f"{display}: unreadable Lean {layout.resolution} zip: {exc}") from exc
    if frame.empty:
        raise ReferenceError(f"{display}: the file holds no bars")
    wall = pd.to_datetime(frame["timestamp"], format="%Y%m%d %H:%M", errors="coerce")
    aware = wall.dt.tz_localize(layout.tz, ambiguous="NaT", nonexistent="NaT")
    bad_time = aware.isna().to_numpy()
    utc = aware.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]").astype(np.int64)
    ts = np.where(bad_time, 0, utc)
    o, h, lo, c, v = (pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64) for name in _REQUIRED[1:])
    scale = layout.price_scale
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    bars, problems, _ = validate_bars(
        ts, o / scale, h / scale, lo / scale, c / scale, v, rows, display, path.stem.upper(), None,
        rejected=[(bad_time, "timestamp is not YYYYMMDD HH:MM")],
    )
    return ReferenceSeries(path.stem.upper(), LEAN_REFERENCE_RESOLUTIONS[layout.resolution], bars, display,
                           tuple(problems))


# -- CSV / Parquet -----------------------------------------------------------------------------
def _read_tabular(path: Path, display: str) -> list[ReferenceSeries]:
    """``timestamp,open,high,low,close,volume[,symbol]`` with ISO 8601 times carrying an offset."""
    try:
        names, columns, rows, _ = read_tabular_file(path, display)
    except DataError as exc:
        raise ReferenceError(str(exc)) from exc
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise ReferenceError(
            f"{display}: missing column(s) {', '.join(missing)}: expected {','.join(_REQUIRED)}[,symbol], "
            f"found {','.join(names)}"
        )
    times = parse_timestamps(columns["timestamp"])
    o, h, lo, c, v = (to_float(columns[name]) for name in _REQUIRED[1:])
    if "symbol" in columns:
        symbols = np.array([str(s or "").strip().upper() for s in columns["symbol"].to_pylist()], dtype=object)
    else:
        symbols = np.full(len(rows), path.stem.strip().upper(), dtype=object)
    out: list[ReferenceSeries] = []
    for symbol in sorted(set(symbols.tolist()) - {""}):
        mask = symbols == symbol
        bars, problems, _ = validate_bars(
            times.ts[mask], o[mask], h[mask], lo[mask], c[mask], v[mask], rows[mask], display, symbol, None,
            rejected=[(m[mask], msg) for m, msg in times.reasons],
        )
        if len(bars.ts):
            out.append(ReferenceSeries(symbol, _interval_of(bars.ts), bars, display, tuple(problems)))
    if not out:
        raise ReferenceError(f"{display}: no usable bars")
    return out


def _interval_of(ts: np.ndarray) -> Interval:
    """The commonest step between bars of one UTC day (a stray off-grid bar does not change it);
    one bar per day (or a lone bar) is ``1d``."""
    days = ts // 86_400
    same_day = days[1:] == days[:-1]
    steps = np.diff(ts)[same_day]
    if not len(steps):
        return DAILY
    values, counts = np.unique(steps, return_counts=True)
    return Interval(int(values[np.argmax(counts)]))

