"""The chart workspace's state: layout, each chart's symbol/interval and time range.

Plain data (no Qt), so a session file (:mod:`core.config`, the ``[workspace]`` table) and the
settings (JSON) hold the same thing, and the GUI's workspace (``gui/chart/workspace.py``)
shows it. A session file is what the user wrote, so its table is checked and every problem
names its key; the settings are the app's own, so damaged settings just give the default.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from session_monitor.core.intervals import IntervalError, parse_interval
from session_monitor.core.symbols import SymbolError, normalise_symbol

__all__ = ["LAYOUTS", "MAX_CHARTS", "ChartSpec", "WorkspaceError", "WorkspaceState", "parse_workspace"]

#: layout name -> (rows, columns); "1x2" is one row of two charts side by side
LAYOUTS: dict[str, tuple[int, int]] = {"1": (1, 1), "1x2": (1, 2), "2x1": (2, 1), "2x2": (2, 2)}
MAX_CHARTS = 4

_KEYS = {"layout", "linked", "charts"}
_CHART_KEYS = {"symbol", "interval", "range"}


class WorkspaceError(ValueError):
    """A bad ``[workspace]`` table; the message starts with the key's path."""


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """What one chart of the workspace shows; ``x_range`` is its time range (UTC seconds)."""

    symbol: str | None = None
    interval: str | None = None
    x_range: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class WorkspaceState:
    layout: str = "1"
    charts: tuple[ChartSpec, ...] = field(default_factory=tuple)
    linked: bool = True

    def to_json(self) -> str:
        return json.dumps({
            "layout": self.layout,
            "linked": self.linked,
            "charts": [{"symbol": c.symbol, "interval": c.interval,
                        "x_range": list(c.x_range) if c.x_range else None} for c in self.charts],
        })

    @classmethod
    def from_json(cls, text: str) -> WorkspaceState:
        """The saved state; anything malformed gives the default (settings are never fatal)."""
        try:
            raw = json.loads(text)
            layout = str(raw["layout"])
            if layout not in LAYOUTS:
                return cls()
            charts = []
            for item in raw["charts"][:MAX_CHARTS]:
                x = item.get("x_range")
                charts.append(ChartSpec(
                    str(item["symbol"]) if item.get("symbol") else None,
                    str(item["interval"]) if item.get("interval") else None,
                    (float(x[0]), float(x[1])) if x else None,
                ))
            return cls(layout, tuple(charts), bool(raw.get("linked", True)))
        except (ValueError, KeyError, TypeError, IndexError):
            return cls()

    def to_toml(self) -> dict[str, Any]:
        """The ``[workspace]`` table of a session file; a time range as two UTC date-times."""
        charts: list[dict[str, Any]] = []
        for chart in self.charts:
            item: dict[str, Any] = {}
            if chart.symbol:
                item["symbol"] = chart.symbol
            if chart.interval:
                item["interval"] = chart.interval
            if chart.x_range is not None:
                item["range"] = [dt.datetime.fromtimestamp(t, dt.UTC) for t in chart.x_range]
            charts.append(item)
        return {"layout": self.layout, "linked": self.linked, "charts": charts}


def _fail(key: str, message: str) -> WorkspaceError:
    return WorkspaceError(f"{key}: {message}")


def _range(key: str, value: Any) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, dt.datetime) and v.tzinfo is not None for v in value)):
        raise _fail(key, "expected two date-times with a zone, such as "
                         "[2024-03-04T14:30:00Z, 2024-03-04T16:00:00Z]")
    start, end = (v.timestamp() for v in value)
    if end <= start:
        raise _fail(key, f"{value[1].isoformat()} is not after {value[0].isoformat()}")
    return start, end


def _chart(key: str, item: Any) -> ChartSpec:
    if not isinstance(item, dict):
        raise _fail(key, "expected a table with symbol, interval and range")
    extra = sorted(set(item) - _CHART_KEYS)
    if extra:
        raise _fail(f"{key}.{extra[0]}", f"unknown key (known: {', '.join(sorted(_CHART_KEYS))})")
    symbol = interval = None
    if "symbol" in item:
        try:
            symbol = normalise_symbol(str(item["symbol"]))
        except SymbolError as exc:
            raise _fail(f"{key}.symbol", str(exc)) from None
    if "interval" in item:
        try:
            interval = parse_interval(str(item["interval"])).name
        except IntervalError as exc:
            raise _fail(f"{key}.interval", str(exc)) from None
    x_range = _range(f"{key}.range", item["range"]) if "range" in item else None
    return ChartSpec(symbol, interval, x_range)


def parse_workspace(raw: Any, key: str = "workspace") -> WorkspaceState:
    """Check a session file's ``[workspace]`` table; :class:`WorkspaceError` names the bad key."""
    if not isinstance(raw, dict):
        raise _fail(key, 'expected a table such as { layout = "1x2" }')
    extra = sorted(set(raw) - _KEYS)
    if extra:
        raise _fail(f"{key}.{extra[0]}", f"unknown key (known: {', '.join(sorted(_KEYS))})")
    layout = raw.get("layout", "1")
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise _fail(f"{key}.layout", f"{layout!r} is not a layout (known: {', '.join(LAYOUTS)})")
    linked = raw.get("linked", True)
    if not isinstance(linked, bool):
        raise _fail(f"{key}.linked", "expected true or false")
    charts = raw.get("charts", [])
    if not isinstance(charts, list):
        raise _fail(f"{key}.charts", "expected an array of tables ([[workspace.charts]])")
    if len(charts) > MAX_CHARTS:
        raise _fail(f"{key}.charts", f"{len(charts)} charts; the workspace shows at most {MAX_CHARTS}")
    return WorkspaceState(layout, tuple(_chart(f"{key}.charts[{i}]", c) for i, c in enumerate(charts)), linked)
