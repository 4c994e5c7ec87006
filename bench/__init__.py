"""Session Monitor's benchmark suite: ``python -m bench [--quick] [--only NAME]``.

Every benchmark measures Session Monitor and a reference side by side in the same run
(interleaved, so a noisy neighbour hurts both alike) and quotes medians. A benchmark is a
module with ``ROWS`` (the row names it prints) and ``run(quick: bool) -> list[Row]``;
``bench/__main__.py`` holds the registry.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BENCH_DIR",
    "REPO_ROOT",
    "Row",
    "interleave",
    "log",
    "machine_summary",
    "median",
    "ratio",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    ``ratio`` is reference-normalised: ``ours / reference`` of the figure in ``unit``.
    ``better`` says which way is good for that ratio ("higher" for rates, "lower" for
    times and bytes). ``met`` is None when the target could not be judged (no reference).
    """

    name: str
    ours: float | None
    reference: float | None
    unit: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""
    better: str = "higher"


def log(message: str) -> None:
    """Progress for the person waiting (stderr, so the table on stdout stays clean)."""
    print(message, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def ratio(ours: float | None, reference: float | None) -> float | None:
    if ours is None or reference is None or reference == 0:
        return None
    return ours / reference


def interleave(
    jobs: dict[str, Callable[[], object]],
    rounds: int,
    warmup: int = 1,
    prepare: Callable[[], object] | None = None,
) -> dict[str, list[float]]:
    """Run every job once per round, side by side, and return each job's wall times (s).

    The order alternates between rounds (A B, B A, ...) so drift on a noisy machine
    falls on both sides alike. ``warmup`` untimed rounds come first; ``prepare`` runs
    untimed at the start of every round.
    """
    names = list(jobs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + rounds):
        if prepare is not None:
            prepare()
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            jobs[name]()
            elapsed = time.perf_counter() - start
            if r >= warmup:
                times[name].append(elapsed)
    return times


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary() -> str:
    import numpy
    import pandas

    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    py = sys.version.split()[0]
    return (
        f"machine: {_cpu_model()}, {cores} cores ({usable} usable), {platform.system()} {platform.release()}\n"
        f"python {py} ({platform.python_implementation()}), numpy {numpy.__version__}, pandas {pandas.__version__}"
    )
