"""The rotating log file: warnings from any logger land in it; installing twice adds no second handler."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from session_monitor.core.logfile import LOG_BACKUPS, LOG_MAX_BYTES, install_log_file


def test_warnings_go_to_a_rotating_file_in_the_given_folder(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = install_log_file(folder=tmp_path / "log")
        again = install_log_file(folder=tmp_path / "log")
        logging.getLogger("session_monitor.core.coordinator").warning("SPY: feed disconnected at 10:02:00")
        logging.getLogger("session_monitor.core.coordinator").info("not kept: below the file's level")
        added = [h for h in root.handlers if h not in before]
        for handler in added:
            handler.flush()

        assert path == again == tmp_path / "log" / "session-monitor.log"
        assert len(added) == 1 and isinstance(added[0], logging.handlers.RotatingFileHandler)
        assert (added[0].maxBytes, added[0].backupCount) == (LOG_MAX_BYTES, LOG_BACKUPS)
        lines = path.read_text().splitlines()
        assert len(lines) == 1
        assert lines[0].endswith("WARNING session_monitor.core.coordinator: SPY: feed disconnected at 10:02:00")
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()


def test_a_folder_that_cannot_be_written_means_no_log_file_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    assert install_log_file(folder=blocker / "log") is None
