"""Help menu: keyboard shortcuts, the legend (``gui.chart.marks.LEGEND``), About (version, data folder, log file).

Dialogs open with ``show()``, never ``exec()``: the replay keeps running behind them.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

import PySide6
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from session_monitor.core.appinfo import app_version
from session_monitor.core.logfile import log_file_path
from session_monitor.core.recording import default_recording_path
from session_monitor.gui import theme
from session_monitor.gui.chart.marks import LEGEND

__all__ = ["EXTRA_KEYS", "KeyHelp", "about_text", "build_help_menu", "shortcut_rows"]


@dataclass(frozen=True, slots=True)
class KeyHelp:
    keys: str
    action: str


#: keys that work without a menu action (the menus' own shortcuts are listed from the menus)
EXTRA_KEYS: tuple[KeyHelp, ...] = (
    KeyHelp("Space", "Play / pause, from anywhere in the window (also while typing a symbol)"),
    KeyHelp("Enter", "In the Symbol or Intervals field: add the symbol"),
    KeyHelp("Delete", "In the symbol tree: stop watching the selected symbol"),
    KeyHelp("Home / End", "In a chart: the oldest bar / the newest bar (the chart then follows new bars)"),
    KeyHelp("Mouse wheel, drag", "In a chart: zoom and pan the time axis"),
)


def shortcut_rows(window: QMainWindow) -> list[KeyHelp]:
    """Every menu action with a shortcut (read from the menus, so the list cannot drift), then the other keys."""
    rows: list[KeyHelp] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            sub = action.menu()
            if isinstance(sub, QMenu):
                walk(sub, f"{path} → {action.text()}")
                continue
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            label = action.text().split("\t")[0].replace("&", "")
            if keys:
                rows.append(KeyHelp(keys, f"{path} → {label}"))

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            walk(menu, top.text().replace("&", ""))
    return [*EXTRA_KEYS, *rows]


def about_text() -> str:
    return (
        f"<h3>Session Monitor {app_version()}</h3>"
        "<p>Watch a market session live: stream a base bar interval, derive higher intervals, "
        "measure quality and gaps.</p>"
        f"<p><b>Data folder</b> (recordings): {default_recording_path().parent}<br>"
        f"<b>Log file</b>: {log_file_path()}</p>"
        f"<p>Python {platform.python_version()}, PySide6 {PySide6.__version__}. Apache-2.0.</p>"
    )


def _swatch(colour: QColor, size: int = 20) -> QIcon:
    """A sample of a legend colour on the chart background (faint bands made visible)."""
    shown = QColor(colour)
    shown.setAlpha(max(shown.alpha(), 150))
    pixmap = QPixmap(size, size)
    pixmap.fill(theme.BACKGROUND)
    painter = QPainter(pixmap)
    painter.fillRect(QRectF(size * 0.2, size * 0.2, size * 0.6, size * 0.6), shown)
    painter.end()
    return QIcon(pixmap)


def _table_dialog(parent: QWidget, title: str, headers: tuple[str, str], rows: list[tuple[str, str, QIcon | None]],
                  name: str) -> QDialog:
    dialog = QDialog(parent)
    dialog.setObjectName(name)
    dialog.setWindowTitle(title)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    table = QTableWidget(len(rows), 2, dialog)
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    for row, (first, second, icon) in enumerate(rows):
        item = QTableWidgetItem(first)
        if icon is not None:
            item.setIcon(icon)
        table.setItem(row, 0, item)
        table.setItem(row, 1, QTableWidgetItem(second))
    table.resizeRowsToContents()
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(680, 420)
    return dialog


def show_shortcuts(window: QMainWindow) -> QDialog:
    rows = [(k.keys, k.action, None) for k in shortcut_rows(window)]
    dialog = _table_dialog(window, "Keyboard shortcuts", ("Keys", "Does"), rows, "shortcutsDialog")
    dialog.show()
    return dialog


def show_legend(window: QMainWindow) -> QDialog:
    rows = [(e.name, f"{e.looks}: {e.meaning}", _swatch(e.colour)) for e in LEGEND]
    dialog = _table_dialog(window, "Legend", ("Mark", "Means"), rows, "legendDialog")
    dialog.show()
    return dialog


def show_about(window: QMainWindow) -> QDialog:
    dialog = QDialog(window)
    dialog.setObjectName("aboutDialog")
    dialog.setWindowTitle("About Session Monitor")
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    label = QLabel(about_text(), dialog)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(label)
    layout.addWidget(buttons)
    dialog.show()
    return dialog


def build_help_menu(window: QMainWindow) -> dict[str, QAction]:
    """Add the Help menu to ``window``; returns its actions by name (tests trigger them)."""
    menu = window.menuBar().addMenu("&Help")
    shortcuts = menu.addAction("&Keyboard shortcuts")
    shortcuts.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
    shortcuts.triggered.connect(lambda: show_shortcuts(window))
    legend = menu.addAction("&Legend")
    legend.triggered.connect(lambda: show_legend(window))
    menu.addSeparator()
    about = menu.addAction("&About Session Monitor")
    about.triggered.connect(lambda: show_about(window))
    return {"shortcuts": shortcuts, "legend": legend, "about": about}
