"""The Alpaca source's parts that need no SDK (nor msgpack): imports without alpaca-py, message parsing."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]


class Stamp(NamedTuple):
    """Shaped like ``msgpack.Timestamp`` (the stream tests use the real one)."""

    seconds: int
    nanoseconds: int

ROW = (1451313000, 10.0, 11.0, 9.5, 10.5, 300.0)


def _message(**changes: object) -> dict[str, object]:
    ts, o, h, lo, c, v = ROW
    message = {"T": "b", "S": "goog", "o": o, "h": h, "l": lo, "c": c, "v": int(v), "t": Stamp(ts, 0)}
    message.update(changes)
    return {k: v for k, v in message.items() if v is not None}


def test_the_modules_import_without_alpaca_py_and_say_how_to_install_it() -> None:
    script = (
        "import sys; sys.modules['alpaca'] = None\n"  # every ``import alpaca…`` fails, as without the extra
        "import session_monitor.core.sources.alpaca_stream\n"  # tests/test_core_has_no_qt.py imports every core module
        "from session_monitor.core.sources.alpaca import AlpacaSource\n"
        "from session_monitor.core.sources.base import SourceError\n"
        "try:\n    AlpacaSource('key', 'secret')\nexcept SourceError as exc:\n    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "alpaca-py is not installed: pip install '.[alpaca]'"


def test_a_stream_bar_parses_from_msgpack_timestamp_rfc3339_or_datetime() -> None:
    from session_monitor.core.sources.alpaca import parse_stream_bar

    assert parse_stream_bar(_message()) == ("GOOG", ROW)
    assert parse_stream_bar(_message(t="2015-12-28T14:30:00Z")) == ("GOOG", ROW)
    assert parse_stream_bar(_message(t=dt.datetime(2015, 12, 28, 14, 30, tzinfo=dt.UTC))) == ("GOOG", ROW)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"o": None}, "field 'o' is missing"),
        ({"t": 1451313000}, "not a timestamp"),
        ({"t": Stamp(1451313030, 0)}, "not on a minute"),
        ({"t": Stamp(1451313000, 5)}, "whole second"),
        ({"t": dt.datetime(2015, 12, 28, 14, 30)}, "no UTC offset"),
        ({"t": "yesterday"}, "Invalid isoformat"),
        ({"h": 9.0}, "OHLC out of order"),
        ({"o": "abc"}, "could not convert"),
        ({"c": float("nan")}, "finite and positive"),
        ({"v": -1}, "volume"),
        ({"S": 7}, "not a name"),
    ],
)
def test_a_malformed_stream_bar_says_what_is_wrong(changes: dict[str, object], reason: str) -> None:
    from session_monitor.core.sources.alpaca import parse_stream_bar

    with pytest.raises(ValueError, match=reason):
        parse_stream_bar(_message(**changes))
