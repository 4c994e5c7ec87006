"""``python -m bench [--quick] [--only NAME[,NAME]] [--list]``: run the suite, print one table.

Each row: Session Monitor's figure, the reference's figure measured in the same run, the
ratio ours/reference (the row says whether higher or lower is better) and whether the
target is met. Medians of interleaved repeated runs. ``--quick`` shrinks every size so
the whole suite runs in well under a minute (CI runs it; it asserts rows, never timings).
Exit code 1 when a benchmark failed to run (a missed target is not a failure).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from dataclasses import dataclass

from bench import Row, log, machine_summary

# -- the registry ------------------------------------------------------------------------------
# A benchmark is a module with ``ROWS`` (the names of the rows it prints, in order) and
# ``run(quick: bool) -> list[Row]``. Modules are imported only when they run, so a
# benchmark with extra needs (Qt for the GUI ones) costs the others nothing.


@dataclass(frozen=True)
class Benchmark:
    module: str
    title: str


BENCHMARKS: dict[str, Benchmark] = {
    "batch": Benchmark("bench.batch", "1. batch derivation (history, fast replay) vs pandas resample"),
    "live": Benchmark("bench.live", "2. live derivation through the engine vs NautilusTrader TimeBarAggregator"),
    "replay": Benchmark("bench.replay", "3. replay end to end, recording on/off"),
    "chart-paint": Benchmark("bench.chart_paint", "4. chart append+repaint vs pyqtgraph's QPicture candlestick item"),
    "tree-refresh": Benchmark("bench.tree_refresh", "5. tree model refresh vs QStandardItemModel"),
    "gui-responsiveness": Benchmark("bench.gui_responsiveness", "8. GUI event-loop lag streaming vs an idle window"),
    "gui-500": Benchmark("bench.gui_many_symbols", "8b. GUI 500 symbols: start-up, lag, stalls, GC vs no gc.freeze"),
    "memory": Benchmark("bench.memory", "6. memory per stored bar vs deque of dataclasses"),
    "pandas-script": Benchmark("bench.pandas_script", "7. CSV replay + export vs the pandas script"),
    "csv-folder": Benchmark("bench.csv_folder", "9. a folder of many CSV files: time to the first session"),
    "desk": Benchmark("bench.desk", "10. desk mode: publishing to Redis on/off, replica catch-up"),
    "scale": Benchmark("bench.scale", "11. storage at scale: whole-process peak of a 1s demo replay of many symbols"),
    "scale-pandas": Benchmark("bench.scale_pandas", "11d. 500-symbol 1s demo replay vs the pandas script"),
}


def expected_rows(names: list[str] | None = None) -> list[str]:
    """Every row name the given benchmarks print (all of them by default)."""
    rows: list[str] = []
    for name in names or list(BENCHMARKS):
        rows.extend(importlib.import_module(BENCHMARKS[name].module).ROWS)
    return rows


# -- the table -----------------------------------------------------------------------------------
def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit.endswith("/s"):
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= scale:
                return f"{value / scale:.3g}{suffix}"
        return f"{value:.3g}"
    if unit == "s":
        return f"{value:.3g}"
    return f"{value:.1f}"


def _met(row: Row) -> str:
    return "n/a" if row.met is None else ("yes" if row.met else "NO")


def render(rows: list[Row]) -> str:
    header = ("#", "benchmark", "Session Monitor", "reference", "unit", "ratio", "better", "target", "met")
    lines = [
        (
            str(i),
            r.name,
            _fmt(r.ours, r.unit),
            _fmt(r.reference, r.unit),
            r.unit,
            "—" if r.ratio is None else f"{r.ratio:.2f}×",
            f"{r.better}",
            r.target,
            _met(r),
        )
        for i, r in enumerate(rows, start=1)
    ]
    widths = [max(len(h), *(len(line[k]) for line in lines)) if lines else len(h) for k, h in enumerate(header)]
    right = {0, 2, 3, 5}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(cells, widths,
                                                                                            strict=True))).rstrip()

    out = [fmt(header), "  ".join("-" * w for w in widths)]
    out.extend(fmt(line) for line in lines)
    out.append("")
    out.append("ratio = Session Monitor / reference in the row's unit; 'better' says which way is good.")
    out.append("notes:")
    out.extend(f"  {i}. {r.note}" for i, r in enumerate(rows, start=1) if r.note)
    return "\n".join(out)


def _error_rows(name: str, exc: BaseException) -> list[Row]:
    reason = f"ERROR {type(exc).__name__}: {exc}".replace("\n", " ")[:300]
    try:
        names = list(importlib.import_module(BENCHMARKS[name].module).ROWS)
    except Exception:
        names = [name]
    return [Row(n, None, None, "", None, "—", False, reason) for n in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds per benchmark (CI)")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only NAME (repeatable, or a,b)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, bench in BENCHMARKS.items():
            print(f"{name:20} {bench.title}")
        return 0
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            parser.error(f"unknown benchmark {', '.join(unknown)} (choose from {', '.join(BENCHMARKS)})")

    print("Session Monitor benchmarks" + (" (--quick)" if args.quick else ""))
    print(machine_summary())
    print(flush=True)
    rows: list[Row] = []
    failed = False
    suite_start = time.perf_counter()
    for name in names:
        bench = BENCHMARKS[name]
        log(f"[{name}] {bench.title} ...")
        start = time.perf_counter()
        try:
            module = importlib.import_module(bench.module)
            got = module.run(args.quick)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            got = _error_rows(name, exc)
            failed = True
        log(f"[{name}] done in {time.perf_counter() - start:.1f} s")
        rows.extend(got)
    print(render(rows))
    print(f"\n{len(rows)} rows from {len(names)} benchmark(s) in {time.perf_counter() - suite_start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
