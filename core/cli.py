"""``session-monitor``: ``replay``, ``serve`` and ``follow`` run headless; ``connect`` and anything else open the GUI.

The headless path never imports Qt, so it starts fast and runs on servers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from core.sources.base import SourceError

__all__ = ["main", "replay_main"]

log = logging.getLogger("session_monitor")

#: a live feed delivers a minute bar a second or two after the minute ends
LIVE_GRACE_SECONDS = 5.0
#: subcommand -> module with ``main(argv) -> int``
DISTRIBUTED = {"serve": "core.bus.serve", "follow": "core.bus.follow", "connect": "gui.connect"}


def build_replay_parser() -> argparse.ArgumentParser:
    from core.runconfig import add_run_arguments

    parser = argparse.ArgumentParser(
        prog="session-monitor replay",
        description="Replay a source headless: derive intervals, measure quality and gaps, export.",
    )
    add_run_arguments(parser, source_required=True)
    parser.add_argument("--export", metavar="OUTDIR", help="write OUTDIR/<SYMBOL>/<interval>.csv and session.json")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


async def _replay(setup, export: str | None, quiet: bool, record: bool) -> None:
    from tqdm import tqdm

    from core.coordinator import SessionCoordinator
    from core.export import SessionExporter
    from core.session_data import SessionData

    session_data = SessionData()
    recorder = None
    if record:
        from core.recording import Recorder, default_recording_path

        path = default_recording_path()
        print(f"recording to {path}", file=sys.stderr)
        recorder = Recorder(path)
    coordinator = SessionCoordinator(
        session_data, setup.source, setup.calendar, setup.sessions, speed=setup.speed, recorder=recorder,
        live=setup.live, grace=LIVE_GRACE_SECONDS if setup.live else 0.0,
    )
    if export:
        exporter = SessionExporter(session_data, export, setup.calendar.name)
        coordinator.session_closed.connect(exporter.on_session_closed)
    for symbol, intervals in setup.watchlist:
        await coordinator.add_symbol(symbol, intervals)
    total = sum(s.close - s.open for s in setup.sessions)
    bar = tqdm(total=total, unit="s", unit_scale=True, desc="replay", file=sys.stderr, disable=quiet or None)

    def on_progress(done: float, _total: float) -> None:
        bar.update(done - bar.n)

    coordinator.progress.connect(on_progress)
    try:
        await coordinator.run()
    finally:
        bar.update(total - bar.n)
        bar.close()
        if recorder is not None:
            recorder.close()
        setup.source.close()


def replay_main(argv: list[str]) -> int:
    from core.runconfig import UsageError, resolve_run

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
    if args.export:
        Path(args.export).mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(_replay(setup, args.export, args.quiet, setup.record))
    except KeyboardInterrupt:
        print("session-monitor replay: interrupted", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "replay":
        return replay_main(argv[1:])
    if argv and argv[0] in DISTRIBUTED:  # the desk commands (Redis): their own modules
        import importlib

        return int(importlib.import_module(DISTRIBUTED[argv[0]]).main(argv[1:]))
    from gui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
