"""Before Qt starts: pick offscreen when there is no display, and explain a platform plugin that cannot load.

Without this, Qt aborts the process (exit 134) with no display, and with a missing system
library it prints ``Could not load the Qt platform plugin "xcb"`` and names a library
that is often not the missing one. ``ldd`` on the plugin says exactly which are missing;
Debian and Ubuntu name a library's package after its soname, so the fix is one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MissingLibraries", "debian_package", "missing_libraries", "prepare_platform"]

#: packages whose name does not follow the soname rule
_PACKAGE_EXCEPTIONS = {"libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0"}


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package of a shared library: ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``.

    Debian policy 8.1: the library name, lower-cased, then its soname version, with a
    hyphen between when the name ends in a digit (``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``).
    """
    if soname in _PACKAGE_EXCEPTIONS:
        return _PACKAGE_EXCEPTIONS[soname]
    name, _, number = soname.partition(".so.")
    name = name.lower()
    if not number:
        return name
    major = number.split(".")[0]
    return f"{name}-{major}" if name[-1:].isdigit() else f"{name}{major}"


def missing_libraries(plugin: Path) -> tuple[str, ...]:
    """Sonames that ``ldd`` cannot find for ``plugin`` (its own and its dependencies'), in order, once each."""
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.exists():
        return ()
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    missing: dict[str, None] = {}
    for line in out.splitlines():
        name, arrow, where = line.strip().partition("=>")
        if arrow and where.strip() == "not found":
            missing[name.strip()] = None
    return tuple(missing)


@dataclass(frozen=True, slots=True)
class MissingLibraries:
    """A platform plugin that cannot load, and why."""

    platform: str
    libraries: tuple[str, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(debian_package(lib) for lib in self.libraries))

    def message(self, prog: str) -> str:
        listed = "\n".join(f"  {lib}" for lib in self.libraries)
        return (
            f"{prog}: error: Qt's {self.platform!r} platform plugin cannot load: these system libraries are missing:\n"
            f"{listed}\n"
            f"On Debian/Ubuntu install them with:\n"
            f"  sudo apt-get install {' '.join(self.packages)}\n"
            f"(the README lists everything a fresh desktop needs)"
        )


def _plugin_path(platform: str) -> Path:
    from PySide6.QtCore import QLibraryInfo  # QtCore loads without a display or the xcb libraries

    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / f"libq{platform}.so"


def _platform(environ: Mapping[str, str]) -> str:
    """The platform Qt will try first, as Qt 6 picks it on Linux."""
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    if environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "xcb"


def prepare_platform(screenshot: bool, prog: str, environ: MutableMapping[str, str] | None = None) -> str | None:
    """Make Qt's start predictable; return an error message when it cannot start, else None.

    A screenshot needs no display: without one (and no platform chosen) it renders offscreen.
    """
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    has_display = bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    if not env.get("QT_QPA_PLATFORM") and not has_display:
        if screenshot:
            env["QT_QPA_PLATFORM"] = "offscreen"
            return None
        return (
            f"{prog}: error: no display to open a window on (DISPLAY and WAYLAND_DISPLAY are not set); "
            f"run it in a desktop session, or use '{prog} replay' (headless) or --screenshot"
        )
    platform = _platform(env)
    if platform != "xcb":
        return None
    missing = missing_libraries(_plugin_path(platform))
    return MissingLibraries(platform, missing).message(prog) if missing else None
