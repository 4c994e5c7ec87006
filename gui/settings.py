"""Persistent preferences through QSettings: watchlist, window layout, last source.

Everything goes through one injected QSettings, so tests point it at a file in a temp
folder and never touch the user's real configuration. Lists are stored as JSON text:
QSettings round-trips a one-element list as a plain string on some backends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from session_monitor.core.calendar import HOURS
from session_monitor.core.runconfig import DEFAULT_INTERVALS
from session_monitor.core.sources.alpaca import FEEDS as ALPACA_FEEDS

__all__ = ["ALPACA_FEEDS", "DEFAULT_INTERVALS", "EXPORT_FORMATS", "AppSettings", "WatchEntry"]

ORGANIZATION = "session-monitor"
APPLICATION = "session-monitor"
#: what core.export.export_symbols writes
EXPORT_FORMATS = ("csv", "parquet")


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """One watched symbol, the intervals it was added with and its own session hours (None: the run's)."""

    symbol: str
    intervals: tuple[str, ...]
    hours: str | None = None


class AppSettings:
    """Typed accessors over a QSettings."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    @classmethod
    def at(cls, path: str | Path) -> AppSettings:
        """Settings kept in one INI file (tests, portable installs)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    # -- watchlist ----------------------------------------------------------------------
    def watchlist(self) -> list[WatchEntry] | None:
        """The saved watchlist; None when none was ever saved (an empty list is a choice)."""
        raw = self.store.value("watchlist/entries")
        if raw is None:
            return None
        try:
            items = json.loads(str(raw))
            return [
                WatchEntry(str(i["symbol"]), tuple(str(x) for x in i["intervals"]),
                           str(i["hours"]) if i.get("hours") in HOURS else None)
                for i in items
            ]
        except (ValueError, KeyError, TypeError):
            return None

    def set_watchlist(self, entries: list[WatchEntry]) -> None:
        payload = [{"symbol": e.symbol, "intervals": list(e.intervals), **({"hours": e.hours} if e.hours else {})}
                   for e in entries]
        self.store.setValue("watchlist/entries", json.dumps(payload))

    def default_intervals(self) -> str:
        value = self.store.value("watchlist/default_intervals")
        return str(value) if value else DEFAULT_INTERVALS

    def set_default_intervals(self, text: str) -> None:
        self.store.setValue("watchlist/default_intervals", text)

    # -- charts ---------------------------------------------------------------------------
    def chart_option(self, name: str, default: bool) -> bool:
        """A View-menu chart switch (``fold_time``, ``log_scale``, ``compact_watchlist``)."""
        value = self.store.value(f"charts/{name}")
        return default if value is None else str(value).lower() in ("true", "1")

    def set_chart_option(self, name: str, on: bool) -> None:
        self.store.setValue(f"charts/{name}", "true" if on else "false")

    # -- source ---------------------------------------------------------------------------
    def last_source(self) -> str | None:
        value = self.store.value("source/last")
        return str(value) if value else None

    def set_last_source(self, spec: str) -> None:
        self.store.setValue("source/last", spec)

    # -- live data (the keys themselves live in the system keyring, never here) -------------
    def alpaca_feed(self) -> str:
        """The Alpaca feed to stream: ``iex`` (free plan, the default) or ``sip`` (paid)."""
        value = str(self.store.value("alpaca/feed") or "")
        return value if value in ALPACA_FEEDS else ALPACA_FEEDS[0]

    def set_alpaca_feed(self, feed: str) -> None:
        if feed not in ALPACA_FEEDS:
            raise ValueError(f"unknown Alpaca feed {feed!r} (use {' or '.join(ALPACA_FEEDS)})")
        self.store.setValue("alpaca/feed", feed)

    # -- export ---------------------------------------------------------------------------
    def export_folder(self) -> str | None:
        value = self.store.value("export/folder")
        return str(value) if value else None

    def export_format(self) -> str:
        value = str(self.store.value("export/format") or "")
        return value if value in EXPORT_FORMATS else EXPORT_FORMATS[0]

    def set_export_choice(self, folder: str, fmt: str) -> None:
        """Remembered so the next export offers the same folder and format."""
        self.store.setValue("export/folder", folder)
        self.store.setValue("export/format", fmt)

    # -- chart workspace (gui/chart/workspace.py) ----------------------------------------------
    def workspace(self) -> str | None:
        """The chart workspace's saved state (JSON), if any."""
        value = self.store.value("workspace/state")
        return str(value) if value else None

    def set_workspace(self, state_json: str) -> None:
        self.store.setValue("workspace/state", state_json)

    # -- window layout ----------------------------------------------------------------------
    def _bytes(self, key: str) -> QByteArray | None:
        value = self.store.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry")

    def window_state(self) -> QByteArray | None:
        return self._bytes("window/state")

    def splitter_state(self) -> QByteArray | None:
        return self._bytes("window/splitter")

    def set_layout(self, geometry: QByteArray, state: QByteArray, splitter: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)
        self.store.setValue("window/splitter", splitter)

    def sync(self) -> None:
        self.store.sync()
