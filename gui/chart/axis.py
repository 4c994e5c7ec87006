"""A date axis that labels epoch seconds in the exchange's time zone, not the viewer's."""

from __future__ import annotations

import datetime as dt
import time

import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics

from gui.formatting import zone

__all__ = ["ExchangeTimeAxis"]


class ExchangeTimeAxis(pg.DateAxisItem):
    """pyqtgraph's DateAxisItem places ticks; this labels them with exchange wall time."""

    def __init__(self, tz: str, orientation: str = "bottom") -> None:
        super().__init__(orientation=orientation)
        # DateAxisItem sets this in its first paint; the chart grid asks for ticks earlier
        self.fontMetrics = QFontMetrics(self.font())
        self.tz = tz
        self.set_time_zone(tz)

    def set_time_zone(self, tz: str, at: float | None = None) -> None:
        """Use ``tz``; its UTC offset at ``at`` aligns day and hour ticks (DST aware labels)."""
        self.tz = tz
        moment = dt.datetime.fromtimestamp(time.time() if at is None else at, zone(tz))
        offset = moment.utcoffset() or dt.timedelta(0)
        self.utcOffset = -int(offset.total_seconds())  # pyqtgraph: seconds *west* of UTC
        self.picture = None
        self.update()

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        spec = next((s for s in self.zoomLevel.tickSpecs if s.spacing == spacing), None)
        if spec is None:
            return super().tickStrings(values, scale, spacing)
        tz = zone(self.tz)
        out = []
        for value in values:
            try:
                text = dt.datetime.fromtimestamp(value, tz).strftime(spec.format)
            except (OverflowError, ValueError, OSError):
                text = ""
            if "%f" in spec.format:
                text = text[:-3]
            out.append(text)
        return out
