"""What a ``--screenshot`` shows: a chart tab, and optionally a derived bar explained.

``--chart base+derived:15m --explain 12:00`` shows the "base + derived" tab with the 15m
bar of 12:00 (exchange time, on the session shown) pinned, so the README's screenshot of
bar provenance is made by the app itself.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple
from zoneinfo import ZoneInfo

from session_monitor.gui.chart.symbol_charts import SymbolCharts

__all__ = ["COMBINED_SPEC", "ScreenshotView", "stage_view"]

#: ``--chart`` value naming the "base + derived" tab (``base+derived:INTERVAL`` picks the interval)
COMBINED_SPEC = "base+derived"


class ScreenshotView(NamedTuple):
    chart: str | None = None
    explain: str | None = None


def stage_view(charts: SymbolCharts, view: ScreenshotView) -> str | None:
    """Show ``view`` in ``charts``; a reason when it cannot be shown (the screenshot is taken anyway)."""
    if view.chart is None:
        return None
    name, _, interval = view.chart.partition(":")
    if name != COMBINED_SPEC:
        if name not in charts.intervals:
            return f"--chart {view.chart}: the selected symbol has no {name} chart"
        charts.select_interval(name)
        return None
    combined = charts.show_combined(interval or None)
    if combined is None:
        return f"--chart {view.chart}: the selected symbol has no derived interval"
    if view.explain is None:
        return None
    try:
        clock = dt.time.fromisoformat(view.explain)
    except ValueError:
        return f"--explain {view.explain!r} is not a time (use HH:MM, exchange time)"
    session = combined.symbol_data.session
    when = dt.datetime.combine(session.date, clock, ZoneInfo(session.tz))
    if combined.explain(when.timestamp()) is None:
        return f"--explain {view.explain}: no {combined.interval} bar there"
    # the explained bar in the middle of the view, 80 minutes wide
    middle = (combined.provenance.start + combined.provenance.end) / 2  # type: ignore[union-attr]
    combined.base_chart.view.setXRange(middle - 2400, middle + 2400, padding=0)
    return None
