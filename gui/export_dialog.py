"""File → Export…: pick what to write and where, then write it off the event loop.

The dialog only collects an :class:`ExportRequest`; :func:`run_export` hands it to
``core.export.export_symbols`` in an executor, because writing a long 1s session as
Parquet takes long enough to freeze the charts if done on the GUI thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from session_monitor.core.export import export_symbols
from session_monitor.core.session_data import SessionData
from session_monitor.gui.settings import EXPORT_FORMATS, AppSettings

__all__ = ["ExportDialog", "ExportRequest", "run_export"]

log = logging.getLogger("session_monitor.gui")

Notify = Callable[[int, str], None]
FORMAT_LABELS = {"csv": "CSV (final bars)", "parquet": "Parquet (every bar, with base-bar counts)"}


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What to export: ``symbols`` None means every watched symbol."""

    folder: Path
    fmt: str
    symbols: tuple[str, ...] | None


def default_folder() -> str:
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return str(Path(documents or Path.home()) / "session-monitor-export")


class ExportDialog(QDialog):
    """Scope (selected symbol or all), format and folder; accepting emits the request."""

    #: (ExportRequest) the user pressed OK
    export_requested = Signal(object)

    def __init__(
        self, symbols: list[str], selected: str | None, settings: AppSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.settings = settings
        self.selected = selected
        self.symbols = symbols
        self.selected_radio = QRadioButton(f"Selected symbol ({selected})" if selected else "Selected symbol", self)
        self.all_radio = QRadioButton(f"All symbols ({len(symbols)})", self)
        self.scope = QButtonGroup(self)
        self.scope.addButton(self.selected_radio)
        self.scope.addButton(self.all_radio)
        self.selected_radio.setEnabled(selected is not None)
        (self.selected_radio if selected else self.all_radio).setChecked(True)
        self.format_combo = QComboBox(self)
        for fmt in EXPORT_FORMATS:
            self.format_combo.addItem(FORMAT_LABELS.get(fmt, fmt), fmt)
        self.format_combo.setCurrentIndex(self.format_combo.findData(settings.export_format()))
        self.folder_edit = QLineEdit(settings.export_folder() or default_folder(), self)
        self.folder_edit.setMinimumWidth(360)
        self.folder_edit.setToolTip(
            "Files go to <folder>/<SYMBOL>/<interval>.csv|.parquet plus session.json "
            "(a / in a symbol is written %2F: BTC/USD goes to BTC%2FUSD); nothing is written outside <folder>"
        )
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        scope_row = QHBoxLayout()
        scope_row.addWidget(self.selected_radio)
        scope_row.addWidget(self.all_radio)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Symbols", scope_row)
        form.addRow("Format", self.format_combo)
        form.addRow("Folder", folder_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.folder_edit.textChanged.connect(self._update_ok)
        self._update_ok()

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder_edit.text())
        if chosen:
            self.folder_edit.setText(chosen)

    def _update_ok(self) -> None:
        ok = bool(self.folder_edit.text().strip()) and bool(self.symbols)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def request(self) -> ExportRequest:
        fmt = str(self.format_combo.currentData())
        symbols = (self.selected,) if self.selected_radio.isChecked() and self.selected else None
        return ExportRequest(Path(self.folder_edit.text().strip()).expanduser(), fmt, symbols)

    def accept(self) -> None:
        request = self.request()
        self.settings.set_export_choice(str(request.folder), request.fmt)
        self.export_requested.emit(request)  # before accept(): WA_DeleteOnClose may delete the dialog
        super().accept()


def _write(session_data: SessionData, request: ExportRequest, calendar_name: str) -> tuple[list[str], list[Path]]:
    """Runs in a worker thread: SessionData's lock keeps the bars consistent while read."""
    request.folder.mkdir(parents=True, exist_ok=True)
    with session_data.lock:  # re-entrant: export_symbols takes it too
        symbols = list(request.symbols) if request.symbols else session_data.get_active_symbols()
        written = export_symbols(session_data, request.folder, symbols, fmt=request.fmt, calendar_name=calendar_name)
    return symbols, written


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, ImportError):
        return f"Parquet needs pyarrow ({exc})"
    return str(exc) or type(exc).__name__


async def run_export(
    session_data: SessionData, request: ExportRequest, calendar_name: str, notify: Notify
) -> list[Path]:
    """Write the request in an executor; the outcome is one line through ``notify``.

    Any failure (a read-only folder, a symbol removed meanwhile, no pyarrow) is reported,
    never raised: the user only needs to know it did not work and why. The traceback
    goes to the log for whoever debugs it. Returns the files written ([] on failure).
    """
    loop = asyncio.get_running_loop()
    try:
        symbols, written = await loop.run_in_executor(None, partial(_write, session_data, request, calendar_name))
    except Exception as exc:
        log.warning("export to %s failed", request.folder, exc_info=True)
        notify(logging.ERROR, f"Export failed: {_reason(exc)}")
        return []
    what = symbols[0] if len(symbols) == 1 else f"{len(symbols)} symbols"
    notify(logging.INFO, f"Exported {what} as {request.fmt.upper()} to {request.folder} ({len(written)} files)")
    return written
