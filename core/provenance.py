"""Bar provenance: which base bars make a derived bar, and which derived bars hold a base bar.

Read-only questions over one session's :class:`~core.session_data.BarIntervalData` (the
current session's ``SymbolSessionData.bars`` or a ``SessionHistory.bars``), answered from
the window grid (:mod:`core.windows`) and the base interval's gap tracker, so the answer is
the engine's own view of the window, not a second computation of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

from session_monitor.core.bars import FORMING, REVISED
from session_monitor.core.gaps import Gap
from session_monitor.core.intervals import Interval
from session_monitor.core.session_data import BarIntervalData

__all__ = ["BarState", "ContainingBar", "DerivedProvenance", "MissingSlot", "bars_containing", "derived_provenance"]


class BarState(StrEnum):
    #: its window has not ended (plus grace): more base bars may still arrive
    FORMING = "forming"
    #: final and never changed after it became final
    FINAL = "final"
    #: final, then rewritten by a late or corrected base bar
    REVISED = "revised"


@dataclass(frozen=True, slots=True)
class MissingSlot:
    """A base slot ``[start, end)`` in the window with no bar, and why (the gap tracker's cause)."""

    start: int
    end: int
    cause: str


@dataclass(frozen=True, slots=True)
class DerivedProvenance:
    """Where one derived bar comes from: its window, its base bars, the slots it lacks."""

    interval: Interval
    base_interval: Interval
    index: int
    #: the window ``[start, end)`` (UTC epoch seconds); the last window of a session ends at the close
    start: int
    end: int
    #: starts of the base bars inside the window
    present: tuple[int, ...]
    #: base slots the window expects
    expected: int
    #: expected slots that have elapsed and hold no bar
    missing: tuple[MissingSlot, ...]
    #: expected slots that have not elapsed yet (a forming bar)
    pending: int
    state: BarState
    tz: str
    #: how many passes changed the bar after it was final (the engine's ``BarIntervalData.revisions``)
    revisions: int = 0
    #: the pass clock (UTC epoch seconds) of the last of those changes; None when never revised
    revised_at: float | None = None

    @property
    def complete(self) -> bool:
        return len(self.present) >= self.expected

    def local(self, ts: int) -> dt.datetime:
        """``ts`` in the exchange's zone."""
        return dt.datetime.fromtimestamp(ts, ZoneInfo(self.tz))

    def describe(self) -> list[str]:
        """Lines for a panel or tooltip, in exchange time."""
        def hm(ts: int) -> str:
            return self.local(ts).strftime("%H:%M:%S" if self.base_interval.seconds % 60 else "%H:%M")

        day = self.local(self.start).strftime("%Y-%m-%d")
        lines = [
            f"{self.interval} bar {day} {hm(self.start)}–{hm(self.end)} ({self.tz}), {self.state.value}",
            f"base {self.base_interval} bars: {len(self.present)} of {self.expected} present",
        ]
        if self.missing:
            lines.append("missing: " + ", ".join(f"{hm(m.start)} ({m.cause})" for m in self.missing))
        if self.pending:
            lines.append(f"not yet due: {self.pending} slot(s)")
        if self.revised_at is not None:
            when = self.local(int(self.revised_at))
            at = when.strftime("%H:%M:%S" if when.strftime("%Y-%m-%d") == day else "%Y-%m-%d %H:%M:%S")
            times = "once" if self.revisions == 1 else f"{self.revisions} times"
            lines.append(f"revised {times}, last at {at}")
        return lines


@dataclass(frozen=True, slots=True)
class ContainingBar:
    """A derived bar whose window holds a given base bar."""

    interval: Interval
    index: int
    start: int
    end: int


def _state(flags: int) -> BarState:
    if flags & int(FORMING):
        return BarState.FORMING
    return BarState.REVISED if flags & int(REVISED) else BarState.FINAL


def _cause(slot: int, gaps: list[Gap]) -> str:
    for gap in gaps:
        if gap.start <= slot < gap.end:
            return gap.cause
    return "missing"


def derived_provenance(derived: BarIntervalData, base: BarIntervalData, index: int) -> DerivedProvenance:
    """The provenance of bar ``index`` of ``derived``, built from ``base`` (same symbol and session).

    Raises ``IndexError`` for an index outside the series and ``ValueError`` when ``derived``
    is not derived from ``base``.
    """
    if not derived.derived or derived.base != base.interval:
        raise ValueError(f"{derived.name} is not derived from {base.name}")
    series = derived.data
    if not 0 <= index < len(series):
        raise IndexError(f"{derived.name} has no bar {index} (it holds {len(series)})")
    grid = derived.grid
    window = grid.window_of_one(int(series.ts[index]))
    start, end = int(grid.starts[window]), int(grid.ends[window])
    base_ts = base.data.ts
    lo, hi = np.searchsorted(base_ts, [start, end])
    present = tuple(int(t) for t in base_ts[lo:hi])
    slots_grid = base.grid
    s_lo, s_hi = np.searchsorted(slots_grid.starts, [start, end])
    slots = [k for k in range(int(s_lo), int(s_hi)) if slots_grid.expected[k] > 0]
    have = set(present)
    empty = [k for k in slots if int(slots_grid.starts[k]) not in have]
    elapsed = [k for k in empty if k < base.elapsed]
    gaps = base.gaps if elapsed else []
    revision = derived.revisions.get(int(series.ts[index]))
    missing = tuple(
        MissingSlot(int(slots_grid.starts[k]), int(slots_grid.ends[k]), _cause(int(slots_grid.starts[k]), gaps))
        for k in elapsed
    )
    return DerivedProvenance(
        interval=derived.interval,
        base_interval=base.interval,
        index=index,
        start=start,
        end=end,
        present=present,
        expected=int(grid.expected[window]),
        missing=missing,
        pending=len(empty) - len(elapsed),
        state=_state(int(series.flags[index])),
        tz=grid.session.tz,
        revisions=revision.count if revision is not None else 0,
        revised_at=revision.last if revision is not None else None,
    )


def bars_containing(bars: Mapping[str, BarIntervalData], base_ts: int) -> list[ContainingBar]:
    """Every derived bar (in every derived interval of ``bars``) whose window holds the base bar
    starting at ``base_ts``, shortest interval first."""
    out = []
    for interval in sorted((b for b in bars.values() if b.derived), key=lambda b: b.interval.sort_key()):
        grid = interval.grid
        session = grid.session
        if not session.open <= base_ts < session.close:
            continue
        window = grid.window_of_one(base_ts)
        if window < 0:  # in no window of this interval (1d with extended hours)
            continue
        start = int(grid.starts[window])
        index = interval.data.index_of(start)
        if index >= 0:
            out.append(ContainingBar(interval.interval, index, start, int(grid.ends[window])))
    return out
