"""``session-monitor [SOURCE] [options]`` opens the desktop app; ``session-monitor COMMAND ...`` runs a subcommand.

This module is the only one that knows both sides. It imports neither Qt nor a
subcommand until it knows which one runs: ``replay`` on a server never loads Qt, and
``--help``/``--version`` work on a machine without a display. A subcommand is one line
in :data:`COMMANDS`: its name, ``"module:function"`` (``function(argv) -> int``, given
the arguments after the name) and a one-line summary for ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

from session_monitor.core.appinfo import PROG, app_version
from session_monitor.gui.arguments import build_parser as build_gui_parser  # Qt-free: the grammar only

__all__ = ["COMMANDS", "SOURCES", "Command", "build_parser", "main"]


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand, imported only when it runs."""

    #: ``"package.module:function"``; the function takes the arguments after the name, returns the exit code
    target: str
    summary: str

    def load(self) -> Callable[[list[str]], int]:
        module, _, function = self.target.partition(":")
        entry: Callable[[list[str]], int] = getattr(importlib.import_module(module), function)
        return entry


#: every subcommand, in the order ``--help`` lists them
COMMANDS: dict[str, Command] = {
    "replay": Command("session_monitor.core.cli:replay_main",
                      "replay a source headless: derive intervals, measure quality and gaps, export"),
    "reconcile": Command("session_monitor.core.reconcile.cli:main",
                         "compare the bars derived from SOURCE with a vendor's reference bars"),
    "serve": Command("session_monitor.core.bus.serve:main",
                     "run a headless engine for a shard of the symbols and publish it through Redis"),
    "follow": Command("session_monitor.core.bus.follow:main",
                      "follow the engines through Redis and export what they publish (as replay --export)"),
    "connect": Command("session_monitor.gui.connect:main",
                       "open the window on a replica of the engines' session, fed from Redis"),
}

#: what SOURCE can be (shown by ``--help``)
SOURCES: tuple[tuple[str, str], ...] = (
    ("demo", "a simulated market, any symbol name (the default)"),
    ("alpaca", "live Alpaca minute bars, free IEX feed (pip install 'session-monitor[alpaca]')"),
    ("alpaca:sip", "live Alpaca minute bars, paid SIP feed"),
    ("PATH", "a Lean resolution folder (…/equity/usa/minute), or a CSV/Parquet file or folder"),
)

USAGE = f"{PROG} [SOURCE] [options]\n       {PROG} COMMAND [options]   ({PROG} COMMAND --help for its options)"


def _overview() -> str:
    width = max(len(name) for name in [*COMMANDS, *(name for name, _ in SOURCES)]) + 2
    lines = ["commands:"]
    lines += [f"  {name:<{width}}{command.summary}" for name, command in COMMANDS.items()]
    lines += ["", "sources (SOURCE):"]
    lines += [f"  {name:<{width}}{text}" for name, text in SOURCES]
    lines += ["", f"{PROG} --install-desktop-entry adds Session Monitor to the desktop's application menu."]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The desktop app's grammar plus the options of the command as a whole."""
    parser = build_gui_parser(usage=USAGE, epilog=_overview())
    parser.add_argument("--version", action="version", version=f"{PROG} {app_version()}")
    parser.add_argument(
        "--install-desktop-entry",
        action="store_true",
        help="add Session Monitor (a .desktop entry and its icon) to this user's application menu, then exit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]].load()(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a refusal already printed as one line
        return int(exc.code or 0)
    if args.install_desktop_entry:
        from session_monitor.desktop_entry import install_desktop_entry

        return install_desktop_entry()
    from session_monitor.gui.platform_check import prepare_platform

    problem = prepare_platform(screenshot=bool(args.screenshot), prog=PROG)
    if problem is not None:  # before gui.app: importing Qt's widgets needs some of those libraries too
        print(problem, file=sys.stderr)
        return 1
    from session_monitor.gui.app import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
