"""Arguments the app refuses are shown in a window too, not only on the terminal.

Started from a desktop menu or a file manager there is no terminal to read: the one-line
refusal on stderr stays (scripts and tests read it), and where a window can be shown the
same line comes up in a message box, with where to look for the arguments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from PySide6.QtWidgets import QApplication, QMessageBox

__all__ = ["can_show_window", "show_startup_error", "startup_error_box"]

#: Qt platforms that draw nowhere a person can see
_HEADLESS = {"offscreen", "minimal", "vnc"}


def can_show_window(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """True when a message box would reach a screen (a display, not the offscreen platform)."""
    if env.get("QT_QPA_PLATFORM", "").split(":")[0] in _HEADLESS:
        return False
    if platform.startswith("linux") or "bsd" in platform:
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True


def startup_error_box(prog: str, text: str) -> QMessageBox:
    """The message box for a refused start (built, not shown)."""
    box = QMessageBox(QMessageBox.Icon.Critical, prog, f"{prog} could not start:\n\n{text}")
    box.setInformativeText(f"Run `{prog} --help` in a terminal for the arguments it accepts.")
    return box


def show_startup_error(prog: str, text: str) -> None:
    """Show ``text`` in a message box and wait for it to be closed, when a screen is there."""
    if not can_show_window():
        return
    app = QApplication.instance() or QApplication([prog])
    assert isinstance(app, QApplication)
    startup_error_box(prog, text).exec()
