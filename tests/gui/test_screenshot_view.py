"""The README's provenance screenshot is made by the app: ``--chart base+derived:15m --explain 12:00``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QColor, QImage

from session_monitor.gui.chart import marks
from session_monitor.gui.chart.symbol_charts import SymbolCharts
from session_monitor.gui.screenshot_view import ScreenshotView, stage_view
from tests.gui.gui_helpers import LEAN_MINUTE, Streamer, fake_bars
from tests.gui.test_app import run_offscreen


def _count(image: QImage, colour: QColor) -> int:
    rgb = colour.rgb()
    return sum(1 for y in range(image.height()) for x in range(image.width()) if image.pixel(x, y) == rgb)


def test_screenshot_of_the_base_plus_derived_view_with_a_bar_explained(tmp_path: Path) -> None:
    shot = tmp_path / "provenance.png"
    proc = run_offscreen(
        ["-m", "session_monitor", str(LEAN_MINUTE), "--symbols", "GOOG", "--intervals", "1m,15m,1h", "--start",
         "2015-12-28", "--end", "2015-12-28", "--speed", "max", "--no-record", "--settings", str(tmp_path / "s.ini"),
         "--screenshot", str(shot), "--after", "4", "--chart", "base+derived:15m", "--explain", "12:00"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    image = QImage(str(shot))
    assert not image.isNull()
    assert _count(image, marks.MISSING_SLOT) > 0  # the cross over 12:08, the window's missing minute


def test_stage_view_refuses_what_it_cannot_show(
    qtbot: Any, session_data: Any, streamer: Streamer, session: Any
) -> None:
    from session_monitor.gui.bridge import SessionBridge

    charts = SymbolCharts(session_data, SessionBridge(session_data))
    qtbot.addWidget(charts)
    streamer.add("SPY", ("5m",))
    streamer.stream("SPY", fake_bars("SPY", session, count=30))
    charts.show_symbol("SPY")
    assert stage_view(charts, ScreenshotView("7m")) == "--chart 7m: the selected symbol has no 7m chart"
    assert stage_view(charts, ScreenshotView("base+derived", "noon")) == (
        "--explain 'noon' is not a time (use HH:MM, exchange time)")
    assert stage_view(charts, ScreenshotView("base+derived", "15:00")) == "--explain 15:00: no 5m bar there"
    assert stage_view(charts, ScreenshotView("base+derived:5m", "09:41")) is None
    assert charts.combined is not None and charts.combined.selection is not None
    assert charts.combined.provenance is not None and charts.combined.provenance.end - session.open == 900  # 09:45
