"""How feed health is shown: state colours, the chart banner while a symbol is stale or down.

The state itself lives on each symbol in SessionData (``core.health``); widgets read it
from there when the bridge says it changed.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLabel, QStatusBar, QWidget

from session_monitor.core.health import HealthChange, HealthState, SymbolHealth
from session_monitor.core.session_data import SessionData, SymbolSessionData
from session_monitor.gui import theme
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.formatting import exchange_time

__all__ = ["HealthBanner", "HealthStatus", "health_colour", "health_of", "health_text"]

_COLOURS = {
    HealthState.LIVE: theme.QUALITY_GOOD,
    HealthState.QUIET: theme.AXIS,
    HealthState.STALE: theme.QUALITY_WARN,
    HealthState.DOWN: theme.QUALITY_BAD,
    HealthState.CLOSED: theme.AXIS,
}
_ALARMING = (HealthState.STALE, HealthState.DOWN)
#: milliseconds between two counts of the status bar's health summary at most
STATUS_REFRESH_MS = 250


def health_of(data: SymbolSessionData) -> SymbolHealth | None:
    health = data.health
    return health if isinstance(health, SymbolHealth) and health.session == data.session else None


def health_colour(state: HealthState) -> QColor:
    return _COLOURS[state]


def health_text(data: SymbolSessionData) -> str:
    health = health_of(data)
    return "" if health is None else health.state.value


def health_tooltip(data: SymbolSessionData) -> str | None:
    health = health_of(data)
    if health is None:
        return None
    since = exchange_time(health.since, data.session.tz, seconds=True)
    meaning = {
        HealthState.LIVE: "bars are arriving",
        HealthState.QUIET: "no bar in the latest slot(s), within this symbol's usual rhythm",
        HealthState.STALE: f"silent for {health.threshold}+ expected slots with no sign the feed is alive",
        HealthState.DOWN: "the feed is disconnected; the coordinator keeps retrying",
        HealthState.CLOSED: "outside the session",
    }[health.state]
    return f"{health.state.value} since {since}: {meaning}"


def _swatch(colour: QColor) -> str:
    """A small block of ``colour`` (made more opaque to be visible in a legend)."""
    rgba = f"rgba({colour.red()},{colour.green()},{colour.blue()},0.6)"
    return f"<span style='background: {rgba}'>&nbsp;&nbsp;&nbsp;</span>"


class HealthBanner(QWidget):
    """A strip above the charts: a warning while the shown symbol is stale or down, and the
    gap legend (strong bands: missing or disconnect; faint: quiet, no trades)."""

    def __init__(self, session_data: SessionData, bridge: SessionBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sd = session_data
        self.symbol: str | None = None
        self.warning = QLabel(self)
        self.warning.setObjectName("healthBanner")
        self.warning.setStyleSheet(f"color: #131722; background: {theme.QUALITY_WARN.name()}; padding: 2px 6px;")
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setText(
            f"{_swatch(theme.GAP_FILL)} missing / disconnect &nbsp; {_swatch(theme.QUIET_GAP_FILL)} quiet (no trades)"
        )
        self.legend.setStyleSheet(f"color: {theme.AXIS.name()};")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.warning, 1)
        layout.addStretch(0)
        layout.addWidget(self.legend)
        self.warning.hide()
        bridge.health_changed.connect(self._on_health_changed)

    def attach_to(self, layout: QBoxLayout) -> None:
        """Sit on top of a widget's layout (the charts): an addition, nothing moves."""
        layout.insertWidget(0, self)

    def show_symbol(self, symbol: str | None) -> None:
        self.symbol = symbol
        self.refresh()

    def _on_health_changed(self, symbol: str, change: HealthChange) -> None:
        if symbol == self.symbol:
            self.refresh()

    def refresh(self) -> None:
        data = self._sd.get_symbol_data(self.symbol) if self.symbol else None
        health = None if data is None else health_of(data)
        if data is None or health is None or health.state not in _ALARMING:
            self.warning.hide()
            return
        colour = health_colour(health.state)
        self.warning.setStyleSheet(f"color: #131722; background: {colour.name()}; padding: 2px 6px;")
        since = exchange_time(health.since, data.session.tz, seconds=True)
        what = "feed down" if health.state is HealthState.DOWN else "stale: no bar"
        self.warning.setText(f"{data.symbol} {what} since {since}")
        self.warning.show()


class HealthStatus(QObject):
    """A status-bar label: how many symbols are in each state, naming the stale and down ones.

    Counting walks every symbol, so it runs at most once per :data:`STATUS_REFRESH_MS`
    however many symbols change at once (at 500 symbols every symbol changes state at the
    open, and a refresh per change was a quarter of a million visits and 500 restyles).
    """

    def __init__(self, bar: QStatusBar, session_data: SessionData, bridge: SessionBridge) -> None:
        super().__init__(bar)
        self._sd = session_data
        self._bridge = bridge
        self.label = QLabel(bar)
        self.label.setObjectName("healthStatus")
        bar.addPermanentWidget(self.label)
        self._colour: QColor | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(STATUS_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        bridge.health_changed.connect(self._schedule)
        bridge.symbol_removed.connect(self._schedule)
        bridge.feed_changed.connect(self._schedule)
        self.refresh()

    def _schedule(self, *_: object) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def refresh(self) -> None:
        self._timer.stop()
        counts: dict[HealthState, list[str]] = {state: [] for state in HealthState}
        for data in self._sd.all_symbol_data():
            if data.symbol in self._bridge.disconnected:  # known down before any health says so
                counts[HealthState.DOWN].append(data.symbol)
                continue
            health = health_of(data)
            if health is not None:
                counts[health.state].append(data.symbol)
        parts = [f"{len(names)} {state.value}" for state, names in counts.items() if names]
        alarming = [f"{state.value}: {', '.join(counts[state])}" for state in _ALARMING if counts[state]]
        self.label.setText(" · ".join(parts + alarming))
        colour = theme.QUALITY_WARN if alarming else theme.TEXT
        if colour != self._colour:  # restyling is the expensive part: only when the colour changes
            self._colour = colour
            self.label.setStyleSheet(f"color: {colour.name()};")
