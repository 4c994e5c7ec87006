"""Status bar: session date and exchange clock, run state, speed, base bars/s, lag.

Polled at ~4 Hz from ``coordinator.status()``: the clock moves continuously, so pushing
every change would cost more than it shows.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QStatusBar

from session_monitor.core.clock import ClockState
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.gui import theme
from session_monitor.gui.formatting import exchange_time, format_lag, format_speed, zone_label

__all__ = ["StatusPanel"]

REFRESH_MS = 250


class StatusPanel(QObject):
    """Owns the permanent status-bar labels and refreshes them."""

    def __init__(self, bar: QStatusBar, coordinator: SessionCoordinator, source: str) -> None:
        super().__init__(bar)
        self.coordinator = coordinator
        self.session = QLabel(bar)
        self.clock = QLabel(bar)
        self.state = QLabel(bar)
        self.speed = QLabel(bar)
        self.rate = QLabel(bar)
        self.lag = QLabel(bar)
        self.lag.setToolTip(
            "How far the newest bar handed over trails the session clock: about one bar is normal;\n"
            "more means the feed (or this machine) is behind"
        )
        self.source = QLabel(f"source: {source}", bar)
        self.feeds = QLabel(bar)
        self.feeds.setStyleSheet(f"color: {theme.QUALITY_BAD.name()};")
        for label in (self.source, self.feeds, self.session, self.clock, self.state, self.speed, self.rate, self.lag):
            bar.addPermanentWidget(label)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        status = self.coordinator.status()
        session = status.session
        if session is not None:
            current = min(status.sessions_done + 1, status.sessions_total)
            progress = f" ({current}/{status.sessions_total})" if status.sessions_total > 1 else ""
            self.session.setText(f"session {session.date.isoformat()}{progress}")
            self.clock.setText(f"{exchange_time(status.clock, session.tz, seconds=True)} {zone_label(session.tz)}")
        self.state.setText(status.state.value)
        self.speed.setText(f"speed {format_speed(status.speed)}")
        self.rate.setText(f"{status.bars_per_second:,.0f} base bars/s")
        # lag only means something while bars stream: symbols watched, the session open
        meaningful = (
            status.lag is not None and status.state is ClockState.OPEN and bool(self.coordinator.session_data)
        )
        self.lag.setVisible(meaningful)
        if meaningful:
            self.lag.setText(f"lag {format_lag(status.lag)}")
        down = ", ".join(status.disconnected)
        self.feeds.setText(f"feed down: {down}" if down else "")
        self.feeds.setVisible(bool(down))

    def stop(self) -> None:
        self.timer.stop()
