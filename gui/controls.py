"""The controls bar: add/remove symbols (with their session hours), play/pause, speed, and a one-line feedback label.

The bar only collects input and shows results; validation happens in core (the
coordinator refuses bad requests with a reason) and the window decides what to do.
"""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from session_monitor.core.clock import ClockState
from session_monitor.core.symbols import SYMBOL_RULE
from session_monitor.gui import theme
from session_monitor.gui.formatting import format_speed
from session_monitor.gui.icons import icon

__all__ = ["HOURS_CHOICES", "SPEEDS", "ControlsBar"]

#: speed choices: multiples of real time, None = as fast as possible
SPEEDS: tuple[float | None, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, None)
#: the hours a symbol can be added with: (label, ``core.calendar.HOURS`` value)
HOURS_CHOICES = (("Regular", "regular"), ("Extended", "extended"))
#: what the hours choice does, when it can be made
HOURS_TOOLTIP = ("Session hours of the symbol to add: Regular 09:30-16:00, or Extended 04:00-20:00 "
                 "New York (pre-market and after-hours too); the run's hours are preselected")


class ControlsBar(QWidget):
    """Symbol and interval fields, the hours choice, Add/Remove, Play/Pause, speed."""

    #: (symbol text, intervals text, hours) as chosen; hours is "" when there is no choice (the run's)
    add_requested = Signal(str, str, str)
    remove_requested = Signal()
    pause_requested = Signal()
    resume_requested = Signal()
    #: (speed: float | None)
    speed_selected = Signal(object)

    def __init__(self, default_intervals: str, speed: float | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.symbol_edit = QLineEdit(self)
        self.symbol_edit.setPlaceholderText("Symbol, e.g. AAPL")
        self.symbol_edit.setMaximumWidth(140)
        self.symbol_edit.setToolTip(f"A ticker: {SYMBOL_RULE}")
        self.intervals_edit = QLineEdit(default_intervals, self)
        self.intervals_edit.setPlaceholderText("Intervals, e.g. 1m,5m,15m")
        self.intervals_edit.setMaximumWidth(180)
        self.intervals_edit.setToolTip("Comma-separated intervals: the base is streamed, the rest derived")
        self.hours_combo = QComboBox(self)
        for label, hours in HOURS_CHOICES:
            self.hours_combo.addItem(label, hours)
        self.set_hours_choice("regular", None)  # the window narrows it to what its run offers
        self.add_button = QPushButton("Add", self)
        self.add_button.setToolTip("Watch the symbol (Enter)")
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Stop watching the selected symbol (Delete)")
        self.add_button.setIcon(icon("add"))
        self.remove_button.setIcon(icon("remove"))
        self.play_button = QPushButton("Pause", self)
        self.play_button.setIcon(icon("pause"))
        self.play_button.setMinimumWidth(70)
        self.speed_combo = QComboBox(self)
        self.speed_combo.setToolTip("Replay speed (times real time)")
        for choice in SPEEDS:  # item data 0.0 stands for "max" (a None QVariant cannot be found)
            self.speed_combo.addItem(format_speed(choice), choice or 0.0)
        self.set_speed(speed)
        self.feedback = QLabel(self)
        # Ignored: a long message must not widen the window's minimum size (the tooltip has it all)
        self.feedback.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.feedback.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for widget in (
            QLabel("Symbol", self),
            self.symbol_edit,
            QLabel("Intervals", self),
            self.intervals_edit,
            QLabel("Hours", self),
            self.hours_combo,
            self.add_button,
            self.remove_button,
            self.play_button,
            QLabel("Speed", self),
            self.speed_combo,
        ):
            layout.addWidget(widget)
        layout.addWidget(self.feedback, 1)

        self.add_button.clicked.connect(self._emit_add)
        self.symbol_edit.returnPressed.connect(self._emit_add)
        self.intervals_edit.returnPressed.connect(self._emit_add)
        self.remove_button.clicked.connect(self.remove_requested)
        self.play_button.clicked.connect(self._toggle_play)
        self.speed_combo.activated.connect(self._emit_speed)
        self._paused = False
        self._live = False

    # -- outgoing -----------------------------------------------------------------------
    def _emit_add(self) -> None:
        if self.add_button.isEnabled():
            self.add_requested.emit(self.symbol_edit.text(), self.intervals_edit.text(), self.chosen_hours())

    def _toggle_play(self) -> None:
        (self.resume_requested if self._paused else self.pause_requested).emit()

    def _emit_speed(self, index: int) -> None:
        self.speed_selected.emit(self.speed_combo.itemData(index) or None)

    def chosen_hours(self) -> str:
        """The hours the next symbol is added with; "" when there is no choice (the run's)."""
        return str(self.hours_combo.currentData()) if self.hours_combo.isEnabled() else ""

    # -- incoming -----------------------------------------------------------------------
    def set_hours_choice(self, default: str, unavailable: str | None) -> None:
        """Preselect ``default`` (the run's hours); ``unavailable`` says why there is no choice."""
        self.hours_combo.setCurrentIndex(max(0, self.hours_combo.findData(default)))
        self.hours_combo.setEnabled(unavailable is None)
        self.hours_combo.setToolTip(HOURS_TOOLTIP if unavailable is None else unavailable)

    def set_symbol_choices(self, symbols: list[str]) -> None:
        """Offer what the source has (Lean tickers, CSV symbols) as the symbol field is typed."""
        completer = QCompleter(QStringListModel(sorted(symbols), self), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        self.symbol_edit.setCompleter(completer)

    def symbol_choices(self, prefix: str) -> list[str]:
        """The completions the symbol field offers for ``prefix`` (what the popup lists)."""
        completer = self.symbol_edit.completer()
        if completer is None:
            return []
        completer.setCompletionPrefix(prefix)
        model = completer.completionModel()
        return [model.index(row, 0).data() for row in range(model.rowCount())]

    def set_live(self) -> None:
        """A live session runs on the wall clock: nothing to pause, no speed to choose."""
        self._live = True
        for widget in (self.play_button, self.speed_combo):
            widget.setEnabled(False)
            widget.setToolTip("Live data runs on the exchange's clock")

    def set_busy(self, busy: bool) -> None:
        """While a request runs, a second click must not start another."""
        self.add_button.setEnabled(not busy)
        self.remove_button.setEnabled(not busy)

    def set_state(self, state: ClockState) -> None:
        self._paused = state is ClockState.PAUSED
        self.play_button.setText("Play" if self._paused else "Pause")
        self.play_button.setIcon(icon("play" if self._paused else "pause"))
        self.play_button.setEnabled(state is not ClockState.FINISHED and not self._live)

    def set_speed(self, speed: float | None) -> None:
        index = self.speed_combo.findData(speed or 0.0)
        if index < 0:  # e.g. --speed 120: offer it too
            self.speed_combo.addItem(format_speed(speed), speed or 0.0)
            index = self.speed_combo.count() - 1
        self.speed_combo.setCurrentIndex(index)

    def show_error(self, text: str) -> None:
        self.feedback.setStyleSheet(f"color: {theme.QUALITY_BAD.name()};")
        self.feedback.setText(text)
        self.feedback.setToolTip(text)

    def show_warning(self, text: str) -> None:
        """Done, but not quite as asked: worth reading (amber)."""
        self.feedback.setStyleSheet(f"color: {theme.QUALITY_WARN.name()};")
        self.feedback.setText(text)
        self.feedback.setToolTip(text)

    def show_info(self, text: str) -> None:
        self.feedback.setStyleSheet(f"color: {theme.AXIS.name()};")
        self.feedback.setText(text)
        self.feedback.setToolTip(text)
