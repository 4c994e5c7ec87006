"""What a symbol may be, and the one safe way to turn it into a file name.

Every place a symbol enters the program (the command line, session files, a CSV or
Parquet symbol column or file name, Lean folder names, Alpaca messages, the GUI) goes
through :func:`normalise_symbol`, and every path built from a symbol goes through
:func:`symbol_path`. A symbol is upper-case ASCII: letters and digits in runs joined by
single separators ``.``, ``-``, ``/`` (crypto pairs such as ``BTC/USD``), ``_`` and
``=`` (``ES=F``), with an optional leading ``^`` for an index (``^VIX``), at most
:data:`MAX_SYMBOL_LENGTH` characters. So a symbol can never be ``..``, start or end with a
separator, or hold a space, a backslash or a control character.

File names escape ``/`` (and the first letter of a name Windows reserves, such as
``CON``) as ``%XX``; ``%`` is never part of a symbol, so the escape is reversible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

__all__ = [
    "MAX_SYMBOL_LENGTH",
    "SYMBOL_RULE",
    "Duplicate",
    "SymbolError",
    "UnsafePathError",
    "distinct_symbols",
    "is_symbol",
    "normalise_symbol",
    "symbol_file_name",
    "symbol_from_file_name",
    "symbol_path",
]

MAX_SYMBOL_LENGTH = 20
#: the rule in words, for error messages and the README
SYMBOL_RULE = (
    f"use at most {MAX_SYMBOL_LENGTH} letters and digits, joined by single . - / _ = "
    "(e.g. BRK.B, BTC/USD), optionally after a leading ^"
)
_SYMBOL_RE = re.compile(r"\^?[A-Z0-9]+(?:[./\-_=][A-Z0-9]+)*")
#: names Windows refuses as files whatever their extension
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))})


class SymbolError(ValueError):
    """A symbol request that cannot be honoured (malformed, duplicate, no data): says why."""


class UnsafePathError(ValueError):
    """A path built from a symbol would leave the folder it belongs in."""


def normalise_symbol(text: str) -> str:
    """``text`` stripped and upper-cased, or :class:`SymbolError` when it is not a plausible ticker."""
    symbol = str(text).strip().upper()
    if not symbol:
        raise SymbolError("symbol is empty")
    if len(symbol) > MAX_SYMBOL_LENGTH or not symbol.isascii() or _SYMBOL_RE.fullmatch(symbol) is None:
        shown = symbol if len(symbol) <= 40 else symbol[:40] + "…"
        raise SymbolError(f"symbol {shown!r} is malformed: {SYMBOL_RULE}")
    return symbol


def is_symbol(text: str) -> bool:
    """True when :func:`normalise_symbol` accepts ``text``."""
    try:
        normalise_symbol(text)
    except SymbolError:
        return False
    return True


class Duplicate(NamedTuple):
    """A symbol given more than once, with each spelling as written."""

    symbol: str
    spellings: tuple[str, ...]

    def describe(self) -> str:
        spelled = ", ".join(repr(s) for s in self.spellings)
        return f"{self.symbol} (as {spelled})"


def distinct_symbols(texts: Iterable[str]) -> tuple[list[str], list[Duplicate]]:
    """Normalised symbols in first-seen order, and every symbol that was given more than once.

    ``spy`` and ``SPY`` are one symbol: the caller says so once per symbol (a duplicate
    silently merged would mix two requests into one series).
    """
    order: list[str] = []
    spellings: dict[str, list[str]] = {}
    for text in texts:
        symbol = normalise_symbol(text)
        if symbol not in spellings:
            order.append(symbol)
            spellings[symbol] = []
        spellings[symbol].append(str(text).strip())
    duplicates = [Duplicate(s, tuple(spellings[s])) for s in order if len(spellings[s]) > 1]
    return order, duplicates


def symbol_file_name(symbol: str) -> str:
    """A file or folder name for ``symbol`` that is safe on every platform and reversible."""
    name = normalise_symbol(symbol).replace("/", "%2F")
    if name.split(".", 1)[0] in _RESERVED:
        name = f"%{ord(name[0]):02X}{name[1:]}"
    return name


def symbol_from_file_name(name: str) -> str:
    """The symbol a name written by :func:`symbol_file_name` stands for (normalised, validated)."""
    return normalise_symbol(unquote(name))


def symbol_path(folder: str | Path, symbol: str, *rest: str) -> Path:
    """``folder/<escaped symbol>/rest…``, checked to stay inside ``folder``.

    Raises :class:`SymbolError` for a symbol that is not valid and :class:`UnsafePathError`
    if the result would resolve outside ``folder`` (it cannot for a valid symbol and plain
    ``rest`` names; the check guards against a future change of either rule).
    """
    base = Path(folder)
    path = base.joinpath(symbol_file_name(symbol), *rest)
    root = base.resolve()
    resolved = path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnsafePathError(f"{path} would be written outside {base}")
    return path
