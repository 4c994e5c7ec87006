"""Feed health per symbol, decided on the session clock with no look-ahead.

States (:class:`HealthState`):

* ``live`` — the symbol's newest expected slot brought its bar;
* ``quiet`` — no bar for a slot or more, but not yet silent long enough to doubt the feed
  (or a live connection proves it is alive: a heartbeat, bars of other symbols on it);
* ``stale`` — silent for ``max(N expected slots, k x the symbol's own recent p99 gap
  between bars)`` with no evidence the feed is alive, so a naturally sparse symbol (SPY at
  1s, 6-21 s without trades) does not go stale every few seconds;
* ``down`` — the feed is disconnected;
* ``closed`` — outside the session: before the open, during a lunch break, after the
  close (a holiday has no session at all), so nothing is ever stale there.

Silence is counted in *expected slots* of the symbol's base interval, so a lunch break
never counts. With extended hours, a source that sends no bar for a minute without trades
is sparse by nature before and after the regular session: silence there is ``quiet``, never
``stale`` (a silence begun in the pre-market counts from the regular open). A bar counts
as heard at its end (when the session clock releases it), so the timeline is exact
whatever the step size: a replay at ``--speed max`` and one at 1x give the same stale spans.
Consecutive live/quiet flips inside one pass are coalesced into one event (their durations
are still exact); every transition into or out of stale, down and closed is emitted at its
own time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from session_monitor.core.calendar import Session
from session_monitor.core.events import Event
from session_monitor.core.session_data import SessionData, SymbolSessionData

__all__ = ["HealthChange", "HealthMonitor", "HealthSettings", "HealthState", "SymbolHealth"]


class HealthState(StrEnum):
    LIVE = "live"
    QUIET = "quiet"
    STALE = "stale"
    DOWN = "down"
    CLOSED = "closed"


_STATES = tuple(HealthState)
_CODE = {state: code for code, state in enumerate(_STATES)}
_LIVE, _QUIET, _STALE, _DOWN, _CLOSED = range(5)
#: transitions between these two are coalesced per pass
_ROUTINE = frozenset({_LIVE, _QUIET})
#: gaps between recomputations of a symbol's p99 (after the first few)
RECOMPUTE_EVERY = 256
#: symbols per part of :meth:`HealthMonitor.update_parts` (~5 ms of work)
UPDATE_CHUNK = 16


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """How long a silence must last before a symbol is stale."""

    #: N: expected slots of silence that always make a symbol stale
    stale_slots: int = 5
    #: k: a symbol is stale only after k x its own recent p99 gap between bars (in slots)
    gap_factor: float = 3.0
    #: gaps between bars the p99 is taken over (the most recent ones)
    recent_gaps: int = 1024
    #: gaps needed before the p99 is trusted (until then only N counts)
    min_gaps: int = 32


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A symbol's health changed at ``time`` (session clock, UTC epoch seconds)."""

    symbol: str
    time: float
    state: HealthState
    previous: HealthState
    #: expected slots without a bar when the change happened (the threshold for ``stale``)
    silent_slots: int

    def as_dict(self) -> dict[str, object]:
        """Plain values (for a publisher: JSON, Redis fields)."""
        return {"symbol": self.symbol, "time": self.time, "state": self.state.value,
                "previous": self.previous.value, "silent_slots": self.silent_slots}


@dataclass(eq=False)
class SymbolHealth:
    """One symbol's health: its state, since when, and seconds spent in each state this session."""

    session: Session
    state: HealthState = HealthState.CLOSED
    since: float = 0.0
    #: seconds in each state within ``[open, close]`` of ``session``
    durations: dict[HealthState, float] = field(default_factory=lambda: dict.fromkeys(HealthState, 0.0))
    #: with extended hours: the same per segment (``pre``, ``regular``, ``post``); empty otherwise
    segment_durations: dict[str, dict[HealthState, float]] = field(default_factory=dict)
    #: stale threshold in expected slots, as of the newest bar
    threshold: int = 5
    #: evaluated up to this session-clock time
    time: float = 0.0
    #: end of the newest bar of the session (the session open before the first one)
    heard: float = 0.0
    #: start of the newest bar taken into account (-1: none yet this session)
    last_ts: int = -1
    #: recent gaps between consecutive bars, in expected slots (kept across sessions)
    gaps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    gap_total: int = 0
    down: bool = False

    def export_segments(self) -> dict[str, dict[str, float]]:
        """Seconds per state in each segment of an extended session (empty for regular hours)."""
        return {name: {state.value: round(seconds, 3) for state, seconds in durations.items()}
                for name, durations in self.segment_durations.items()}

    def export(self) -> dict[str, float]:
        """Seconds per state for ``session.json`` (rounded to the millisecond)."""
        return {state.value: round(seconds, 3) for state, seconds in self.durations.items()}


