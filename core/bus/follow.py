"""``session-monitor follow redis://… --export OUTDIR``: a headless replica that exports like ``replay``.

It writes the same ``OUTDIR/<SYMBOL>/<interval>.csv`` and ``session.json`` as
``replay --export`` (the same :class:`~core.export.SessionExporter`), each session once
every shard has published its end, and exits 0 when every shard published the end of
its last session. Started before the engines it waits for them; started late it catches
up from the snapshots.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from session_monitor.core.bus.layout import DEPLOYMENT_KEY
from session_monitor.core.bus.replica import Replica, SchemaError, ShardStatus
from session_monitor.core.bus.shardlog import connect as connect_redis
from session_monitor.core.export import SessionExporter

__all__ = ["build_parser", "follow", "main"]

PROG = "session-monitor follow"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Follow the engines through Redis and export the session."
    )
    parser.add_argument("url", metavar="redis://HOST:PORT/DB")
    parser.add_argument(
        "--export", metavar="OUTDIR", required=True, help="write OUTDIR/<SYMBOL>/<interval>.csv and session.json"
    )
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up (exit 1) if the engines have not finished by then")
    return parser


async def follow(url: str, outdir: Path) -> Replica:
    """Replicate until every shard finished, exporting each session once all shards ended it."""
    client = connect_redis(url)
    replica = Replica(client)
    try:
        await replica.discover()
        calendar = await client.hget(DEPLOYMENT_KEY, "calendar")
        calendar_name = calendar.decode() if isinstance(calendar, bytes) else "XNYS"
        exporter = SessionExporter(replica.session_data, outdir, calendar_name)
        exported: set[str] = set()
        finished = asyncio.Event()

        def on_session_end(_status: ShardStatus, date: str, _last: bool) -> None:
            session = replica.session_data.session
            if date not in exported and replica.all_ended(date) and session is not None \
                    and session.date.isoformat() == date:
                exported.add(date)
                exporter.on_session_closed(session)
            if replica.all_finished():
                finished.set()

        replica.on_session_end = on_session_end
        runner = asyncio.create_task(replica.run())
        waiter = asyncio.create_task(finished.wait())
        await asyncio.wait([runner, waiter], return_when=asyncio.FIRST_COMPLETED)
        replica.stop()
        waiter.cancel()
        await runner
    finally:
        await client.aclose()
    return replica


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    outdir = Path(args.export)
    outdir.mkdir(parents=True, exist_ok=True)

    async def bounded() -> Replica:
        return await asyncio.wait_for(follow(args.url, outdir), timeout=args.timeout)

    try:
        asyncio.run(bounded())
    except TimeoutError:
        print(f"{PROG}: error: the engines did not finish within {args.timeout:g} s", file=sys.stderr)
        return 1
    except SchemaError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0
