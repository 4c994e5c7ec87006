"""The main window: controls bar, symbol tree | charts, messages dock, status bar.

It wires widgets to the bridge and turns user requests into coordinator calls. Handlers
that await are qasync ``asyncSlot`` coroutines with try/finally restoring the UI;
asynchronous start-up lives in :meth:`boot`, not in ``__init__``.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QFileDialog,
    QHeaderView,
    QMainWindow,
    QSplitter,
    QToolBar,
    QWidget,
)
from qasync import asyncSlot

from core.alerts import AlertConfig, attach_alerts
from core.clock import ClockState
from core.coordinator import SessionCoordinator, SymbolError
from core.intervals import IntervalError
from core.session_data import SessionData
from gui.alert_rules_dialog import AlertRulesDialog
from gui.alerts_dock import AlertNotifier, AlertsDock
from gui.bridge import SessionBridge
from gui.chart.symbol_charts import SymbolCharts
from gui.chart.widget import IntervalChart
from gui.controls import ControlsBar
from gui.credentials_dialog import CredentialsDialog
from gui.export_dialog import ExportDialog, ExportRequest, run_export
from gui.handlers import RunningHandlers
from gui.health_view import HealthBanner, HealthStatus
from gui.icons import icon
from gui.messages import MessagesDock
from gui.session_file import choose_save_path, save_session, session_config
from gui.settings import AppSettings, WatchEntry
from gui.status import StatusPanel
from gui.tree_model import INTERVAL_ROLE, SYMBOL_ROLE, Column, SessionTreeModel
from gui.tree_view import SessionTreeView

__all__ = ["MainWindow"]


class MainWindow(QMainWindow):
    """Session Monitor's window over one SessionData and the coordinator feeding it."""

    #: emitted once the window has closed (the app then stops the coordinator)
    closed = Signal()
    #: (path of a session .toml file) File > Open session: the app replaces this run
    open_session_requested = Signal(str)

    def __init__(
        self,
        session_data: SessionData,
        coordinator: SessionCoordinator,
        settings: AppSettings,
        source_name: str = "demo",
        parent: QWidget | None = None,
        alert_config: AlertConfig | None = None,
    ) -> None:
        super().__init__(parent)
        self.session_data = session_data
        self.coordinator = coordinator
        self.settings = settings
        self.source_name = source_name
        #: False for throw-away runs (screenshots): closing then leaves the user's settings alone
        self.persist = True
        self._handlers = RunningHandlers()
        self._credentials_dialog: CredentialsDialog | None = None
        self.setWindowTitle(f"Session Monitor — {source_name}")
        self.setWindowIcon(icon("app"))
        self.resize(1280, 800)

        self.bridge = SessionBridge(session_data, self)
        self.bridge.attach_coordinator(coordinator)
        self.model = SessionTreeModel(session_data, self.bridge, self)

        # uniform row heights (its own set-up): it repaints only the visible rows a refresh names
        self.tree = SessionTreeView(self)
        self.tree.setObjectName("symbolTree")
        self.tree.setModel(self.model)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.tree.header()
        header.setStretchLastSection(False)
        # Interactive, sized to contents when symbols arrive: ResizeToContents would re-measure
        # every row of every column on each dataChanged (O(rows) per refresh while streaming).
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.model.rowsInserted.connect(self._on_rows_inserted)
        self._resize_columns = QTimer(self)
        self._resize_columns.setSingleShot(True)
        self._resize_columns.setInterval(100)
        self._resize_columns.timeout.connect(self._fit_columns)

        self.charts = SymbolCharts(session_data, self.bridge, self)
        self.charts.interval_shown.connect(self._on_interval_shown)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(self.charts)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
        self._split_pending = True  # first show sizes the tree to its columns (unless restored)

        self.controls = ControlsBar(settings.default_intervals(), coordinator.clock.speed, self)
        toolbar = QToolBar("Controls", self)
        toolbar.setObjectName("controlsToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(self.controls)
        self.addToolBar(toolbar)

        self.messages = MessagesDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.messages)
        self.resizeDocks([self.messages], [110], Qt.Orientation.Vertical)
        self.status = StatusPanel(self.statusBar(), coordinator, source_name)

        self.controls.add_requested.connect(self.on_add)
        self.controls.remove_requested.connect(self.on_remove)
        self.controls.pause_requested.connect(coordinator.pause)
        self.controls.resume_requested.connect(coordinator.resume)
        self.controls.speed_selected.connect(self._on_speed_selected)
        self.bridge.message_posted.connect(self.messages.post)
        self.bridge.state_changed.connect(self.controls.set_state)
        self.tree.selectionModel().currentChanged.connect(self._on_current_changed)
        delete = QShortcut(QKeySequence(Qt.Key.Key_Delete), self.tree, context=Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.on_remove)
        self.controls.set_state(coordinator.status().state)
        if coordinator.live:
            self.controls.set_live()
        self._build_menus()
        self._build_health(alert_config)
        self._restore_layout()

    def _build_health(self, alert_config: AlertConfig | None) -> None:
        """Feed health and alerts: engine, dock, notifications, chart banner, status, View toggles."""
        self.alerts = attach_alerts(self.coordinator, alert_config)
        self.bridge.attach_alerts(self.alerts)
        self.model.alerts = self.alerts
        self.notifier = AlertNotifier(self.bridge, icon("app"), self)
        self.alerts_dock = AlertsDock(self.alerts, self.bridge, self.notifier, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.alerts_dock)
        self.tabifyDockWidget(self.messages, self.alerts_dock)
        self.messages.raise_()
        self.alerts_dock.jump_requested.connect(self.jump_to)
        self.health_banner = HealthBanner(self.session_data, self.bridge, self.charts)
        layout = self.charts.layout()
        assert isinstance(layout, QBoxLayout)
        self.health_banner.attach_to(layout)
        self.health_status = HealthStatus(self.statusBar(), self.session_data, self.bridge)
        self.tree.selectionModel().currentChanged.connect(
            lambda current, _previous: self.health_banner.show_symbol(current.data(SYMBOL_ROLE))
        )
        self.tree.setColumnHidden(Column.COVERAGE, True)  # View > Coverage column shows it
        view_menu = next(a.menu() for a in self.menuBar().actions() if a.text() == "&View")
        view_menu.addAction(self.alerts_dock.toggleViewAction())
        self.quiet_gaps_action = view_menu.addAction("Show &quiet gaps (no trades)")
        self.quiet_gaps_action.setCheckable(True)
        self.quiet_gaps_action.setChecked(IntervalChart.quiet_gaps_shown)
        self.quiet_gaps_action.toggled.connect(self.show_quiet_gaps)
        self.coverage_action = view_menu.addAction("&Coverage column")
        self.coverage_action.setCheckable(True)
        self.coverage_action.toggled.connect(self._show_coverage_column)
        self.rules_action = view_menu.addAction("Alert &rules…")
        self.rules_action.triggered.connect(self.show_alert_rules)
        self.alerts_dock.rules_button.clicked.connect(self.show_alert_rules)

    def _show_coverage_column(self, shown: bool) -> None:
        self.tree.setColumnHidden(Column.COVERAGE, not shown)
        if shown:
            self.tree.resizeColumnToContents(Column.COVERAGE)

    def show_alert_rules(self) -> AlertRulesDialog:
        """Open the alert rules (window-modal, not exec(): the loop keeps running)."""
        dialog = AlertRulesDialog(self.alerts.config, self.session_data.get_active_symbols(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.applied.connect(self.alerts.set_config)
        dialog.open()
        return dialog

    def show_quiet_gaps(self, shown: bool) -> None:
        """Draw quiet gaps (faint) or hide them, in every chart now and later."""
        IntervalChart.quiet_gaps_shown = shown
        for chart in self.charts.charts.values():
            chart.show_quiet_gaps(shown)

    def jump_to(self, symbol: str, interval: str, time: float) -> None:
        """Select the alert's symbol and interval and bring its time into the chart's view."""
        if self.session_data.get_symbol_data(symbol) is None:
            self.report_problem(f"{symbol} is no longer watched")
            return
        self.select_symbol(symbol, interval or None)
        chart = self.charts.chart(interval or self.charts.current_interval() or "")
        if chart is not None:
            width = chart.data.width
            chart.view.setXRange(time - 40 * width, time + 20 * width, padding=0)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = file_menu.addAction("&Open session file…")
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_session_file)
        self.save_session_action = file_menu.addAction("&Save session…")
        self.save_session_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_session_action.triggered.connect(self._choose_save_file)
        self.export_action = file_menu.addAction("&Export…")
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(self.show_export_dialog)
        file_menu.addSeparator()
        live_action = file_menu.addAction("&Live data (Alpaca)…")
        live_action.triggered.connect(self.show_credentials_dialog)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.messages.toggleViewAction())

    def _choose_session_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session file", "", "Session files (*.toml);;All files (*)")
        if path:
            self.open_session_requested.emit(path)

    def _choose_save_file(self) -> None:
        path = choose_save_path(self)  # a blocking dialog: from this plain slot, never inside a coroutine
        if path:
            self.on_save_session(path)

    @asyncSlot(str)
    async def on_save_session(self, path: str) -> None:
        """Write the running source, dates, speed and watchlist as a session file."""
        self._handlers.enter()
        self.save_session_action.setEnabled(False)
        try:
            config = session_config(self.source_name, self.coordinator, self.watchlist())
            config.alerts = self.alerts.config
            await save_session(config, path, self.notify)
        finally:
            self.save_session_action.setEnabled(True)
            self._handlers.leave()

    def show_export_dialog(self) -> ExportDialog:
        """Open File → Export… (window-modal, not exec(): the loop keeps running)."""
        dialog = ExportDialog(self.session_data.get_active_symbols(), self.selected_symbol(), self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.export_requested.connect(self.on_export)
        dialog.open()
        return dialog

    @asyncSlot(object)
    async def on_export(self, request: ExportRequest) -> None:
        """Write the export off the loop; one export at a time."""
        self._handlers.enter()
        self.export_action.setEnabled(False)
        try:
            await run_export(self.session_data, request, self.coordinator.calendar.name, self.notify)
        finally:
            self.export_action.setEnabled(True)
            self._handlers.leave()

    def show_credentials_dialog(self) -> CredentialsDialog:
        """Open File → Live data (Alpaca)…; one dialog per window, re-read each time it opens."""
        if self._credentials_dialog is None:
            self._credentials_dialog = CredentialsDialog(self.settings, self.notify, self)
        self._credentials_dialog.open()
        self._credentials_dialog.refresh()
        return self._credentials_dialog

    # -- start-up --------------------------------------------------------------------------
    async def boot(self, watchlist: list[WatchEntry]) -> None:
        """Add the start-up symbols; one that cannot be added is reported, not fatal."""
        for entry in watchlist:
            try:
                await self.coordinator.add_symbol(entry.symbol, entry.intervals)
            except (SymbolError, IntervalError) as exc:
                self.report_problem(f"Could not restore {entry.symbol}: {exc}")
        symbols = self.session_data.get_active_symbols()
        if symbols and self.charts.symbol is None:
            self.select_symbol(symbols[0])
        status = self.coordinator.status()
        when = status.session.date.isoformat() if status.session else "?"
        watching = ", ".join(symbols) or "nothing yet"
        self.post_message(logging.INFO, f"{self.source_name}: watching {watching} from {when}")

    # -- requests ---------------------------------------------------------------------------
    @asyncSlot(str, str)
    async def on_add(self, symbol_text: str, intervals_text: str) -> None:
        """Add a symbol; every refusal is shown in the window and changes nothing."""
        self._handlers.enter()
        self.controls.set_busy(True)
        try:
            intervals = [part for part in intervals_text.split(",") if part.strip()]
            data = await self.coordinator.add_symbol(symbol_text, intervals)
        except (SymbolError, IntervalError) as exc:
            self.report_problem(str(exc))
        else:
            derived = ", ".join(b.name for b in data.derived_intervals()) or "nothing"
            note = " (the run has finished: no more bars will arrive)" if self._finished() else ""
            self.controls.show_info(f"Watching {data.symbol}: streams {data.base_interval}, derives {derived}{note}")
            self.controls.symbol_edit.clear()
            self.settings.set_default_intervals(intervals_text.strip())
            self.select_symbol(data.symbol)
        finally:
            self.controls.set_busy(False)
            self._handlers.leave()

    @asyncSlot()
    async def on_remove(self) -> None:
        """Remove the selected symbol (its bars in flight are dropped by core)."""
        self._handlers.enter()
        self.controls.set_busy(True)
        try:
            symbol = self.selected_symbol()
            if symbol is None:
                self.report_problem("Select a symbol to remove")
                return
            if self.coordinator.remove_symbol(symbol):
                self.controls.show_info(f"Stopped watching {symbol}")
                remaining = self.session_data.get_active_symbols()
                if remaining and self.charts.symbol is None:
                    self.select_symbol(remaining[0])
        finally:
            self.controls.set_busy(False)
            self._handlers.leave()

    def _finished(self) -> bool:
        return self.coordinator.status().state is ClockState.FINISHED

    def _on_speed_selected(self, speed: float | None) -> None:
        self.coordinator.set_speed(speed)

    def report_problem(self, text: str) -> None:
        """A refused request: the controls bar says why, and the messages dock keeps it."""
        self.controls.show_error(text)
        self.messages.post(logging.WARNING, text)

    def post_message(self, level: int, text: str) -> None:
        """Anything worth keeping for the user (the excepthook and the app post here)."""
        self.messages.post(level, text)

    def notify(self, level: int, text: str) -> None:
        """The outcome of a File action: kept in the messages dock, shown in the status bar."""
        self.messages.post(level, text)
        self.statusBar().showMessage(text, 10_000)

    # -- selection ---------------------------------------------------------------------------
    def selected_symbol(self) -> str | None:
        index = self.tree.currentIndex()
        return index.data(SYMBOL_ROLE) if index.isValid() else None

    def select_symbol(self, symbol: str, interval: str | None = None) -> None:
        index = self.model.interval_index(symbol, interval) if interval else self.model.symbol_index(symbol)
        if index.isValid():
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            self.tree.selectionModel().setCurrentIndex(index, flags)

    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid():
            self.charts.show_symbol(None)
            return
        self.charts.show_symbol(current.data(SYMBOL_ROLE), current.data(INTERVAL_ROLE))

    def _on_interval_shown(self, interval: str) -> None:
        """Tab changed by the user: keep the tree's selection on the same interval row."""
        symbol = self.charts.symbol
        current = self.tree.currentIndex()
        if symbol and current.isValid() and current.data(INTERVAL_ROLE) not in (None, interval):
            self.select_symbol(symbol, interval)

    def _on_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if not parent.isValid():
            for row in range(first, last + 1):
                self.tree.expand(self.model.index(row, Column.INTERVAL))
            self._resize_columns.start()  # once per burst of adds, not per row (100 adds: 15 s -> 0.3 s)

    def _fit_columns(self) -> None:
        for column in range(self.model.columnCount()):
            self.tree.resizeColumnToContents(column)

    # -- settings and shutdown -----------------------------------------------------------------
    def watchlist(self) -> list[WatchEntry]:
        """What is watched now, as settings keep it (the intervals each symbol resolved to)."""
        return [
            WatchEntry(data.symbol, tuple(i.name for i in data.requested))
            for data in self.session_data.all_symbol_data()
        ]

    def _restore_layout(self) -> None:
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.splitter_state()
        if splitter is not None:
            self._split_pending = not self.splitter.restoreState(splitter)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._split_pending:  # sizes given before the window has its size would be rescaled
            self._split_pending = False
            tree = min(max(self.width() * 2 // 5, 480), 560, self.width() // 2)
            self.splitter.setSizes([tree, max(self.splitter.width() - tree, 1)])

    def save_settings(self) -> None:
        self.settings.set_watchlist(self.watchlist())
        self.settings.set_last_source(self.source_name)
        self.settings.set_layout(self.saveGeometry(), self.saveState(), self.splitter.saveState())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.persist:
            self.save_settings()
        self.status.stop()
        super().closeEvent(event)
        self.closed.emit()

    async def shutdown(self) -> None:
        """After the coordinator stopped: finish handlers still running, stop listening to core."""
        await self._handlers.cancel_all()
        if self._credentials_dialog is not None:
            await self._credentials_dialog.shutdown()
        self.bridge.detach()

    def flush(self) -> None:
        """Push coalesced model and chart updates now (screenshots and tests)."""
        self.model.flush()
        self.charts.flush()
        self.status.refresh()