class _Slots:
    """Expected slot ends of one session and base (the silence ruler)."""

    __slots__ = ("ends", "padded", "pieces", "sparse")

    pieces: tuple[tuple[int, int], ...]

    def __init__(self, data: SymbolSessionData) -> None:
        grid = data.base.grid
        self.ends = grid.ends[grid.expected > 0].astype(np.float64)
        self.padded = np.concatenate((self.ends, [math.inf]))
        session = data.session
        if session.break_start is not None and session.break_end is not None:
            self.pieces = ((session.open, session.break_start), (session.break_end, session.close))
        else:
            self.pieces = ((session.open, session.close),)
        #: extended hours of a source omitting empty intervals: the regular session, the only
        #: span where silence can make the symbol stale (None: silence counts everywhere)
        self.sparse = (session.regular_open, session.regular_close) \
            if session.segments and data.notes.omits_empty else None

    def count(self, t: np.ndarray) -> np.ndarray:
        """Expected slots that ended at or before each time."""
        counts: np.ndarray = np.searchsorted(self.ends, t, side="right")
        return counts

    def end_of(self, k: np.ndarray) -> np.ndarray:
        """End of the k-th (1-based) expected slot; inf past the last one."""
        ends: np.ndarray = self.padded[np.minimum(k, len(self.ends)) - 1]
        return ends


