"""``pip install .`` (not editable) into a fresh venv gives a working ``session-monitor``.

The fresh venv borrows this environment's dependencies through a ``.pth`` line (a path
only: the editable install's hooks there are not run), so the check installs nothing
but the project itself, from a copy of the checkout, and runs it from outside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from importlib.metadata import version as metadata_version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEAN_MINUTE = ROOT / "tests" / "data" / "lean" / "equity" / "usa" / "minute"
#: what the build reads (bench too: pyproject must leave it out of the install)
BUILD_INPUTS = ("pyproject.toml", "README.md", "session_monitor", "core", "gui", "resources", "bench")
#: never copied: caches and virtualenvs a checkout may hold
SCRATCH = shutil.ignore_patterns("__pycache__", "*venv*", ".*", "*.egg-info")


def test_a_non_editable_install_runs_version_and_a_short_replay(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=SCRATCH)
        else:
            shutil.copy2(ROOT / name, source / name)
    fresh = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(SESSION_MONITOR_DATA_DIR=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"))

    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              str(source)], capture_output=True, text=True, timeout=300, env=env)

    assert install.returncode == 0, install.stderr[-2000:]
    assert (site / "session_monitor" / "cli.py").exists()
    assert (site / "session_monitor" / "resources" / "icons" / "app.svg").exists()
    assert not (site / "bench").exists()  # benchmarks run from a checkout, they are not installed
    command = fresh / "bin" / "session-monitor"
    version = subprocess.run([str(command), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"session-monitor {metadata_version('session-monitor')}"
    out = tmp_path / "out"
    replay = subprocess.run(
        [str(command), "replay", str(LEAN_MINUTE), "--symbols", "SPY", "--intervals", "1m,1h", "--start", "2013-10-07",
         "--end", "2013-10-07", "--speed", "max", "--quiet", "--export", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert replay.returncode == 0, replay.stderr
    assert len((out / "SPY" / "1h.csv").read_text().splitlines()) == 1 + 7
    where = subprocess.run([str(python), "-c", "import session_monitor.core as core; print(core.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(site))  # the installed copy ran, not the checkout
    # one import name: nothing of the project lands in site-packages under a name another package could own
    assert not any((site / name).exists() for name in ("core", "gui", "resources", "bench"))
