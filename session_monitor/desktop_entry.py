"""``session-monitor --install-desktop-entry``: put the app in the desktop's application menu.

Writes a freedesktop ``.desktop`` entry to ``$XDG_DATA_HOME/applications`` and the icon to
``$XDG_DATA_HOME/icons/hicolor/scalable/apps`` (``~/.local/share`` without XDG_DATA_HOME).
The entry starts the ``session-monitor`` of the environment it was installed from, so a
virtualenv install works from the menu without activating anything.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from session_monitor.core.appinfo import PROG, app_version
from session_monitor.resources import RESOURCES

__all__ = ["DesktopEntry", "desktop_entry_text", "install_desktop_entry", "launch_command"]

#: characters that make the Desktop Entry spec require a quoted Exec argument
_RESERVED = set(' \t\n"\'\\><~|&;$*?#()`')


def _exec_argument(text: str) -> str:
    """One Exec argument per the Desktop Entry spec: quoted when needed, ``%`` doubled."""
    text = text.replace("%", "%%")
    if not any(ch in _RESERVED for ch in text):
        return text
    escaped = "".join("\\" + ch if ch in '"`$\\' else ch for ch in text)
    return f'"{escaped}"'


def launch_command() -> list[str]:
    """How the menu starts this installation: its ``session-monitor`` script, else ``python -m session_monitor``."""
    script = Path(sys.executable).parent / PROG
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "session_monitor"]


def desktop_entry_text(command: list[str]) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Session Monitor",
        "GenericName=Market session monitor",
        "Comment=Watch a market session live: base bars, derived intervals, quality and gaps",
        f"Exec={' '.join(_exec_argument(part) for part in command)}",
        f"Icon={PROG}",
        "Terminal=false",
        "Categories=Office;Finance;",
        "Keywords=market;bars;candlestick;replay;trading;",
        f"StartupWMClass={PROG}",
        f"X-Session-Monitor-Version={app_version()}",
        "",
    ])


@dataclass(frozen=True, slots=True)
class DesktopEntry:
    """Where the entry and its icon were written."""

    entry: Path
    icon: Path


def install(data_home: Path | None = None, command: list[str] | None = None) -> DesktopEntry:
    from platformdirs import user_data_path

    base = data_home or user_data_path()  # $XDG_DATA_HOME, or ~/.local/share
    entry = base / "applications" / f"{PROG}.desktop"
    icon = base / "icons" / "hicolor" / "scalable" / "apps" / f"{PROG}.svg"
    entry.parent.mkdir(parents=True, exist_ok=True)
    icon.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RESOURCES / "icons" / "app.svg", icon)
    entry.write_text(desktop_entry_text(command or launch_command()), encoding="utf-8")
    return DesktopEntry(entry, icon)


def install_desktop_entry() -> int:
    """The CLI action: install, say where, exit code."""
    try:
        written = install()
    except OSError as exc:
        print(f"{PROG}: error: could not install the desktop entry: {exc}", file=sys.stderr)
        return 1
    print(f"installed {written.entry}\ninstalled {written.icon}")
    return 0
