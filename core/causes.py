"""Why a gap is a gap: the one place that names a gap's cause.

A gap is decided after the fact, from what the feed told us about one symbol's session:

* ``no-data`` — the source has nothing at all for the symbol that session;
* ``ended`` — the source stopped before the close (the gap starts at or after its last bar);
* ``disconnect`` — the feed was down over part of the gap and never served the span;
* ``quiet`` — the source declares that it sends no bar for an interval without trades, no
  outage touches the gap, and the feed was heard from after it (the symbol's own bars
  resumed, or a live connection's heartbeat): nothing was lost, nothing traded;
* ``missing`` — anything else (a dropped bar, or a gap still open at the clock).

Only the symbol's own bars, the source's declaration and the outages its feed reported
count, never other symbols of the same run, so one engine and several give one export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["FeedNotes", "GapCause"]


class GapCause(StrEnum):
    """The ``cause`` values a gap carries (written as is into ``session.json``)."""

    MISSING = "missing"
    QUIET = "quiet"
    DISCONNECT = "disconnect"
    ENDED = "ended"
    NO_DATA = "no-data"


@dataclass(eq=False)
class FeedNotes:
    """What the feed told us about one symbol's session, shared by all its intervals."""

    #: ``[start, end)`` session-clock spans while the feed was down (end None: still down)
    outages: list[list[float | None]] = field(default_factory=list)
    #: end of the last bar once the source said it has nothing more for the session
    ended_at: float | None = None
    #: the source sends no bar for an interval without trades (Lean trade files, Alpaca bars)
    omits_empty: bool = False
    #: end of the newest bar the feed delivered (session clock), None before the first one
    bars_until: float | None = None
    #: newest session-clock time a live connection proved alive (heartbeat, any message)
    alive_until: float | None = None

    def heard(self, bar_end: float) -> None:
        """A bar ending at ``bar_end`` was delivered."""
        if self.bars_until is None or bar_end > self.bars_until:
            self.bars_until = bar_end

    @property
    def heard_until(self) -> float | None:
        """Newest evidence that the feed was alive: a bar of the symbol or the connection."""
        if self.alive_until is None:
            return self.bars_until
        if self.bars_until is None:
            return self.alive_until
        return max(self.bars_until, self.alive_until)

    @property
    def needs_causes(self) -> bool:
        """False when every gap is plainly ``missing`` (the common case, no per-gap work)."""
        return self.ended_at is not None or bool(self.outages) or (self.omits_empty and self.heard_until is not None)

    def cause_of(self, start: int, end: int) -> str:
        """Cause of the gap ``[start, end)`` (UTC epoch seconds)."""
        if self.ended_at is not None and start >= self.ended_at:
            return GapCause.NO_DATA if self.bars_until is None else GapCause.ENDED
        if self.disconnected_over(start, end):
            return GapCause.DISCONNECT
        heard = self.heard_until
        if self.omits_empty and heard is not None and heard >= end:
            return GapCause.QUIET
        return GapCause.MISSING

    def disconnected_over(self, start: float, end: float) -> bool:
        return any(down is not None and down < end and (up is None or start < up) for down, up in self.outages)
