"""Chart axes as trading tools draw them.

* :class:`ExchangeTimeAxis` labels chart x (folded or linear, gui/chart/timeline.py) with
  session dates and exchange wall times that never collide.
* :class:`PriceAxis` scales the price range when dragged or wheeled (double-click: back
  to auto), and carries value tags: the last price in its candle colour, the crosshair's.
* :class:`VolumeAxis` writes volumes as 950, 12.5K, 1.2M.

Every axis hides a label that would stick out of it, so the price axis' lowest label and
the volume axis' highest never overlap, and draws its tags over its tick labels.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter

from session_monitor.core.calendar import Session
from session_monitor.gui import theme
from session_monitor.gui.chart.timeline import TickLevel, Timeline, time_ticks
from session_monitor.gui.formatting import format_price, zone

__all__ = ["AxisTag", "ExchangeTimeAxis", "PriceAxis", "VolumeAxis", "format_price", "format_volume"]


def format_volume(value: float) -> str:
    """950, 12.5K, 1.2M, 3.4B: a volume axis never shows ``1e+06``."""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{value:.0f}"


@dataclass(frozen=True, slots=True)
class AxisTag:
    """A value box on an axis (at chart coordinate ``value``)."""

    value: float
    text: str
    background: QColor
    foreground: QColor = field(default_factory=lambda: QColor(theme.BACKGROUND))


class _TaggedAxis(pg.AxisItem):
    """An AxisItem that draws value tags over its ticks and hides labels that stick out."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation=orientation)
        self.setStyle(hideOverlappingLabels=True)
        # AxisItem sets this in its first paint; the chart grid asks for ticks earlier
        self.fontMetrics = QFontMetrics(self.font())
        self._tags: dict[str, AxisTag] = {}
        self.setPen(pg.mkPen(theme.AXIS))
        self.setTextPen(pg.mkPen(theme.AXIS))

    @property
    def tags(self) -> dict[str, AxisTag]:
        """Tags shown, by name (``last``, ``cursor``); a copy."""
        return dict(self._tags)

    def set_tag(self, name: str, tag: AxisTag | None) -> None:
        if self._tags.get(name) == tag:
            return
        if tag is None:
            self._tags.pop(name, None)
        else:
            self._tags[name] = tag
        self.update()  # replays the cached tick picture, then the tags

    def tag_text(self, value: float) -> str:
        raise NotImplementedError

    def paint(self, p: QPainter, opt: Any, widget: Any) -> None:
        super().paint(p, opt, widget)
        view = self.linkedView()
        if not self._tags or view is None:
            return
        bounds = self.mapRectFromParent(self.geometry())
        metrics = QFontMetrics(self.font())
        height = metrics.height() + 2
        for tag in sorted(self._tags.values(), key=lambda t: t.text):
            if self.orientation in ("left", "right"):
                y = self.mapFromView(view, QPointF(0, tag.value)).y()
                if not bounds.top() <= y <= bounds.bottom():
                    continue
                top = min(max(y - height / 2, bounds.top()), bounds.bottom() - height)
                rect = QRectF(bounds.left(), top, bounds.width(), height)
            else:
                x = self.mapFromView(view, QPointF(tag.value, 0)).x()
                if not bounds.left() <= x <= bounds.right():
                    continue
                width = metrics.horizontalAdvance(tag.text) + 10
                left = min(max(x - width / 2, bounds.left()), bounds.right() - width)
                rect = QRectF(left, bounds.top() + 1, width, height)
            p.fillRect(rect, tag.background)
            p.setPen(tag.foreground)
            p.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), tag.text)

    def mapFromView(self, view: pg.ViewBox, point: QPointF) -> QPointF:
        return self.mapFromScene(view.mapViewToScene(point))


