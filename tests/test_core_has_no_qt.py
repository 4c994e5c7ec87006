"""core must stay headless: importing every core module loads no Qt binding and nothing of gui/."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import session_monitor.core as core_package

ROOT = Path(__file__).resolve().parents[1]


def core_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(core_package.__path__, prefix="session_monitor.core.")]


def test_every_core_module_imports_without_qt() -> None:
    modules = core_modules()
    assert "session_monitor.core.coordinator" in modules and "session_monitor.core.sources.base" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6',"
        " 'pyqtgraph', 'qasync') or m.startswith('session_monitor.gui'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_headless_replay_entry_point_does_not_import_qt() -> None:
    script = "import sys; import session_monitor.core.cli; print(any(m.startswith('PySide6') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
