"""The ``session-monitor`` command: one grammar, subcommands, sources, version, platform, desktop entry."""

from __future__ import annotations

import configparser
import os
import struct
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from session_monitor import cli
from session_monitor.cli import COMMANDS, SOURCES, Command, main
from session_monitor.gui.platform_check import MissingLibraries, _plugin_path, debian_package, missing_libraries

ROOT = Path(__file__).resolve().parents[1]
LEAN_MINUTE = ROOT / "tests" / "data" / "lean" / "equity" / "usa" / "minute"


def run_cli(
    args: list[str], tmp_path: Path, drop: tuple[str, ...] = (), **extra: str
) -> subprocess.CompletedProcess[str]:
    """``python -m session_monitor ARGS`` in a fresh process with per-test user folders."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"), SESSION_MONITOR_DATA_DIR=str(tmp_path / "recordings"), **extra,
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "session_monitor", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=90)


def test_help_lists_every_subcommand_and_source_without_loading_qt(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom session_monitor.cli import main\ncode = main(['--help'])\n"
        "print('QT LOADED' if any(m.startswith('PySide6') for m in sys.modules) else 'no qt', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("usage: session-monitor [SOURCE] [options]")
    for name, command in COMMANDS.items():
        assert f"  {name}" in out and command.summary in out
    for name, _ in SOURCES:
        assert f"  {name}" in out
    assert {"replay", "alpaca", "alpaca:sip", "demo"} <= {*COMMANDS, *(n for n, _ in SOURCES)}
    assert out.rstrip().endswith("no qt 0")


def test_version_is_the_package_metadata_version(tmp_path: Path) -> None:
    done = run_cli(["--version"], tmp_path)

    assert done.returncode == 0 and done.stdout.strip() == f"session-monitor {version('session-monitor')}"


def test_replay_runs_through_the_dispatcher(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_cli(["replay", str(LEAN_MINUTE), "--symbols", "SPY", "--intervals", "1m,1h", "--start", "2013-10-07",
                    "--end", "2013-10-07", "--speed", "max", "--quiet", "--no-record", "--export", str(out)], tmp_path)

    assert done.returncode == 0, done.stderr
    hourly = (out / "SPY" / "1h.csv").read_text().splitlines()
    assert hourly[1].startswith("2013-10-07T13:30:00+00:00,") and len(hourly) == 1 + 7


received: list[list[str]] = []


def _record_argv(argv: list[str]) -> int:
    received.append(argv)
    return 7


def test_a_registered_subcommand_is_one_table_line_and_gets_the_rest_of_the_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(cli.COMMANDS, "probe", Command(f"{__name__}:_record_argv", "a test command"))
    received.clear()

    assert main(["probe", "--flag", "x"]) == 7
    assert received == [["--flag", "x"]]


def test_bad_gui_arguments_are_one_line_before_qt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--speed", "fast"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("session-monitor: error:") and "speed 'fast'" in err[0]


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_screenshot_without_a_display_renders_offscreen_by_itself(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"

    done = run_cli(["--screenshot", str(shot), "--after", "1", "--settings", str(tmp_path / "s.ini")], tmp_path,
                   drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))

    assert done.returncode == 0, done.stderr
    assert _png_size(shot) == (1280, 800)


def test_the_window_without_a_display_says_so_instead_of_aborting(tmp_path: Path) -> None:
    done = run_cli(["--settings", str(tmp_path / "s.ini")], tmp_path, drop=("DISPLAY", "WAYLAND_DISPLAY",
                                                                             "QT_QPA_PLATFORM"))

    assert done.returncode == 1
    assert "no display to open a window on" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libEGL.so.1", "libegl1"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
    ],
)
def test_missing_library_maps_to_its_debian_package(soname: str, package: str) -> None:
    assert debian_package(soname) == package


def test_message_for_missing_libraries_names_them_and_the_apt_line() -> None:
    text = MissingLibraries("xcb", ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")).message("session-monitor")

    assert "'xcb' platform plugin cannot load" in text
    assert "  libxcb-icccm.so.4\n  libxcb-keysyms.so.1\n" in text
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1\n" in text


def test_xcb_with_missing_libraries_prints_them_instead_of_qts_message(tmp_path: Path) -> None:
    missing = missing_libraries(_plugin_path("xcb"))
    if not missing:
        pytest.skip("every library of Qt's xcb plugin is installed here")

    done = run_cli(["--settings", str(tmp_path / "s.ini")], tmp_path, drop=("QT_QPA_PLATFORM", "WAYLAND_DISPLAY"),
                   DISPLAY=":99")

    assert done.returncode == 1
    assert "Could not load the Qt platform plugin" not in done.stderr
    for library in missing:
        assert f"  {library}\n" in done.stderr
    assert f"sudo apt-get install {' '.join(debian_package(lib) for lib in missing)}" in done.stderr


def test_desktop_entry_installs_into_xdg_data_home(tmp_path: Path) -> None:
    done = run_cli(["--install-desktop-entry"], tmp_path)

    assert done.returncode == 0, done.stderr
    entry_path = tmp_path / "data" / "applications" / "session-monitor.desktop"
    icon = tmp_path / "data" / "icons" / "hicolor" / "scalable" / "apps" / "session-monitor.svg"
    assert str(entry_path) in done.stdout and icon.read_text().startswith("<svg")
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(entry_path)
    fields = entry["Desktop Entry"]
    assert fields["Type"] == "Application" and fields["Icon"] == "session-monitor"
    launcher = fields["Exec"].split()[0]
    assert Path(launcher).is_file() and os.access(launcher, os.X_OK)
