"""Session config files (TOML): source, calendar, date range, speed, the watchlist and the chart workspace.

Every key is checked before anything starts; a problem names the key's path
(``watchlist[2].intervals``), so nothing starts half-configured.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from session_monitor.core.calendar import HOURS, CalendarError, get_calendar
from session_monitor.core.clock import parse_speed
from session_monitor.core.intervals import IntervalError, parse_interval
from session_monitor.core.symbols import SymbolError, normalise_symbol
from session_monitor.core.workspace import WorkspaceError, WorkspaceState, parse_workspace

if TYPE_CHECKING:
    from session_monitor.core.alerts import AlertConfig

__all__ = ["ConfigError", "SessionConfig", "WatchItem", "load_config", "save_config"]

_TOP_KEYS = {"source", "calendar", "hours", "start", "end", "speed", "base", "watchlist", "alerts", "workspace"}
_ITEM_KEYS = {"symbol", "intervals", "hours", "alerts"}


class ConfigError(ValueError):
    """A bad config file: names the file and the key's path."""


@dataclass
class WatchItem:
    symbol: str
    intervals: list[str]
    #: this entry's session hours, ``regular`` or ``extended`` (None: the run's)
    hours: str | None = None


@dataclass
class SessionConfig:
    source: str = "demo"
    calendar: str | None = None
    #: session hours, ``regular`` or ``extended`` (None: regular, or what the command line says)
    hours: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    speed: str | None = None  # "max" or a number as text, as on the command line
    base: str | None = None
    watchlist: list[WatchItem] = field(default_factory=list)
    #: alert rules (``[alerts]`` and each entry's ``alerts``); None: the defaults
    alerts: AlertConfig | None = None
    #: the chart workspace (``[workspace]``); None: the one kept in the settings
    workspace: WorkspaceState | None = None

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        for key in ("calendar", "hours", "start", "end", "base"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.speed is not None:
            out["speed"] = self.speed if self.speed == "max" else float(self.speed)
        out["watchlist"] = [_item_to_toml(w) for w in self.watchlist]
        if self.alerts is not None:
            _alerts_to_toml(self.alerts, out)
        if self.workspace is not None:
            out["workspace"] = self.workspace.to_toml()
        return out


def _item_to_toml(item: WatchItem) -> dict[str, Any]:
    out: dict[str, Any] = {"symbol": item.symbol, "intervals": list(item.intervals)}
    if item.hours is not None:
        out["hours"] = item.hours
    return out


def _alerts_to_toml(alerts: AlertConfig, out: dict[str, Any]) -> None:
    if alerts.default.to_toml():
        out["alerts"] = alerts.default.to_toml()
    for item in out["watchlist"]:
        own = alerts.per_symbol.get(item["symbol"])
        if own is not None and own != alerts.default:
            item["alerts"] = own.to_toml()


def _fail(path: Path, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {message}")


def _date(path: Path, key: str, value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        raise _fail(path, key, "expected a date (YYYY-MM-DD), not a date-time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(path, key, f"{value!r} is not a date (YYYY-MM-DD)")


def _is_named_source(spec: str) -> bool:
    """``demo``, ``demo:SEED`` and ``alpaca`` name a source; anything else is a path."""
    lowered = spec.strip().lower()
    return lowered in ("demo", "alpaca") or lowered.startswith(("demo:", "alpaca:"))


def load_config(path: str | Path) -> SessionConfig:
    """Read and fully validate a session file; relative source paths are relative to the file.

    Each top-level key has a reader of its own below (one job each); they run in the file's
    documented order, so of several problems the first key's is the one reported.
    """
    path = Path(path)
    raw = _read_toml(path)
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise _fail(path, unknown[0], f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    config = SessionConfig()
    config.source = _source(path, raw.get("source", "demo"))
    config.calendar = _calendar(path, raw.get("calendar"))
    config.hours = _hours(path, raw.get("hours"))
    config.start = _date(path, "start", raw.get("start"))
    config.end = _date(path, "end", raw.get("end"))
    if config.start and config.end and config.end < config.start:
        raise _fail(path, "end", f"{config.end} is before start {config.start}")
    config.speed = _speed(path, raw.get("speed"))
    config.base = _base(path, raw.get("base"))
    watchlist = raw.get("watchlist", [])
    config.watchlist = _watchlist(path, watchlist)
    config.alerts = _load_alerts(path, raw, watchlist)
    if "workspace" in raw:
        config.workspace = _workspace(path, raw["workspace"])
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML table; every way of not getting one is a ConfigError naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise ConfigError(f"{path}: not a session file: arrays or tables nested too deeply") from None


def _source(path: Path, value: Any) -> str:
    """``source``: a named source as written, a path made absolute against the file's folder."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "source", "expected 'demo' or a path")
    if _is_named_source(value) or Path(value).expanduser().is_absolute():
        return value
    return str((path.parent / value).resolve())


def _calendar(path: Path, value: Any) -> str | None:
    """``calendar``: a name :func:`get_calendar` knows (checked now, not when the run starts)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(path, "calendar", "expected a calendar name such as XNYS")
    try:
        get_calendar(value)
    except CalendarError as exc:
        raise _fail(path, "calendar", str(exc)) from None
    return value


def _hours(path: Path, value: Any, key: str = "hours") -> str | None:
    """``hours`` (the run's, or an entry's ``key``): ``regular`` or ``extended``."""
    if value is not None and value not in HOURS:
        raise _fail(path, key, f"{value!r}: expected one of {', '.join(HOURS)}")
    return value if value is None else str(value)


def _speed(path: Path, value: Any) -> str | None:
    """``speed``: kept as text the way the command line spells it (``max`` or a number)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(path, "speed", "expected 'max' or a positive number")
    try:
        parse_speed(value)
    except ValueError as exc:
        raise _fail(path, "speed", str(exc)) from None
    return "max" if str(value).strip().lower() == "max" else str(float(value))


def _base(path: Path, value: Any) -> str | None:
    """``base``: an interval, stored by its canonical name."""
    if value is None:
        return None
    try:
        return parse_interval(str(value)).name
    except IntervalError as exc:
        raise _fail(path, "base", str(exc)) from None


def _watchlist(path: Path, value: Any) -> list[WatchItem]:
    """``[[watchlist]]``: each entry checked on its own; a symbol listed twice is refused."""
    if not isinstance(value, list):
        raise _fail(path, "watchlist", "expected an array of tables ([[watchlist]])")
    items: list[WatchItem] = []
    seen: set[str] = set()
    for i, entry in enumerate(value):
        key = f"watchlist[{i}]"
        symbol = _item_symbol(path, key, entry)
        if symbol in seen:
            raise _fail(path, f"{key}.symbol", f"{symbol} is listed twice")
        seen.add(symbol)
        intervals = _item_intervals(path, f"{key}.intervals", entry.get("intervals"))
        items.append(WatchItem(symbol, intervals, _hours(path, entry.get("hours"), f"{key}.hours")))
    return items


def _item_symbol(path: Path, key: str, entry: Any) -> str:
    """One watchlist entry's keys and symbol (its ``alerts`` table is read by :func:`_load_alerts`)."""
    if not isinstance(entry, dict):
        raise _fail(path, key, "expected a table with symbol and intervals")
    extra = sorted(set(entry) - _ITEM_KEYS)
    if extra:
        raise _fail(path, f"{key}.{extra[0]}", "unknown key (known: hours, intervals, symbol)")
    try:
        return normalise_symbol(str(entry.get("symbol", "")))
    except SymbolError as exc:
        raise _fail(path, f"{key}.symbol", str(exc)) from None


def _item_intervals(path: Path, key: str, value: Any) -> list[str]:
    """An entry's ``intervals``: a list (or a comma-separated string), each by its canonical name."""
    if isinstance(value, str):
        value = [s for s in value.split(",") if s.strip()]
    if not isinstance(value, list) or not value:
        raise _fail(path, key, "expected a non-empty list such as [\"1m\", \"5m\"]")
    names = []
    for j, text in enumerate(value):
        try:
            names.append(parse_interval(str(text)).name)
        except IntervalError as exc:
            raise _fail(path, f"{key}[{j}]", str(exc)) from None
    return names


def _workspace(path: Path, value: Any) -> WorkspaceState:
    """``[workspace]``: :func:`parse_workspace` names the key; this adds the file."""
    try:
        return parse_workspace(value)
    except WorkspaceError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _load_alerts(path: Path, raw: dict[str, Any], watchlist: list[dict[str, Any]]) -> AlertConfig | None:
    """``[alerts]`` (global) and each watchlist entry's ``alerts`` table over it."""
    from session_monitor.core.alerts import AlertConfig, parse_rules

    if "alerts" not in raw and not any("alerts" in item for item in watchlist):
        return None
    tables = [("alerts", raw.get("alerts", {}))]
    tables += [(f"watchlist[{i}].alerts", item["alerts"]) for i, item in enumerate(watchlist) if "alerts" in item]
    for key, table in tables:
        if not isinstance(table, dict):
            raise _fail(path, key, "expected a table such as { stale_slots = 5, coverage_below = 95 }")
    try:
        config = AlertConfig(parse_rules(raw.get("alerts", {}), "alerts"))
        for i, item in enumerate(watchlist):
            if "alerts" in item:
                symbol = normalise_symbol(str(item["symbol"]))
                config.per_symbol[symbol] = parse_rules(item["alerts"], f"watchlist[{i}].alerts", config.default)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config


def save_config(config: SessionConfig, path: str | Path) -> None:
    """Write ``config`` as TOML (what File → Save session writes)."""
    Path(path).write_text(tomli_w.dumps(config.to_toml()), encoding="utf-8")
