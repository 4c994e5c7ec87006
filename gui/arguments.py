"""The desktop app's argument grammar, Qt-free so ``--help`` and refusals work without a display.

``session_monitor.cli`` adds the app-wide options (``--version``, subcommands in the help);
:mod:`gui.app` turns parsed arguments into a start plan.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from session_monitor.core.appinfo import PROG
from session_monitor.core.runconfig import add_run_arguments

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a refusal is one line on stderr (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        from session_monitor.gui.startup_error import can_show_window

        if can_show_window():  # started from a menu there is no terminal: say it in a window too
            from session_monitor.gui.startup_error import show_startup_error

            show_startup_error(self.prog, message)
        raise SystemExit(2)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 24 * 3600:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def build_parser(usage: str | None = None, epilog: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        usage=usage,
        description="Watch a market session live: stream a base interval, derive higher ones, "
        "measure quality and gaps.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser, source_required=False)  # no SOURCE: the last one, else demo
    parser.add_argument("--screenshot", metavar="FILE.png", help="run, save a PNG of the window, exit")
    parser.add_argument(
        "--after",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="with --screenshot: how long to run first (default 5)",
    )
    parser.add_argument("--chart", metavar="TAB",
                        help="with --screenshot: show this chart tab (an interval, or base+derived[:INTERVAL]); "
                        "the PNG then holds the tree and charts only")
    parser.add_argument("--explain", metavar="HH:MM",
                        help="with --chart base+derived: pin the derived bar at this exchange time")
    parser.add_argument("--settings", metavar="FILE.ini", help="keep settings in this file instead of the user's")
    return parser
