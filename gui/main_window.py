"""The main window: controls bar, symbol tree | charts, messages dock, status bar.

It wires widgets to the bridge and turns user requests into coordinator calls. Handlers
that await are qasync ``asyncSlot`` coroutines with try/finally restoring the UI;
asynchronous start-up lives in :meth:`boot`, not in ``__init__``.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QBoxLayout,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QWidget,
)
from qasync import asyncSlot

from session_monitor.core.alerts import AlertConfig, attach_alerts
from session_monitor.core.calendar import no_extended_hours
from session_monitor.core.clock import ClockState
from session_monitor.core.coordinator import SessionCoordinator, SymbolError
from session_monitor.core.intervals import IntervalError
from session_monitor.core.session_data import SessionData
from session_monitor.gui.alert_rules_dialog import AlertRulesDialog
from session_monitor.gui.alerts_dock import AlertNotifier, AlertsDock
from session_monitor.gui.bridge import SessionBridge
from session_monitor.gui.chart.selection import BaseBarSelection
from session_monitor.gui.chart.symbol_charts import SymbolCharts
from session_monitor.gui.chart.widget import IntervalChart
from session_monitor.gui.chart.workspace import ChartWorkspace, WorkspaceState
from session_monitor.gui.controls import SPEEDS, ControlsBar
from session_monitor.gui.credentials_dialog import CredentialsDialog, running_feed
from session_monitor.gui.export_dialog import ExportDialog, ExportRequest, run_export
from session_monitor.gui.formatting import finer_base_note
from session_monitor.gui.handlers import RunningHandlers
from session_monitor.gui.health_view import HealthBanner, HealthStatus
from session_monitor.gui.help_menu import build_help_menu
from session_monitor.gui.hours import hours_unavailable
from session_monitor.gui.icons import icon
from session_monitor.gui.messages import MessagesDock
from session_monitor.gui.reconcile_dock import ReconcileDock
from session_monitor.gui.replay_bar import ReplayBar
from session_monitor.gui.session_file import choose_save_path, run_hours, save_session, session_config
from session_monitor.gui.settings import AppSettings, WatchEntry
from session_monitor.gui.status import StatusPanel
from session_monitor.gui.tree_model import (
    COMPACT_ONLY,
    DISCONNECTED,
    INTERVAL_ROLE,
    SYMBOL_ROLE,
    Column,
    SessionTreeModel,
)
from session_monitor.gui.tree_view import FIT_ROWS, SessionTreeView
from session_monitor.gui.watchlist import CompactWatchlist

__all__ = ["MainWindow"]


class MainWindow(QMainWindow):
    """Session Monitor's window over one SessionData and the coordinator feeding it."""

    #: emitted once the window has closed (the app then stops the coordinator)
    closed = Signal()
    #: (path of a session .toml file) File > Open session: the app replaces this run
    open_session_requested = Signal(str)
    #: Session → Extended hours: start the run again with ``regular`` or ``extended`` hours
    hours_change_requested = Signal(str)

    def __init__(
        self,
        session_data: SessionData,
        coordinator: SessionCoordinator,
        settings: AppSettings,
        source_name: str = "demo",
        parent: QWidget | None = None,
        alert_config: AlertConfig | None = None,
        workspace: WorkspaceState | None = None,
    ) -> None:
        super().__init__(parent)
        self.session_data = session_data
        self.coordinator = coordinator
        self.settings = settings
        self.source_name = source_name
        #: False for throw-away runs (screenshots): closing then leaves the user's settings alone
        self.persist = True
        #: the chart workspace of the session file opened (None: the one kept in the settings)
        self._opened_workspace = workspace
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
        header.setResizeContentsPrecision(FIT_ROWS)  # fitting measures this many rows, not all 2,500
        for column in COMPACT_ONLY:
            self.tree.hideColumn(column)
        self.model.rowsInserted.connect(self._on_rows_inserted)
        # the compact watchlist: the same model, one sortable row per symbol (View menu)
        self.compact = CompactWatchlist(self.model, self)
        self.compact.set_active(False)  # the tree is shown first (set_compact switches)
        #: True while boot adds the start-up symbols (columns are fitted once, at its end)
        self._booting = False
        self.watchlist_stack = QStackedWidget(self)
        self.watchlist_stack.addWidget(self.tree)
        self.watchlist_stack.addWidget(self.compact)
        self._resize_columns = QTimer(self)
        self._resize_columns.setSingleShot(True)
        self._resize_columns.setInterval(100)
        self._resize_columns.timeout.connect(self._fit_columns)

        self.bar_selection = BaseBarSelection(self)  # a clicked base bar, outlined on every chart
        self.charts = SymbolCharts(session_data, self.bridge, self, selection=self.bar_selection)
        self.charts.interval_shown.connect(self._on_interval_shown)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.watchlist_stack)
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
        self.replay_bar = ReplayBar(coordinator, self)
        replay_toolbar = QToolBar("Replay", self)
        replay_toolbar.setObjectName("replayToolbar")
        replay_toolbar.setMovable(False)
        replay_toolbar.addWidget(self.replay_bar)
        self.addToolBarBreak()
        self.addToolBar(replay_toolbar)
        replay_toolbar.setVisible(not coordinator.live)  # a live session cannot be moved: no row for it

        self.workspace = ChartWorkspace(session_data, self.bridge, self, selection=self.bar_selection)
        self.workspace_dock = QDockWidget("Chart workspace", self)
        self.workspace_dock.setObjectName("workspaceDock")
        self.workspace_dock.setWidget(self.workspace)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.workspace_dock)
        self.workspace_dock.hide()

        self.reconcile = ReconcileDock(session_data, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.reconcile)
        self.reconcile.hide()
        self.reconcile.bar_requested.connect(self.show_bar)
        self.reconcile.mismatches_changed.connect(self.charts.set_mismatches)

        self.messages = MessagesDock(self)
        self.messages.set_time_zone(coordinator.session.tz)
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
        for view in (self.tree, self.compact.view):
            view.selectionModel().currentChanged.connect(self._on_current_changed)
            delete = QShortcut(QKeySequence(Qt.Key.Key_Delete), view, context=Qt.ShortcutContext.WidgetShortcut)
            delete.activated.connect(self.on_remove)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._tree_menu)
        self.controls.set_state(coordinator.status().state)
        if coordinator.live:
            self.controls.set_live()
        #: a desk's window (``connect``): its engines choose the run, hours included
        self.desk = source_name.split(" ", 1)[0] == "redis"
        self.controls.set_hours_choice(run_hours(coordinator), hours_unavailable(coordinator, self.desk))
        self._build_menus()
        self._build_health(alert_config)
        # the banner follows the compact watchlist's selection as it follows the tree's
        self.compact.view.selectionModel().currentChanged.connect(
            lambda current, _previous: self.health_banner.show_symbol(current.data(SYMBOL_ROLE))
        )
        self._restore_layout()
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)  # Space and Ctrl+E from text fields: see eventFilter

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
        self.reconcile.reconciled.connect(self.alerts.on_reconciled)
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
        session_menu = self.menuBar().addMenu("&Session")
        self.play_action = session_menu.addAction("&Play / pause\tSpace")  # Space: eventFilter, not a shortcut
        self.play_action.triggered.connect(self.toggle_play)
        replay_actions = [
            ("&Step one bar", "Ctrl+Right", self.replay_bar.step),
            ("&Next session", "Ctrl+Shift+Right", self.replay_bar.next_session),
            ("&Restart", "Ctrl+R", self.replay_bar.restart),
            ("&Jump to date and time…", "Ctrl+J", self._focus_jump),
            ("&Faster", "Ctrl+Up", lambda: self.change_speed(+1)),
            ("S&lower", "Ctrl+Down", lambda: self.change_speed(-1)),
        ]
        self.replay_actions = {}
        for text, keys, slot in replay_actions:
            action = session_menu.addAction(text)
            action.setShortcut(QKeySequence(keys))
            action.triggered.connect(slot)
            action.setEnabled(not self.coordinator.live)
            self.replay_actions[text.replace("&", "").rstrip("…")] = action
        session_menu.addSeparator()
        self.extended_hours_action = session_menu.addAction("&Extended hours (pre-market, after-hours)")
        self.extended_hours_action.setCheckable(True)
        self.extended_hours_action.setChecked(run_hours(self.coordinator) == "extended")
        self.extended_hours_action.setToolTip("Watch 04:00-20:00 New York (segments shaded on the charts); "
                                              "switching starts the run again")
        no_hours = no_extended_hours(self.coordinator.calendar.name)
        if no_hours is not None:
            self.extended_hours_action.setToolTip(f"{no_hours[:1].upper()}{no_hours[1:]}")
        self.extended_hours_action.setEnabled(not self.desk and no_hours is None)
        self.extended_hours_action.toggled.connect(
            lambda on: self.hours_change_requested.emit("extended" if on else "regular"))
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.messages.toggleViewAction())
        view_menu.addAction(self.workspace_dock.toggleViewAction())
        view_menu.addAction(self.reconcile.toggleViewAction())
        view_menu.addSeparator()
        self.window_lines_action = view_menu.addAction("&Window boundaries")
        self.window_lines_action.setCheckable(True)
        self.window_lines_action.setToolTip("dotted lines where each coarser derived interval's windows start")
        self.window_lines_action.toggled.connect(self.charts.set_window_lines)
        self.window_lines_action.toggled.connect(self.workspace.set_window_lines)
        self.compact_action = view_menu.addAction("&Compact watchlist")
        self.compact_action.setCheckable(True)
        self.compact_action.setShortcut(QKeySequence("Ctrl+L"))
        self.compact_action.setToolTip("One sortable, filterable row per symbol; expand a row for its intervals")
        self.compact_action.toggled.connect(self.set_compact)
        self.compact_action.setChecked(self.settings.chart_option("compact_watchlist", False))
        self._build_chart_menu(view_menu)
        self.help_actions = build_help_menu(self)

    def _build_chart_menu(self, view_menu: QMenu) -> None:
        """How charts show time and prices (every chart, remembered across runs)."""
        view_menu.addSeparator()
        self.fold_time_action = view_menu.addAction("&Fold non-trading time")
        self.fold_time_action.setCheckable(True)
        self.fold_time_action.setToolTip("Nights, weekends, holidays and lunch breaks take no room; off: linear time")
        self.fold_time_action.setChecked(self.settings.chart_option("fold_time", True))
        self.fold_time_action.toggled.connect(self._on_fold_toggled)
        self.log_scale_action = view_menu.addAction("&Log price scale")
        self.log_scale_action.setCheckable(True)
        self.log_scale_action.setChecked(self.settings.chart_option("log_scale", False))
        self.log_scale_action.toggled.connect(self._on_log_toggled)
        view_menu.addAction(self.extended_hours_action)  # also under Session: it starts the run again
        self.charts.set_folded(self.fold_time_action.isChecked())
        self.charts.set_log_scale(self.log_scale_action.isChecked())

    def set_compact(self, compact: bool) -> None:
        """Show the compact watchlist (True) or the detailed tree, keeping the selected symbol."""
        symbol = self.selected_symbol()
        if compact:
            self.compact.set_active(True)  # sorted again before it shows
        self.watchlist_stack.setCurrentWidget(self.compact if compact else self.tree)
        if not compact:
            self.compact.set_active(False)
        if compact:
            self.compact.fit_columns()
            self._widen_for_compact()
        if self.compact_action.isChecked() != compact:
            self.compact_action.setChecked(compact)
        self.settings.set_chart_option("compact_watchlist", compact)
        if symbol is not None:
            self.select_symbol(symbol, self.charts.current_interval() if not compact else None)

    @property
    def watchlist_view(self) -> QAbstractItemView:
        """The view the user sees: the detailed tree or the compact watchlist."""
        return self.compact.view if self.watchlist_stack.currentWidget() is self.compact else self.tree

    def _on_fold_toggled(self, folded: bool) -> None:
        self.charts.set_folded(folded)
        self.settings.set_chart_option("fold_time", folded)

    def _on_log_toggled(self, log: bool) -> None:
        self.charts.set_log_scale(log)
        self.settings.set_chart_option("log_scale", log)

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
            config.workspace = self.workspace.state()
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
            self._credentials_dialog = CredentialsDialog(
                self.settings, self.notify, self, running=running_feed(self.source_name)
            )
        self._credentials_dialog.open()
        self._credentials_dialog.refresh()
        return self._credentials_dialog

    # -- start-up --------------------------------------------------------------------------
    async def boot(self, watchlist: list[WatchEntry]) -> None:
        """Add the start-up symbols; one that cannot be added is reported, not fatal.

        They are added as one batch (``coordinator.add_symbols``: registered in order, their
        sessions read side by side) whose rows reach the views in one insert once all are
        loaded, with the watchlist hidden meanwhile and its columns fitted once at the end:
        per symbol, each view re-laid out its rows, the compact watchlist re-sorted and the
        columns were measured again (500 symbols: seconds of start-up, quadratic).
        """
        shown = self.watchlist_stack.isVisibleTo(self)
        self.watchlist_stack.hide()  # the splitter gives its width back when it is shown again
        compact_active = self.compact.active
        self.compact.set_active(False)  # sorted once when active again
        self._booting = True
        self.model.hold_inserts()
        try:
            await self._add_watchlist(watchlist)
        finally:
            self.model.release_inserts()
            self._booting = False
            self.compact.set_active(compact_active)
            self.watchlist_stack.setVisible(shown)
        if watchlist:
            self._resize_columns.stop()
            self._fit_columns()
        symbols = self.session_data.get_active_symbols()
        if symbols and self.charts.symbol is None:
            self.select_symbol(symbols[0])
        self._restore_workspace()
        status = self.coordinator.status()
        # a connected window that caught up before any engine published has no session yet
        when = f" from {status.session.date.isoformat()}" if status.session else ""
        watching = ", ".join(symbols) or "nothing yet"
        self.post_message(logging.INFO, f"{self.source_name}: watching {watching}{when}")
        await self._offer_symbols()

    async def _add_watchlist(self, watchlist: list[WatchEntry]) -> None:
        """Add every entry that can be added, in one batch; report the others."""
        accepted: list[WatchEntry] = []
        planned: set[str] = set()
        for entry in watchlist:
            try:  # the checks add_symbols makes, one entry at a time, so one bad entry stops only itself
                plan = self.coordinator.plan(entry.symbol, entry.intervals)
                if plan.symbol in planned or plan.symbol in self.session_data:
                    raise SymbolError(f"{plan.symbol} is already being watched")
            except (SymbolError, IntervalError) as exc:
                self.report_problem(f"Could not restore {entry.symbol}: {exc}")
                continue
            planned.add(plan.symbol)
            accepted.append(entry)
        if not accepted:  # nothing to restore (a connected window's engines own the watchlist)
            return
        for entry in accepted:
            self.model.expect_load(entry.symbol)
        hours = self._restorable_hours(accepted)
        try:
            if hours:
                await self.coordinator.add_symbols([(entry.symbol, entry.intervals) for entry in accepted], hours=hours)
            else:  # a desk's coordinator takes no hours
                await self.coordinator.add_symbols([(entry.symbol, entry.intervals) for entry in accepted])
        except (SymbolError, IntervalError) as exc:  # the source changed its mind since the plan
            self.report_problem(f"Could not restore the watchlist: {exc}")
        finally:
            for entry in accepted:
                self.model.settle(entry.symbol)

    def _restorable_hours(self, entries: list[WatchEntry]) -> dict[str, str]:
        """The saved entries' own hours this run can give; the others follow the run's, with a note."""
        unavailable = hours_unavailable(self.coordinator, self.desk)
        kept: dict[str, str] = {}
        for entry in entries:
            if entry.hours is None:
                continue
            if unavailable is not None and entry.hours == "extended":
                self.post_message(logging.WARNING, f"{entry.symbol} was watched on extended hours; "
                                                   "this run follows regular hours")
            elif not self.desk:
                kept[entry.symbol] = entry.hours
        return kept

    def _restore_workspace(self) -> None:
        """The opened session file's workspace (shown), else the settings' (after the symbols it
        shows are watched, so its charts can bind to them)."""
        opened = self._opened_workspace
        if opened is not None:
            self.workspace.restore(opened)
            if any(chart.symbol for chart in opened.charts):
                self.workspace_dock.show()
            return
        saved = self.settings.workspace()
        if saved:
            self.workspace.restore(WorkspaceState.from_json(saved))

    async def _offer_symbols(self) -> None:
        """Let the symbol field complete from what the source has (listed off the loop: a
        folder of tickers, a CSV scan)."""
        loop = asyncio.get_running_loop()
        try:
            symbols = await loop.run_in_executor(None, self.coordinator.source.symbols)
        except Exception as exc:  # completion is a help; a source that cannot list is no error
            self.post_message(logging.DEBUG, f"{self.source_name}: cannot list its symbols ({exc})")
            return
        self.controls.set_symbol_choices(symbols)

    # -- requests ---------------------------------------------------------------------------
    @asyncSlot(str, str, str)
    async def on_add(self, symbol_text: str, intervals_text: str, hours: str = "") -> None:
        """Add a symbol (on ``hours``; "": the run's); every refusal is shown in the window and changes nothing."""
        self._handlers.enter()
        self.controls.set_busy(True)
        try:
            intervals = [part for part in intervals_text.split(",") if part.strip()]
            self.model.expect_load(symbol_text)
            if hours:
                data = await self.coordinator.add_symbol(symbol_text, intervals, hours=hours)
            else:  # a desk's coordinator takes no hours
                data = await self.coordinator.add_symbol(symbol_text, intervals)
        except (SymbolError, IntervalError) as exc:
            self.report_problem(str(exc))
        else:
            derived = ", ".join(b.name for b in data.derived_intervals()) or "nothing"
            note = " (the run has finished: no more bars will arrive)" if self._finished() else ""
            finer = finer_base_note(data)
            if finer:
                self.controls.show_warning(f"Watching {data.symbol}: {finer}{note}")
                self.messages.post(logging.WARNING, f"{data.symbol}: {finer}")
            else:
                streams = f"streams {data.base_interval}, derives {derived}"
                self.controls.show_info(f"Watching {data.symbol}: {streams}{note}")
            self.controls.symbol_edit.clear()
            self.settings.set_default_intervals(intervals_text.strip())
            self.select_symbol(data.symbol)
        finally:
            self.model.settle(symbol_text)
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

    # -- replay control -----------------------------------------------------------------------
    def toggle_play(self) -> None:
        """Pause a running replay, resume a paused one (a live or finished run does not toggle)."""
        if self.coordinator.live or self._finished():
            return
        if self.coordinator.clock.paused:
            self.coordinator.resume()
        else:
            self.coordinator.pause()

    def change_speed(self, direction: int) -> None:
        """One preset faster (+1) or slower (-1); ``max`` is the fastest."""
        if self.coordinator.live:
            return
        order = [speed for speed in SPEEDS if speed is not None]
        current = self.coordinator.clock.speed
        # max sits after the last number; a custom --speed counts as the nearest preset
        index = len(order) if current is None else min(range(len(order)), key=lambda k: abs(order[k] - current))
        chosen_index = min(max(index + direction, 0), len(order))
        chosen = order[chosen_index] if chosen_index < len(order) else None
        self.coordinator.set_speed(chosen)
        self.controls.set_speed(chosen)

    def _focus_jump(self) -> None:
        self.replay_bar.jump_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.replay_bar.jump_edit.selectAll()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Keys the window takes from its text fields: Space (play/pause) and Ctrl+E (Export).

        A window shortcut cannot see them: a focused QLineEdit claims every printable key,
        and Ctrl+E (end of line under X11 key bindings), through ShortcutOverride before
        shortcuts are looked up. Taking Space from the fields is safe here: a symbol cannot
        contain a space and intervals are comma-separated, so no field ever needs one.
        Other windows (dialogs, popups) keep their keys.
        """
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            pressed = QKeySequence(event.keyCombination())
            if pressed.matches(self.export_action.shortcut()) == QKeySequence.SequenceMatch.ExactMatch:
                event.ignore()  # not overridden by the field: the window's shortcut fires
                return True
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Space
            and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            and isinstance(watched, QWidget)
            and watched.window() is self
        ):
            if not event.isAutoRepeat():
                self.toggle_play()
            return True
        return super().eventFilter(watched, event)

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
        index = self.watchlist_view.currentIndex()
        return index.data(SYMBOL_ROLE) if index.isValid() else None

    def select_symbol(self, symbol: str, interval: str | None = None) -> None:
        index = self.model.interval_index(symbol, interval) if interval else self.model.symbol_index(symbol)
        view = self.watchlist_view
        if view is self.compact.view:
            index = self.compact.map_from_model(index)
        if index.isValid():
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            view.selectionModel().setCurrentIndex(index, flags)

    def tree_menu_actions(self, index: QModelIndex) -> QMenu:
        """The tree row's context menu: show its interval in the chart workspace, or with its base."""
        menu = QMenu(self)
        symbol, interval = index.data(SYMBOL_ROLE), index.data(INTERVAL_ROLE)
        data = self.session_data.get_symbol_data(symbol) if symbol else None
        if data is None:
            return menu
        shown = interval or data.base_interval.name
        menu.addAction(f"Show {symbol} {shown} in the chart workspace",
                       lambda: self.show_in_workspace(symbol, shown))
        if interval and data.bars[interval].derived:
            def show_with_base() -> None:
                self.select_symbol(symbol, interval)
                self.charts.show_combined(interval)

            menu.addAction(f"Show {symbol} {interval} over its base {data.base_interval}", show_with_base)
        return menu

    def _tree_menu(self, pos: QPoint) -> None:
        index = self.tree.indexAt(pos)
        if index.isValid():
            self.tree_menu_actions(index).popup(self.tree.viewport().mapToGlobal(pos))

    def show_in_workspace(self, symbol: str, interval: str) -> None:
        """Put ``symbol``/``interval`` in the workspace's first empty chart (else its first) and show it."""
        self.workspace_dock.show()
        self.workspace.show_in_chart(symbol, interval)

    def show_bar(self, symbol: str, interval: str, start: int, end: int) -> None:
        """Show the bar of window ``[start, end)`` on ``symbol``'s ``interval`` chart (its base chart
        when it does not derive that interval)."""
        data = self.session_data.get_symbol_data(symbol)
        shown = interval if data is None or interval in data.bars else data.base_interval.name
        self.jump_to(symbol, shown, (start + end) / 2)

    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.model() is not self.watchlist_view.model() and current.isValid():
            return  # the hidden view follows along; only the one shown drives the charts
        if not current.isValid():
            self.charts.show_symbol(None)
            return
        self.charts.show_symbol(current.data(SYMBOL_ROLE), current.data(INTERVAL_ROLE))

    def _on_interval_shown(self, interval: str) -> None:
        """Tab changed by the user: keep the tree's selection on the same interval row."""
        symbol = self.charts.symbol
        current = self.watchlist_view.currentIndex()
        if symbol and current.isValid() and current.data(INTERVAL_ROLE) not in (None, interval):
            self.select_symbol(symbol, interval)

    def _on_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if not parent.isValid():
            for row in range(first, last + 1):
                self.tree.expand(self.model.index(row, Column.INTERVAL))
            if not self._booting:  # boot fits once at its end
                self._resize_columns.start()  # once per burst of adds, not per row (100 adds: 15 s -> 0.3 s)
                if self.charts.symbol is None:  # rows that arrive on their own (a connected window's
                    # engines publishing after it caught up): the first one's chart, as boot shows it
                    self.select_symbol(self.model.index(first, Column.INTERVAL).data(SYMBOL_ROLE))

    def _fit_columns(self) -> None:
        for column in range(self.model.columnCount()):
            if not self.tree.isColumnHidden(column):  # a column shown later is fitted then
                self.tree.resizeColumnToContents(column)
        # counts grow all session: room for six digits from the start ("43…" at 1,000 otherwise)
        metrics = self.tree.fontMetrics()
        bars = metrics.horizontalAdvance("000000") + 16
        if self.tree.columnWidth(Column.BARS) < bars:
            self.tree.setColumnWidth(Column.BARS, bars)
        kind = metrics.horizontalAdvance(DISCONNECTED) + 16  # what a symbol's Kind reads while its feed is down
        if self.tree.columnWidth(Column.KIND) < kind:
            self.tree.setColumnWidth(Column.KIND, kind)
        if self.watchlist_stack.currentWidget() is self.compact:  # set_compact fits it when it is shown
            self.compact.fit_columns()
            self._widen_for_compact()

    # -- settings and shutdown -----------------------------------------------------------------
    def watchlist(self) -> list[WatchEntry]:
        """What is watched now, as settings keep it (the intervals each symbol resolved to, and
        its own hours when it was given some)."""
        own: dict[str, str] = getattr(self.coordinator, "symbol_hours", {})  # a desk's stand-in has none
        return [
            WatchEntry(data.symbol, tuple(i.name for i in data.requested), own.get(data.symbol))
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
            # room for the detailed tree's columns through Health at 1280 px; never over half the window
            tree = min(max(self.width() * 9 // 20, 480), 600, self.width() // 2)
            self.splitter.setSizes([tree, max(self.splitter.width() - tree, 1)])
            self._widen_for_compact()

    def _widen_for_compact(self) -> None:
        """Give the compact watchlist room for all its columns (up to half the window)."""
        if self.watchlist_stack.currentWidget() is not self.compact:
            return
        view = self.compact.view
        need = view.header().length() + view.verticalScrollBar().sizeHint().width() + 2 * view.frameWidth()
        sizes = self.splitter.sizes()
        if len(sizes) == 2 and sizes[0] < need <= self.splitter.width() // 2:
            self.splitter.setSizes([need, max(sum(sizes) - need, 1)])

    def save_settings(self) -> None:
        self.settings.set_watchlist(self.watchlist())
        self.settings.set_last_source(self.source_name)
        self.settings.set_layout(self.saveGeometry(), self.saveState(), self.splitter.saveState())
        self.settings.set_workspace(self.workspace.state().to_json())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.persist:
            self.save_settings()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.status.stop()
        self.replay_bar.stop()
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
        self.workspace.flush()
        self.status.refresh()
        self.health_status.refresh()
