"""The symbol tree's view: a QTreeView that repaints only the visible rows a ``dataChanged``
names, and a delegate that paints a plain cell from one model call.

Both are pure performance: every value still comes from the model, and anything out of
the ordinary (a model without ``cell()``, a selected, focused, hovered or edited cell) is
painted by Qt's own QStyledItemDelegate code.

Why: with a Python model every call Qt makes into it costs a few microseconds. On a
refresh QTreeView's own ``dataChanged`` calls back into the model ~9 times per signalled
row (viewIndex/sibling, parent, hasChildren, to keep per-row height caches that uniform
row heights do not use), and QStyledItemDelegate asks ``data()`` for seven roles per
painted cell. The view below answers a ``dataChanged`` from its own map of the rows on
screen and the delegate asks the model once per cell.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics, QFontMetricsF, QPainter, QPaintEvent, QPalette, QResizeEvent, QStaticText
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QWidget,
)

__all__ = ["FIT_ROWS", "CellDelegate", "SessionTreeView"]

#: rows measured when a column is fitted to its contents (the visible ones first), not all 2,500
FIT_ROWS = 200

AnyIndex = QModelIndex | QPersistentModelIndex

_State = QStyle.StateFlag
#: states the fast path does not paint itself: Qt's delegate draws those cells
_SPECIAL = _State.State_Selected | _State.State_HasFocus | _State.State_MouseOver | _State.State_Editing
_Align = Qt.AlignmentFlag
#: alignments the fast path draws (vertically centred; None is the view's default, left),
#: as the share of the spare width left of the text
_SHIFT = {_Align.AlignLeft | _Align.AlignVCenter: 0.0, _Align.AlignRight | _Align.AlignVCenter: 1.0}


class CellDelegate(QStyledItemDelegate):
    """Paints a plain cell (not selected, focused, hovered or edited) from one
    ``model.cell(index) -> (text, colour, alignment)`` call, the way QStyledItemDelegate
    under QCommonStyle/Fusion draws a text-only item: no background (the view draws the
    alternating row colour), the text inset by the style's focus-frame margin, vertically
    centred, left or right aligned, elided with the view's elide mode, in the foreground
    colour or the palette's text colour. The text is drawn as a cached QStaticText (the
    same glyphs at the same place as drawText; tests compare the pixels).

    Every other cell, and every cell of a model without ``cell()``, goes to the base class.
    ``sizeHint`` is the base class's, so ``resizeColumnToContents`` measures as before.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cell: Any = None
        #: per painted frame (see ``begin_frame``): state -> text colour of a plain cell
        #: of that state, or None when the state needs the base class
        self._pens: dict[Any, Any] = {}
        self._metrics: QFontMetrics | None = None
        self._margin = 0
        #: text -> (the text laid out in the frame's font, its width): cells repeat texts a
        #: lot, and a prepared QStaticText draws several times faster than drawText
        self._texts: dict[str, tuple[QStaticText, float]] = {}
        self._font_key: Any = None
        self._font = QFont()
        self._line = 0.0

    def bind(self, model: QAbstractItemModel | None) -> None:
        """Paint ``model``'s cells fast if it offers ``cell()``, else leave them to Qt."""
        self._cell = getattr(model, "cell", None)

    def begin_frame(self, view: QWidget) -> None:
        """Take the view's font, palette and style for the paint that follows."""
        font = view.font()
        key = font.key()
        if key != self._font_key:
            self._font_key = key
            self._font = font
            self._metrics = QFontMetrics(font)
            self._line = QFontMetricsF(font).height()
            self._texts.clear()
        self._margin = view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1
        self._palette = view.palette()
        self._pens.clear()

    def _pen_for(self, state: Any) -> Any:
        if state & _SPECIAL:
            pen = None
        else:
            group = QPalette.ColorGroup.Normal if state & _State.State_Enabled else QPalette.ColorGroup.Disabled
            if group == QPalette.ColorGroup.Normal and not state & _State.State_Active:
                group = QPalette.ColorGroup.Inactive
            pen = self._palette.color(group, QPalette.ColorRole.Text)
        self._pens[state] = pen
        return pen

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        cell = self._cell
        metrics = self._metrics
        state = option.state
        pen = self._pens.get(state, False)
        if pen is False:
            pen = self._pen_for(state)
        if cell is None or pen is None or metrics is None or not index.isValid():
            super().paint(painter, option, index)
            return
        text, colour, alignment = cell(index)
        if alignment is not None and alignment not in _SHIFT:
            super().paint(painter, option, index)
            return
        if not text:
            return  # QCommonStyle draws nothing for an empty, unselected, undecorated cell
        rect = option.rect
        margin = self._margin
        width = rect.width() - 2 * margin
        texts = self._texts
        prepared = texts.get(text)
        if prepared is None:
            if len(texts) > 4096:
                texts.clear()
            prepared = texts[text] = self._prepare(text)
        if prepared[1] > width:  # elided (rare: columns are sized to their contents)
            prepared = self._prepare(metrics.elidedText(text, option.textElideMode, width))
        painter.setPen(pen if colour is None else colour)
        x = rect.x() + margin
        if alignment is not None:
            x += (width - prepared[1]) * _SHIFT[alignment]
        painter.drawStaticText(QPointF(x, rect.y() + (rect.height() - self._line) / 2), prepared[0])

    def _prepare(self, text: str) -> tuple[QStaticText, float]:
        static = QStaticText(text)
        static.setTextFormat(Qt.TextFormat.PlainText)
        static.prepare(font=self._font)
        return static, static.size().width()


