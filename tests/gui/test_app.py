"""The process edges: arguments, start-up plan from settings, the screenshot run, PySide6 health."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from session_monitor.cli import main as cli_main
from session_monitor.gui.app import SCREENSHOT_SIZE, build_parser, plan_start
from session_monitor.gui.settings import AppSettings, WatchEntry
from tests.gui.gui_helpers import LEAN_MINUTE

ROOT = Path(__file__).resolve().parents[2]


def offscreen_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", QT_API="pyside6", XDG_CONFIG_HOME=str(tmp_path / "config"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_offscreen(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a fresh process on the offscreen platform, from the repository root."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=offscreen_env(tmp_path), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("argv", "code", "reason"),
    [
        (["--speed", "fast"], 2, "speed 'fast'"),
        (["--symbols", "A B"], 2, "malformed"),
        (["--intervals", "1m,7x"], 2, "unknown interval"),
        (["--start", "28/12/2015"], 2, "is not a date"),
        (["--frobnicate"], 2, "unrecognized arguments"),
        (["--after", "-3"], 2, "--after"),
        (["/no/such/folder"], 1, "does not exist"),
    ],
)
def test_bad_arguments_give_one_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, reason: str
) -> None:
    result = cli_main([*argv, "--settings", str(tmp_path / "s.ini")])

    err = capsys.readouterr().err
    assert result == code
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("session-monitor: error:") and reason in err
    assert "Traceback" not in err


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_no_arguments_means_demo_with_the_default_watchlist(tmp_path: Path) -> None:
    plan = plan_start(_args(), AppSettings.at(tmp_path / "s.ini"))

    assert plan.source_spec == "demo" and plan.setup.source.name == "demo"
    assert [e.symbol for e in plan.watchlist] == ["SPY", "AAPL", "MSFT"]
    assert plan.watchlist[0].intervals == ("1m", "5m", "15m", "1h")
    assert plan.setup.speed == 60.0 and len(plan.setup.sessions) == 1


def test_last_source_and_watchlist_are_restored(tmp_path: Path) -> None:
    settings = AppSettings.at(tmp_path / "s.ini")
    settings.set_last_source(str(LEAN_MINUTE))
    settings.set_watchlist([WatchEntry("GOOG", ("1m", "5m"))])

    plan = plan_start(_args(), settings)

    assert plan.source_spec == str(LEAN_MINUTE.resolve())
    assert plan.watchlist == [WatchEntry("GOOG", ("1m", "5m"))]
    assert plan.setup.sessions[0].date.isoformat() == "2015-12-23"  # the first day with GOOG data
    assert plan.notes == []


def test_saved_settings_that_no_longer_work_are_dropped_with_a_note(tmp_path: Path) -> None:
    settings = AppSettings.at(tmp_path / "s.ini")
    settings.set_last_source(str(tmp_path / "moved-away"))
    settings.set_watchlist([WatchEntry("GOOG", ("1m",))])

    plan = plan_start(_args(), settings)

    assert plan.source_spec == "demo"
    assert [e.symbol for e in plan.watchlist] == ["SPY", "AAPL", "MSFT"]
    assert len(plan.notes) == 1 and "does not exist" in plan.notes[0]


def test_screenshot_run_writes_a_png_of_the_window_and_exits_cleanly(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    ini = tmp_path / "s.ini"

    proc = run_offscreen(
        ["-m", "session_monitor", "--screenshot", str(shot), "--after", "1.5", "--settings", str(ini)], tmp_path
    )

    assert proc.returncode == 0, proc.stderr
    for bad in ("Traceback", "Task was destroyed", "never awaited", "Error"):
        assert bad not in proc.stderr, proc.stderr
    image = QImage(str(shot))
    assert not image.isNull() and (image.width(), image.height()) == SCREENSHOT_SIZE
    assert AppSettings.at(ini).watchlist() is None  # a screenshot run leaves settings alone


def test_pyside_survives_many_none_returning_calls(tmp_path: Path) -> None:
    """Regression: PySide6 6.12.0 on Python < 3.12 aborted after ~5,000 None-returning calls."""
    script = textwrap.dedent(
        """
        from PySide6.QtGui import QGuiApplication, QImage, QPainter
        app = QGuiApplication([])
        image = QImage(64, 64, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        for i in range(20_000):
            painter.drawRect(i % 60, i % 60, 3, 3)
        painter.end()
        print("ok")
        """
    )

    proc = run_offscreen(["-c", script], tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_open_session_file_replaces_the_run_and_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "goog.toml").write_text(
        textwrap.dedent(
            f"""
            source = "{LEAN_MINUTE.as_posix()}"
            start = 2015-12-28
            end = 2015-12-28
            speed = "max"

            [[watchlist]]
            symbol = "GOOG"
            intervals = ["1m", "5m"]
            """
        )
    )
    (tmp_path / "bad.toml").write_text('source = "/no/such/folder"\n')
    driver = textwrap.dedent(
        """
        import os, sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        import qasync
        from session_monitor.gui import app as gapp
        from session_monitor.gui.main_window import MainWindow
        from session_monitor.gui.settings import AppSettings

        folder = sys.argv[1]
        qapp = QApplication([])
        settings = AppSettings.at(os.path.join(folder, "s.ini"))
        plan = gapp.plan_start(gapp.build_parser().parse_args(["--symbols", "SPY", "--intervals", "1m,5m"]), settings)
        steps = []

        def drive():
            shown = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
            if len(shown) != 1 or not shown[0].session_data.get_active_symbols():
                return  # not up yet: no window, or its boot has not registered the start-up symbols
            window = shown[0]
            if not steps:
                steps.append("opened")
                window.open_session_requested.emit(os.path.join(folder, "bad.toml"))
                print("bad:", window.session_data.get_active_symbols(), window.controls.feedback.text())
                window.open_session_requested.emit(os.path.join(folder, "goog.toml"))
            elif window.session_data.get_active_symbols() == ["GOOG"] and len(steps) == 1:
                steps.append("reopened")
                print("good:", list(window.session_data.get_symbol_data("GOOG").bars))
                window.close()

        timer = QTimer()
        timer.timeout.connect(drive)
        timer.start(100)
        print("exit", gapp.run_on_qt(gapp.run_window(plan, settings, None, 5.0)))
        """
    )

    proc = run_offscreen(["-c", driver, str(tmp_path)], tmp_path)

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("bad: ['SPY'] Could not open bad.toml:") and "does not exist" in lines[0]
    assert lines[1:] == ["good: ['1m', '5m']", "exit 0"]
    assert "Traceback" not in proc.stderr and "Task was destroyed" not in proc.stderr


def test_alpaca_without_keys_stays_on_the_demo_feed_and_says_how_to_add_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(NoKeyring())
    try:
        from session_monitor.gui.app import build_parser, plan_start
        from session_monitor.gui.settings import AppSettings

        settings = AppSettings.at(tmp_path / "s.ini")
        plan = plan_start(build_parser().parse_args(["alpaca", "--symbols", "SPY"]), settings)
    finally:
        keyring.set_keyring(previous)
    assert plan.setup.source.name == "demo" and not plan.setup.live
    assert any("APCA_API_KEY_ID" in note and "demo" in note for note in plan.notes), plan.notes


RECORDING_OFF_DRIVER = textwrap.dedent(
    """
    import os, sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    import qasync
    from session_monitor.gui import app as gapp
    from session_monitor.gui.main_window import MainWindow
    from session_monitor.gui.settings import AppSettings

    qapp = QApplication([])
    settings = AppSettings.at(os.path.join(sys.argv[1], "s.ini"))
    plan = gapp.plan_start(gapp.build_parser().parse_args(["--symbols", "SPY", "--intervals", "1m"]), settings)

    def drive():
        shown = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if shown and shown[0].session_data.get_symbol_data("SPY") is not None:
            window = shown[0]
            print("status:", window.statusBar().currentMessage())
            for message in window.messages.log.messages():
                print("message:", message.text)
            window.close()

    timer = QTimer()
    timer.timeout.connect(drive)
    timer.start(100)
    print("exit", gapp.run_on_qt(gapp.run_window(plan, settings, None, 5.0)))
    """
)


@pytest.mark.parametrize("problem", ["file", "busy"])
def test_the_window_opens_and_says_why_recording_is_off(tmp_path: Path, problem: str) -> None:
    from session_monitor.core.recording import Recorder, RecordingScope
    from session_monitor.core.sources.demo import DemoSource

    env = offscreen_env(tmp_path)
    data = tmp_path / "data"
    holder = None
    if problem == "file":
        data.write_text("not a folder")
        expected = f"Recording is off: cannot record in {data}: it is a file, not a folder"
    else:  # another instance records the demo on XNYS in the same data folder
        holder = Recorder(data / "recordings.sqlite3", RecordingScope(DemoSource().key, "XNYS"))
        expected = (f"Recording is off: {DemoSource().key} on XNYS is being recorded by another Session Monitor "
                    f"(pid {os.getpid()} on {os.uname().nodename}) in {data / 'recordings.sqlite3'}; this run is not "
                    "recorded (--record-as NAME records it under a key of its own)")
    env["SESSION_MONITOR_DATA_DIR"] = str(data)
    try:
        proc = subprocess.run([sys.executable, "-c", RECORDING_OFF_DRIVER, str(tmp_path)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        if holder is not None:
            holder.close(clean=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"status: {expected}"
    assert f"message: {expected}" in lines and lines[-1] == "exit 0"
    assert "Traceback" not in proc.stderr
