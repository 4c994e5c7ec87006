"""What a source hands over: one symbol's validated bars for one session, and the problems found.

It sits below both the sources (which build it) and the feeds (which deliver it), so
neither has to import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval

__all__ = ["DataProblem", "LoadedSession"]


@dataclass(frozen=True, slots=True)
class DataProblem:
    """A rejected row or a data warning; never fatal to the session."""

    message: str
    file: str | None = None
    row: int | None = None
    symbol: str | None = None

    def __str__(self) -> str:
        where = self.file or self.symbol or ""
        if self.file and self.row is not None:
            where = f"{self.file}:{self.row}"
        return f"{where}: {self.message}" if where else self.message


@dataclass(slots=True)
class LoadedSession:
    """One symbol's validated base bars for one session (in-session, sorted, unique starts)."""

    symbol: str
    session: Session
    base: Interval
    bars: BarArrays
    problems: list[DataProblem] = field(default_factory=list)
    #: rows outside the regular session: skipped and counted, not an error
    outside_session: int = 0
