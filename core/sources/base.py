"""The interface every bar source implements, and the errors it may raise.

A replay source serves whole sessions of validated base bars; the coordinator releases
them on its clock (no look-ahead). Reading a day may block, so the coordinator calls
``load_session`` in an executor.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence

from session_monitor.core.calendar import Session
from session_monitor.core.feeds import ReplayFeed, SymbolFeed
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.loaded import DataProblem, LoadedSession

__all__ = ["BarSource", "DataError", "DataProblem", "LoadedSession", "SourceError"]


class SourceError(Exception):
    """A source that cannot be used at all (missing path, unknown layout): one-line reason."""


class DataError(ValueError):
    """Bad data in a file; names the file and the 1-based line (header included) when known.

    This is the only exception the readers let escape for bad bytes or rows.
    """

    def __init__(self, message: str, file: str | None = None, row: int | None = None) -> None:
        self.file = file
        self.row = row
        self.reason = message
        where = file or ""
        if row is not None:
            where = f"{where}:{row}" if where else f"row {row}"
        super().__init__(f"{where}: {message}" if where else message)


class BarSource(ABC):
    """A replay source of base bars."""

    #: short name shown to the user, e.g. ``demo`` or ``lean minute``
    name: str = "source"
    #: a live source streams today's session on the wall clock (no replay, no speed)
    live: bool = False
    #: the source sends no bar for an interval without trades, so a hole followed by more
    #: bars is ``quiet``, not lost (see ``core.causes``)
    omits_empty_intervals: bool = False

    @property
    @abstractmethod
    def key(self) -> str:
        """Identity of the data (kind + location) so recordings never mix two sources."""

    @abstractmethod
    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        """Base intervals this source can stream for ``symbol``; empty when it has no data for it."""

    @abstractmethod
    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        """All base bars of ``symbol`` in ``session``; bad rows become ``problems``, never exceptions."""

    def symbols(self) -> list[str]:
        """Symbols the source knows of, when it can list them (the demo accepts any name)."""
        return []

    def prepare(self, symbols: Sequence[str]) -> None:
        """Read ahead what ``symbols`` will be asked about, side by side (a run names them all
        at its start); a source that reads lazily per symbol can skip this."""
        return None

    def dates(self, symbol: str) -> list[dt.date]:
        """Session dates with data for ``symbol``, when the source can list them."""
        return []

    def notes(self, symbol: str) -> list[str]:
        """What the user should know about how ``symbol``'s data is read before the run starts
        (e.g. which base was detected and how many rows are off it)."""
        return []

    def unusable(self, symbol: str | None = None) -> list[DataProblem]:
        """Why the source holds no usable bars for ``symbol`` (``None``: for any symbol).

        Asked when :meth:`base_intervals` is empty (or :meth:`symbols` lists nothing), so
        a file whose every row is bad says what is wrong with it (file, row, reason)
        instead of "no data". Empty when nothing is known to be wrong.
        """
        return []

    @property
    def calendar_hint(self) -> str | None:
        """The calendar the data implies (``24/7`` for crypto), if any."""
        return None

    def close_feed(self, symbol: str) -> None:
        """Stop delivering ``symbol`` (it was removed); a streaming source unsubscribes it."""
        return None

    def close(self) -> None:
        """Release connections and threads (a streaming source); file sources hold none."""
        return None

    def open_feed(self, loaded: LoadedSession) -> SymbolFeed:
        """The feed that delivers ``loaded`` on the session clock (a live source streams instead)."""
        return ReplayFeed(loaded)
