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
from typing import NamedTuple

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
_ROUTINE_CODES = np.array(sorted(_ROUTINE))
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

    __slots__ = ("ends", "padded", "pieces", "sparse", "step")

    pieces: tuple[tuple[int, int], ...]

    def __init__(self, data: SymbolSessionData) -> None:
        grid = data.base.grid
        self.ends = grid.ends[grid.expected > 0].astype(np.float64)
        self.padded = np.concatenate((self.ends, [math.inf]))
        steps = np.unique(np.diff(self.ends))
        #: the slots' common length when they follow each other evenly (no break): counting is arithmetic
        self.step = float(steps[0]) if len(steps) == 1 else None
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
        if self.step is None:
            counts: np.ndarray = np.searchsorted(self.ends, t, side="right")
            return counts
        # exact: t and the first end are close floats, so their difference is exact
        ended = np.floor((t - self.ends[0]) / self.step) + 1
        arithmetic: np.ndarray = np.clip(ended, 0, len(self.ends)).astype(np.int64)
        return arithmetic

    def end_of(self, k: np.ndarray) -> np.ndarray:
        """End of the k-th (1-based) expected slot; inf past the last one."""
        ends: np.ndarray = self.padded[np.minimum(k, len(self.ends)) - 1]
        return ends


class HealthMonitor:
    """Keeps every symbol's :class:`SymbolHealth` (stored on its ``SymbolSessionData``).

    ``update(clock, down)`` is called after each processor pass with the symbols whose
    feed is down at ``clock``; it emits :attr:`changed` with one :class:`HealthChange`
    per transition (in time order per symbol). The symbols that share a session and a
    base interval are evaluated together, in one numpy pass over all their rows
    (:class:`_GroupPass`): a per-symbol pass cost ~0.4 ms a symbol at every step.
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
        #: symbols per part of :meth:`update_parts` (a headless engine, with no window to let in, takes more)
        self.part_symbols = UPDATE_CHUNK

    def health(self, symbol: str) -> SymbolHealth | None:
        data = self.session_data.get_symbol_data(symbol)
        health = None if data is None else data.health
        return health if isinstance(health, SymbolHealth) else None

    def update(self, clock: float, down: frozenset[str] | set[str] = frozenset()) -> None:
        for _ in self.update_parts(clock, down):
            pass

    def update_parts(self, clock: float, down: frozenset[str] | set[str] = frozenset()) -> Iterator[None]:
        """:meth:`update`, pausing (yielding) between parts so a caller on an event loop can let it in.

        A part is one numpy pass over up to :data:`CHUNK_BARS` new bars of symbols sharing a
        session and base (:class:`_GroupPass`). Each symbol's health depends only on its own
        bars, so where the pauses fall changes nothing; each part emits its own changes (in
        the session's symbol order), :attr:`updated` follows the last part.
        """
        with self.session_data.lock:
            parts = self._parts(clock)
        for n, part in enumerate(parts):
            with self.session_data.lock:
                found = part.run(self.session_data, clock, down, self.settings)
            changes = [change for index in sorted(found) for change in found[index]]
            if changes and self.changed:
                self.changed.emit_many([(change,) for change in changes])
            if n + 1 < len(parts):
                yield
        if self.updated:
            self.updated.emit(clock)

    def _parts(self, clock: float) -> list[_Part]:
        """The symbols due an update, by session and base, cut into parts (:func:`_chunks`)."""
        everything = self.session_data.all_symbol_data()
        healths = [self._current(data) for data in everything]
        groups: dict[tuple[Session, str], list[int]] = {}
        for index, (data, health) in enumerate(zip(everything, healths, strict=True)):
            if clock >= health.time:
                groups.setdefault((data.session, data.base_interval.name), []).append(index)
        parts: list[_Part] = []
        for members in groups.values():
            ruler = self._ruler(everything[members[0]])
            sizes = [len(_new_starts(everything[i], healths[i])) for i in members]
            for chunk in _chunks(members, sizes, self.part_symbols):
                parts.append(_Part(chunk, [everything[i] for i in chunk], [healths[i] for i in chunk], ruler,
                                   [self._n(everything[i].symbol) for i in chunk]))
        return parts

    def _current(self, data: SymbolSessionData) -> SymbolHealth:
        """The symbol's health for its current session (started when it has none yet)."""
        health = data.health
        if not isinstance(health, SymbolHealth) or health.session != data.session:
            health = self._start(data)
        return health

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


@dataclass(frozen=True, slots=True)
class _Part:
    """Symbols of one session and base updated in one numpy pass (``members``: their indices)."""

    members: list[int]
    datas: list[SymbolSessionData]
    healths: list[SymbolHealth]
    ruler: _Slots
    stale_slots: list[int]

    def run(
        self, session_data: SessionData, clock: float, down: frozenset[str] | set[str], settings: HealthSettings
    ) -> dict[int, list[HealthChange]]:
        """Each member's changes; a symbol removed while the loop was let in is skipped."""
        kept = [k for k, data in enumerate(self.datas) if session_data.get_symbol_data(data.symbol) is data]
        if not kept:
            return {}
        datas = [self.datas[k] for k in kept]
        healths = [self.healths[k] for k in kept]
        news = [_new_starts(data, health) for data, health in zip(datas, healths, strict=True)]
        group = _GroupPass(datas, healths, news, self.ruler, clock, down, settings, [self.stale_slots[k] for k in kept])
        return dict(zip([self.members[k] for k in kept], group.run(), strict=True))


class _Segments(NamedTuple):
    """State segments of a pass, every symbol's in a row (``owner``: the symbol's index)."""

    starts: np.ndarray
    ends: np.ndarray
    states: np.ndarray
    values: np.ndarray
    owner: np.ndarray

    def take(self, index: np.ndarray) -> _Segments:
        return _Segments(*(column[index] for column in self))


class _GroupPass:
    """One :meth:`HealthMonitor.update` over the symbols of one session and base interval.

    Every symbol's new bars are laid end to end (``owner`` says whose), so each rule below
    is one numpy expression over all of them; only p99 checkpoints (every 256 gaps) and
    the few transitions that are reported loop in Python.
    """

    def __init__(
        self, datas: list[SymbolSessionData], healths: list[SymbolHealth], parts: list[np.ndarray], ruler: _Slots,
        clock: float, down: frozenset[str] | set[str], settings: HealthSettings, stale_slots: list[int],
    ) -> None:
        self.datas = datas
        self.healths = healths
        self.ruler = ruler
        self.clock = clock
        self.settings = settings
        self.n = np.array(stale_slots, np.int64)
        self.down = np.array([d.symbol in down for d in datas], bool)
        self.was_down = np.array([h.down for h in self.healths], bool)
        self.t0 = np.array([h.time for h in self.healths], np.float64)
        base_seconds = datas[0].base_interval.seconds
        self.last_ts = np.array([h.last_ts for h in self.healths], np.int64)
        self.lengths = np.array([len(part) for part in parts], np.int64)
        self.first = np.cumsum(self.lengths) - self.lengths
        new_starts = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        #: the new bars' ends (a bar is heard at its end), every symbol's in a row
        self.new_ends = (new_starts + base_seconds).astype(np.float64)
        self.new_starts = new_starts
        self.base_seconds = base_seconds
        #: expected slots ended by each new bar's end (set by :meth:`_take_gaps`)
        self.counts = np.zeros(0, np.int64)

    def run(self) -> list[list[HealthChange]]:
        """Every symbol's changes of this pass (its health updated in place)."""
        thresholds = self._take_gaps()
        segments = self._timeline(thresholds)
        segments = _close_outside(self.ruler.pieces, segments)
        self._add_durations(segments)
        changes = self._emit(segments)
        self._remember(thresholds)
        return changes

    # -- the rhythm: gaps between bars and the stale threshold after each ----------------------
    def _take_gaps(self) -> np.ndarray:
        """Add the new bars' gaps (in slots) to each symbol's rhythm; the threshold after each bar.

        A symbol's threshold changes only at a p99 checkpoint (every 256 gaps), so the
        thresholds are runs: each symbol's checkpoints are found by arithmetic on its gap
        count, and only they touch the gap history.
        """
        settings, healths, first = self.settings, self.healths, self.first
        counts = self.counts = self.ruler.count(self.new_ends)
        previous = np.empty_like(counts)
        previous[1:] = counts[:-1]
        resumed = np.flatnonzero((self.lengths > 0) & (self.last_ts >= 0))
        previous[first[resumed]] = self.ruler.count((self.last_ts[resumed] + self.base_seconds).astype(np.float64))
        gaps = counts - previous  # the first bar of a session has none: never read below
        run_values: list[int] = []
        run_lengths: list[int] = []
        symbols = zip(healths, self.n.tolist(), self.lengths.tolist(), first.tolist(), strict=True)
        for health, n, count, start in symbols:
            if not count:
                continue
            offset = 0 if health.last_ts >= 0 else 1  # the session's first bar has no predecessor
            new = gaps[start + offset: start + count]
            current = health.threshold if health.gap_total >= settings.min_gaps else n
            at = start
            if len(new):
                history = np.concatenate((health.gaps, new))
                marks = _checkpoints(health.gap_total, health.gap_total + len(new), settings.min_gaps)
                # the window of checkpoint ``total`` ends with gap ``total``
                p99s = _p99s(history, [len(health.gaps) + total - health.gap_total for total in marks],
                             settings.recent_gaps)
                for total, p99 in zip(marks, p99s, strict=True):
                    position = start + offset + total - health.gap_total - 1
                    run_values.append(current)
                    run_lengths.append(position - at)
                    current = max(n, math.ceil(settings.gap_factor * p99))
                    at = position
                health.gaps = history[-settings.recent_gaps:]
                health.gap_total += len(new)
            run_values.append(current)
            run_lengths.append(start + count - at)
        return np.repeat(np.array(run_values, np.int64), run_lengths)

    # -- live / quiet / stale / down segments over [t0, clock] ---------------------------------
    def _timeline(self, thresholds: np.ndarray) -> _Segments:
        """Each symbol's segments: from its bars, or one ``down`` span while its feed was down."""
        segments = self._bar_timeline(thresholds)
        if not self.was_down.any():
            return segments
        segments = segments.take(np.flatnonzero(~self.was_down[segments.owner]))
        owners = np.flatnonzero(self.was_down)
        spans = _Segments(self.t0[owners], np.full(len(owners), self.clock), np.full(len(owners), _DOWN, np.int64),
                          np.zeros(len(owners), np.int64), owners)
        joined = _Segments(*(np.concatenate((a, b)) for a, b in zip(segments, spans, strict=True)))
        return joined.take(np.argsort(joined.owner, kind="stable"))

    def _bar_timeline(self, thresholds: np.ndarray) -> _Segments:
        """Live / quiet / stale segments over ``[t0, clock]``, from the bars arriving at their ends.

        Row ``r`` of a symbol is the wait after arrival ``r`` (row 0: after the newest bar
        before ``t0``) until the next arrival. Only rows with a silence (no bar by the end of
        the next expected slot) add quiet and stale segments; the live time between them is
        one segment.
        """
        ruler, clock, healths = self.ruler, self.clock, self.healths
        symbols = len(healths)
        lengths = self.lengths
        row_owner = np.repeat(np.arange(symbols), lengths + 1)
        first_row = self.first + np.arange(symbols)
        is_first = np.zeros(len(row_owner), bool)
        is_first[first_row] = True
        is_last = np.zeros(len(row_owner), bool)
        is_last[first_row + lengths] = True
        arrivals = np.maximum(self.new_ends, np.repeat(self.t0, lengths))
        prev = np.empty(len(row_owner))
        prev[is_first] = [h.heard for h in healths]
        prev[~is_first] = arrivals
        nxt = np.empty(len(row_owner))
        nxt[is_last] = clock
        nxt[~is_last] = arrivals
        limits = np.empty(len(row_owner), np.int64)
        limits[is_first] = [h.threshold for h in healths]
        limits[~is_first] = thresholds
        counted = np.empty(len(row_owner), np.int64)
        counted[is_first] = ruler.count(prev[is_first])
        # a bar heard after the last pass arrives at its end: its slot count is known already
        late = (arrivals != self.new_ends).any()
        counted[~is_first] = ruler.count(arrivals) if late else self.counts
        quiet_at = ruler.end_of(counted + 1)
        silent = np.flatnonzero(quiet_at < nxt)
        owner = row_owner[silent]
        limit = limits[silent]
        prev, nxt, quiet_at = prev[silent], nxt[silent], quiet_at[silent]
        alive = np.array([-math.inf if d.notes.alive_until is None else d.notes.alive_until for d in self.datas])
        evidence = np.maximum(prev, np.minimum(alive[owner], nxt))
        if ruler.sparse is None:
            stale_at = ruler.end_of(ruler.count(evidence) + limit)
        else:  # silence outside the regular session is quiet (sparse extended hours)
            evidence = np.maximum(evidence, ruler.sparse[0])
            stale_at = np.where(evidence >= ruler.sparse[1], math.inf, ruler.end_of(ruler.count(evidence) + limit))
        quiet_end = np.minimum(np.maximum(stale_at, quiet_at), nxt)
        # per symbol: a live segment, then (quiet, stale, live) for each silent row
        per_symbol = 3 * np.bincount(owner, minlength=symbols) + 1
        seg_owner = np.repeat(np.arange(symbols), per_symbol)
        opening = np.cumsum(per_symbol) - per_symbol
        quiet = 3 * np.arange(len(silent)) + owner + 1
        starts = np.empty(len(seg_owner))
        ends = np.empty(len(seg_owner))
        states = np.empty(len(seg_owner), np.int64)
        values = np.zeros(len(seg_owner), np.int64)
        starts[opening] = self.t0
        starts[quiet], ends[quiet], states[quiet] = quiet_at, quiet_end, _QUIET
        starts[quiet + 1], ends[quiet + 1], states[quiet + 1], values[quiet + 1] = quiet_end, nxt, _STALE, limit
        starts[quiet + 2] = nxt
        live = np.concatenate((opening, quiet + 2))
        states[live] = _LIVE
        following = live + 1
        inside = following < len(seg_owner)
        inside[inside] = seg_owner[following[inside]] == seg_owner[live[inside]]
        ends[live] = np.where(inside, starts[np.minimum(following, len(seg_owner) - 1)], clock)
        t0 = self.t0[seg_owner]
        starts = np.maximum(starts, t0)
        keep = ends > starts
        kept = np.bincount(seg_owner[keep], minlength=symbols)
        for symbol in np.flatnonzero(kept == 0).tolist():  # nothing elapsed: the state at t0 still holds
            lo, hi = int(opening[symbol]), int(opening[symbol] + per_symbol[symbol])
            at = int(np.searchsorted(starts[lo:hi], t0[lo], side="right")) - 1 if hi - lo > 1 else 0
            keep[lo + at] = True
            ends[lo:hi] = np.maximum(ends[lo:hi], starts[lo:hi])
        return _Segments(starts, ends, states, values, seg_owner).take(np.flatnonzero(keep))

    # -- what the segments add up to -----------------------------------------------------------
    def _add_durations(self, segments: _Segments) -> None:
        session = self.healths[0].session
        lengths = (np.clip(segments.ends, session.open, session.close)
                   - np.clip(segments.starts, session.open, session.close))
        codes = segments.owner * len(_STATES) + segments.states
        totals = np.bincount(codes, weights=lengths, minlength=len(self.healths) * len(_STATES))
        nonzero = np.flatnonzero(totals)
        for index, seconds in zip(nonzero.tolist(), totals[nonzero].tolist(), strict=True):
            owner, code = divmod(index, len(_STATES))
            self.healths[owner].durations[_STATES[code]] += seconds
        for segment in session.segments:  # extended hours: the same split per segment
            lengths = (np.clip(segments.ends, segment.start, segment.end)
                       - np.clip(segments.starts, segment.start, segment.end))
            totals = np.bincount(codes, weights=lengths, minlength=len(self.healths) * len(_STATES))
            for health, seconds in zip(self.healths, totals.reshape(-1, len(_STATES)).tolist(), strict=True):
                own = health.segment_durations.setdefault(segment.name, dict.fromkeys(HealthState, 0.0))
                for code, value in enumerate(seconds):
                    own[_STATES[code]] += value

    def _emit(self, segments: _Segments) -> list[list[HealthChange]]:
        """The reported transitions: consecutive live/quiet flips inside the pass are coalesced
        (only a symbol's end state of the pass is reported); every other transition is."""
        healths, clock = self.healths, self.clock
        starts, states, values, owner = segments.starts, segments.states, segments.values, segments.owner
        symbols = len(healths)
        opening = np.searchsorted(owner, np.arange(symbols))
        before = np.empty_like(states)
        before[1:] = states[:-1]
        before[opening] = [_CODE[h.state] for h in healths]
        change = np.flatnonzero(states != before)
        # each symbol's last change (``change`` is ascending, and so are the owners along it)
        last = np.full(symbols, -1)
        changed_owner = owner[change]
        has = np.flatnonzero(np.bincount(changed_owner, minlength=symbols))
        last[has] = change[np.searchsorted(changed_owner, has, side="right") - 1]
        routine = np.isin(states, _ROUTINE_CODES)
        candidates = change[~routine[change] | ~np.isin(before[change], _ROUTINE_CODES)
                            | (change == last[changed_owner])]
        out: list[list[HealthChange]] = [[] for _ in range(symbols)]
        current = [_CODE[h.state] for h in healths]
        for i in candidates.tolist():
            symbol = int(owner[i])
            state, now = int(states[i]), current[symbol]
            if state == now or (state in _ROUTINE and now in _ROUTINE and i != last[symbol]):
                continue
            out[symbol].append(HealthChange(self.datas[symbol].symbol, float(starts[i]), _STATES[state],
                                            _STATES[now], int(values[i])))
            current[symbol] = state
            healths[symbol].since = float(starts[i])
        in_session = _in_session(self.ruler.pieces, clock)
        for symbol, health in enumerate(healths):
            final = (_CLOSED if not in_session else _DOWN if self.down[symbol]
                     else _LIVE if self.was_down[symbol] else None)
            now = current[symbol]
            if final is not None and final != now:
                out[symbol].append(HealthChange(self.datas[symbol].symbol, clock, _STATES[final], _STATES[now], 0))
                now = final
                health.since = clock
            health.state = _STATES[now]
        return out

    def _remember(self, thresholds: np.ndarray) -> None:
        """Each symbol's newest bar, when it was heard, its threshold, and the pass's clock."""
        clock = self.clock
        for symbol, health in enumerate(self.healths):
            count = int(self.lengths[symbol])
            if count:
                last = int(self.first[symbol]) + count - 1
                health.last_ts = int(self.new_starts[last])
                newest = float(self.new_ends[last])
                health.heard = max(health.heard, newest) if self.was_down[symbol] else newest
                health.threshold = int(thresholds[last])
            if self.was_down[symbol] and not self.down[symbol]:
                health.heard = max(health.heard, clock)  # reconnecting is evidence the feed is alive
            health.down = bool(self.down[symbol])
            health.time = clock


#: new bars evaluated in one numpy pass: bounds the pass's temporaries (~20 arrays of this
#: length) when a step at ``--speed max`` brings hundreds of thousands of bars
CHUNK_BARS = 1 << 15


_NO_STARTS = np.zeros(0, np.int64)


def _new_starts(data: SymbolSessionData, health: SymbolHealth) -> np.ndarray:
    """Starts of the symbol's bars newer than the last pass took into account (a view)."""
    series = data.base.data
    if health.last_ts >= 0 and series.last_ts == health.last_ts:
        return _NO_STARTS  # nothing newer: most passes at 1x, at every symbol (no view, no search)
    ts = series.ts
    if health.last_ts < 0:
        return ts
    new: np.ndarray = ts[int(ts.searchsorted(health.last_ts, side="right")):]
    return new


def _chunks(members: list[int], sizes: list[int], symbols: int) -> list[list[int]]:
    """``members`` in consecutive runs of at most ``symbols`` symbols and about
    :data:`CHUNK_BARS` new bars (a symbol is never split)."""
    runs: list[list[int]] = [[]]
    held = 0
    for member, size in zip(members, sizes, strict=True):
        if runs[-1] and (held + size > CHUNK_BARS or len(runs[-1]) >= symbols):
            runs.append([])
            held = 0
        runs[-1].append(member)
        held += size
    return runs


def _checkpoints(done: int, total: int, min_gaps: int) -> list[int]:
    """Gap counts in ``(done, total]`` at which the p99 is recomputed: fixed points, so chunking never matters."""
    early = {min_gaps, 2 * min_gaps, 4 * min_gaps}
    regular = range((done // RECOMPUTE_EVERY + 1) * RECOMPUTE_EVERY, total + 1, RECOMPUTE_EVERY)
    return sorted({t for t in early if done < t <= total} | {t for t in regular if t >= min_gaps})


def _p99(gaps: np.ndarray) -> int:
    """99th percentile (nearest rank) of small positive integers, by counting (cheaper than a partition)."""
    counts = np.cumsum(np.bincount(gaps))
    return int(np.searchsorted(counts, math.ceil(0.99 * len(gaps))))


#: gap lengths :func:`_p99s` tries before taking the windows still open one by one
_FEW_VALUES = 64


def _p99s(history: np.ndarray, ends: list[int], window: int) -> list[int]:
    """:func:`_p99` of the ``window`` gaps before each end, every window at once.

    A window's p99 is the smallest gap length with enough gaps at or below it; one prefix
    sum per length, smallest first, settles the windows still open (most gaps are one slot,
    so one or two lengths settle them all, instead of a histogram per window).
    """
    stops = np.array(ends, np.int64)
    starts = np.maximum(stops - window, 0)
    needed = np.ceil(0.99 * (stops - starts))  # the nearest rank, as in :func:`_p99`
    found = np.zeros(len(stops), np.int64)
    open_ = np.ones(len(stops), bool)
    prefix = np.zeros(len(history) + 1, np.int64)
    value = int(history.min()) if len(history) else 0
    for _ in range(_FEW_VALUES):
        np.cumsum(history <= value, out=prefix[1:])
        settled = open_ & (prefix[stops] - prefix[starts] >= needed)
        found[settled] = value
        open_ &= ~settled
        if not open_.any():
            break
        value = int(history[history > value].min())  # the window holding the largest is settled by it
    for index in np.flatnonzero(open_).tolist():  # many distinct lengths: the rest one by one
        found[index] = _p99(history[starts[index]: stops[index]])
    result: list[int] = found.tolist()
    return result


def _in_session(pieces: tuple[tuple[int, int], ...], t: float) -> bool:
    return any(lo <= t < hi for lo, hi in pieces)


def _close_outside(pieces: tuple[tuple[int, int], ...], segments: _Segments) -> _Segments:
    """Split segments at the session's boundaries and mark what lies outside it ``closed``."""
    starts, ends, states, values, owner = segments
    for bound in sorted({b for piece in pieces for b in piece}):
        inside = np.flatnonzero((starts < bound) & (ends > bound))
        if len(inside):
            starts = np.insert(starts, inside + 1, bound)
            ends = np.insert(ends, inside, bound)
            states = np.insert(states, inside + 1, states[inside])
            values = np.insert(values, inside + 1, values[inside])
            owner = np.insert(owner, inside + 1, owner[inside])
    open_mask = np.zeros(len(starts), bool)
    for lo, hi in pieces:
        open_mask |= (starts >= lo) & (starts < hi)
    states = np.where(open_mask, states, _CLOSED)
    values = np.where(open_mask, values, 0)
    return _Segments(starts, ends, states, values, owner)
