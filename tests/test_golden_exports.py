"""Golden files: the exported CSVs and ``session.json`` of fixed replays, byte for byte.

They pin every derived bar, quality value and gap the engine produces for real Lean data
(equity minute and second, a half day, crypto 24/7) and the deterministic demo feed at 1s,
so a refactoring of the derivation engine cannot change an output unnoticed. A change
that alters an output on purpose regenerates them in the same commit and says why:

    SESSION_MONITOR_UPDATE_GOLDEN=1 python -m pytest -q tests/test_golden_exports.py

Files above ``_GZIP_ABOVE`` bytes are stored gzipped (``name.gz``, no timestamp in the
header, so regenerating an unchanged output leaves the file unchanged).
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from session_monitor.core.cli import main

GOLDEN = Path(__file__).parent / "data" / "golden"
LEAN = Path(__file__).parent / "data" / "lean"
_GZIP_ABOVE = 64 * 1024
_UPDATE = os.environ.get("SESSION_MONITOR_UPDATE_GOLDEN") == "1"


class Replay(NamedTuple):
    """One headless replay whose export is kept as a golden file set."""

    name: str
    source: str  # a folder under tests/data/lean, or "demo"
    symbols: str
    intervals: str
    start: str
    end: str


REPLAYS = [
    Replay("spy-minute", "equity/usa/minute", "SPY", "1m,5m,15m,1h,1d", "2013-10-04", "2013-10-11"),
    Replay("goog-minute-half-day", "equity/usa/minute", "GOOG", "1m,5m,15m,1h,1d", "2015-12-23", "2015-12-28"),
    Replay("shy-minute", "equity/usa/minute", "SHY", "1m,5m,15m,1h,1d", "2008-03-07", "2008-03-10"),
    Replay("spy-second", "equity/usa/second", "SPY", "1s,1m,5m,15m,1h,1d", "2013-10-07", "2013-10-08"),
    Replay("btcusd-2016-10-07", "crypto/coinbase/minute", "BTCUSD", "1m,5m,15m,1h,1d", "2016-10-07", "2016-10-07"),
    Replay("btcusd-2018-04-04", "crypto/coinbase/minute", "BTCUSD", "1m,5m,15m,1h,1d", "2018-04-04", "2018-04-04"),
    Replay("demo-1s", "demo", "SPY,AAPL,MSFT", "1s,1m,5m,15m,1h,1d", "2024-03-08", "2024-03-08"),
]


def _export(replay: Replay, out: Path) -> None:
    source = "demo" if replay.source == "demo" else str(LEAN / replay.source)
    argv = ["replay", source, "--symbols", replay.symbols, "--intervals", replay.intervals,
            "--start", replay.start, "--end", replay.end, "--speed", "max", "--no-record", "--quiet",
            "--export", str(out)]
    assert main(argv) == 0


def _exported_files(out: Path) -> dict[str, bytes]:
    """Every exported file by its path relative to ``out`` (``/`` separated)."""
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def _golden_files(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(folder).as_posix()
        if name.endswith(".gz"):
            files[name.removesuffix(".gz")] = gzip.decompress(path.read_bytes())
        else:
            files[name] = path.read_bytes()
    return files


def _write_golden(folder: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for name, payload in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if len(payload) > _GZIP_ABOVE:
            Path(f"{target}.gz").write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
        else:
            target.write_bytes(payload)


def _first_difference(want: bytes, got: bytes) -> str:
    """The first differing line, to make a failure readable."""
    for number, (a, b) in enumerate(zip(want.splitlines(), got.splitlines(), strict=False), start=1):
        if a != b:
            return f"line {number}: golden {a[:300]!r} != exported {b[:300]!r}"
    return f"golden has {len(want.splitlines())} lines, the export {len(got.splitlines())}"


@pytest.mark.parametrize("replay", REPLAYS, ids=[r.name for r in REPLAYS])
def test_export_is_byte_identical_to_the_golden_files(tmp_path: Path, replay: Replay) -> None:
    out = tmp_path / "export"
    _export(replay, out)
    got = _exported_files(out)
    folder = GOLDEN / replay.name
    if _UPDATE:
        _write_golden(folder, got)
    want = _golden_files(folder)
    assert want, f"no golden files in {folder}: run with SESSION_MONITOR_UPDATE_GOLDEN=1 once"
    assert sorted(got) == sorted(want)
    for name, payload in want.items():
        assert got[name] == payload, f"{replay.name}/{name}: {_first_difference(payload, got[name])}"
