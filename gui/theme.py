"""Colours shared by widgets and charts: one dark theme, as trading tools usually use."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

__all__ = [
    "AXIS",
    "BACKGROUND",
    "BOUNDARY",
    "CROSSHAIR",
    "DOWN",
    "FORMING",
    "GAP_FILL",
    "GRID_ALPHA",
    "QUALITY_BAD",
    "QUALITY_GOOD",
    "QUALITY_WARN",
    "QUIET_GAP_FILL",
    "TEXT",
    "UP",
    "VOLUME_ALPHA",
    "apply_dark_palette",
]

BACKGROUND = QColor("#131722")
PANEL = QColor("#1e222d")
TEXT = QColor("#d1d4dc")
AXIS = QColor("#787b86")
UP = QColor("#26a69a")
DOWN = QColor("#ef5350")
FORMING = QColor("#f0b90b")
GAP_FILL = QColor(239, 83, 80, 38)
#: a quiet gap (no trades, nothing lost): faint, so it does not read as an outage
QUIET_GAP_FILL = QColor(120, 123, 134, 18)
BOUNDARY = QColor("#5d606b")
CROSSHAIR = QColor("#9598a1")
QUALITY_GOOD = QColor("#4caf50")
QUALITY_WARN = QColor("#ffb300")
QUALITY_BAD = QColor("#ef5350")
VOLUME_ALPHA = 110
GRID_ALPHA = 0.12


def apply_dark_palette(app: QApplication) -> None:
    """Fusion with a dark palette, so widgets match the dark charts."""
    app.setStyle("Fusion")
    palette = QPalette()
    role = QPalette.ColorRole
    palette.setColor(role.Window, PANEL)
    palette.setColor(role.WindowText, TEXT)
    palette.setColor(role.Base, BACKGROUND)
    palette.setColor(role.AlternateBase, PANEL)
    palette.setColor(role.ToolTipBase, PANEL)
    palette.setColor(role.ToolTipText, TEXT)
    palette.setColor(role.Text, TEXT)
    palette.setColor(role.Button, PANEL)
    palette.setColor(role.ButtonText, TEXT)
    palette.setColor(role.BrightText, QColor("#ffffff"))
    palette.setColor(role.Highlight, QColor("#2962ff"))
    palette.setColor(role.HighlightedText, QColor("#ffffff"))
    palette.setColor(role.PlaceholderText, AXIS)
    palette.setColor(QPalette.ColorGroup.Disabled, role.Text, AXIS)
    palette.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, AXIS)
    palette.setColor(QPalette.ColorGroup.Disabled, role.WindowText, AXIS)
    app.setPalette(palette)
