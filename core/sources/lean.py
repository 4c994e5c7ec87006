"""QuantConnect Lean trade-bar folders (``<security>/<market>/<resolution>/<ticker>/YYYYMMDD_trade.zip``).

Each zip holds one header-less CSV ``ms,open,high,low,close,volume`` where ``ms`` is the
bar start in milliseconds after midnight of the file's date, in the exchange zone. US
equity prices are stored ×10000. Only ``minute`` and ``second`` folders can serve as a
streaming base; ``hour``/``daily``/``tick`` are a different format and grain.

:func:`read_lean_zip` raises only :class:`~core.sources.base.DataError`;
``load_session`` turns every failure into a problem on the result.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import BarSource, DataError, DataProblem, LoadedSession, SourceError
from session_monitor.core.sources.tabular import RawBars, read_csv_columns, to_float
from session_monitor.core.sources.validation import TS_INVALID
from session_monitor.core.symbols import SYMBOL_RULE, is_symbol, normalise_symbol

log = logging.getLogger(__name__)

__all__ = [
    "LEAN_COLUMNS",
    "RESOLUTIONS",
    "SECURITIES",
    "UNSUPPORTED_RESOLUTIONS",
    "LeanLayout",
    "LeanSource",
    "parse_lean_root",
    "read_lean_zip",
]

LEAN_COLUMNS = ("ms", "open", "high", "low", "close", "volume")
RESOLUTIONS = {"minute": Interval(60), "second": Interval(1)}
UNSUPPORTED_RESOLUTIONS = ("hour", "daily", "tick")
SECURITIES = ("equity", "crypto")
#: exchange zones of the equity markets we know; crypto files are always UTC
_EQUITY_ZONES = {"usa": "America/New_York"}
_CALENDARS = {("equity", "usa"): "XNYS"}
_FILE_RE = re.compile(r"^(\d{8})_trade\.zip$")
_DAY_MS = 86_400_000
#: a decompressed day is < 1 MB; refuse members that would exhaust memory
MAX_MEMBER_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LeanLayout:
    """What the last three parts of a Lean resolution folder say."""

    security: str
    market: str
    resolution: str

    @property
    def base(self) -> Interval:
        return RESOLUTIONS[self.resolution]

    @property
    def tz(self) -> str:
        return "UTC" if self.security == "crypto" else _EQUITY_ZONES[self.market]

    @property
    def price_scale(self) -> float:
        return 10_000.0 if self.security == "equity" else 1.0


def parse_lean_root(root: Path) -> LeanLayout:
    """The layout of ``root`` or :class:`SourceError` saying why it cannot be a base."""
    parts = root.parts
    if len(parts) < 3:
        raise SourceError(f"not a Lean <security>/<market>/<resolution> folder: {root}")
    security, market, resolution = (p.lower() for p in parts[-3:])
    if resolution in UNSUPPORTED_RESOLUTIONS:
        raise SourceError(
            f"Lean {resolution} data is not supported as a base (use a minute or second folder): {root}"
        )
    if resolution not in RESOLUTIONS:
        raise SourceError(f"not a Lean <security>/<market>/<resolution> folder (resolution {resolution!r}): {root}")
    if security not in SECURITIES:
        raise SourceError(f"Lean {security} data is not supported (equity or crypto trade bars only): {root}")
    if security == "equity" and market not in _EQUITY_ZONES:
        raise SourceError(f"Lean equity market {market!r} is not supported (known: usa): {root}")
    return LeanLayout(security, market, resolution)


def _midnight_to_utc(date: dt.date, tz: str, seconds: np.ndarray) -> np.ndarray:
    """UTC epoch seconds of wall-clock ``seconds`` after local midnight of ``date`` in ``tz``."""
    zone = ZoneInfo(tz)
    midnight = dt.datetime.combine(date, dt.time(), zone)
    next_midnight = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), zone)
    base = int(midnight.timestamp())
    if midnight.utcoffset() == next_midnight.utcoffset():
        return base + seconds
    # a DST change day: convert each wall time on its own
    wall = pd.Timestamp(date) + pd.to_timedelta(seconds, unit="s")
    aware = pd.DatetimeIndex(wall).tz_localize(tz, ambiguous=False, nonexistent="shift_forward")
    return np.asarray(aware.as_unit("s").asi8, dtype=np.int64)


def read_lean_zip(path: Path, display: str, layout: LeanLayout, date: dt.date) -> RawBars:
    """Parse one ``YYYYMMDD_trade.zip`` into raw, unvalidated rows (ts = bar start, UTC s).

    Rows whose ``ms`` is not a whole multiple of the resolution, or not within the day,
    carry a rejection reason. Raises only :class:`DataError` (unreadable/corrupt zip,
    empty file, wrong number of columns).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if not i.is_dir()]
            csvs = [i for i in members if i.filename.lower().endswith(".csv")] or members
            if not csvs:
                raise DataError("zip holds no CSV file", file=display)
            with archive.open(csvs[0]) as member:
                data = member.read(MAX_MEMBER_BYTES + 1)
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError("file is missing", file=display) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise DataError(f"corrupt or truncated zip: {exc}", file=display) from exc
    except OSError as exc:
        raise DataError(f"cannot read zip: {exc.strerror or exc}", file=display) from exc
    if len(data) > MAX_MEMBER_BYTES:
        raise DataError(f"zip member larger than {MAX_MEMBER_BYTES} bytes", file=display)

    table = read_csv_columns(data, display, names=LEAN_COLUMNS)
    cols = table.columns
    ms = to_float(cols["ms"])
    step_ms = layout.base.seconds * 1000
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(ms)
        in_day = finite & (ms >= 0) & (ms < _DAY_MS)
        whole = np.zeros(len(ms), dtype=np.int64)
        whole[in_day] = ms[in_day].astype(np.int64)
        on_grid = in_day & (whole == ms) & (whole % step_ms == 0)
    ts = np.full(len(ms), TS_INVALID, dtype=np.int64)
    ts[on_grid] = _midnight_to_utc(date, layout.tz, whole[on_grid] // 1000)
    scale = layout.price_scale
    raw = RawBars(
        ts,
        to_float(cols["open"]) / scale,
        to_float(cols["high"]) / scale,
        to_float(cols["low"]) / scale,
        to_float(cols["close"]) / scale,
        to_float(cols["volume"]),
        table.rows,
        [
            (finite & ~in_day, "ms is outside the day (0..86399999)"),
            (in_day & ~on_grid, f"ms is not a multiple of {step_ms} (the {layout.base} resolution)"),
        ],
    )
    if len(table.bad_rows):
        raw = raw.with_bad_rows(table.bad_rows, table.bad_messages)
        raw = raw.take(np.argsort(raw.rows, kind="stable"))
    return raw


class LeanSource(BarSource):
    """A Lean minute or second trade-bar folder, e.g. ``…/equity/usa/minute``."""

    def __init__(self, root: str | Path) -> None:
        given = Path(root).expanduser()
        if not given.exists():
            raise SourceError(f"source path does not exist: {root}")
        if not given.is_dir():
            raise SourceError(f"a Lean source is a folder, not a file: {root}")
        self._root = given.resolve()
        self.layout = parse_lean_root(self._root)
        self.name = f"lean {self.layout.resolution}"
        self.omits_empty_intervals = True  # Lean trade files hold no row for an interval without trades

    @property
    def root(self) -> Path:
        return self._root

    @property
    def key(self) -> str:
        return f"lean:{self._root}"

    @property
    def calendar_hint(self) -> str | None:
        if self.layout.security == "crypto":
            return "24/7"
        return _CALENDARS.get((self.layout.security, self.layout.market))

    def _folder(self, symbol: str) -> Path:
        return self._root / symbol.strip().lower()

    def symbols(self) -> list[str]:
        """Ticker folders whose names are valid symbols; any other folder is named once in the log."""
        found = []
        for p in self._root.iterdir():
            if not p.is_dir() or p.name.startswith("."):
                continue
            if is_symbol(p.name):
                found.append(normalise_symbol(p.name))
            else:
                log.warning("%s: folder %r is not a ticker (%s); skipped", self._root.name, p.name, SYMBOL_RULE)
        return sorted(found)

    def dates(self, symbol: str) -> list[dt.date]:
        folder = self._folder(symbol)
        if not folder.is_dir():
            return []
        found = []
        for p in folder.iterdir():
            match = _FILE_RE.match(p.name)
            if match:
                try:
                    found.append(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
                except ValueError:
                    continue
        return sorted(found)

    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        return (self.layout.base,) if self._folder(symbol).is_dir() else ()

    def file_for(self, symbol: str, date: dt.date) -> Path:
        """Where the trade bars of ``symbol`` on ``date`` live."""
        return self._folder(symbol) / f"{date:%Y%m%d}_trade.zip"

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        sym = symbol.strip().upper()
        path = self.file_for(sym, session.date)
        display = f"{path.parent.name}/{path.name}"
        empty = LoadedSession(sym, session, base, BarArrays.empty())
        if base != self.layout.base:
            empty.problems.append(
                DataProblem(f"Lean {self.layout.resolution} data has {self.layout.base} bars, not {base}", symbol=sym)
            )
            return empty
        if not path.is_file():
            empty.problems.append(
                DataProblem(
                    f"no data for {sym} on {session.date.isoformat()} ({path} missing)", file=display, symbol=sym
                )
            )
            return empty
        try:
            raw = read_lean_zip(path, display, self.layout, session.date)
        except DataError as exc:
            empty.problems.append(DataProblem(exc.reason, file=display, row=exc.row, symbol=sym))
            return empty
        bars, problems, outside = raw.validate(display, sym, session)
        if not len(bars) and not problems:
            problems.append(
                DataProblem(
                    f"no bars for {sym} in the {session.date.isoformat()} session ({outside} rows outside it)",
                    file=display,
                    symbol=sym,
                )
            )
        return LoadedSession(sym, session, base, bars, problems, outside)
