"""Alerts → Rules…: edit the alert rules, for all symbols or one watchlist entry.

The dialog edits a copy; Apply hands the new :class:`core.alerts.AlertConfig` to the
engine (File → Save session writes it into the session file).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from session_monitor.core.alerts import AlertConfig, AlertRules

__all__ = ["AlertRulesDialog"]

ALL_SYMBOLS = "All symbols"


class _Optional(QWidget):
    """A number that can be switched off (a rule set to ``false``)."""

    def __init__(self, spin: QSpinBox | QDoubleSpinBox, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled = QCheckBox(self)
        self.spin = spin
        spin.setParent(self)
        self.enabled.toggled.connect(spin.setEnabled)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.enabled)
        layout.addWidget(spin, 1)

    def value(self) -> float | None:
        return float(self.spin.value()) if self.enabled.isChecked() else None

    def set_value(self, value: float | None) -> None:
        self.enabled.setChecked(value is not None)
        self.spin.setEnabled(value is not None)
        if value is not None:
            self.spin.setValue(value)  # type: ignore[arg-type]


def _int_spin(low: int, high: int, suffix: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSuffix(suffix)
    return spin


def _percent_spin() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.0, 100.0)
    spin.setDecimals(1)
    spin.setSuffix(" %")
    return spin


class AlertRulesDialog(QDialog):
    """Rules for all symbols (the defaults) or one symbol (its own rules over them)."""

    #: (AlertConfig) the user pressed Apply or OK
    applied = Signal(object)

    def __init__(self, config: AlertConfig, symbols: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alert rules")
        self.config = AlertConfig(config.default, dict(config.per_symbol))
        self.scope = QComboBox(self)
        self.scope.addItems([ALL_SYMBOLS, *symbols])
        self.own = QCheckBox("Own rules for this symbol", self)
        self.stale = _Optional(_int_spin(1, 100_000, " slots"))
        self.down = _Optional(_int_spin(0, 86_400, " s"))
        self.coverage = _Optional(_percent_spin())
        self.quality = _Optional(_percent_spin())
        self.gap = _Optional(_int_spin(1, 100_000, " slots"))
        self.check_at = QComboBox(self)
        self.check_at.addItems(["close", "open"])
        self.revised = QCheckBox(self)
        self.mismatch = QCheckBox(self)
        self.mismatch_volume = QCheckBox("also when only the volume differs", self)
        form = QFormLayout()
        form.addRow("Rules for", self.scope)
        form.addRow("", self.own)
        form.addRow("Stale while open for", self.stale)
        form.addRow("Feed down for", self.down)
        form.addRow("Coverage below", self.coverage)
        form.addRow("Quality below", self.quality)
        form.addRow("Check coverage/quality at", self.check_at)
        form.addRow("Gap (not quiet) longer than", self.gap)
        form.addRow("Derived bar revised after final", self.revised)
        form.addRow("Reconciliation mismatch", self.mismatch)
        form.addRow("", self.mismatch_volume)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel,
            self,
        )
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self._shown = ALL_SYMBOLS
        self.scope.currentTextChanged.connect(self._on_scope_changed)
        self.own.toggled.connect(self._on_own_toggled)
        self._load(ALL_SYMBOLS)

    # -- form <-> rules ------------------------------------------------------------------
    def _fields(self) -> list[QWidget]:
        return [self.stale, self.down, self.coverage, self.quality, self.gap, self.check_at, self.revised,
                self.mismatch, self.mismatch_volume]

    def _load(self, scope: str) -> None:
        self._shown = scope
        own = scope != ALL_SYMBOLS and scope in self.config.per_symbol
        rules = self.config.rules_for(scope) if scope != ALL_SYMBOLS else self.config.default
        self.own.setVisible(scope != ALL_SYMBOLS)
        self.own.blockSignals(True)
        self.own.setChecked(own)
        self.own.blockSignals(False)
        self.stale.set_value(rules.stale_slots)
        self.down.set_value(rules.down_seconds)
        self.coverage.set_value(rules.coverage_below)
        self.quality.set_value(rules.quality_below)
        self.gap.set_value(rules.gap_slots)
        self.check_at.setCurrentText(rules.check_at)
        self.revised.setChecked(rules.revised)
        self.mismatch.setChecked(rules.mismatch)
        self.mismatch_volume.setChecked(rules.mismatch_volume)
        for field in self._fields():
            field.setEnabled(scope == ALL_SYMBOLS or own)

    def _rules(self) -> AlertRules:
        def whole(value: float | None) -> int | None:
            return None if value is None else int(value)

        return replace(
            AlertRules(),
            stale_slots=whole(self.stale.value()), down_seconds=self.down.value(),
            coverage_below=self.coverage.value(), quality_below=self.quality.value(),
            gap_slots=whole(self.gap.value()), check_at=self.check_at.currentText(),
            revised=self.revised.isChecked(), mismatch=self.mismatch.isChecked(),
            mismatch_volume=self.mismatch_volume.isChecked(),
        )

    def _store(self) -> None:
        """Keep what the form shows for the scope it shows."""
        if self._shown == ALL_SYMBOLS:
            self.config.default = self._rules()
        elif self.own.isChecked():
            self.config.per_symbol[self._shown] = self._rules()
        else:
            self.config.per_symbol.pop(self._shown, None)

    def _on_scope_changed(self, scope: str) -> None:
        self._store()
        self._load(scope)

    def _on_own_toggled(self, own: bool) -> None:
        for field in self._fields():
            field.setEnabled(own)

    def apply(self) -> None:
        self._store()
        self.applied.emit(AlertConfig(self.config.default, dict(self.config.per_symbol)))

    def _ok(self) -> None:
        self.apply()
        self.accept()
