"""``session-monitor replay``: a source replayed headless (derive, measure, export).

The headless path never imports Qt, so it starts fast and runs on servers. The
``session-monitor`` command itself is :mod:`session_monitor.cli`, which dispatches here;
``python -m session_monitor.core.cli replay ...`` runs this module without it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from typing import TYPE_CHECKING

from session_monitor.core.sources.base import SourceError

if TYPE_CHECKING:
    from session_monitor.core.alerts import AlertConfig, AlertLog
    from session_monitor.core.calendar import Session
    from session_monitor.core.coordinator import SessionCoordinator
    from session_monitor.core.export import SessionExporter
    from session_monitor.core.reconcile.reference import ReferenceSeries
    from session_monitor.core.recording import Recorder
    from session_monitor.core.runconfig import RunSetup
    from session_monitor.core.session_data import SessionData

__all__ = ["main", "replay_main"]

log = logging.getLogger("session_monitor")


def build_replay_parser() -> argparse.ArgumentParser:
    from session_monitor.core.runconfig import add_run_arguments

    parser = argparse.ArgumentParser(
        prog="session-monitor replay",
        description="Replay a source headless: derive intervals, measure quality and gaps, export.",
    )
    add_run_arguments(parser, source_required=True)
    parser.add_argument("--export", metavar="OUTDIR", help="write OUTDIR/<SYMBOL>/<interval>.csv and session.json")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--alerts", metavar="FILE",
                        help="write alert events as JSON lines (rules from the --config file's [alerts], or defaults)")
    parser.add_argument("--reference", metavar="REF",
                        help="with --alerts: compare each closed session with a vendor's bars (as `reconcile` reads "
                             "them) and alert on a mismatch")
    return parser


class ExportFailed(Exception):
    """Writing the export failed (a full disk): the run stops, the recording is kept for a re-run."""


def _export_problem(exc: OSError, export: str) -> str:
    return f"export to {exc.filename or export} failed: {exc.strerror or exc}"


async def _replay(
    setup: RunSetup, export: str | None, quiet: bool, record: bool,
    alerts: tuple[str, AlertConfig | None] | None = None, references: list[ReferenceSeries] | None = None,
) -> None:
    from tqdm import tqdm  # type: ignore[import-untyped]

    from session_monitor.core.coordinator import HEADLESS_MAX_CHUNK, SessionCoordinator
    from session_monitor.core.session_data import SessionData

    session_data = SessionData()
    exporter = _exporter(session_data, export, setup.calendar.name)
    recorder = _recorder(setup) if record else None
    coordinator = SessionCoordinator(
        session_data, setup.source, setup.calendar, setup.sessions, speed=setup.speed, recorder=recorder,
        live=setup.live, grace=setup.grace, known_missing=setup.missing,
        hours=setup.hours, symbol_hours=setup.symbol_hours, max_chunk=HEADLESS_MAX_CHUNK,
    )
    alert_log = _attach_alerts(coordinator, session_data, alerts, references) if alerts is not None else None
    failed: list[str] = []
    if exporter is not None and export is not None:
        _export_each_session(coordinator, exporter, export, failed)
    total = sum(s.close - s.open for s in setup.sessions)
    bar = tqdm(total=total, unit="s", unit_scale=True, desc="replay", file=sys.stderr, disable=quiet or None)

    def on_progress(done: float, _total: float) -> None:
        bar.update(done - bar.n)

    coordinator.progress.connect(on_progress)
    completed = False
    try:
        await coordinator.add_symbols(setup.watchlist)
        await coordinator.run()
        completed = not failed and coordinator.session_index >= len(setup.sessions)
    finally:
        bar.update(total - bar.n)
        bar.close()
        if recorder is not None:
            # only a completed run ends its recording cleanly; anything else is resumed next time
            recorder.close(clean=completed)
        if alert_log is not None:
            alert_log.close()
        setup.source.close()
    if failed:
        kept = "; what was recorded is kept: run the same replay again to resume and export" if recorder else ""
        raise ExportFailed(failed[0] + kept)


def _exporter(session_data: SessionData, export: str | None, calendar: str) -> SessionExporter | None:
    """The exporter of ``--export OUTDIR``; an unwritable folder stops the run before it starts."""
    from session_monitor.core.export import SessionExporter

    if not export:
        return None
    try:
        return SessionExporter(session_data, export, calendar)
    except OSError as exc:
        raise ExportFailed(_export_problem(exc, export)) from None


def _recorder(setup: RunSetup) -> Recorder | None:
    """The crash-resume recording; when it cannot start the run goes on and says so."""
    from session_monitor.core.recording_start import start_recording

    started = start_recording(setup.source.key, setup.calendar.scope, setup.record_as)
    print(f"{'warning: ' if started.off else ''}{started.message}", file=sys.stderr)
    return started.recorder


def _attach_alerts(
    coordinator: SessionCoordinator, session_data: SessionData, alerts: tuple[str, AlertConfig | None],
    references: list[ReferenceSeries] | None,
) -> AlertLog:
    """``--alerts FILE``: the alert engine writing to FILE, with ``--reference`` compared at each close."""
    from session_monitor.core.alerts import AlertLog, attach_alerts

    path, rules = alerts
    alert_log = AlertLog(path)
    engine = attach_alerts(coordinator, rules)
    engine.fired.connect(alert_log.write)
    if references:
        from session_monitor.core.reconcile.held import reconcile_closed

        coordinator.session_closed.connect(
            lambda session: engine.on_reconciled(reconcile_closed(session_data, references, session)))
    return alert_log


def _export_each_session(
    coordinator: SessionCoordinator, exporter: SessionExporter, outdir: str, failed: list[str]
) -> None:
    """Export each closed session; the first write that fails stops the run (said in ``failed``)."""

    def export_session(session: Session) -> None:
        if failed:
            return
        try:
            exporter.on_session_closed(session)
        except OSError as exc:
            failed.append(_export_problem(exc, outdir))
            coordinator.stop()

    coordinator.session_closed.connect(export_session)


def replay_main(argv: list[str]) -> int:
    from session_monitor.core.runconfig import UsageError, resolve_run

    parser = build_replay_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        setup = resolve_run(args, default_speed=None)
    except UsageError as exc:
        print(f"session-monitor replay: error: {exc}", file=sys.stderr)
        return 2
    except SourceError as exc:
        print(f"session-monitor replay: error: {exc}", file=sys.stderr)
        return 1
    for warning in setup.warnings:
        log.warning(warning)
    alerts = None
    if args.alerts:
        from session_monitor.core.config import load_config

        alerts = (args.alerts, load_config(args.config).alerts if args.config else None)
    references = None
    if args.reference:
        from session_monitor.core.reconcile.reference import ReferenceError, load_reference

        if not args.alerts:
            print("session-monitor replay: error: --reference needs --alerts FILE", file=sys.stderr)
            return 2
        try:
            references = load_reference(args.reference)
        except ReferenceError as exc:
            print(f"session-monitor replay: error: {exc}", file=sys.stderr)
            return 1
    try:
        asyncio.run(_replay(setup, args.export, args.quiet, setup.record, alerts, references))
    except KeyboardInterrupt:
        print("session-monitor replay: interrupted", file=sys.stderr)
        return 130
    except ExportFailed as exc:
        print(f"session-monitor replay: error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m session_monitor.core.cli replay ...``: the replay subcommand without the app's dispatcher."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["replay"]:
        print("usage: python -m session_monitor.core.cli replay SOURCE [options] (the app itself is 'session-monitor')",
              file=sys.stderr)
        return 2
    return replay_main(argv[1:])


def _out_of_collectors_sight() -> None:
    """Everything alive now leaves the cyclic collector's sight (``gc.freeze``). For a replay run as
    its own process only: what it builds lives until exit, and each full collection (the
    interpreter's last one at exit too) would walk all of it again, ~10 % of a CSV replay's CPU
    (in a process that goes on, such as a test run, cycles frozen there would never be freed)."""
    gc.freeze()


if __name__ == "__main__":
    _out_of_collectors_sight()  # (the modules imported above)
    code = main()
    _out_of_collectors_sight()
    sys.exit(code)