class ExchangeTimeAxis(_TaggedAxis):
    """Bottom axis over chart x: dates at session opens, exchange wall times between."""

    def __init__(self, tz: str, orientation: str = "bottom") -> None:
        super().__init__(orientation)
        self.tz = tz
        self.timeline = Timeline.linear()
        self.sessions: Sequence[Session] = ()
        self._labels: dict[float, str] = {}

    def set_time_zone(self, tz: str, at: float | None = None) -> None:
        """Label in ``tz`` (the offset is looked up per label, so DST needs no anchor)."""
        self.tz = tz
        self.picture = None
        self.update()

    def set_timeline(self, timeline: Timeline, sessions: Sequence[Session]) -> None:
        self.timeline = timeline
        self.sessions = list(sessions)
        self.picture = None
        self.update()

    def levels(self, x0: float, x1: float, size: float) -> list[TickLevel]:
        metrics = self.fontMetrics
        return time_ticks(
            self.timeline,
            self.sessions,
            x0,
            x1,
            size,
            date_px=metrics.horizontalAdvance("Wed 30 Sep") + 16,
            time_px=metrics.horizontalAdvance("00:00:00") + 16,
        )

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        levels = self.levels(minVal, maxVal, size)
        self._labels = {v: label for level in levels for v, label in zip(level.values, level.labels, strict=True)}
        return [(level.spacing, level.values) for level in levels]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [self._labels.get(v, "") for v in values]

    def tag_text(self, value: float) -> str:
        when = dt.datetime.fromtimestamp(self.timeline.time_of(value), zone(self.tz))
        return f"{when:%a %d %b %H:%M:%S}" if when.second else f"{when:%a %d %b %H:%M}"


class PriceAxis(_TaggedAxis):
    """Right price axis: drag up/down or wheel to scale prices, double-click for auto."""

    #: a wheel notch scales the range by this factor
    WHEEL_FACTOR = 1.1

    def __init__(self, orientation: str = "right") -> None:
        super().__init__(orientation)
        #: chart y → price (identity unless the chart is on a log scale)
        self.to_price: Callable[[float], float] = float
        self.log = False

    def set_log(self, log: bool) -> None:
        self.log = log
        self.to_price = (lambda y: 10.0**y) if log else float
        self.picture = None
        self.update()

    def tag_text(self, value: float) -> str:
        return format_price(self.to_price(value))

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [format_price(self.to_price(v)) for v in values]

    def tickValues(self, minVal: float, maxVal: float, size: float) -> Any:
        if not self.log:
            return super().tickValues(minVal, maxVal, size)
        return _log_ticks(minVal, maxVal, size, self.fontMetrics.height() * 2.5)

    def scale_by(self, factor: float) -> None:
        """Stretch (>1: zoom out) the visible price range around its centre; auto-range off."""
        view = self.linkedView()
        if view is None:
            return
        _, (y0, y1) = view.viewRange()
        centre, half = (y0 + y1) / 2, (y1 - y0) / 2 * factor
        view.enableAutoRange(axis=pg.ViewBox.YAxis, enable=False)
        view.setYRange(centre - half, centre + half, padding=0)

    def wheelEvent(self, event: Any) -> None:
        steps = event.delta() / 120.0
        self.scale_by(self.WHEEL_FACTOR ** (-steps))
        event.accept()

    def mouseDragEvent(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        event.accept()
        dy = event.pos().y() - event.lastPos().y()
        self.scale_by(math.exp(dy / 150.0))  # drag down: more price range, as TradingView

    def mouseClickEvent(self, event: Any) -> None:
        view = self.linkedView()
        if event.double() and view is not None:
            view.enableAutoRange(axis=pg.ViewBox.YAxis, enable=True)
            event.accept()
            return
        super().mouseClickEvent(event)


def _log_ticks(y0: float, y1: float, size: float, min_px: float) -> list[tuple[float, list[float]]]:
    """Ticks on a log10 price axis at round prices (1, 2, 5 × 10^k), spaced ``min_px`` apart."""
    if size <= 0 or y1 <= y0:
        return []
    per_px = (y1 - y0) / size
    prices = []
    for k in range(math.floor(y0) - 1, math.ceil(y1) + 1):
        for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9):
            prices.append(m * 10.0**k)
    ys = np.log10(np.array(prices))
    ys = ys[(ys >= y0) & (ys <= y1)]
    values: list[float] = []
    for y in ys:
        if not values or (y - values[-1]) / per_px >= min_px:
            values.append(float(y))
    if len(values) < 2:  # a narrow range: finer round steps in price
        lo, hi = 10.0**y0, 10.0**y1
        step = 10.0 ** math.floor(math.log10(max(hi - lo, 1e-12) / 4))
        prices_fine = np.arange(math.ceil(lo / step) * step, hi, step)
        values = [float(v) for v in np.log10(prices_fine)] if len(prices_fine) else values
    return [(1.0, values)]


class VolumeAxis(_TaggedAxis):
    """Right volume axis with K/M/B labels and at most a few ticks (it is short)."""

    def __init__(self, orientation: str = "right") -> None:
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)
        self.setStyle(maxTextLevel=0)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [format_volume(v) for v in values]

    def tag_text(self, value: float) -> str:
        return format_volume(value)
