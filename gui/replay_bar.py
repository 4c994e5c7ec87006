"""The replay bar: restart, next session, step one bar, a progress slider over the range, jump to a time.

It only turns input into coordinator calls (``restart``, ``next_session``, ``step_bar``,
``seek``) and follows the clock on a timer; a live session cannot move, so the bar is
disabled there.
"""

from __future__ import annotations

from PySide6.QtCore import QDateTime, QEvent, QObject, Qt, QTimer, QTimeZone
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractSlider, QDateTimeEdit, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.gui.formatting import exchange_time

__all__ = ["SLIDER_STEPS", "ReplayBar"]

#: slider resolution over the whole range
SLIDER_STEPS = 10_000
REFRESH_MS = 250
DATETIME_FORMAT = "yyyy-MM-dd HH:mm:ss"


class ReplayBar(QWidget):
    """Moves a replay through its range; follows the clock while nobody drags the slider."""

    def __init__(self, coordinator: SessionCoordinator, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.coordinator = coordinator
        # a connected window may have no session yet (the engines publish it): the calendar's zone
        self.tz = coordinator.sessions[0].tz if coordinator.sessions else str(coordinator.calendar.tz)
        self.restart_button = QPushButton("Restart", self)
        self.restart_button.setToolTip("Replay the range again from its first open (Ctrl+R)")
        self.next_button = QPushButton("Next session", self)
        self.next_button.setToolTip("Finish this session at once and continue at the next open (Ctrl+Shift+Right)")
        self.step_button = QPushButton("Step", self)
        self.step_button.setToolTip("While paused: one base bar forward (Ctrl+Right)")
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(SLIDER_STEPS // 50)
        self.slider.setMinimumWidth(200)
        self.slider.setToolTip("Progress over the replayed range: drag or click to move there")
        self.position = QLabel(self)
        self.jump_edit = QDateTimeEdit(self)
        self.jump_edit.setDisplayFormat(DATETIME_FORMAT)
        self.jump_edit.setTimeZone(QTimeZone(self.tz.encode()))
        if coordinator.sessions:  # a connected window may have none yet: the bar is hidden there anyway
            self.jump_edit.setMinimumDateTime(self._qt_time(coordinator.sessions[0].open))
            self.jump_edit.setMaximumDateTime(self._qt_time(coordinator.sessions[-1].close))
            self.jump_edit.setDateTime(self._qt_time(coordinator.sessions[0].open))
        self.jump_edit.setToolTip(f"A date and time at the exchange ({self.tz}) to jump to (Ctrl+J)")
        self.jump_button = QPushButton("Go", self)
        self.jump_button.setToolTip("Jump to that date and time")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 2)
        for widget in (self.restart_button, self.next_button, self.step_button):
            layout.addWidget(widget)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.position)
        layout.addWidget(QLabel("Jump to", self))
        layout.addWidget(self.jump_edit)
        layout.addWidget(self.jump_button)

        self.restart_button.clicked.connect(self.restart)
        self.next_button.clicked.connect(self.next_session)
        self.step_button.clicked.connect(self.step)
        self.jump_button.clicked.connect(self.jump)
        self.jump_edit.installEventFilter(self)  # Enter in the field jumps, like Go
        self.slider.sliderReleased.connect(self._slider_moved)
        self.slider.sliderMoved.connect(self._show_slider_time)
        self.slider.actionTriggered.connect(self._slider_action)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        if coordinator.live:  # nothing to follow or move: the exchange (or the engines) own the clock
            self.setEnabled(False)
            self.setToolTip("Live data runs on the exchange's clock")
            return
        self.timer.start()
        self.refresh()

    def _qt_time(self, ts: float) -> QDateTime:
        return QDateTime.fromSecsSinceEpoch(int(ts), QTimeZone(self.tz.encode()))

    # -- requests ---------------------------------------------------------------------------
    def restart(self) -> None:
        self.coordinator.restart()

    def next_session(self) -> None:
        self.coordinator.next_session()

    def step(self) -> None:
        self.coordinator.step_bar()

    def jump(self) -> None:
        """Seek to the time in the edit (exchange time)."""
        self.seek(float(self.jump_edit.dateTime().toSecsSinceEpoch()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.jump_edit
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self.jump()
            return True
        return super().eventFilter(watched, event)

    def seek(self, when: float) -> None:
        self.coordinator.seek(when)
        self.refresh(target=when)

    def _slider_action(self, action: int) -> None:
        if action != QAbstractSlider.SliderAction.SliderMove.value:  # a click on the groove, a key
            self._slider_moved()

    def _slider_time(self, position: int) -> float:
        return self.coordinator.time_at(position / SLIDER_STEPS * self.coordinator.total_seconds)

    def _slider_moved(self) -> None:
        self.seek(self._slider_time(self.slider.sliderPosition()))

    def _show_slider_time(self, position: int) -> None:
        """While dragging: where the replay would land."""
        self.position.setText(exchange_time(self._slider_time(position), self.tz, seconds=True, date=True))

    # -- following the clock --------------------------------------------------------------
    def refresh(self, target: float | None = None) -> None:
        coordinator = self.coordinator
        now = coordinator.clock.now if target is None else target
        self.step_button.setEnabled(coordinator.clock.paused)
        self.next_button.setEnabled(coordinator.session_index + 1 < len(coordinator.sessions))
        if not self.slider.isSliderDown():
            done = coordinator.progress_at(now)
            self.slider.setValue(round(SLIDER_STEPS * done / max(coordinator.total_seconds, 1.0)))
        self.position.setText(exchange_time(now, self.tz, seconds=True, date=True))

    def stop(self) -> None:
        self.timer.stop()
