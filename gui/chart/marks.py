"""What the charts draw on top of candles, and the legend that explains it (one place for both).

Candle fill means up/down as in every charting tool (close ≥ open: the up colour, else the
down colour). Anything else a bar is (forming, incomplete, revised, different from a
reference) is a mark drawn on top, so it never changes what the fill says.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor

from session_monitor.gui import theme

__all__ = [
    "BASE_HIGHLIGHT",
    "DERIVED_HIGHLIGHT",
    "EXTENDED_SHADE",
    "INCOMPLETE",
    "LEGEND",
    "MARK_OFFSET_PX",
    "MISMATCH",
    "MISSING_SLOT",
    "MISSING_SLOT_FILL",
    "REVISED",
    "SEGMENT_LINE",
    "WINDOW_LINE",
    "WINDOW_SHADE",
    "LegendEntry",
    "legend_text",
]

#: a derived bar holding fewer base bars than its window expects: a tick under its low
INCOMPLETE = QColor("#ff9800")
#: a final bar rewritten by a late or corrected base bar: a tick over its high
REVISED = QColor("#b388ff")
#: provenance: the hovered/clicked derived bar's window on the base chart
WINDOW_SHADE = QColor(41, 98, 255, 46)
#: provenance: outline of the base bars inside that window, and of derived bars holding a clicked base bar
BASE_HIGHLIGHT = QColor("#2962ff")
DERIVED_HIGHLIGHT = QColor("#40c4ff")
#: provenance: a base slot of the window with no bar (a cross over the bar's range on a strong stripe)
MISSING_SLOT = QColor("#ff1744")
MISSING_SLOT_FILL = QColor(255, 23, 68, 140)
#: reconciliation: the window of a bar that differs from the reference (full-height band)
MISMATCH = QColor(224, 64, 251, 60)
#: window boundaries (View → Window boundaries): dotted lines at the window edges of coarser intervals
WINDOW_LINE = QColor(149, 152, 161, 200)
#: extended hours: pre- and post-market shaded behind the candles, a line where the regular session opens/closes
EXTENDED_SHADE = QColor(100, 120, 170, 46)
SEGMENT_LINE = QColor(120, 144, 200, 220)
#: device pixels between a bar's high/low and its tick mark
MARK_OFFSET_PX = 4.0


@dataclass(frozen=True, slots=True)
class LegendEntry:
    name: str
    colour: QColor
    looks: str
    meaning: str


LEGEND: tuple[LegendEntry, ...] = (
    LegendEntry("up / down candle", theme.UP, "filled body, green / red",
                "close at or above the open / below it (fill never means anything else)"),
    LegendEntry("forming", theme.FORMING, "dashed yellow outline",
                "the bar's window has not ended: it may still change"),
    LegendEntry("incomplete", INCOMPLETE, "orange tick under the low",
                "a derived bar built from fewer base bars than its window expects"),
    LegendEntry("revised", REVISED, "violet tick over the high",
                "a final bar rewritten by a late or corrected base bar"),
    LegendEntry("gap band", theme.GAP_FILL, "red band, full height",
                "expected bars that are missing (cause in the tooltip and session.json)"),
    LegendEntry("window", WINDOW_SHADE, "blue band on the base chart",
                "the window [start, end) of the derived bar under the pointer"),
    LegendEntry("base bars of a derived bar", BASE_HIGHLIGHT, "blue outline",
                "the base bars that make the derived bar under the pointer, or the clicked base bar"),
    LegendEntry("missing base slot", MISSING_SLOT, "bright red stripe and cross at the slot",
                "a base slot in that window with no bar"),
    LegendEntry("derived bars of a base bar", DERIVED_HIGHLIGHT, "cyan outline",
                "every derived bar whose window holds the clicked base bar, on every chart of the symbol"),
    LegendEntry("window boundary", WINDOW_LINE, "dotted grey line, stronger for coarser intervals",
                "where a coarser derived interval's windows start and end, from the calendar "
                "(View → Window boundaries)"),
    LegendEntry("differs from the reference", MISMATCH, "violet band, full height",
                "the window of a bar that differs from the loaded reference (View → Reconciliation)"),
    LegendEntry("quiet gap band", theme.QUIET_GAP_FILL, "faint grey band, full height",
                "no bar because nothing traded while the feed was up (View → Show quiet gaps)"),
    LegendEntry("session line", theme.BOUNDARY, "dashed grey vertical line", "a session's open and close"),
    LegendEntry("pre- / post-market", EXTENDED_SHADE, "blue-grey band, full height",
                "extended hours (--hours extended): before the regular open, after the regular close"),
    LegendEntry("regular session line", SEGMENT_LINE, "dotted blue vertical line",
                "with extended hours: where the regular session opens and closes"),
    LegendEntry("crosshair", theme.CROSSHAIR, "dotted lines under the pointer",
                "the bar under the pointer; its OHLCV is shown above the chart"),
    LegendEntry("volume", theme.UP, "translucent bars under the candles", "per bar, coloured like its candle"),
    LegendEntry("quality ≥ 99 %", theme.QUALITY_GOOD, "green number (tree)", "bars present / bars expected so far"),
    LegendEntry("quality 95–99 %", theme.QUALITY_WARN, "amber number (tree)", "a few bars missing"),
    LegendEntry("quality < 95 %, feed down", theme.QUALITY_BAD, "red number or symbol (tree)",
                "many bars missing; a symbol in red has its feed down (retrying)"),
    LegendEntry("health banner", theme.QUALITY_WARN, "amber strip above the charts",
                "the shown symbol's feed is stale or down"),
)


def legend_text() -> str:
    """The legend as plain lines (Help → Legend and tooltips show it)."""
    return "\n".join(f"{e.name}: {e.looks} — {e.meaning}" for e in LEGEND)
