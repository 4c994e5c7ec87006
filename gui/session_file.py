"""File → Save session…: the running session as a TOML file that File → Open session restores.

The file holds what ``--config`` reads (``core.config``): source, calendar, date range,
speed and the watchlist with each symbol's requested intervals, so reopening it watches
the same symbols the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from session_monitor.core.config import SessionConfig, WatchItem, save_config
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.gui.settings import WatchEntry

__all__ = ["choose_save_path", "save_session", "session_config"]

log = logging.getLogger("session_monitor.gui")

Notify = Callable[[int, str], None]
SUFFIX = ".toml"


def _portable_source(spec: str) -> str:
    """An existing path is written absolute: the file may be saved far from where the app ran."""
    text = spec.strip()
    if text.lower() == "demo" or text.lower().startswith("demo:"):
        return text
    path = Path(text).expanduser()
    return str(path.resolve()) if path.exists() else text


def session_config(source_spec: str, coordinator: SessionCoordinator, watchlist: list[WatchEntry]) -> SessionConfig:
    """What the window is running, as a SessionConfig (the date range pins the sessions run)."""
    sessions = coordinator.sessions
    speed = coordinator.clock.speed
    own_hours: dict[str, str] = getattr(coordinator, "symbol_hours", {})  # a desk's stand-in has none
    return SessionConfig(
        source=_portable_source(source_spec),
        calendar=coordinator.calendar.name,
        hours="extended" if run_hours(coordinator) == "extended" else None,
        start=sessions[0].date,
        end=sessions[-1].date,
        speed="max" if speed is None else str(float(speed)),
        watchlist=[WatchItem(entry.symbol, list(entry.intervals), own_hours.get(entry.symbol))
                   for entry in watchlist],
    )


def run_hours(coordinator: SessionCoordinator) -> str:
    """The run's own hours: its calendar's, unless only a watchlist entry made that extended."""
    calendar_hours = getattr(coordinator.calendar, "hours", "regular")
    own = getattr(coordinator, "hours", None)  # a desk's stand-in coordinator has none
    return (own or calendar_hours) if calendar_hours == "extended" else "regular"


def choose_save_path(parent: QWidget, suggested: str = "session.toml") -> str | None:
    """Ask where to save (a blocking native dialog: call it from a plain slot, not a coroutine)."""
    path, _ = QFileDialog.getSaveFileName(parent, "Save session", suggested, "Session files (*.toml);;All files (*)")
    if not path:
        return None
    return path if Path(path).suffix else path + SUFFIX


async def save_session(config: SessionConfig, path: str | Path, notify: Notify) -> bool:
    """Write ``config`` in an executor (a network drive can stall); report the outcome in one line."""
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, partial(save_config, config, path))
    except Exception as exc:
        log.warning("saving the session to %s failed", path, exc_info=True)
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        notify(logging.ERROR, f"Could not save the session: {reason}")
        return False
    symbols = len(config.watchlist)
    notify(logging.INFO, f"Saved the session ({symbols} symbol{'s' if symbols != 1 else ''}) to {path}")
    return True