class HealthMonitor:
    """Keeps every symbol's :class:`SymbolHealth` (stored on its ``SymbolSessionData``).

    ``update(clock, down)`` is called after each processor pass with the symbols whose
    feed is down at ``clock``; it emits :attr:`changed` with one :class:`HealthChange`
    per transition (in time order per symbol).
    """

    def __init__(self, session_data: SessionData, settings: HealthSettings | None = None) -> None:
        self.session_data = session_data
        self.settings = settings or HealthSettings()
        #: per-symbol N (stale slots) overriding ``settings.stale_slots`` (from the alert rules)
        self.stale_slots: dict[str, int] = {}
        #: (HealthChange), in time order per symbol; batch subscribers get one call per pass
        self.changed = Event("health_changed")
        #: (clock) after every pass, once its changes are out
        self.updated = Event("health_updated")
        self._slots: dict[tuple[Session, str], _Slots] = {}

    def health(self, symbol: str) -> SymbolHealth | None:
        data = self.session_data.get_symbol_data(symbol)
        health = None if data is None else data.health
        return health if isinstance(health, SymbolHealth) else None

    def update(self, clock: float, down: frozenset[str] | set[str] = frozenset()) -> None:
        for _ in self.update_parts(clock, down):
            pass

    def update_parts(self, clock: float, down: frozenset[str] | set[str] = frozenset()) -> Iterator[None]:
        """:meth:`update`, pausing (yielding) after every :data:`UPDATE_CHUNK` symbols so a caller
        on an event loop can let it in (500 symbols take ~0.1-0.3 s in one piece).

        Each symbol's health depends only on its own bars, so where the pauses fall changes
        nothing; each part emits its own changes, :attr:`updated` follows the last part.
        """
        symbols = self.session_data.all_symbol_data()
        for first in range(0, len(symbols), UPDATE_CHUNK):
            changes: list[HealthChange] = []
            with self.session_data.lock:
                for data in symbols[first : first + UPDATE_CHUNK]:
                    if self.session_data.get_symbol_data(data.symbol) is data:  # not removed meanwhile
                        self._update_symbol(data, clock, data.symbol in down, changes)
            if changes and self.changed:
                self.changed.emit_many([(change,) for change in changes])
            if first + UPDATE_CHUNK < len(symbols):
                yield
        if self.updated:
            self.updated.emit(clock)

    # -- one symbol ----------------------------------------------------------------------
    def _n(self, symbol: str) -> int:
        return self.stale_slots.get(symbol, self.settings.stale_slots)

    def _start(self, data: SymbolSessionData) -> SymbolHealth:
        session = data.session
        old = data.health
        health = SymbolHealth(session=session, since=float(session.open), time=float(session.open),
                              heard=float(session.open), threshold=self._n(data.symbol))
        if isinstance(old, SymbolHealth):  # the symbol's rhythm carries over to the next session
            health.gaps, health.gap_total, health.threshold = old.gaps, old.gap_total, old.threshold
        data.health = health
        return health

    def _ruler(self, data: SymbolSessionData) -> _Slots:
        key = (data.session, data.base_interval.name)
        ruler = self._slots.get(key)
        if ruler is None:
            if len(self._slots) > 64:
                self._slots.clear()
            ruler = self._slots[key] = _Slots(data)
        return ruler

    def _update_symbol(self, data: SymbolSessionData, clock: float, down: bool, out: list[HealthChange]) -> None:
        health = data.health
        if not isinstance(health, SymbolHealth) or health.session != data.session:
            health = self._start(data)
        t0 = health.time
        if clock < t0:
            return
        ruler = self._ruler(data)
        base_seconds = data.base_interval.seconds
        ts = data.base.data.ts
        first_new = int(np.searchsorted(ts, health.last_ts, side="right")) if health.last_ts >= 0 else 0
        new_ends = (ts[first_new:] + base_seconds).astype(np.float64)
        thresholds = self._take_gaps(health, data, ruler, new_ends, base_seconds)
        if len(new_ends):
            health.last_ts = int(ts[-1])
        health_was_down = health.down
        if health_was_down:
            starts, ends, states, values = _down_span(t0, clock)
            if len(new_ends):
                health.heard = max(health.heard, float(new_ends[-1]))
            if not down:
                health.heard = max(health.heard, clock)  # reconnecting is evidence the feed is alive
        else:
            alive = data.notes.alive_until
            starts, ends, states, values = _bar_timeline(health, ruler, t0, clock, new_ends, thresholds, alive)
            if len(new_ends):
                health.heard = float(new_ends[-1])
        health.down = down
        if len(new_ends):
            health.threshold = int(thresholds[-1])
        starts, ends, states, values = _close_outside(ruler.pieces, starts, ends, states, values)
        _add_durations(health, data.session, starts, ends, states)
        reconnected = health_was_down and not down
        final_state = (
            _CLOSED if not _in_session(ruler.pieces, clock) else _DOWN if down else _LIVE if reconnected else None
        )
        self._emit(health, data.symbol, starts, states, values, clock, final_state, out)
        health.time = clock

    def _take_gaps(
        self, health: SymbolHealth, data: SymbolSessionData, ruler: _Slots, new_ends: np.ndarray, base_seconds: int
    ) -> np.ndarray:
        """Add the new bars' gaps (in slots) to the symbol's rhythm; the threshold after each bar."""
        n = self._n(data.symbol)
        current = health.threshold if health.gap_total >= self.settings.min_gaps else n
        out = np.full(len(new_ends), current, np.int64)
        if not len(new_ends):
            return out
        counts = ruler.count(new_ends)
        if health.last_ts >= 0:
            last_end = np.array([float(health.last_ts + base_seconds)])
            gaps = np.diff(np.concatenate((ruler.count(last_end), counts)))
            offset = 0
        else:
            gaps = np.diff(counts)  # the session's first bar has no predecessor
            offset = 1
        if not len(gaps):
            return out
        history = np.concatenate((health.gaps, gaps))
        totals = health.gap_total + 1 + np.arange(len(gaps))
        checkpoints = np.flatnonzero(_is_checkpoint(totals, self.settings.min_gaps))
        previous = 0
        for k in checkpoints.tolist():
            out[offset + previous: offset + k] = current
            end = len(health.gaps) + k + 1
            window = history[max(0, end - self.settings.recent_gaps): end]
            p99 = _p99(window)
            current = max(n, math.ceil(self.settings.gap_factor * p99))
            previous = k
        out[offset + previous:] = current
        health.gaps = history[-self.settings.recent_gaps:]
        health.gap_total += len(gaps)
        return out

    @staticmethod
    def _emit(
        health: SymbolHealth, symbol: str, starts: np.ndarray, states: np.ndarray, values: np.ndarray,
        clock: float, final_state: int | None, out: list[HealthChange],
    ) -> None:
        current = _CODE[health.state]
        points = np.flatnonzero(np.diff(np.concatenate(([current], states))) != 0).tolist()
        for n, i in enumerate(points):
            state = int(states[i])
            if state == current or (state in _ROUTINE and current in _ROUTINE and n != len(points) - 1):
                continue  # a routine live/quiet flip inside the pass: only the pass's end state is reported
            out.append(HealthChange(symbol, float(starts[i]), _STATES[state], _STATES[current], int(values[i])))
            current = state
            health.since = float(starts[i])
        if final_state is not None and final_state != current:
            out.append(HealthChange(symbol, clock, _STATES[final_state], _STATES[current], 0))
            current = final_state
            health.since = clock
        health.state = _STATES[current]


def _is_checkpoint(totals: np.ndarray, min_gaps: int) -> np.ndarray:
    """Gap counts at which the p99 is recomputed: fixed points, so chunking never matters."""
    early = (totals == min_gaps) | (totals == 2 * min_gaps) | (totals == 4 * min_gaps)
    points: np.ndarray = early | ((totals % RECOMPUTE_EVERY == 0) & (totals >= min_gaps))
    return points


