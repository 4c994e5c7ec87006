"""One rule for what a symbol is, and file names built from symbols that stay where they belong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from session_monitor.core.export import SessionExporter
from session_monitor.core.intervals import parse_interval
from session_monitor.core.session_data import SymbolSessionData
from session_monitor.core.sources.alpaca import parse_stream_bar
from session_monitor.core.sources.lean import LeanSource
from session_monitor.core.symbols import (
    MAX_SYMBOL_LENGTH,
    SYMBOL_RULE,
    SymbolError,
    distinct_symbols,
    normalise_symbol,
    symbol_file_name,
    symbol_from_file_name,
    symbol_path,
)
from tests.core_helpers import watch, xnys


@pytest.mark.parametrize(
    ("text", "symbol"),
    [("spy", "SPY"), (" aapl ", "AAPL"), ("BRK.B", "BRK.B"), ("btc/usd", "BTC/USD"), ("BF-B", "BF-B"),
     ("ES=F", "ES=F"), ("^VIX", "^VIX"), ("A" * MAX_SYMBOL_LENGTH, "A" * MAX_SYMBOL_LENGTH)],
)
def test_plausible_tickers_are_upper_cased(text: str, symbol: str) -> None:
    assert normalise_symbol(text) == symbol


@pytest.mark.parametrize(
    "text",
    ["../../PWNED", "./SPY", "..", ".", "/SPY", "SPY/", "SPY..B", "A//B", "SP Y", "SPY\\X", "C:SPY", "SP\nY",
     "SP\x00Y", "ÄPFEL", "SPY%2F", "A" * (MAX_SYMBOL_LENGTH + 1), "^", "-SPY"],
)
def test_anything_else_is_refused_with_the_rule(text: str) -> None:
    with pytest.raises(SymbolError, match="malformed: use at most 20 letters and digits"):
        normalise_symbol(text)


def test_an_empty_symbol_says_so() -> None:
    with pytest.raises(SymbolError, match="symbol is empty"):
        normalise_symbol("  ")


def test_two_spellings_of_one_symbol_are_one_symbol_named_once() -> None:
    symbols, duplicates = distinct_symbols(["spy", "GOOG", "SPY ", "goog", "Spy"])
    assert symbols == ["SPY", "GOOG"]
    assert [d.describe() for d in duplicates] == ["SPY (as 'spy', 'SPY', 'Spy')", "GOOG (as 'GOOG', 'goog')"]


@pytest.mark.parametrize(
    ("symbol", "name"),
    [("SPY", "SPY"), ("BTC/USD", "BTC%2FUSD"), ("BRK.B", "BRK.B"), ("CON", "%43ON"), ("NUL.A", "%4EUL.A"),
     ("COM1", "%43OM1"), ("CONX", "CONX")],
)
def test_file_names_are_escaped_and_the_escape_is_reversible(symbol: str, name: str) -> None:
    assert symbol_file_name(symbol) == name
    assert symbol_from_file_name(name) == symbol


def test_paths_stay_inside_their_folder(tmp_path: Path) -> None:
    assert symbol_path(tmp_path, "BTC/USD", "1m.csv") == tmp_path / "BTC%2FUSD" / "1m.csv"
    with pytest.raises(SymbolError):
        symbol_path(tmp_path, "../../PWNED", "1m.csv")


def test_lean_folders_that_are_not_tickers_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "equity" / "usa" / "minute"
    for name in ("spy", "brk.b", "not a ticker", "..weird"):
        (root / name).mkdir(parents=True)
    assert LeanSource(root).symbols() == ["BRK.B", "SPY"]
    assert "folder 'not a ticker' is not a ticker" in caplog.text


def test_an_alpaca_bar_for_a_malformed_symbol_is_refused() -> None:
    message = {"T": "b", "S": "../../X", "t": "2024-03-05T14:30:00Z", "o": 1, "h": 1, "l": 1, "c": 1, "v": 1}
    with pytest.raises(ValueError, match=re.escape("symbol '../../X' is malformed")):
        parse_stream_bar(message)
    assert parse_stream_bar({**message, "S": "btc/usd"})[0] == "BTC/USD"


def test_the_replay_exporter_never_writes_a_symbol_outside_its_folder(tmp_path: Path) -> None:
    """SessionData itself does not check names: the exporter is the last guard, and says so."""
    session = xnys("2013-10-07")
    sd, _, _ = watch(session, "1m", [], symbol="../../EVIL")
    good = SymbolSessionData.create("BTC/USD", parse_interval("1m"), [], session)
    sd.register_symbol_data(good)
    said: list[str] = []
    sd.events.message.connect(lambda _level, text: said.append(text))
    out = tmp_path / "a" / "out"

    SessionExporter(sd, out, "XNYS").on_session_closed(session)

    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "BTC%2FUSD", "BTC%2FUSD/1m.csv", "session.json"
    ]
    assert said == ["'../../EVIL' not exported: symbol '../../EVIL' is malformed: " + SYMBOL_RULE]
    assert not list(tmp_path.rglob("EVIL*"))
