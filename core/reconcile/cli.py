"""``session-monitor reconcile SOURCE --reference REF``: our derived bars against a vendor's.

Prints one line per differing bar and a summary line; ``--report`` writes the same rows
as CSV or JSON. Exit codes: 0 everything matches, 3 differences found, 2 bad arguments,
1 a source or reference that cannot be read (as ``replay``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval, IntervalError, parse_intervals
from session_monitor.core.reconcile.compare import BarCheck, SeriesReport, Status, reconcile_series
from session_monitor.core.reconcile.reference import ReferenceError, ReferenceSeries, load_reference
from session_monitor.core.reconcile.windows import Convention, describe_convention
from session_monitor.core.sources.base import BarSource, SourceError

__all__ = ["EXIT_DIFFERENCES", "format_check", "main", "report_rows", "summary_line"]

PROG = "session-monitor reconcile"
EXIT_DIFFERENCES = 3
_REPORT_COLUMNS = ("symbol", "interval", "start", "status", "fields", "ours", "reference", "relative_diff", "cause",
                   "base_bars", "expected")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Compare the bars Session Monitor derives from SOURCE with a reference's bars "
        "(a Lean hour/daily zip or folder, or CSV/Parquet timestamp,open,high,low,close,volume).",
    )
    parser.add_argument("source", help="the base data: a Lean minute/second folder or a CSV/Parquet file or folder")
    parser.add_argument("--reference", required=True, metavar="REF", help="reference bars to compare against")
    parser.add_argument("--symbols", help="comma-separated symbols (default: those both hold)")
    parser.add_argument("--intervals", help="intervals to compare (default: every interval the reference holds)")
    parser.add_argument("--start", help="first session date, YYYY-MM-DD")
    parser.add_argument("--end", help="last session date, YYYY-MM-DD")
    parser.add_argument("--calendar", help="exchange calendar (default XNYS, or 24/7 for crypto data)")
    parser.add_argument("--base", help="base interval of a CSV/Parquet source (default: its smallest step)")
    parser.add_argument("--report", metavar="FILE.csv|FILE.json", help="write the differing bars to a file")
    return parser


class _Usage(Exception):
    """Bad arguments (exit 2)."""


def _pick(references: list[ReferenceSeries], source: BarSource, symbols: str | None,
          intervals: str | None) -> list[ReferenceSeries]:
    """The reference series the user asked for; every named symbol/interval must be there."""
    wanted_symbols = _wanted_symbols(references, source, symbols)
    wanted_intervals = _wanted_intervals(references, intervals)
    _check_held(references, wanted_symbols, wanted_intervals)
    chosen = [r for r in references if r.symbol in wanted_symbols and r.interval in wanted_intervals]
    if not chosen:
        raise _Usage("the reference and the source share no symbol: name one with --symbols")
    return chosen


def _wanted_symbols(references: list[ReferenceSeries], source: BarSource, symbols: str | None) -> list[str]:
    """``--symbols``, else every reference symbol the source holds (all of them when it lists none)."""
    if symbols is None:
        known = set(source.symbols())
        return sorted({r.symbol for r in references if not known or r.symbol in known})
    wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if not wanted:
        raise _Usage("--symbols names no symbol")
    return wanted


def _wanted_intervals(references: list[ReferenceSeries], intervals: str | None) -> list[Interval]:
    """``--intervals``, else every interval the reference holds."""
    if not intervals:
        return sorted({r.interval for r in references}, key=Interval.sort_key)
    try:
        return parse_intervals(intervals)
    except IntervalError as exc:
        raise _Usage(str(exc)) from None


def _check_held(references: list[ReferenceSeries], symbols: list[str], intervals: list[Interval]) -> None:
    """Each asked-for (symbol, interval) is in the reference; the first that is not is named."""
    held = {(r.symbol, r.interval) for r in references}
    for symbol in symbols:
        for interval in intervals:
            if (symbol, interval) not in held:
                have = ", ".join(f"{s} {i}" for s, i in sorted(held, key=lambda k: (k[0], k[1].sort_key())))
                raise _Usage(f"the reference holds no {symbol} {interval} bars (it holds: {have or 'nothing'})")


def _run_args(args: argparse.Namespace, chosen: list[ReferenceSeries]) -> argparse.Namespace:
    """The arguments :func:`core.runconfig.resolve_run` validates (one place for those rules)."""
    return argparse.Namespace(
        source=args.source, symbols=",".join(dict.fromkeys(r.symbol for r in chosen)),
        intervals=",".join(dict.fromkeys(r.interval.name for r in chosen)), start=args.start, end=args.end,
        calendar=args.calendar, base=args.base, config=None, speed=None, no_record=True, default_source=None,
    )


def format_check(check: BarCheck) -> str:
    """One line: symbol, interval, start (ISO 8601 UTC), status, the fields with both values, cause."""
    parts = [check.symbol, check.interval.name, check.iso_start, check.status.value]
    parts += [f"{d.field} ours={d.ours!r} ref={d.reference!r} (rel {d.relative:.2e})" for d in check.differences]
    if check.cause is not None:
        detail = f" ({check.base_bars} of {check.expected} base bars)" if check.expected else ""
        parts.append(f"cause={check.cause.value}{detail}")
    return " ".join(parts)


def summary_line(reports: Sequence[SeriesReport]) -> str:
    checks = [c for r in reports for c in r.checks]
    count = {s: sum(1 for c in checks if c.status is s) for s in Status}
    volume_only = sum(1 for c in checks if c.cause is not None and c.cause.value == "volume-only")
    return (
        f"reconcile: {len(checks)} bars in {len(reports)} series: {count[Status.MATCH]} match, "
        f"{count[Status.DIFFERS]} differ ({volume_only} volume only), "
        f"{count[Status.ONLY_REFERENCE]} only in the reference, {count[Status.ONLY_OURS]} only in ours"
    )


def report_rows(reports: Sequence[SeriesReport]) -> list[dict[str, Any]]:
    """The differing bars as flat rows (the CSV report; JSON adds each field's values as a list)."""
    rows = []
    for report in reports:
        for check in report.differing:
            rows.append({
                "symbol": check.symbol,
                "interval": check.interval.name,
                "start": check.iso_start,
                "status": check.status.value,
                "fields": ";".join(d.field for d in check.differences),
                "ours": ";".join(repr(d.ours) for d in check.differences),
                "reference": ";".join(repr(d.reference) for d in check.differences),
                "relative_diff": ";".join(repr(d.relative) for d in check.differences),
                "cause": check.cause.value if check.cause is not None else "",
                "base_bars": check.base_bars,
                "expected": check.expected,
            })
    return rows


def _write_report(path: Path, reports: Sequence[SeriesReport]) -> None:
    if path.suffix.lower() == ".json":
        payload = {
            "summary": summary_line(reports),
            "series": [{"symbol": r.symbol, "interval": r.interval.name, "convention": r.convention.value}
                       for r in reports],
            "differences": [
                {
                    "symbol": c.symbol, "interval": c.interval.name, "start": c.iso_start, "status": c.status.value,
                    "fields": [{"field": d.field, "ours": d.ours, "reference": d.reference,
                                "relative_diff": d.relative} for d in c.differences],
                    "cause": c.cause.value if c.cause is not None else None,
                    "base_bars": c.base_bars, "expected": c.expected,
                }
                for r in reports for c in r.differing
            ],
        }
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        return
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(report_rows(reports))


def _loader(source: BarSource, symbol: str, base: Interval) -> Callable[[Session], BarArrays]:
    """A per-session base-bar loader that prints the source's data problems as warnings."""

    def load(session: Session) -> BarArrays:
        loaded = source.load_session(symbol, base, session)
        for problem in loaded.problems:
            print(f"{PROG}: warning: {problem}", file=sys.stderr)
        return loaded.bars

    return load


def main(argv: list[str]) -> int:
    from session_monitor.core.runconfig import UsageError, resolve_run
    from session_monitor.core.streams import determine_stream

    args = build_parser().parse_args(argv)
    report_path = Path(args.report) if args.report else None
    if report_path is not None and report_path.suffix.lower() not in (".csv", ".json"):
        print(f"{PROG}: error: --report must end in .csv or .json: {args.report}", file=sys.stderr)
        return 2
    try:
        references = load_reference(args.reference)
    except ReferenceError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    try:
        from session_monitor.core.sources.factory import open_source

        source = open_source(args.source, base=args.base)
        chosen = _pick(references, source, args.symbols, args.intervals)
        setup = resolve_run(_run_args(args, chosen), default_speed=None)
    except (_Usage, UsageError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SourceError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    reports: list[SeriesReport] = []
    try:
        for reference in chosen:
            for problem in reference.problems:
                print(f"{PROG}: warning: {problem}", file=sys.stderr)
            base = determine_stream(reference.symbol, [reference.interval],
                                    setup.source.base_intervals(reference.symbol)).required_base_interval
            load = _loader(setup.source, reference.symbol, base)
            report = reconcile_series(reference, setup.sessions, base, load)
            if report.convention is not Convention.SESSION_ANCHORED:
                print(
                    f"{reference.symbol} {reference.interval}: the reference's windows are "
                    f"{describe_convention(report.convention, reference.interval)}; ours are "
                    f"{describe_convention(Convention.SESSION_ANCHORED, reference.interval)}: "
                    "compared against bars derived on the reference's windows"
                )
            for check in report.differing:
                print(format_check(check))
            reports.append(report)
    finally:
        setup.source.close()
    print(summary_line(reports))
    if report_path is not None:
        _write_report(report_path, reports)
    differs = any(r.differing for r in reports)
    return EXIT_DIFFERENCES if differs else 0
