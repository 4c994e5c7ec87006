"""Facts about the installed app that the CLI, the GUI and its About box all show.

One place for the program name, the version (from the package metadata, so it never
drifts from ``pyproject.toml``) and the per-user log folder (the data folder is
``core.recording.default_recording_path``'s).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["DISTRIBUTION", "PROG", "app_version", "log_dir"]

#: the command and the name of the per-user folders
PROG = "session-monitor"
#: the distribution name in pyproject.toml
DISTRIBUTION = "session-monitor"


def app_version() -> str:
    """The installed version; ``unknown`` when run from a checkout that was never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def log_dir() -> Path:
    """Per-user log folder (``$XDG_STATE_HOME/session-monitor/log`` on Linux)."""
    from platformdirs import user_log_path

    return user_log_path(PROG, appauthor=False)
