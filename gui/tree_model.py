"""A Qt item model over SessionData: symbols at the top, their intervals below.

The model keeps no copy of the symbol list: ``rowCount``/``data`` ask SessionData every
time, and row changes come from core's before/after event pairs, so the model can never
drift from the single source of truth. Bar and quality updates are coalesced per symbol
(at most ~10 Hz) into ``dataChanged`` with an explicit role list; the model is never reset.

Symbols added together (the start-up watchlist) can be announced together:
between :meth:`SessionTreeModel.hold_inserts` and :meth:`~SessionTreeModel.release_inserts`
symbols appended to SessionData are not rows yet, and the release inserts them all with one
``beginInsertRows`` (500 single-row inserts made every view and proxy redo its bookkeeping
500 times).
"""

from __future__ import annotations

import time
from typing import Any, overload

from PySide6.QtCore import (
    QAbstractItemModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QColor

from session_monitor.core.alerts import AlertEngine
from session_monitor.core.calendar import Session
from session_monitor.core.coverage import coverage
from session_monitor.core.health import HealthState
from session_monitor.core.segments import segment_figures
from session_monitor.core.session_data import BarIntervalData, SessionData, SymbolSessionData
from session_monitor.gui import theme
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.chart.drag import ROW_MIME, ChartRow, row_mime
from session_monitor.gui.formatting import (
    NO_VALUE,
    SEGMENT_NAMES,
    exchange_time,
    format_price,
    gap_tooltip,
    quality_text,
)
from session_monitor.gui.health_view import health_colour, health_of, health_text, health_tooltip
from session_monitor.gui.hours import hours_label, hours_tooltip

__all__ = ["COLUMNS", "COMPACT_ONLY", "DISCONNECTED", "PENDING", "SORT_ROLE", "Column", "SessionTreeModel"]

AnyIndex = QModelIndex | QPersistentModelIndex


class Column:
    INTERVAL = 0
    KIND = 1
    SOURCE = 2
    BARS = 3
    QUALITY = 4
    GAPS = 5
    INCOMPLETE = 6
    LAST_BAR = 7
    HEALTH = 8
    COVERAGE = 9
    # the compact watchlist's columns (gui/watchlist.py shows these and Health, sorted and filtered)
    LAST = 10
    CHANGE = 11
    WORST = 12


COLUMNS = (
    "Interval", "Kind", "Source", "Bars", "Quality %", "Gaps", "Incomplete", "Last bar", "Health", "Coverage %",
    "Last", "Chg %", "Worst Q %",
)
#: columns the detailed tree hides (the compact watchlist shows them)
COMPACT_ONLY = (Column.LAST, Column.CHANGE, Column.WORST)
_WIDTH = len(COLUMNS)
#: columns that can have a foreground colour
_COLOURED = frozenset({Column.QUALITY, Column.KIND, Column.HEALTH, Column.COVERAGE, Column.WORST, Column.CHANGE})
_NUMERIC = {
    Column.BARS, Column.QUALITY, Column.GAPS, Column.INCOMPLETE, Column.COVERAGE, Column.LAST, Column.CHANGE,
    Column.WORST,
}
#: shown in front of the health state while the symbol has an alert that has not cleared
ALERT_BADGE = "\u26a0"
#: shown instead of quality and gaps while a new symbol's session so far is being loaded
PENDING = "…"
#: a symbol row's Kind while its feed is disconnected (or its engine silent)
DISCONNECTED = "disconnected"
_CHANGED_ROLES = [
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.ForegroundRole,
    Qt.ItemDataRole.ToolTipRole,
]
#: custom roles so views and tests can read the row's identity without parsing text
SYMBOL_ROLE = Qt.ItemDataRole.UserRole + 1
INTERVAL_ROLE = Qt.ItemDataRole.UserRole + 2
#: a cell's value for sorting: numbers for numeric columns (None sorts first), text otherwise
SORT_ROLE = Qt.ItemDataRole.UserRole + 3
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ANSWERED_ROLES = frozenset(
    int(r) for r in (
        Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.TextAlignmentRole, SYMBOL_ROLE, INTERVAL_ROLE, SORT_ROLE,
    )
)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
#: every cell: selectable and enabled (QAbstractItemModel's default), and draggable onto a chart
_CELL_FLAGS = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsDragEnabled
_NO_FLAGS = Qt.ItemFlag.NoItemFlags
#: milliseconds between coalesced dataChanged flushes (~10 Hz)
FLUSH_MS = 100
#: seconds of signalling a timed flush does in one event-loop turn before it lets the loop in
FLUSH_BUDGET = 0.004
#: symbols between two looks at the clock while flushing
_CHECK_EVERY = 16


class _Root:
    """Internal pointer of every top-level index (one shared, immortal object)."""

    __slots__ = ()


class _SymbolNode:
    """Internal pointer of an interval row: names its parent symbol.

    A tiny stand-in instead of the SymbolSessionData itself, so a removed symbol's bars are
    not kept alive just because Qt may still hold a stale index pointing here.
    """

    __slots__ = ("parent_index", "shape", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        #: index of the symbol's row as of model shape ``shape`` (views ask parent() a lot)
        self.parent_index = _INVALID
        self.shape = -1


_ROOT = _Root()
_INVALID = QModelIndex()


def _last_close(bars: BarIntervalData) -> float | None:
    data = bars.data
    return float(data.close[-1]) if len(data) else None


def _reference_close(symbol: SymbolSessionData) -> tuple[float, str] | None:
    """What the change is measured from: the previous session's last close when the symbol
    has one in history, else this session's first open."""
    for past in reversed(symbol.history):
        base = past.bars.get(symbol.base.name)
        if base is not None and len(base.data):
            return float(base.data.close[-1]), f"the {past.session.date.isoformat()} close"
    data = symbol.base.data
    if len(data):
        return float(data.open[0]), "this session's first open"
    return None


def _change(symbol: SymbolSessionData, bars: BarIntervalData) -> float | None:
    """Percent change of ``bars``' newest close from the symbol's reference."""
    last = _last_close(bars)
    reference = _reference_close(symbol)
    if last is None or reference is None or reference[0] == 0:
        return None
    return 100.0 * (last / reference[0] - 1.0)


def _change_reference(symbol: SymbolSessionData) -> str:
    reference = _reference_close(symbol)
    return "no bar yet" if reference is None else f"change from {reference[1]} ({format_price(reference[0])})"


def _worst_quality(symbol: SymbolSessionData, interval: BarIntervalData | None) -> float | None:
    """An interval's quality; on a symbol row the lowest among its intervals."""
    if interval is not None:
        return interval.quality
    known = [b.quality for b in symbol.bars.values() if b.quality is not None]
    return min(known) if known else None


def _quality_colour(quality: float | None) -> QColor | None:
    if quality is None:
        return None
    if quality >= 99.0:
        return theme.QUALITY_GOOD
    if quality >= 95.0:
        return theme.QUALITY_WARN
    return theme.QUALITY_BAD


class _Shown:
    """What a symbol's rows showed at their last signal: decides which rows a flush signals.

    A render cache keyed by symbol (dropped when the symbol goes), never consulted for what a
    cell shows. Per interval row, in row order: its bar count (which also stands for its
    newest bar's time: bars are appended or revised in place) and its outcome (quality,
    gaps, missing and incomplete bars); for the whole symbol, the feed notes that name a gap's
    cause and the newest base close (the symbol row's price).
    """

    __slots__ = ("bars", "base", "close", "counts", "ended_at", "outages", "outcomes")

    def __init__(self, symbol: SymbolSessionData, counts: list[int]) -> None:
        #: the intervals the rest was read from (a new session or interval set is a new dict;
        #: while it is the same dict, its base and the base's notes are the same objects)
        self.bars = symbol.bars
        self.base = base = symbol.base
        self.ended_at, self.outages = base.notes.ended_at, len(base.notes.outages)
        self.counts = counts
        self.outcomes = [_outcome(b) for b in symbol.bars.values()]
        self.close: object = _last_close(base)  # float, None (no bar) or _UNREAD

    def same_notes(self) -> bool:
        notes = self.base.notes
        return notes.ended_at == self.ended_at and len(notes.outages) == self.outages


#: a ``_Shown.close`` not read at the last signal (the symbol row was signalled anyway)
_UNREAD = object()


def _outcome(bars: BarIntervalData) -> tuple[float | None, int, int, int]:
    """What ``quality_changed`` announces: quality, gaps, missing and incomplete bars."""
    return bars.quality, bars.gap_count, bars.missing, bars.incomplete


class SessionTreeModel(QAbstractItemModel):
    """Symbols and their intervals with bars, quality, gaps and the newest bar time."""

    #: every index under one parent carries the same internal pointer, whatever its row and
    #: column (``_ROOT``, or the parent symbol's node): ``SessionTreeView`` relies on it
    POINTER_PER_PARENT = True

    def __init__(self, session_data: SessionData, bridge: SessionBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sd = session_data
        self._bridge = bridge  # keep the signal source alive as long as the model
        # Pointer targets handed to createIndex; never shrinks (one per distinct name) so
        # no index Qt still holds can point at a freed object.
        self._nodes: dict[str, _SymbolNode] = {}
        #: createIndex results by (row, column, pointer), see ``_make``
        self._made: dict[tuple[int, int, object], QModelIndex] = {}
        #: bumped whenever rows are inserted or removed (see _SymbolNode.shape)
        self._shape = 0
        #: symbols with core events since the last flush; ``_forced``: whose rows all need a
        #: signal whatever they show (feed state, new session)
        self._pending: set[str] = set()
        self._forced: set[str] = set()
        #: collected symbols not signalled yet (in row order) and which of them are forced; a
        #: timed flush works through them a budget at a time
        self._due: list[str] = []
        self._due_forced: set[str] = set()
        #: per symbol, what its rows showed at their last signal: rows that show the same get
        #: no dataChanged (see ``_Shown``)
        self._shown: dict[str, _Shown] = {}
        #: per symbol, the intervals ``quality_changed`` named since its last signal: the only
        #: outcomes a flush reads again (bar counts are read for every interval of a due symbol)
        self._requality: dict[str, set[str]] = {}
        #: symbols whose feed is down right now (the bridge keeps the set)
        self._down = bridge.disconnected
        #: symbols added while their session so far is still loading: until their first
        #: bars (or ``settle``), quality and gaps show PENDING rather than "0.0 %, 1 gap"
        self._pending_load: set[str] = set()
        #: while inserts are held: how many of SessionData's symbols are rows (the first ones);
        #: None: all of them (see ``hold_inserts``)
        self._published: int | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush_some)
        #: the rest of a flush that ran out of its budget, in the next event-loop turn
        self._more_timer = QTimer(self)
        self._more_timer.setSingleShot(True)
        self._more_timer.setInterval(0)
        self._more_timer.timeout.connect(self._flush_some)
        bridge.symbol_adding.connect(self._on_symbol_adding)
        bridge.symbol_added.connect(self._on_symbol_added)
        bridge.symbol_removing.connect(self._on_symbol_removing)
        bridge.symbol_removed.connect(self._on_symbol_removed)
        #: bar and quality changes from core, drained by ``flush`` (one dict entry per
        #: (symbol, interval), not one Qt signal per core event)
        self._changes = bridge.subscribe_changes(self, self._schedule_flush)
        bridge.session_started.connect(self._on_session_started)
        bridge.feed_changed.connect(self._on_feed_changed)
        #: the alert engine whose active alerts badge a symbol's row (None: no badges)
        self.alerts: AlertEngine | None = None
        bridge.health_changed.connect(self._on_health_changed)
        bridge.alert_fired.connect(self._on_alert_fired)

    # -- lookups ------------------------------------------------------------------------
    def _symbol_at(self, row: int) -> SymbolSessionData | None:
        return self._sd.symbol_at(row)

    def _node(self, symbol: str) -> _SymbolNode:
        node = self._nodes.get(symbol)
        if node is None:
            node = self._nodes[symbol] = _SymbolNode(symbol)
        return node

    def _symbol_rows(self) -> int:
        """Top-level rows the views know: every symbol, except those whose insert is held."""
        published = self._published
        return len(self._sd) if published is None else published

    def symbol_index(self, symbol: str, column: int = 0) -> QModelIndex:
        """Index of a symbol's row (invalid if it is not watched, or not a row yet)."""
        row = self._sd.row_of(symbol)
        return self.index(row, column) if row >= 0 else QModelIndex()

    def interval_index(self, symbol: str, interval: str, column: int = 0) -> QModelIndex:
        data = self._sd.get_symbol_data(symbol)
        parent = self.symbol_index(symbol)
        if data is None or interval not in data.bars or not parent.isValid():
            return QModelIndex()
        return self.index(list(data.bars).index(interval), column, parent)

    def _resolve(self, index: AnyIndex) -> tuple[SymbolSessionData, BarIntervalData | None] | None:
        """(symbol, interval) behind an index; interval is None on a symbol row."""
        pointer = index.internalPointer()
        if pointer is _ROOT:
            symbol = self._symbol_at(index.row())
            return None if symbol is None else (symbol, None)
        if type(pointer) is _SymbolNode:
            sd = self._sd
            symbol = sd.symbol_at(sd.row_of(pointer.symbol))
            if symbol is None:
                return None
            row = index.row()
            intervals = list(symbol.bars.values())
            return (symbol, intervals[row]) if 0 <= row < len(intervals) else None
        return None

    # -- structure (Qt overrides) --------------------------------------------------------
    def _make(self, row: int, column: int, pointer: object) -> QModelIndex:
        """createIndex, memoised: an index is a value (row, column, pointer) that never goes
        stale, and views ask for the same few hundred on every paint and refresh, where a
        fresh createIndex costs more than the rest of the call."""
        key = (row, column, pointer)
        index = self._made.get(key)
        if index is None:
            index = self._made[key] = self.createIndex(row, column, pointer)
        return index

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Bounds checked here rather than through hasIndex(): that would call back into
        # Python twice more (rowCount, columnCount), and views ask for indexes per cell.
        if row < 0 or not 0 <= column < _WIDTH:
            return _INVALID
        if not parent.isValid():
            return self._make(row, column, _ROOT) if row < self._symbol_rows() else _INVALID
        if parent.column() != 0 or parent.internalPointer() is not _ROOT:
            return _INVALID
        symbol = self._symbol_at(parent.row())
        if symbol is None or row >= len(symbol.bars):
            return _INVALID
        return self._make(row, column, self._node(symbol.symbol))

    def sibling(self, row: int, column: int, idx: AnyIndex) -> QModelIndex:
        # QTreeView maps every changed index to its column-0 sibling; the default goes
        # through Python parent() and index(). A sibling shares the internal pointer.
        if not idx.isValid():
            return self.index(row, column)
        if row == idx.row():  # the row exists (idx is valid): only the column can be out of range
            return self._make(row, column, idx.internalPointer()) if 0 <= column < _WIDTH else _INVALID
        return self.index(row, column, self.parent(idx))

    def hasChildren(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        # one Python call instead of the default's rowCount + columnCount
        if not parent.isValid():
            return self._symbol_rows() > 0
        if parent.column() != 0 or parent.internalPointer() is not _ROOT:
            return False
        symbol = self._symbol_at(parent.row())
        return symbol is not None and len(symbol.bars) > 0

    @overload
    def parent(self) -> QObject: ...
    @overload
    def parent(self, child: AnyIndex) -> QModelIndex: ...
    def parent(self, child: AnyIndex | None = None) -> QModelIndex | QObject:
        if child is None:  # QObject.parent()
            return super().parent()
        pointer = child.internalPointer()  # None on an invalid index
        if type(pointer) is _SymbolNode:
            if pointer.shape == self._shape:  # rows unchanged since the node last looked
                return pointer.parent_index
            row = self._sd.row_of(pointer.symbol)
            if row >= 0:
                pointer.parent_index = self._make(row, 0, _ROOT)
                pointer.shape = self._shape
                return pointer.parent_index
        return _INVALID

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return self._symbol_rows()
        if parent.column() > 0 or parent.internalPointer() is not _ROOT:
            return 0
        symbol = self._symbol_at(parent.row())
        return 0 if symbol is None else len(symbol.bars)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return _WIDTH

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None

    # -- dragging a row onto a chart (gui/chart/drag.py) -----------------------------------
    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        # the base class's flags plus dragging, as one constant: the view asks once per painted cell
        return _CELL_FLAGS if index.isValid() else _NO_FLAGS

    def mimeTypes(self) -> list[str]:
        return [ROW_MIME]

    def mimeData(self, indexes: Any) -> QMimeData | None:
        """The first dragged row's symbol and interval (a symbol row: its base interval)."""
        resolved = self._resolve(indexes[0]) if indexes else None
        if resolved is None:
            return None
        symbol, interval = resolved
        return row_mime(ChartRow(symbol.symbol, (interval or symbol.base).name))

    # -- cells ---------------------------------------------------------------------------
    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # The view asks for seven roles per painted cell on every repaint (Qt passes plain
        # ints): the three it paints from are tested first, and nothing is resolved for a
        # role or column that never has a value.
        if role == _DISPLAY:
            resolved = self._resolve(index)
            return None if resolved is None else self._display(resolved[0], resolved[1], index.column())
        if role == _FOREGROUND:
            column = index.column()
            if column not in _COLOURED:
                return None
            resolved = self._resolve(index)
            colour = None if resolved is None else self._foreground(resolved[0], resolved[1], column)
            return None if colour is None else QBrush(colour)
        if role == _ALIGNMENT:
            return _RIGHT if index.column() in _NUMERIC else None
        if role not in _ANSWERED_ROLES:
            return None
        resolved = self._resolve(index)
        if resolved is None:
            return None
        symbol, interval = resolved
        if role == _TOOLTIP:
            return self._tooltip(symbol, interval, index.column())
        if role == SYMBOL_ROLE:
            return symbol.symbol
        if role == INTERVAL_ROLE:
            return None if interval is None else interval.name
        if role == SORT_ROLE:
            return self._sort_value(symbol, interval, index.column())
        return None

    def cell(self, index: AnyIndex) -> tuple[str, QColor | None, Qt.AlignmentFlag | None]:
        """What a cell shows, in one call: (text, foreground colour, alignment), exactly what
        ``data()`` answers for DisplayRole, ForegroundRole (as the brush's colour) and
        TextAlignmentRole, with ``""``/None where it answers None. Read-only; for a delegate
        that paints hundreds of cells per frame and would otherwise ask ``data()`` seven
        times a cell."""
        resolved = self._resolve(index)
        if resolved is None:
            return "", None, None
        symbol, interval = resolved
        column = index.column()
        colour = self._foreground(symbol, interval, column) if column in _COLOURED else None
        return self._display(symbol, interval, column), colour, (_RIGHT if column in _NUMERIC else None)

    def _foreground(self, symbol: SymbolSessionData, interval: BarIntervalData | None, column: int) -> QColor | None:
        """Quality in its traffic-light colour; a symbol whose feed is down, in red; change
        in the candle colours."""
        if symbol.symbol in self._pending_load and column in (Column.QUALITY, Column.WORST):
            return None
        if column == Column.QUALITY:
            return _quality_colour((interval or symbol.base).quality)
        if column == Column.WORST:
            return _quality_colour(_worst_quality(symbol, interval))
        if column == Column.KIND and interval is None and symbol.symbol in self._down:
            return theme.QUALITY_BAD
        if column == Column.HEALTH and interval is None:
            if symbol.symbol in self._down:
                return health_colour(HealthState.DOWN)
            health = health_of(symbol)
            return None if health is None else health_colour(health.state)
        if column == Column.COVERAGE:
            target = interval or symbol.base
            return _quality_colour(coverage(target, symbol.base))
        if column == Column.CHANGE and interval is None:
            change = _change(symbol, symbol.base)
            return None if change is None or change == 0 else (theme.UP if change > 0 else theme.DOWN)
        return None

    def _sort_value(self, symbol: SymbolSessionData, interval: BarIntervalData | None, column: int) -> Any:
        target = interval or symbol.base
        if column in (Column.INTERVAL, Column.KIND, Column.SOURCE, Column.HEALTH):
            return self._display(symbol, interval, column)
        value: float | None
        if column == Column.BARS:
            value = len(target.data)
        elif column == Column.QUALITY:
            value = target.quality
        elif column == Column.WORST:
            value = _worst_quality(symbol, interval)
        elif column == Column.GAPS:
            value = target.gap_count
        elif column == Column.INCOMPLETE:
            value = sum(b.incomplete for b in symbol.derived_intervals()) if interval is None else target.incomplete
        elif column == Column.LAST_BAR:
            value = target.data.last_ts
        elif column == Column.LAST:
            value = _last_close(target)
        elif column == Column.CHANGE:
            value = _change(symbol, target)
        elif column == Column.COVERAGE:
            value = coverage(target, symbol.base)
        else:
            value = None
        return float("-inf") if value is None else float(value)

    def _display(self, symbol: SymbolSessionData, interval: BarIntervalData | None, column: int) -> str:
        if interval is None:  # the symbol row summarises its streamed base interval
            base = symbol.base
            if column == Column.INTERVAL:
                return symbol.symbol
            if column == Column.KIND:
                return DISCONNECTED if symbol.symbol in self._down else hours_label(symbol, self._sd.session)
            if column == Column.SOURCE:
                return base.name
            if column == Column.INCOMPLETE:
                return str(sum(b.incomplete for b in symbol.derived_intervals()))
            if column == Column.HEALTH:
                badge = f"{ALERT_BADGE} " if self.alerts is not None and self.alerts.active(symbol.symbol) else ""
                # the window knows the feed is disconnected (or its engine silent) before any health says so
                return badge + (HealthState.DOWN.value if symbol.symbol in self._down else health_text(symbol))
            return self._interval_cell(symbol, base, column, symbol_row=True)
        if column == Column.INTERVAL:
            return interval.name
        if column == Column.KIND:
            return "derived" if interval.derived else "base"
        if column == Column.SOURCE:
            return interval.base.name if interval.derived and interval.base else NO_VALUE
        if column == Column.INCOMPLETE:
            return str(interval.incomplete) if interval.derived else NO_VALUE
        if column in (Column.LAST, Column.CHANGE):
            return ""  # the symbol row has them (an interval's newest close is the same price)
        return self._interval_cell(symbol, interval, column)

    def _interval_cell(
        self, symbol: SymbolSessionData, interval: BarIntervalData, column: int, symbol_row: bool = False
    ) -> str:
        if column == Column.BARS:
            return str(len(interval.data))
        if (
            column in (Column.QUALITY, Column.GAPS, Column.WORST)
            and symbol.symbol in self._pending_load
            and interval.quality is not None  # a pass measured it before its bars came in
        ):
            return PENDING
        if column == Column.QUALITY:
            return quality_text(interval.quality)
        if column == Column.WORST:
            return quality_text(_worst_quality(symbol, None if symbol_row else interval))
        if column == Column.GAPS:
            return str(interval.gap_count)
        if column == Column.LAST:
            last = _last_close(interval)
            return NO_VALUE if last is None else format_price(last)
        if column == Column.CHANGE:
            change = _change(symbol, interval)
            return NO_VALUE if change is None else f"{change:+.2f}"
        if column == Column.LAST_BAR:
            last = interval.data.last_ts
            if last is None:
                return NO_VALUE
            return exchange_time(last, symbol.session.tz, seconds=interval.interval.seconds % 60 != 0)
        if column == Column.COVERAGE:
            return quality_text(coverage(interval, symbol.base))
        return ""

    def _tooltip(self, symbol: SymbolSessionData, interval: BarIntervalData | None, column: int) -> str | None:
        target = interval or symbol.base
        if symbol.symbol in self._pending_load and column in (Column.QUALITY, Column.GAPS, Column.WORST):
            return "loading the session so far; quality and gaps follow with its first bars"
        if column == Column.CHANGE and interval is None:
            return _change_reference(symbol)
        if column == Column.WORST:
            return "the lowest quality among the symbol's intervals" if interval is None else None
        if column == Column.KIND and interval is None:
            hours = hours_tooltip(symbol, self._sd.session)
            if symbol.symbol in self._down:
                return "the feed is down; the coordinator keeps retrying" + (f"\n{hours}" if hours else "")
            return hours
        if column == Column.GAPS:
            return gap_tooltip(target.gaps, symbol.session.tz) + _per_segment(target, symbol.base)
        if column == Column.QUALITY:
            if target.quality is None:
                return "no window has elapsed yet" + _per_segment(target, symbol.base)
            return f"{target.missing} bar(s) missing among the elapsed windows" + _per_segment(target, symbol.base)
        if column == Column.INCOMPLETE and interval is not None and interval.derived:
            return f"{interval.name} bars holding fewer {interval.base} bars than their window expects"
        if column == Column.HEALTH and interval is None:
            lines = [health_tooltip(symbol) or "no health yet"]
            if symbol.symbol in self._down:
                lines.insert(0, "down: the feed is disconnected (nothing can arrive for this symbol); "
                                "the last health its engine published:")
            if self.alerts is not None:
                lines += [f"alert: {rule.value}" + (f" ({name})" if name else "")
                          for rule, _, name in self.alerts.active(symbol.symbol)]
            return "\n".join(lines)
        if column == Column.COVERAGE:
            return "share of expected slots present or provably quiet (no trades)" + _per_segment(target, symbol.base)
        return None

    # -- held inserts ----------------------------------------------------------------------
    def hold_inserts(self) -> None:
        """From now on, symbols appended to SessionData become rows only at :meth:`release_inserts`."""
        if self._published is None:
            self._published = len(self._sd)

    def release_inserts(self) -> None:
        """Insert every held symbol's row, all in one ``beginInsertRows``; stop holding."""
        self._publish_held()
        self._published = None

    def _publish_held(self) -> None:
        """The held symbols (the last ones in SessionData) become rows; still holding later ones."""
        published = self._published
        if published is None:
            return
        total = len(self._sd)
        if total > published:
            self._shape += 1
            self.beginInsertRows(QModelIndex(), published, total - 1)
            self._published = total
            self._shape += 1
            self.endInsertRows()

    def _holding(self, row: int) -> bool:
        """Whether a symbol arriving at ``row`` is held: only appends are; anything else first
        publishes what is held, so rows before it never move under the views."""
        if self._published is None:
            return False
        if row == len(self._sd):
            return True
        self._publish_held()
        return False

    # -- core events -----------------------------------------------------------------------
    def _on_symbol_adding(self, symbol: str, row: int) -> None:
        if self._holding(row):
            return
        self._shape += 1  # rows move: every node's parent_index is stale
        self.beginInsertRows(QModelIndex(), row, row)

    def _on_symbol_added(self, symbol: str, row: int) -> None:
        published = self._published
        if published is not None:
            if row >= published:  # held (appended while holding)
                return
            self._published = published + 1  # the row inserted in the middle, begun in _on_symbol_adding
        self._shape += 1  # again: a view may have asked parent() between begin and end
        self.endInsertRows()

    def expect_load(self, symbol: str) -> None:
        """``symbol`` is being added and its session so far loaded: until its first bars
        (or :meth:`settle`), its quality and gaps show PENDING, not a red "0.0 %, 1 gap"."""
        self._pending_load.add(symbol.strip().upper())

    def settle(self, symbol: str) -> None:
        """``symbol``'s add finished (or failed): show its quality and gaps from the next
        flush on, bars or not."""
        symbol = symbol.strip().upper()
        if symbol in self._pending_load:
            self._pending_load.discard(symbol)
            self._forced.add(symbol)
            self._on_changed(symbol)

    def _on_symbol_removing(self, symbol: str, row: int) -> None:
        self._publish_held()  # rows after it move: the views must know them first
        self._pending.discard(symbol)
        self._pending_load.discard(symbol)
        self._forced.discard(symbol)
        data = self._sd.symbol_at(row)
        if data is not None:
            self._shown.pop(data.symbol, None)
            self._requality.pop(data.symbol, None)
        self._shape += 1
        self.beginRemoveRows(QModelIndex(), row, row)

    def _on_symbol_removed(self, symbol: str, row: int) -> None:
        self._shape += 1
        if self._published is not None:
            self._published -= 1
        self.endRemoveRows()
        self._made.clear()  # keep the memo to the rows that exist (it is never stale)

    def _schedule_flush(self) -> None:
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _on_changed(self, symbol: str) -> None:
        self._pending.add(symbol)
        self._schedule_flush()

    def _on_feed_changed(self, symbol: str, connected: bool) -> None:
        self._forced.add(symbol)
        self._on_changed(symbol)

    def _on_health_changed(self, symbol: str, change: object) -> None:
        self._forced.add(symbol)
        self._on_changed(symbol)

    def _on_alert_fired(self, alert: object) -> None:
        symbol = getattr(alert, "symbol", None)
        if isinstance(symbol, str):
            self._forced.add(symbol)
            self._on_changed(symbol)

    def _on_session_started(self, session: Session) -> None:
        # Fresh BarIntervalData objects with the same names: shapes are unchanged, so a
        # dataChanged over everything is enough (no reset while streaming).
        symbols = self._sd.get_active_symbols()
        self._pending.update(symbols)
        self._forced.update(symbols)
        self.flush()

    def flush(self) -> None:
        """Emit the coalesced dataChanged for every row whose state changed since the last flush, now."""
        self._flush_timer.stop()
        self._more_timer.stop()
        self._collect()
        self._signal_due(None)

    def _flush_some(self) -> None:
        """The timers' flush: at most :data:`FLUSH_BUDGET` seconds of it in one event-loop turn
        (500 changed symbols take ~10-20 ms); the rest follows in the next turn, before any
        change that arrives meanwhile (so no symbol waits behind newer ones)."""
        if not self._due:
            self._collect()
        if self._signal_due(FLUSH_BUDGET):
            self._more_timer.start()

    def _collect(self) -> None:
        """Take the changes since the last collection into the symbols due a signal, in row order."""
        pending, self._pending = self._pending, set()
        bars, quality = self._changes.drain()
        pending.update(symbol for symbol, _ in bars)
        requality = self._requality
        for symbol, interval in quality:
            pending.add(symbol)
            named = requality.get(symbol)
            if named is None:
                requality[symbol] = {interval}
            else:
                named.add(interval)
        pending.update(self._due)
        self._due_forced |= self._forced
        self._forced = set()
        if self._pending_load:
            arrived = {symbol for symbol, _ in bars} & self._pending_load
            self._pending_load -= arrived
            self._due_forced |= arrived
        row_of = self._sd.row_of
        self._due = sorted(pending, key=row_of)

    def _signal_due(self, budget: float | None) -> bool:
        """Signal the rows of the symbols due, in order, for at most ``budget`` seconds (None: all).

        A symbol row summarises its intervals, so it is signalled with any of them. Symbol
        rows are siblings: each run of consecutive signalled rows is one signal. Interval
        rows have a parent each: one signal per symbol over its changed intervals. Every
        range starts at column 1: column 0 only names the row, a range starting there makes
        QTreeView re-ask hasChildren for every row it spans, and column 0 is what the compact
        watchlist sorts by unless told otherwise (a range over it makes the proxy re-sort
        each signalled row). Indexes are made without Python index() round trips, and rows
        that show the same as before are not signalled: each signalled row costs the view
        several calls back into Python. True when symbols are left for the next turn.
        """
        due, forced = self._due, self._due_forced
        sd = self._sd
        rows = self._symbol_rows()
        deadline = None if budget is None else time.perf_counter() + budget
        changed: list[tuple[int, str, int, int]] = []  # (row, symbol, first, last changed interval)
        done = len(due)
        for k, name in enumerate(due):
            if deadline is not None and k and k % _CHECK_EVERY == 0 and time.perf_counter() > deadline:
                done = k
                break
            row = sd.row_of(name)
            symbol = sd.symbol_at(row) if row < rows else None  # a held symbol is read afresh once a row
            if symbol is None:
                if row < 0:  # removed since its events came
                    self._requality.pop(name, None)
                continue
            span = self._moved(symbol, name in forced)
            if span is not None:
                changed.append((row, name, span[0], span[1]))
        self._due = due[done:]
        self._due_forced = forced.intersection(self._due) if self._due else set()
        if changed:
            changed.sort()
            self._signal(changed)
        return bool(self._due)

    def _moved(self, symbol: SymbolSessionData, forced: bool) -> tuple[int, int] | None:
        """Which of a due symbol's rows show something new since their last signal, and remember
        what they show now: None (none), or the first and last interval row (last < first: only
        the symbol row, which is signalled with any of them).

        Read again: every interval's bar count (cheap, and a bar event's first index does not
        say whether the count grew), the outcome of the intervals ``quality_changed`` named (it
        announces every change of those, :class:`~session_monitor.core.events.SessionEvents`),
        the feed notes, and the base's newest close when nothing else moved (a revised newest
        bar keeps the count). Forced, new, or with new intervals: all rows.
        """
        name = symbol.symbol
        bars = symbol.bars
        counts = [len(b.data) for b in bars.values()]
        named = self._requality.pop(name, None)
        before = self._shown.get(name)
        if (
            forced
            or before is None
            or before.bars is not bars
            or len(before.counts) != len(counts)
            or not before.same_notes()
        ):
            self._shown[name] = _Shown(symbol, counts)
            return 0, len(counts) - 1
        old = before.counts
        moved = [k for k in range(len(counts)) if counts[k] != old[k]]
        before.counts = counts
        if named:
            outcomes = before.outcomes
            for k, interval in enumerate(bars.values()):
                if interval.name in named:
                    outcome = _outcome(interval)
                    if outcome != outcomes[k]:
                        outcomes[k] = outcome
                        moved.append(k)
        if moved:
            before.close = _UNREAD
            return min(moved), max(moved)
        close = _last_close(before.base)
        if close == before.close:
            return None
        before.close = close
        return 0, -1

    def _signal(self, changed: list[tuple[int, str, int, int]]) -> None:
        """dataChanged for ``changed`` (row, symbol, first, last changed interval), sorted by row."""
        right = _WIDTH - 1
        emit = self.dataChanged.emit
        create = self._make
        start = previous = changed[0][0]
        for row, *_ in changed[1:]:
            if row != previous + 1:
                emit(create(start, Column.KIND, _ROOT), create(previous, right, _ROOT), _CHANGED_ROLES)
                start = row
            previous = row
        emit(create(start, Column.KIND, _ROOT), create(previous, right, _ROOT), _CHANGED_ROLES)
        for _row, name, first, last in changed:
            if last >= first:
                node = self._node(name)
                emit(create(first, Column.KIND, node), create(last, right, node), _CHANGED_ROLES)


def _per_segment(interval: BarIntervalData, base: BarIntervalData) -> str:
    """With extended hours: quality, coverage, gaps and incomplete bars per segment (else nothing)."""
    if not interval.grid.session.segments:
        return ""
    lines = ["", "per segment (quality · coverage · gaps · incomplete):"]
    for part in segment_figures(interval, base):
        lines.append(f"{SEGMENT_NAMES[part.segment.name]}: {quality_text(part.quality)} % · "
                     f"{quality_text(part.coverage)} % · {len(part.gaps)} gap(s) · {part.incomplete}")
    return "\n".join(lines)