def _p99(gaps: np.ndarray) -> int:
    """99th percentile (nearest rank) of small positive integers, by counting (cheaper than a partition)."""
    counts = np.cumsum(np.bincount(gaps))
    return int(np.searchsorted(counts, math.ceil(0.99 * len(gaps))))


def _down_span(t0: float, t1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return np.array([t0]), np.array([t1]), np.array([_DOWN]), np.array([0])


def _bar_timeline(
    health: SymbolHealth, ruler: _Slots, t0: float, t1: float, new_ends: np.ndarray,
    thresholds: np.ndarray, alive: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Live / quiet / stale segments over ``[t0, t1]``, from the bars arriving at their ends.

    Row ``r`` is the wait after arrival ``r`` (row 0: after the newest bar before ``t0``)
    until the next arrival. Only rows with a silence (no bar by the end of the next
    expected slot) add quiet and stale segments; the live time between them is one segment.
    """
    arrivals = np.maximum(new_ends, t0)
    prev = np.concatenate(([health.heard], arrivals))
    nxt = np.concatenate((arrivals, [t1]))
    quiet_at = ruler.end_of(ruler.count(prev) + 1)
    silent = np.flatnonzero(quiet_at < nxt)
    k = len(silent)
    limit = np.concatenate(([health.threshold], thresholds))[silent]
    prev, nxt, quiet_at = prev[silent], nxt[silent], quiet_at[silent]
    evidence = prev if alive is None else np.maximum(prev, np.minimum(alive, nxt))
    if ruler.sparse is None:
        stale_at = ruler.end_of(ruler.count(evidence) + limit)
    else:  # silence outside the regular session is quiet (sparse extended hours)
        evidence = np.maximum(evidence, ruler.sparse[0])
        stale_at = np.where(evidence >= ruler.sparse[1], math.inf, ruler.end_of(ruler.count(evidence) + limit))
    quiet_end = np.minimum(np.maximum(stale_at, quiet_at), nxt)
    starts = np.empty(3 * k + 1)
    ends = np.empty(3 * k + 1)
    starts[0::3] = np.concatenate(([t0], nxt))
    ends[0::3] = np.concatenate((quiet_at, [t1]))
    starts[1::3], ends[1::3] = quiet_at, quiet_end
    starts[2::3], ends[2::3] = quiet_end, nxt
    states = np.empty(3 * k + 1, np.int64)
    states[0::3], states[1::3], states[2::3] = _LIVE, _QUIET, _STALE
    values = np.zeros(3 * k + 1, np.int64)
    values[2::3] = limit
    starts = np.maximum(starts, t0)
    keep = ends > starts
    if not keep.any():  # nothing elapsed: the state at t0 still holds
        keep[int(np.searchsorted(starts, t0, side="right")) - 1 if k else 0] = True
        ends = np.maximum(ends, starts)
    return starts[keep], ends[keep], states[keep], values[keep]


def _in_session(pieces: tuple[tuple[int, int], ...], t: float) -> bool:
    return any(lo <= t < hi for lo, hi in pieces)


def _close_outside(
    pieces: tuple[tuple[int, int], ...], starts: np.ndarray, ends: np.ndarray, states: np.ndarray, values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split segments at the session's boundaries and mark what lies outside it ``closed``."""
    for bound in sorted({b for piece in pieces for b in piece}):
        inside = np.flatnonzero((starts < bound) & (ends > bound))
        if len(inside):
            starts = np.insert(starts, inside + 1, bound)
            ends = np.insert(ends, inside, bound)
            states = np.insert(states, inside + 1, states[inside])
            values = np.insert(values, inside + 1, values[inside])
    open_mask = np.zeros(len(starts), bool)
    for lo, hi in pieces:
        open_mask |= (starts >= lo) & (starts < hi)
    states = np.where(open_mask, states, _CLOSED)
    values = np.where(open_mask, values, 0)
    return starts, ends, states, values


def _add_durations(
    health: SymbolHealth, session: Session, starts: np.ndarray, ends: np.ndarray, states: np.ndarray
) -> None:
    lengths = np.clip(ends, session.open, session.close) - np.clip(starts, session.open, session.close)
    totals = np.bincount(states, weights=lengths, minlength=len(_STATES))
    for code, seconds in enumerate(totals.tolist()):
        if seconds:
            health.durations[_STATES[code]] += seconds
    for segment in session.segments:  # extended hours: the same split per segment
        lengths = np.clip(ends, segment.start, segment.end) - np.clip(starts, segment.start, segment.end)
        totals = np.bincount(states, weights=lengths, minlength=len(_STATES))
        own = health.segment_durations.setdefault(segment.name, dict.fromkeys(HealthState, 0.0))
        for code, seconds in enumerate(totals.tolist()):
            own[_STATES[code]] += seconds
