"""pyqtgraph items drawing bars from a ChartData: candles and volume.

Both follow pyqtgraph's item sequence on new data (arrays first, then
``prepareGeometryChange`` → ``update`` → ``informViewBoundsChanged``), implement
``dataBounds`` so the y axis auto-ranges over what is visible, and paint only the
exposed range: a few hundred candles are drawn as candles, anything denser is reduced to
one bar per pixel column first. An updated bar that stays inside what is already on
screen repaints only its own rectangle.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from session_monitor.gui import theme
from session_monitor.gui.chart import marks
from session_monitor.gui.chart.data import ChartData, Columns, reduce_per_pixel
from session_monitor.gui.chart.primitives import cosmetic_pen, draw_lines, draw_rects

__all__ = ["REDUCE_BELOW_PX", "BarItem", "CandleItem", "VolumeItem"]

#: candles narrower than this many device pixels are reduced per pixel column
REDUCE_BELOW_PX = 2.0
#: body width as a fraction of the bar's interval
BODY = 0.7


def _alpha(color: QColor, alpha: int) -> QColor:
    out = QColor(color)
    out.setAlpha(alpha)
    return out


class BarItem(pg.GraphicsObject):
    """Shared plumbing: bounds, incremental updates, visible-range painting."""

    def __init__(self, data: ChartData) -> None:
        super().__init__()
        self.data = data
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._bounds = QRectF()
        self._visible_y: tuple[float, float] | None = None  # last y range handed to auto-range
        #: (bars painted, reduced?) of the latest paint, for tests and benchmarks
        self.last_paint: tuple[int, bool] = (0, False)
        self._recompute_bounds()

    # -- subclass hooks ----------------------------------------------------------------
    def y_range(self, x0: float | None = None, x1: float | None = None) -> tuple[float, float] | None:
        raise NotImplementedError

    def changed_y_range(self, seg: Columns) -> tuple[float, float]:
        raise NotImplementedError

    def paint_columns(self, painter: QPainter, cols: Columns, width: float, reduced: bool) -> None:
        raise NotImplementedError

    # -- updates -------------------------------------------------------------------------
    def reset(self) -> None:
        """Everything may have changed (new session, new symbol): full item sequence."""
        self._recompute_bounds()
        self._visible_y = None
        self.prepareGeometryChange()
        self.update()
        self.informViewBoundsChanged()

    def data_changed(self, first: int) -> None:
        """Bars ``first:`` of the current session are new or changed (ChartData already refreshed)."""
        old = QRectF(self._bounds)
        self._recompute_bounds()
        current = self.data.current
        if self._bounds == old and 0 <= first < len(current):
            changed = current.slice(first, len(current))
            lo, hi = self.changed_y_range(changed)
            if self._visible_y is not None and self._visible_y[0] <= lo and hi <= self._visible_y[1]:
                # nothing the auto-range sees moves: repaint just these bars
                x0 = float(changed.x[0])
                x1 = float(changed.x[-1]) + self.data.width
                self.update(self._padded(QRectF(x0, lo, x1 - x0, hi - lo)))
                return
        self.prepareGeometryChange()
        self.update()
        self.informViewBoundsChanged()

    def _padded(self, rect: QRectF) -> QRectF:
        px = self.pixelWidth() or 0.0
        py = self.pixelHeight() or 0.0
        return rect.adjusted(-2 * px, -2 * py, 2 * px, 2 * py)

    def _recompute_bounds(self) -> None:
        data = self.data
        y = self.y_range()
        sessions = data.sessions
        xs = list(data.x_extent) if sessions else []
        if data.first_ts is not None and data.last_end is not None:
            xs += [data.first_ts, data.last_end]
        if y is None or not xs:
            self._bounds = QRectF()
            return
        x0, x1 = min(xs), max(xs)
        self._bounds = QRectF(x0, y[0], x1 - x0, max(y[1] - y[0], 1e-9))

    # -- pyqtgraph / Qt overrides ------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def pixelPadding(self) -> float:
        return 1.0

    def dataBounds(
        self, ax: int, frac: float = 1.0, orthoRange: tuple[float, float] | None = None
    ) -> tuple[float | None, float | None]:
        data = self.data
        if ax == 0:
            return (data.first_ts, data.last_end)
        y = self.y_range(float(orthoRange[0]), float(orthoRange[1])) if orthoRange is not None else self.y_range()
        self._visible_y = y
        return (None, None) if y is None else y

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        rect = option.exposedRect
        scale = abs(painter.transform().m11())
        if scale <= 0 or rect.isEmpty():
            return
        px = 1.0 / scale  # seconds per device pixel
        width = self.data.width
        reduced = width / px < REDUCE_BELOW_PX
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        drawn = 0
        for seg in self.data.visible(rect.left(), rect.right()):
            if reduced:
                seg = reduce_per_pixel(seg, px, width)
                self.paint_columns(painter, seg, px, True)
            else:
                self.paint_columns(painter, seg, width, False)
            drawn += len(seg)
        self.last_paint = (drawn, reduced)


class CandleItem(BarItem):
    """OHLC candles as wide as their windows; fill = up/down, and marks on top (gui/chart/marks.py):
    forming bars get a dashed outline, incomplete ones a tick under the low, revised ones a
    tick over the high."""

    def __init__(self, data: ChartData) -> None:
        super().__init__(data)
        self._up_pen, self._down_pen = cosmetic_pen(theme.UP), cosmetic_pen(theme.DOWN)
        self._up_brush, self._down_brush = QBrush(theme.UP), QBrush(theme.DOWN)
        self._forming_pen = cosmetic_pen(theme.FORMING, Qt.PenStyle.DashLine)
        self._incomplete_pen = cosmetic_pen(marks.INCOMPLETE)
        self._revised_pen = cosmetic_pen(marks.REVISED)
        self._no_brush = QBrush(Qt.BrushStyle.NoBrush)

    def y_range(self, x0: float | None = None, x1: float | None = None) -> tuple[float, float] | None:
        return self.data.price_range(x0, x1)

    def changed_y_range(self, seg: Columns) -> tuple[float, float]:
        return float(seg.low.min()), float(seg.high.max())

    def paint_columns(self, painter: QPainter, cols: Columns, width: float, reduced: bool) -> None:
        up = cols.close >= cols.open
        if reduced:  # one high-low stroke per pixel column: the true range survives
            centre = cols.x + width / 2.0
            for mask, pen in ((up, self._up_pen), (~up, self._down_pen)):
                painter.setPen(pen)
                draw_lines(painter, centre[mask], cols.low[mask], centre[mask], cols.high[mask])
            return
        widths = self.data.bar_widths(cols.ts)  # a short window is drawn short, at its chart x
        centre = cols.x + widths / 2.0
        left = cols.x + widths * (1.0 - BODY) / 2.0
        body = widths * BODY
        top = np.maximum(cols.open, cols.close)
        bottom = np.minimum(cols.open, cols.close)
        for mask, pen, brush in ((up, self._up_pen, self._up_brush), (~up, self._down_pen, self._down_brush)):
            if not mask.any():
                continue
            painter.setPen(pen)
            painter.setBrush(brush)
            c = centre[mask]
            draw_lines(
                painter,
                np.concatenate((c, c)),
                np.concatenate((cols.high[mask], bottom[mask])),
                np.concatenate((c, c)),
                np.concatenate((top[mask], cols.low[mask])),
            )
            draw_rects(painter, left[mask], bottom[mask], body[mask], top[mask] - bottom[mask])
        self._paint_marks(painter, cols, left, body, top, bottom)

    def _paint_marks(
        self, painter: QPainter, cols: Columns, left: np.ndarray, body: np.ndarray, top: np.ndarray,
        bottom: np.ndarray,
    ) -> None:
        """Forming / incomplete / revised marks on top of the candles (they never touch the fill)."""
        forming = cols.forming_mask()
        incomplete = cols.incomplete_mask() & ~forming
        revised = cols.revised_mask()
        painter.setBrush(self._no_brush)
        if forming.any():
            painter.setPen(self._forming_pen)
            draw_rects(painter, left[forming], bottom[forming], body[forming], top[forming] - bottom[forming])
        offset = marks.MARK_OFFSET_PX / max(abs(painter.transform().m22()), 1e-12)
        for mask, pen, y in ((incomplete, self._incomplete_pen, cols.low - offset),
                             (revised, self._revised_pen, cols.high + offset)):
            if mask.any():
                painter.setPen(pen)
                draw_lines(painter, left[mask], y[mask], left[mask] + body[mask], y[mask])


class VolumeItem(BarItem):
    """Volume bars coloured by candle direction."""

    def __init__(self, data: ChartData) -> None:
        super().__init__(data)
        self._up_brush = QBrush(_alpha(theme.UP, theme.VOLUME_ALPHA))
        self._down_brush = QBrush(_alpha(theme.DOWN, theme.VOLUME_ALPHA))
        self._up_pen = cosmetic_pen(_alpha(theme.UP, theme.VOLUME_ALPHA))
        self._down_pen = cosmetic_pen(_alpha(theme.DOWN, theme.VOLUME_ALPHA))
        self._forming_pen = cosmetic_pen(theme.FORMING, Qt.PenStyle.DashLine)

    def y_range(self, x0: float | None = None, x1: float | None = None) -> tuple[float, float] | None:
        top = self.data.volume_max(x0, x1)
        return None if top is None else (0.0, max(top, 1.0))

    def changed_y_range(self, seg: Columns) -> tuple[float, float]:
        return 0.0, float(seg.volume.max())

    def paint_columns(self, painter: QPainter, cols: Columns, width: float, reduced: bool) -> None:
        up = cols.close >= cols.open
        if reduced:
            centre = cols.x + width / 2.0
            zero = np.zeros(len(cols))
            for mask, pen in ((up, self._up_pen), (~up, self._down_pen)):
                painter.setPen(pen)
                draw_lines(painter, centre[mask], zero[mask], centre[mask], cols.volume[mask])
            return
        forming = cols.forming_mask()
        widths = self.data.bar_widths(cols.ts)
        left = cols.x + widths * (1.0 - BODY) / 2.0
        body = widths * BODY
        painter.setPen(Qt.PenStyle.NoPen)
        for mask, brush in ((up & ~forming, self._up_brush), (~up & ~forming, self._down_brush)):
            if mask.any():
                painter.setBrush(brush)
                draw_rects(painter, left[mask], np.zeros(int(mask.sum())), body[mask], cols.volume[mask])
        if forming.any():
            painter.setPen(self._forming_pen)
            painter.setBrush(QBrush(Qt.BrushStyle.NoBrush))
            draw_rects(painter, left[forming], np.zeros(int(forming.sum())), body[forming], cols.volume[forming])
