"""File → Export… and File → Save session… on the demo feed, with a real coordinator and loop."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import logging
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog

from session_monitor.core.bars import FORMING
from session_monitor.core.calendar import Session, SessionCalendar
from session_monitor.core.clock import ClockState
from session_monitor.core.config import load_config
from session_monitor.core.runconfig import UsageError
from session_monitor.core.session_data import BarIntervalData
from session_monitor.core.sources.base import BarSource
from session_monitor.core.sources.factory import open_source
from session_monitor.core.workspace import ChartSpec, WorkspaceState
from session_monitor.gui.app import build_parser, plan_start
from session_monitor.gui.main_window import MainWindow
from session_monitor.gui.settings import AppSettings, WatchEntry
from tests.gui.gui_helpers import SESSION_DATE, Harness

MakeDemo = Callable[..., Harness]
WATCH = [WatchEntry("SPY", ("1m", "5m", "15m")), WatchEntry("AAPL", ("1m", "1h"))]


@pytest.fixture
def demo_window(make_window: Callable[..., Harness]) -> MakeDemo:
    """Windows named after their source spec (the session file writes it), closed like the app does."""

    def make(
        source: BarSource | None = None,
        spec: str = "demo",
        speed: float | None = None,
        sessions: list[Session] | None = None,
        cal: SessionCalendar | None = None,
        workspace: WorkspaceState | None = None,
    ) -> Harness:
        return make_window(source or open_source(spec), speed=speed, sessions=sessions, spec=spec, cal=cal,
                           workspace=workspace)

    return make


def boot(qtbot: Any, window: MainWindow, watchlist: list[WatchEntry]) -> None:
    booted = asyncio.ensure_future(window.boot(watchlist))
    qtbot.waitUntil(booted.done, timeout=10_000)
    booted.result()


def run_to_the_end(qtbot: Any, h: Harness) -> None:
    h.start()
    qtbot.waitUntil(lambda: h.coordinator.state is ClockState.FINISHED, timeout=30_000)


def export_via_dialog(qtbot: Any, window: MainWindow, folder: Path, fmt: str, all_symbols: bool) -> None:
    """Fill the dialog as a user would and press Export; wait until the handler has reported."""
    before = window.messages.log.rowCount()
    dialog = window.show_export_dialog()
    assert dialog.isVisible()
    dialog.folder_edit.setText(str(folder))
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(fmt))
    (dialog.all_radio if all_symbols else dialog.selected_radio).setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dialog.isVisible()  # closed at once (and deleted later); the export runs on

    def reported() -> bool:
        return window.messages.log.rowCount() > before and window.export_action.isEnabled()

    qtbot.waitUntil(reported, timeout=10_000)


def final_bars(interval: BarIntervalData) -> dict[str, np.ndarray]:
    series = interval.data
    columns = dict(zip(("ts", "open", "high", "low", "close", "volume"), series.arrays(), strict=True))
    keep = (np.asarray(series.flags) & FORMING) == 0 if series.with_counts else slice(None)
    return {name: np.asarray(values)[keep] for name, values in columns.items()}


def read_csv_bars(path: Path) -> dict[str, np.ndarray]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["timestamp", "open", "high", "low", "close", "volume"]
    body = rows[1:]
    out = {"ts": np.array([int(dt.datetime.fromisoformat(r[0]).timestamp()) for r in body], dtype=np.int64)}
    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        out[name] = np.array([float(r[i]) for r in body])
    return out


def test_export_selected_symbol_as_csv_writes_exactly_the_session_data_bars(
    qtbot: Any, demo_window: MakeDemo, tmp_path: Path, settings: AppSettings
) -> None:
    h = demo_window()
    boot(qtbot, h.window, WATCH)
    run_to_the_end(qtbot, h)
    h.window.select_symbol("SPY")
    out = tmp_path / "export"

    export_via_dialog(qtbot, h.window, out, "csv", all_symbols=False)

    data = h.session_data.get_symbol_data("SPY")
    assert sorted(p.name for p in (out / "SPY").iterdir()) == ["15m.csv", "1m.csv", "5m.csv"]
    assert not (out / "AAPL").exists()  # only the selected symbol
    for name in ("1m", "5m", "15m"):
        expected, written = final_bars(data.bars[name]), read_csv_bars(out / "SPY" / f"{name}.csv")
        assert len(written["ts"]) > 0, name
        for column, values in expected.items():
            np.testing.assert_array_equal(written[column], values, err_msg=f"{name} {column}")
    snapshot = json.loads((out / "session.json").read_text())
    assert snapshot["calendar"] == "XNYS"
    assert snapshot["sessions"][0]["date"] == SESSION_DATE.isoformat()
    assert list(snapshot["sessions"][0]["symbols"]) == ["SPY"]
    newest = h.window.messages.log.messages()[0]
    assert newest.level == logging.INFO and newest.text.startswith("Exported SPY as CSV")
    assert h.window.statusBar().currentMessage() == newest.text
    assert settings.export_folder() == str(out) and settings.export_format() == "csv"


def test_export_all_symbols_as_parquet_while_the_run_goes_on(
    qtbot: Any, demo_window: MakeDemo, tmp_path: Path, settings: AppSettings
) -> None:
    h = demo_window(speed=600.0)
    boot(qtbot, h.window, WATCH)
    h.start()
    qtbot.waitUntil(lambda: len(h.session_data.get_symbol_data("AAPL").base.data) >= 5, timeout=10_000)
    out = tmp_path / "pq"

    export_via_dialog(qtbot, h.window, out, "parquet", all_symbols=True)
    h.coordinator.pause()

    for entry in WATCH:
        data = h.session_data.get_symbol_data(entry.symbol)
        for name in entry.intervals:
            frame = pd.read_parquet(out / entry.symbol / f"{name}.parquet")
            stored = data.bars[name].data
            assert 0 < len(frame) <= len(stored), name  # bars kept arriving after the export
            assert frame["timestamp"].iloc[0].timestamp() == stored.arrays()[0][0]
    assert h.window.messages.log.messages()[0].text.startswith("Exported 2 symbols as PARQUET")
    dialog = h.window.show_export_dialog()  # the next export offers the same choice
    assert dialog.folder_edit.text() == str(out) and dialog.format_combo.currentData() == "parquet"
    dialog.reject()


def test_a_failed_export_is_one_line_in_the_dock_and_status_bar(
    qtbot: Any, demo_window: MakeDemo, tmp_path: Path
) -> None:
    h = demo_window()
    boot(qtbot, h.window, WATCH[:1])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    export_via_dialog(qtbot, h.window, blocker / "out", "csv", all_symbols=True)

    newest = h.window.messages.log.messages()[0]
    assert newest.level == logging.ERROR
    assert newest.text.startswith("Export failed: ") and "a-file" in newest.text
    assert "Traceback" not in newest.text and "\n" not in newest.text
    assert h.window.statusBar().currentMessage() == newest.text
    assert h.window.export_action.isEnabled()


def test_saved_session_reopens_with_the_same_watchlist_dates_and_speed(
    qtbot: Any, demo_window: MakeDemo, tmp_path: Path, settings: AppSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = demo_window(speed=60.0)
    boot(qtbot, first.window, [*WATCH, WatchEntry("MSFT", ("1s", "1m", "5m"))])
    first.coordinator.set_speed(600.0)  # what the speed box does: the file keeps the current speed
    target = tmp_path / "sessions" / "mine"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(target), ""))

    first.window.save_session_action.trigger()  # File → Save session…, the path from the (patched) dialog
    saved = target.with_suffix(".toml")
    qtbot.waitUntil(lambda: saved.exists() and first.window.save_session_action.isEnabled(), timeout=5000)

    config = load_config(saved)
    assert (config.source, config.calendar, config.speed) == ("demo", "XNYS", "600.0")
    assert config.start == config.end == SESSION_DATE
    assert [(w.symbol, w.intervals) for w in config.watchlist] == [
        ("SPY", ["1m", "5m", "15m"]),
        ("AAPL", ["1m", "1h"]),
        ("MSFT", ["1s", "1m", "5m"]),
    ]
    assert first.window.messages.log.messages()[0].text == f"Saved the session (3 symbols) to {saved}"

    # File → Open session: the app turns the file into a plan and boots a new window with it
    plan = plan_start(build_parser().parse_args(["--config", str(saved)]), settings)
    assert plan.watchlist == first.window.watchlist()
    assert [s.date for s in plan.setup.sessions] == [SESSION_DATE] and plan.setup.speed == 600.0
    second = demo_window(
        source=plan.setup.source,
        spec=plan.source_spec,
        speed=plan.setup.speed,
        sessions=plan.setup.sessions,
        cal=plan.setup.calendar,
    )
    boot(qtbot, second.window, plan.watchlist)
    assert second.window.watchlist() == first.window.watchlist()
    assert second.session_data.get_symbol_data("MSFT").base_interval.name == "1s"


def test_a_saved_session_reopens_with_the_same_chart_workspace(
    qtbot: Any, demo_window: MakeDemo, tmp_path: Path, settings: AppSettings
) -> None:
    first = demo_window(speed=60.0)
    boot(qtbot, first.window, WATCH)
    workspace = first.window.workspace
    workspace.link_box.setChecked(False)
    workspace.set_layout("1x2")
    opened = first.session_data.session.open
    workspace.slots[0].show_chart("SPY", "5m", (opened + 600, opened + 4200))
    workspace.slots[1].show_chart("AAPL", "1h", (opened, opened + 5 * 3600))
    shown = workspace.state()
    settings.set_workspace(WorkspaceState("2x2", (ChartSpec("AAPL", "1m"),), True).to_json())  # the file wins
    saved = tmp_path / "mine.toml"

    task = first.window.on_save_session(str(saved))
    qtbot.waitUntil(task.done, timeout=5000)

    table = tomllib.loads(saved.read_text(encoding="utf-8"))["workspace"]
    utc = dt.UTC
    assert table["layout"] == "1x2" and table["linked"] is False
    ranges = [[dt.datetime.fromtimestamp(t, utc) for t in chart.x_range] for chart in shown.charts[:2]]
    assert table["charts"][:2] == [
        {"symbol": "SPY", "interval": "5m", "range": ranges[0]},
        {"symbol": "AAPL", "interval": "1h", "range": ranges[1]},
    ]
    assert shown.charts[0].x_range == pytest.approx((opened + 600, opened + 4200), abs=1)

    plan = plan_start(build_parser().parse_args(["--config", str(saved)]), settings)
    assert plan.workspace == shown
    second = demo_window(source=plan.setup.source, spec=plan.source_spec, speed=plan.setup.speed,
                         sessions=plan.setup.sessions, cal=plan.setup.calendar, workspace=plan.workspace)
    boot(qtbot, second.window, plan.watchlist)
    restored = second.window.workspace.state()
    assert (restored.layout, restored.linked) == ("1x2", False)
    assert [(c.symbol, c.interval) for c in restored.charts[:2]] == [("SPY", "5m"), ("AAPL", "1h")]
    for before, after in zip(shown.charts[:2], restored.charts[:2], strict=True):
        assert after.x_range == pytest.approx(before.x_range)
    assert second.window.workspace_dock.isVisibleTo(second.window)
    # the charts are bound to the new window's own symbols (SessionData), not to names only
    charts = second.window.workspace.charts
    assert [c.data.interval_name for c in charts] == ["5m", "1h"]
    assert charts[0].data.symbol_data is second.session_data.get_symbol_data("SPY")
    assert charts[1].data.symbol_data is second.session_data.get_symbol_data("AAPL")


def test_a_bad_workspace_in_a_session_file_names_the_key(tmp_path: Path, settings: AppSettings) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('source = "demo"\n[[watchlist]]\nsymbol = "SPY"\nintervals = ["1m"]\n'
                    '[workspace]\nlayout = "1x2"\n[[workspace.charts]]\nsymbol = "SPY"\ninterval = "7x"\n')
    with pytest.raises(UsageError, match=r"bad\.toml: workspace\.charts\[0\]\.interval: unknown interval"):
        plan_start(build_parser().parse_args(["--config", str(path)]), settings)


def test_an_unwritable_session_file_is_reported(qtbot: Any, demo_window: MakeDemo, tmp_path: Path) -> None:
    h = demo_window()
    boot(qtbot, h.window, WATCH[:1])

    task = h.window.on_save_session(str(tmp_path / "missing-folder" / "s.toml"))
    qtbot.waitUntil(task.done, timeout=5000)

    newest = h.window.messages.log.messages()[0]
    assert newest.level == logging.ERROR and newest.text.startswith("Could not save the session: ")
    assert "missing-folder" in newest.text and h.window.save_session_action.isEnabled()


def test_gui_export_writes_every_symbol_inside_the_chosen_folder(
    qtbot: Any, demo_window: MakeDemo, tmp_path: Path
) -> None:
    h = demo_window()
    boot(qtbot, h.window, [WatchEntry("BTC/USD", ("1m", "5m")), WatchEntry("../../PWNED", ("1m",))])
    run_to_the_end(qtbot, h)
    out = tmp_path / "a" / "b" / "export"

    export_via_dialog(qtbot, h.window, out, "csv", all_symbols=True)

    assert h.session_data.get_active_symbols() == ["BTC/USD"]
    texts = [m.text for m in h.window.messages.log.messages()]
    assert any(t.startswith("Could not restore ../../PWNED: symbol '../../PWNED' is malformed") for t in texts)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "BTC%2FUSD", "BTC%2FUSD/1m.csv", "BTC%2FUSD/5m.csv", "session.json"
    ]
    data = h.session_data.get_symbol_data("BTC/USD")
    written = read_csv_bars(out / "BTC%2FUSD" / "1m.csv")
    assert len(written["ts"]) > 0
    np.testing.assert_array_equal(written["close"], final_bars(data.bars["1m"])["close"])
    assert not list(tmp_path.rglob("PWNED*"))
