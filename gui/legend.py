"""What every mark, colour and band in the charts and the tree means: one list, shown by Help → Legend.

A feature that draws something new appends its entry here (``LEGEND.append(...)`` or a
line in the list below), so the legend cannot fall behind the charts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtGui import QColor

from gui import theme

__all__ = ["LEGEND", "LegendEntry", "Swatch"]


class Swatch(enum.Enum):
    """How the legend draws an entry's sample."""

    CANDLE = "candle"  # a filled candle body with wicks
    HOLLOW = "hollow"  # an outlined candle body
    DASHED = "dashed"  # a dashed outline over a translucent fill
    BAND = "band"  # a shaded vertical band
    LINE = "line"  # a dashed vertical line
    TEXT = "text"  # coloured text (the tree)


@dataclass(frozen=True, slots=True)
class LegendEntry:
    swatch: Swatch
    colour: QColor
    label: str
    meaning: str


LEGEND: list[LegendEntry] = [
    LegendEntry(Swatch.CANDLE, theme.UP, "Up bar", "close at or above open"),
    LegendEntry(Swatch.CANDLE, theme.DOWN, "Down bar", "close below open"),
    LegendEntry(Swatch.DASHED, theme.FORMING, "Forming bar", "its window is not over yet: it still changes"),
    LegendEntry(Swatch.HOLLOW, theme.UP, "Hollow bar", "a derived bar built from fewer base bars than its window "
                "expects (incomplete); colour as up/down"),
    LegendEntry(Swatch.BAND, theme.GAP_FILL, "Gap band", "expected bars that never arrived: missing, or the feed "
                "was down (candles and volume); the tree's Gaps column lists them with their cause"),
    LegendEntry(Swatch.BAND, theme.QUIET_GAP_FILL, "Quiet gap band", "no bar because nothing traded (the feed was "
                "up); shown with View → Show quiet gaps"),
    LegendEntry(Swatch.LINE, theme.BOUNDARY, "Session line", "a session's open and close"),
    LegendEntry(Swatch.LINE, theme.CROSSHAIR, "Crosshair",
                "the bar under the mouse; its OHLCV is shown above the chart"),
    LegendEntry(Swatch.CANDLE, QColor(theme.UP.red(), theme.UP.green(), theme.UP.blue(), theme.VOLUME_ALPHA),
                "Volume", "per bar, coloured like its candle"),
    LegendEntry(Swatch.TEXT, theme.QUALITY_GOOD, "Quality ≥ 99 %", "bars present / bars expected so far (tree)"),
    LegendEntry(Swatch.TEXT, theme.QUALITY_WARN, "Quality 95–99 %", "a few bars missing"),
    LegendEntry(Swatch.TEXT, theme.QUALITY_BAD, "Quality < 95 %, or feed down",
                "many bars missing; a symbol in red has its feed down (retrying)"),
    LegendEntry(Swatch.BAND, theme.QUALITY_WARN, "Health banner", "above the charts: the shown symbol's feed is "
                "stale or down"),
]
