"""``python -m bench --quick`` runs every benchmark and prints every row (never a timing assertion)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import Row
from bench.__main__ import BENCHMARKS, expected_rows, render

ROOT = Path(__file__).resolve().parent.parent


def test_quick_suite_prints_every_row() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"bench --quick failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    out = done.stdout
    assert "machine:" in out and "numpy" in out and "pandas" in out
    rows = expected_rows()
    assert len(rows) >= len(BENCHMARKS)
    table = [line for line in out.splitlines() if line.lstrip()[:1].isdigit()]
    for name in rows:
        assert any(f"  {name}  " in line for line in table), f"row {name!r} missing from:\n{out}"
    assert "ERROR" not in out
    assert f"{len(rows)} rows from {len(BENCHMARKS)} benchmark(s)" in out


def test_only_and_list() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    listed = subprocess.run(
        [sys.executable, "-m", "bench", "--list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0
    assert all(name in listed.stdout for name in BENCHMARKS)
    bad = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nope"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown benchmark nope" in bad.stderr


def test_render_marks_missing_reference_and_direction() -> None:
    text = render([
        Row("a rate", 2.0e6, None, "bars/s", None, "≥ 1.0×", None, "reference unavailable"),
        Row("a time", 1.5, 3.0, "s", 0.5, "≤ 1.0×", True, "", better="lower"),
    ])
    lines = text.splitlines()
    assert "2M" in lines[2] and "—" in lines[2] and "n/a" in lines[2]
    assert "0.50×" in lines[3] and "lower" in lines[3] and "yes" in lines[3]
    assert "reference unavailable" in text
