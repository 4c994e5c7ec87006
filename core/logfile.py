"""A rotating log file in the per-user log folder, so a problem can be reported after the window closed."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from session_monitor.core.appinfo import PROG, log_dir

__all__ = ["LOG_BACKUPS", "LOG_MAX_BYTES", "install_log_file", "log_file_path"]

#: one file of this size, then it rotates: a day of warnings fits, a disk never fills
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 3


def log_file_path(folder: Path | None = None) -> Path:
    return (folder or log_dir()) / f"{PROG}.log"


def install_log_file(level: int = logging.WARNING, folder: Path | None = None) -> Path | None:
    """Log ``level`` and above from every logger to the rotating file; None when it cannot be written.

    The root logger's own level is left alone (the console shows what it showed before).

    Installing twice (a second window in the same process) adds no second handler.
    """
    path = log_file_path(folder)
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:  # a read-only home must not stop the app
        logging.getLogger("session_monitor").warning("no log file (%s): %s", path, exc)
        return None
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return path