class SessionTreeView(QTreeView):
    """A QTreeView for a model whose rows all have the same height and no editors.

    ``dataChanged`` repaints the visible rows the range names and nothing else, from a map
    of the rows on screen built once per burst of signals (kept until the next paint, the
    next event-loop pass, or anything that moves rows: scrolling, resizing, expanding,
    collapsing, rows inserted, removed or moved, a layout change or reset). QTreeView's own
    handler instead walks every signalled row through the model to refresh per-row height
    caches and child flags: uniform row heights make the former moot, and children change
    only with row signals, which the base class still handles.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        super().setUniformRowHeights(True)
        # a row can be dragged onto a chart of the workspace (the model packs it: gui/chart/drag.py)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.delegate = CellDelegate(self)
        self.setItemDelegate(self.delegate)
        #: internalId of a row's column-0 index -> [(row, y in the viewport)] of the rows
        #: on screen; None until a dataChanged needs it
        self._window: dict[int, list[tuple[int, int]]] | None = None
        self._row_height = 0
        self._drop_pending = False
        self._model_signals: list[Any] = []
        #: the model's indexes share their internal pointer across columns (``POINTER_PER_PARENT``):
        #: a range's row key is read off its first index without a call back into the model
        self._key_any_column = False
        self.expanded.connect(self._drop_window)
        self.collapsed.connect(self._drop_window)

    # -- set-up ---------------------------------------------------------------------------
    def setUniformRowHeights(self, uniform: bool) -> None:
        if not uniform:
            raise ValueError("SessionTreeView repaints on the assumption that every row has the same height")
        super().setUniformRowHeights(True)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        for signal in self._model_signals:
            signal.disconnect(self._drop_window)
        self._model_signals = []
        super().setModel(model)
        self.delegate.bind(model)
        self._key_any_column = bool(getattr(model, "POINTER_PER_PARENT", False))
        if model is not None:
            self._model_signals = [
                model.rowsInserted, model.rowsRemoved, model.rowsMoved,
                model.layoutChanged, model.modelReset, model.columnsInserted, model.columnsRemoved,
            ]
            for signal in self._model_signals:
                signal.connect(self._drop_window)
        self._drop_window()

    # -- the rows on screen ------------------------------------------------------------------
    def _drop_window(self, *_: Any) -> None:
        self._window = None

    def _build_window(self) -> dict[int, list[tuple[int, int]]]:
        window: dict[int, list[tuple[int, int]]] = {}
        height = self.viewport().height()
        index = self.indexAt(QPoint(0, 0))  # lays out pending rows first
        if index.isValid() and index.column() != 0:
            index = index.siblingAtColumn(0)
        step = self.rowHeight(index) if index.isValid() else 0
        if step > 0:
            y = self.visualRect(index).y()
            while index.isValid() and y < height:
                window.setdefault(index.internalId(), []).append((index.row(), y))
                index = self.indexBelow(index)
                y += step
        self._row_height = step
        self._window = window
        if not self._drop_pending:  # a map lives for one pass of the event loop at most
            self._drop_pending = True
            QTimer.singleShot(0, self._end_pass)
        return window

    def _end_pass(self) -> None:
        self._drop_pending = False
        self._window = None

    # -- Qt overrides --------------------------------------------------------------------------
    def dataChanged(self, top_left: AnyIndex, bottom_right: AnyIndex, roles: Any = ()) -> None:
        if not self.isVisible() or not top_left.isValid():
            return  # a hidden view paints everything when shown
        window = self._window
        if window is None:
            window = self._build_window()
        key = top_left if self._key_any_column or top_left.column() == 0 else top_left.siblingAtColumn(0)
        shown = window.get(key.internalId())
        if not shown:
            return
        first, last = top_left.row(), bottom_right.row()
        height = self._row_height
        viewport = self.viewport()
        width = viewport.width()
        run_top = run_bottom = None
        for row, y in shown:
            if first <= row <= last:
                if run_bottom is not None and y == run_bottom:
                    run_bottom = y + height
                    continue
                if run_top is not None:
                    viewport.update(0, run_top, width, run_bottom - run_top)
                run_top, run_bottom = y, y + height
        if run_top is not None:
            viewport.update(0, run_top, width, run_bottom - run_top)

    def paintEvent(self, event: QPaintEvent) -> None:
        self._window = None
        self.delegate.begin_frame(self)
        super().paintEvent(event)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self._window = None
        super().scrollContentsBy(dx, dy)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._window = None
        super().resizeEvent(event)
