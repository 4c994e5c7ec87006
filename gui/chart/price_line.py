"""The last-price line: from the newest bar to the price axis, in the candle's colour.

Drawn right of the newest bar only (the value itself is tagged on the price axis): a line
across the whole chart would make every tick of the last price repaint every candle
under it, where now a tick repaints the newest bar and the few pixels right of it.
"""

from __future__ import annotations

from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem, QWidget

from session_monitor.gui.chart.overlay import OverlayItem
from session_monitor.gui.chart.primitives import cosmetic_pen

__all__ = ["PriceLineItem"]


class PriceLineItem(OverlayItem):
    """A horizontal dotted line from ``x`` rightwards at ``y`` (one row ``x, y``)."""

    COLUMNS = 2
    FOLLOWS_VIEW = True  # reaches the view's right edge

    def __init__(self) -> None:
        super().__init__()
        self.set_rows([[0.0, 0.0]])
        self._pen = cosmetic_pen(QColor("white"), Qt.PenStyle.DotLine)
        self.setZValue(50)
        self.hide()

    @property
    def x(self) -> float:
        return float(self.rows[0, 0])

    @property
    def y(self) -> float:
        return float(self.rows[0, 1])

    def set_line(self, x: float, y: float, colour: QColor) -> None:
        if colour != self._pen.color():
            self._pen = cosmetic_pen(colour, Qt.PenStyle.DotLine)
            self.update()
        self.set_rows([[x, y]])
        self.show()

    def _right(self) -> float:
        view = self.viewRect()
        return self.x if view is None else max(view.right(), self.x)

    def boundingRect(self) -> QRectF:
        py = self.pixelHeight() or 0.0
        return QRectF(self.x, self.y - 2 * py, self._right() - self.x, 4 * py)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setPen(self._pen)
        painter.drawLine(QLineF(self.x, self.y, self._right(), self.y))
