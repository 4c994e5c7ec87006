"""Text shown to the user: exchange-time stamps, quality, gap lists, speeds (no Qt)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from zoneinfo import ZoneInfo

from session_monitor.core.gaps import Gap
from session_monitor.core.session_data import SymbolSessionData

__all__ = [
    "GAP_TOOLTIP_LINES",
    "NO_VALUE",
    "SEGMENT_NAMES",
    "exchange_time",
    "finer_base_note",
    "format_gap",
    "format_lag",
    "format_price",
    "format_speed",
    "gap_tooltip",
    "quality_text",
    "zone",
    "zone_label",
]

#: gap lines in a tooltip before "… and N more"
GAP_TOOLTIP_LINES = 30
NO_VALUE = "—"


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    """ZoneInfo objects are cheap but not free; the GUI asks for the same few all day."""
    return ZoneInfo(name)


def zone_label(tz: str) -> str:
    """How the app names an exchange's zone next to its times: ``New York``, ``UTC``."""
    return tz.split("/")[-1].replace("_", " ")


#: how the window names an extended session's segments (``core.calendar.Segment.name``)
SEGMENT_NAMES = {"pre": "pre-market", "regular": "regular", "post": "after-hours"}


def exchange_time(ts: float, tz: str, seconds: bool = False, date: bool = False) -> str:
    """``ts`` (UTC epoch seconds) as wall time at the exchange."""
    stamp = dt.datetime.fromtimestamp(ts, zone(tz))
    # f-strings rather than strftime: strftime imports ``time`` on every call, which goes
    # through PySide's import hook once Qt is loaded (~3x slower; the tree formats a
    # "Last bar" cell per painted row)
    wall = (
        f"{stamp.hour:02d}:{stamp.minute:02d}:{stamp.second:02d}" if seconds else f"{stamp.hour:02d}:{stamp.minute:02d}"
    )
    return f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d} {wall}" if date else wall


def format_price(value: float) -> str:
    """Prices as the charts and the watchlist show them: 1,234.56, or 0.1234 below 1."""
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"


def quality_text(quality: float | None) -> str:
    return NO_VALUE if quality is None else f"{quality:.1f}"


def format_gap(gap: Gap, tz: str) -> str:
    """``12:08–12:09 (1 bar)``: start and (exclusive) end in exchange time, plus the cause
    when it is known to be more than "missing" (``disconnect``, ``ended``)."""
    seconds = gap.start % 60 != 0 or gap.end % 60 != 0
    plural = "" if gap.bars == 1 else "s"
    start = exchange_time(gap.start, tz, seconds)
    end = exchange_time(gap.end, tz, seconds)
    cause = "" if gap.cause == "missing" else f", {gap.cause}"
    return f"{start}–{end} ({gap.bars} bar{plural}{cause})"


def gap_tooltip(gaps: Sequence[Gap], tz: str, limit: int = GAP_TOOLTIP_LINES) -> str:
    """One line per missing range, capped so a ragged session cannot make a screen-high tooltip."""
    if not gaps:
        return "no gaps"
    missing = sum(g.bars for g in gaps)
    lines = [f"{len(gaps)} gap{'s' if len(gaps) != 1 else ''}, {missing} missing bar{'s' if missing != 1 else ''}"]
    lines.extend(format_gap(g, tz) for g in gaps[:limit])
    if len(gaps) > limit:
        lines.append(f"… and {len(gaps) - limit} more")
    return "\n".join(lines)


def format_speed(speed: float | None) -> str:
    if speed is None:
        return "max"
    return f"{speed:g}×"


def format_lag(lag: float | None) -> str:
    if lag is None:
        return NO_VALUE
    if abs(lag) < 120:
        return f"{lag:.0f} s"
    return f"{lag / 60:.1f} min"


def finer_base_note(data: SymbolSessionData) -> str | None:
    """Why a symbol streams a finer base than anything asked for because of an interval
    that does not fit (``1m,90s`` streams 1s), in plain words with the cost; None otherwise."""
    requested = [i for i in data.requested if not i.is_daily]
    base = data.base_interval
    if not requested or base in requested or not base.seconds:
        return None
    smallest = min(requested, key=lambda i: i.seconds)
    odd = [i.name for i in requested if i.seconds % smallest.seconds]
    if not odd:
        return None  # the source has nothing coarser to stream: the usual case, not a switch
    factor = smallest.seconds // base.seconds
    return (
        f"streams {base.name} bars ({factor}× the bars of {smallest.name}) because {', '.join(odd)} is not a "
        f"whole number of {smallest.name} bars; {smallest.name} is derived from {base.name}; "
        f"drop {', '.join(odd)} to stream {smallest.name} instead"
    )
