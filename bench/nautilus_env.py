"""The NautilusTrader reference lives in a virtual environment of its own.

NautilusTrader pins ``pandas<3`` while Session Monitor runs on pandas 3, so it can never
share our environment. On first use (full mode) the bench creates ``bench/.nautilus-venv``
(gitignored) with ``python -m venv`` and installs the newest ``nautilus_trader`` that
``pip index versions`` offers for this Python; reference scripts then run there as
subprocesses and print JSON. It is never a runtime dependency: when the venv cannot be
made (no network, no wheel, install failed) the benchmark says so in its row.

``SESSION_MONITOR_BENCH_NAUTILUS_VENV`` overrides the location.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import BENCH_DIR, log

__all__ = ["NautilusEnv", "ensure_nautilus", "venv_dir"]

PACKAGE = "nautilus_trader"
INSTALL_TIMEOUT = 1200.0


def venv_dir() -> Path:
    override = os.environ.get("SESSION_MONITOR_BENCH_NAUTILUS_VENV")
    return Path(override) if override else BENCH_DIR / ".nautilus-venv"


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@dataclass(frozen=True)
class NautilusEnv:
    python: Path | None
    version: str | None
    reason: str  # why python is None, or how the env came about

    @property
    def ok(self) -> bool:
        return self.python is not None


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    try:
        done = subprocess.run(
            [str(python), "-c", f"import {PACKAGE}, json; print(json.dumps({PACKAGE}.__version__))"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        return str(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("WARNING")]
    return lines[-1][:160] if lines else "no output"


def _newest_version(python: Path) -> str | None:
    """The newest release pip offers for this interpreter (``pip index versions``)."""
    try:
        done = subprocess.run(
            [str(python), "-m", "pip", "index", "versions", PACKAGE, "--timeout", "30", "--retries", "1"],
            capture_output=True,
            text=True,
            timeout=180,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rf"^{PACKAGE}\s*\(([^)]+)\)", done.stdout, re.MULTILINE | re.IGNORECASE)
    return match.group(1).strip() if done.returncode == 0 and match else None


def ensure_nautilus(install: bool) -> NautilusEnv:
    """The reference environment: reuse it, or (``install``) create it; never raises."""
    venv = venv_dir()
    python = _python(venv)
    version = _installed_version(python)
    if version is not None:
        return NautilusEnv(python, version, f"{venv.name} (existing)")
    if not install:
        return NautilusEnv(None, None, f"skipped in --quick: no {venv.name} yet (a full run creates it)")
    if venv.exists():
        shutil.rmtree(venv)  # a half-made env from an interrupted install
    log(f"  creating {venv} for the NautilusTrader reference (pip install {PACKAGE}) ...")
    try:
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return NautilusEnv(None, None, f"python -m venv failed: {exc}")
    if made.returncode != 0:
        return NautilusEnv(None, None, f"python -m venv failed: {_last_line(made.stderr)}")
    wanted = _newest_version(python)
    spec = f"{PACKAGE}=={wanted}" if wanted else PACKAGE
    try:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--timeout", "60", "--retries", "2", spec],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return NautilusEnv(None, None, f"pip install {spec} failed: {exc}")
    if done.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)  # the next full run tries again from scratch
        return NautilusEnv(None, None, f"pip install {spec} failed (no network?): {_last_line(done.stderr)}")
    version = _installed_version(python)
    if version is None:
        return NautilusEnv(None, None, f"{spec} installed but does not import")
    return NautilusEnv(python, version, f"{venv.name} (created, {spec})")
