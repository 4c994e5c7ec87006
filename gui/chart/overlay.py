"""The base of every item drawn over a chart from one array of rows (bands, lines, boxes, the last price).

Each such item keeps its rows in a float array, repaints only when they change, and is
added with ``ignoreBounds=True`` so it never drives the auto-range. An item that reaches
across the view (full height, or to its right edge) has a bounding rect that moves with
the view, so it declares ``FOLLOWS_VIEW`` and its rect is recomputed on every view change.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsItem

__all__ = ["FullHeightItem", "OverlayItem"]


class OverlayItem(pg.GraphicsObject):
    """Rows of ``COLUMNS`` floats in data coordinates; subclasses paint them."""

    #: how many floats one row holds
    COLUMNS: ClassVar[int] = 1
    #: the bounding rect depends on the view's range (full height, or to the right edge)
    FOLLOWS_VIEW: ClassVar[bool] = False
    #: paint() draws only ``option.exposedRect``, so Qt is asked to compute it (off for the
    #: others: with it on, a tick of the last-price line repainted the whole view's candles,
    #: test_an_updated_last_bar_repaints_only_itself)
    PAINTS_EXPOSED: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, self.PAINTS_EXPOSED)
        self._rows = np.empty((0, self.COLUMNS), np.float64)

    @property
    def rows(self) -> np.ndarray:
        """(n, COLUMNS) as last set."""
        return self._rows

    def set_rows(self, rows: np.ndarray) -> None:
        """Replace the rows; nothing is repainted when they are the same."""
        rows = np.asarray(rows, np.float64).reshape(-1, self.COLUMNS)
        if np.array_equal(rows, self._rows):
            return
        self.prepareGeometryChange()
        self._rows = rows
        self.update()

    def viewTransformChanged(self) -> None:
        super().viewTransformChanged()
        if self.FOLLOWS_VIEW:
            self.prepareGeometryChange()

    def x_span(self) -> tuple[float, float] | None:
        """Leftmost and rightmost x of the rows (first column, and the second when there is one)."""
        rows = self._rows
        if not len(rows):
            return None
        return float(rows[:, 0].min()), float(rows[:, min(1, self.COLUMNS - 1)].max())


class FullHeightItem(OverlayItem):
    """An overlay spanning whatever y range the view shows (bands, vertical lines); its paint
    draws only the exposed part (a view shows a few of thousands of bands)."""

    FOLLOWS_VIEW = True
    PAINTS_EXPOSED = True

    def boundingRect(self) -> QRectF:
        span = self.x_span()
        view = self.viewRect()
        if span is None or view is None:
            return QRectF()
        return QRectF(span[0], view.top(), max(span[1] - span[0], 1e-9), view.height())
