"""SessionCoordinator: runs a session, one trading day after another, on asyncio.

It loads symbols (stream determination -> full bar structure -> register), releases
base bars from the source into SessionData as the session clock reaches their end (no
look-ahead), runs the DataProcessor, and removes symbols cleanly mid-session.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import HOURS, Session, SessionCalendar
from session_monitor.core.causes import FeedNotes
from session_monitor.core.clock import WALL_CLOCK, ClockState, SessionClock
from session_monitor.core.events import Event
from session_monitor.core.feeds import FeedRejected, SymbolFeed
from session_monitor.core.health import HealthMonitor
from session_monitor.core.intervals import Interval
from session_monitor.core.memory import return_freed_memory
from session_monitor.core.processor import DataProcessor
from session_monitor.core.recording import (
    LostSpan,
    Recorder,
    RecordingUnavailable,
    SourceFingerprint,
    source_fingerprint,
)
from session_monitor.core.session_data import DEFAULT_HISTORY_SESSIONS, SessionData, SymbolSessionData
from session_monitor.core.sources.base import BarSource, LoadedSession
from session_monitor.core.streams import StreamPlan, determine_stream
from session_monitor.core.symbols import SymbolError, normalise_symbol

__all__ = ["HEADLESS_MAX_CHUNK", "CoordinatorStatus", "SessionCoordinator", "SymbolError"]

log = logging.getLogger(__name__)

#: session seconds per iteration at ``--speed max`` (a whole session is 23,400 s)
MAX_SPEED_CHUNK = 1800.0
#: session seconds per iteration of a headless replay at ``--speed max`` (``replay``): nobody
#: watches it move, so each session is one step, and a symbol's per-pass cost is paid once
#: rather than once per chunk (derived bars do not depend on the step: ``core.derive.advance``)
HEADLESS_MAX_CHUNK = math.inf
#: wall seconds between clock ticks at a finite speed
TICK_SECONDS = 0.03
#: exponential backoff of a failed feed: first retry after this many wall seconds, doubling
RETRY_BASE_SECONDS = 0.25
RETRY_MAX_SECONDS = 15.0
#: threads reading symbols' sessions: numpy, pyarrow and zip release the GIL while they
#: parse, so a few overlap well on a small machine; more would only hold more in flight
LOAD_WORKERS = min(4, os.cpu_count() or 1)
#: base bars handed over between two returns of freed memory to the OS: the feeds free
#: what they delivered, and the heap gives it back (~12 MiB of bars: at 500 symbols × 1s,
#: every max-speed step; a trim costs 10-30 ms there, and trimming every other step
#: instead left ~60-100 MiB more resident at the peak)
TRIM_EVERY_BARS = 250_000


def _clock_text(ts: float, session: Session) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(session.tz)).strftime("%H:%M:%S")


@dataclass(frozen=True, slots=True)
class CoordinatorStatus:
    """A snapshot for the status bar."""

    session: Session | None
    clock: float
    state: ClockState
    speed: float | None
    bars_per_second: float
    lag: float | None  # clock minus the end of the newest base bar, seconds
    sessions_done: int
    sessions_total: int
    disconnected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Read:
    """One symbol's session as a loading thread read it, with its fingerprint when recording."""

    loaded: LoadedSession
    fingerprint: SourceFingerprint | None


@dataclass
class _Outage:
    """A feed that is down: since when (session clock) and when to try again (wall clock)."""

    since: float
    attempts: int = 0
    retry_at: float = 0.0


#: most distinct bar ends in one tick that are handed over one by one (a minute of 1s bars);
#: a bigger backlog (``--speed max``, a backfill) goes in one piece to the batch path
MAX_SLICES = 64
#: wall seconds of slices a running session works through before it lets the event loop in
STEP_BUDGET = 0.008


@dataclass(frozen=True)
class _Slice:
    """The bars of one tick that end at ``end``: one per symbol, row ``k`` for ``symbols[k]``."""

    end: float
    symbols: list[str]
    bars: BarArrays


def _by_bar_end(arrived: list[tuple[str, BarArrays]], base_seconds: Callable[[str], int]) -> list[_Slice] | None:
    """The arrived bars cut by bar end time, ascending.

    None when the tick brought at most one bar per symbol (nothing to cut), more distinct
    ends than :data:`MAX_SLICES`, or a batch not strictly in time order (a correction,
    kept in the feed's order in one piece).
    """
    lengths = [len(batch.ts) for _, batch in arrived]
    if max(lengths) <= 1 or max(lengths) > MAX_SLICES:
        return None
    symbols = [symbol for symbol, _ in arrived]
    whole = BarArrays.concat(batch for _, batch in arrived)
    owner = np.repeat(np.arange(len(arrived)), lengths)
    ends = whole.ts + np.repeat(np.array([base_seconds(s) for s in symbols], np.int64), lengths)
    step_inside = np.diff(ends) > 0
    step_inside[np.cumsum(lengths)[:-1] - 1] = True  # the first bar of the next symbol
    if not step_inside.all():
        return None
    order = np.argsort(ends, kind="stable")
    sorted_ends = ends[order]
    cuts = np.flatnonzero(np.diff(sorted_ends)) + 1
    if len(cuts) + 1 > MAX_SLICES:
        return None
    slices = []
    for part in np.split(order, cuts):
        slices.append(_Slice(float(ends[part[0]]), [symbols[k] for k in owner[part].tolist()], whole.take(part)))
    return slices


class SessionCoordinator:
    """Drives one replay or demo run over ``sessions``."""

    def __init__(
        self,
        session_data: SessionData,
        source: BarSource,
        calendar: SessionCalendar,
        sessions: list[Session],
        *,
        speed: float | None = None,
        grace: float = 0.0,
        history_sessions: int = DEFAULT_HISTORY_SESSIONS,
        max_chunk: float = MAX_SPEED_CHUNK,
        recorder: Recorder | None = None,
        retry_base: float = RETRY_BASE_SECONDS,
        retry_max: float = RETRY_MAX_SECONDS,
        live: bool = False,
        known_missing: Mapping[str, Collection[dt.date]] | None = None,
        hours: str | None = None,
        symbol_hours: Mapping[str, str] | None = None,
    ) -> None:
        if not sessions:
            raise ValueError("no trading sessions to run")
        self.session_data = session_data
        self.source = source
        self.calendar = calendar
        self.sessions = sessions
        self.processor = DataProcessor(session_data, grace=grace)
        #: feed health per symbol on the session clock (``core.health``), updated after each pass
        self.health = HealthMonitor(session_data)
        self.live = live
        self.clock = SessionClock(now=float(sessions[0].open), speed=1.0 if live else speed, live=live)
        self.history_sessions = history_sessions
        self.max_chunk = max_chunk
        self.state = ClockState.PRE_OPEN
        self.session_index = 0
        self.recorder = recorder
        self.retry_base = retry_base
        self.retry_max = retry_max
        #: per symbol, sessions already summarised as without data: no warning per session for them
        self.known_missing = {symbol: frozenset(days) for symbol, days in (known_missing or {}).items()}
        #: session hours of a symbol without its own (None: the run's sessions as they are) and,
        #: per symbol, its own (a watchlist entry's ``hours``): a regular-hours symbol in a run
        #: whose clock spans the extended day gets that day's regular session
        self.hours = hours
        self.symbol_hours = {normalise_symbol(s): h for s, h in (symbol_hours or {}).items()}
        self._feeds: dict[str, SymbolFeed] = {}
        self._down: dict[str, _Outage] = {}
        self._resume_clock: float | None = None
        self._loading: dict[str, asyncio.Task[None]] = {}
        self._load_pool = ThreadPoolExecutor(LOAD_WORKERS, thread_name_prefix="load")
        self._resume = asyncio.Event()
        self._resume.set()
        self._stopping = False
        self._released_window: deque[tuple[float, int]] = deque(maxlen=64)
        self._newest_end: float | None = None
        self._released_since_trim = 0
        #: a requested move: run forward (at max speed) to this session time, then go on as before
        self._target: float | None = None
        #: a requested rewind: restart the session with this index, every bar forgotten
        self._rewind_to: int | None = None
        #: session seconds of the range before each session (progress and the slider map through it)
        self._offsets = np.concatenate([[0.0], np.cumsum([float(s.close - s.open) for s in sessions])])
        #: (session) after a session's final pass: every bar of it is final
        self.session_closed = Event("session_closed")
        #: (state) when the run state changes
        self.state_changed = Event("state_changed")
        #: (done session seconds, total session seconds)
        self.progress = Event("progress")
        #: (clock) after a step's processor passes, before its feed-health update: a publisher sends
        #: the step's new bars here, so the health update does not delay them
        self.passed = Event("passed")
        #: (symbol, connected: bool) when a feed goes down or comes back
        self.feed_changed = Event("feed_changed")
        session_data.start_session(sessions[0])

    # -- status ------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self.sessions[min(self.session_index, len(self.sessions) - 1)]

    def status(self) -> CoordinatorStatus:
        now = time.monotonic()
        recent = [(t, n) for t, n in self._released_window if now - t <= 2.0]
        rate = sum(n for _, n in recent) / 2.0 if recent else 0.0
        lag = None if self._newest_end is None else self.clock.now - self._newest_end
        state = ClockState.PAUSED if self.clock.paused and self.state is ClockState.OPEN else self.state
        return CoordinatorStatus(
            session=self.session,
            clock=self.clock.now,
            state=state,
            speed=self.clock.speed,
            bars_per_second=rate,
            lag=lag,
            sessions_done=self.session_index,
            sessions_total=len(self.sessions),
            disconnected=tuple(self._down),
        )

    def is_connected(self, symbol: str) -> bool:
        """False while the feed of ``symbol`` is down (shown in the tree and status bar)."""
        return symbol.upper() not in self._down

    def _set_state(self, state: ClockState) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)

    # -- control -----------------------------------------------------------------------
    def pause(self) -> None:
        if self.live:
            return  # the market does not wait
        self.clock.paused = True
        self._resume.clear()
        self.state_changed.emit(ClockState.PAUSED)

    def resume(self) -> None:
        self.clock.paused = False
        self.clock.resync()
        self._resume.set()
        self.state_changed.emit(self.state)

    def set_speed(self, speed: float | None) -> None:
        self.clock.resync()
        self.clock.speed = speed

    def stop(self) -> None:
        self._stopping = True
        self._resume.set()

    # -- moving through the range (replays; a live session cannot move) -----------------
    @property
    def total_seconds(self) -> float:
        """Session seconds of the whole range (what progress counts)."""
        return float(self._offsets[-1])

    def progress_at(self, when: float) -> float:
        """Session seconds of the range before ``when`` (0 … :attr:`total_seconds`)."""
        index = self._session_at(when)
        session = self.sessions[index]
        return float(self._offsets[index]) + min(max(when, session.open), session.close) - session.open

    def time_at(self, progress: float) -> float:
        """The session time ``progress`` session seconds into the range (inverse of :meth:`progress_at`)."""
        progress = min(max(progress, 0.0), self.total_seconds)
        index = min(int(np.searchsorted(self._offsets, progress, side="right")) - 1, len(self.sessions) - 1)
        return float(self.sessions[index].open) + progress - float(self._offsets[index])

    def _session_at(self, when: float) -> int:
        """The session holding ``when``, or the next one to open after it (the last one after the range)."""
        for index, session in enumerate(self.sessions):
            if when < session.close:
                return index
        return len(self.sessions) - 1

    def seek(self, when: float) -> bool:
        """Move the replay to session time ``when`` (clamped to the range); False for a live run.

        Forward, every bar up to ``when`` is released and processed at once, as ``--speed max``
        would (so gaps and quality stay exact); backward, the session holding ``when`` starts
        again with every bar forgotten and runs forward to it. A time between sessions means
        the next session's open. A paused replay moves and stays paused.
        """
        if self.live:
            return False
        when = min(max(float(when), float(self.sessions[0].open)), float(self.sessions[-1].close))
        index = self._session_at(when)
        target = max(when, float(self.sessions[index].open))
        finished = self.state is ClockState.FINISHED
        if finished or index < self.session_index or (index == self.session_index and target < self.clock.now):
            self._rewind_to = index
        self._target = target
        self._resume.set()  # wakes a paused (or finished, held) run to move
        return True

    def restart(self) -> bool:
        """Start the range again from its first open, every bar forgotten (pause and speed are kept)."""
        if self.live:
            return False
        self._rewind_to = 0
        self._target = None
        self._resume.set()
        return True

    def next_session(self) -> bool:
        """Finish the current session at once and continue at the next one's open; False on the last."""
        following = self.session_index + 1
        if self.live or following >= len(self.sessions):
            return False
        return self.seek(float(self.sessions[following].open))

    def step_bar(self) -> bool:
        """While paused: move to the end of the next base bar (the finest base watched), releasing it."""
        if self.live or not self.clock.paused or self.state is ClockState.FINISHED:
            return False
        base = min((d.base_interval.seconds for d in self.session_data.all_symbol_data()), default=60)
        session = self.session
        pending = self._target if self._target is not None else self.clock.now
        target = session.open + (math.floor((pending - session.open) / base) + 1) * base
        if target > session.close:
            if self.session_index + 1 >= len(self.sessions):
                return False
            target = self.sessions[self.session_index + 1].open + base
        return self.seek(float(target))

    def _rewind(self, index: int) -> None:
        """Restart session ``index`` empty: feeds reopen from its start and it records afresh.

        The recordings of that session and later ones are discarded, so nothing of the run
        before the move is resumed, now or after a crash.
        """
        session = self.sessions[index]
        if self.recorder is not None:
            try:
                self.recorder.discard(since=session.date)
            except Exception as exc:  # a broken recording must not stop the replay
                self.session_data.warn(f"recording stopped, continuing without it: {exc}")
                self.recorder = None
        self._feeds.clear()
        self._down.clear()
        self._resume_clock = None
        self._newest_end = None
        self.session_index = index
        self.session_data.restart_session(session)
        self.clock.reset(float(session.open))

    # -- symbols -----------------------------------------------------------------------
    def plan(self, symbol: str, intervals: Iterable[str | Interval]) -> StreamPlan:
        """Stream determination for ``symbol`` against what the source offers (no side effects)."""
        symbol = normalise_symbol(symbol)
        bases = self.source.base_intervals(symbol)
        if not bases:
            raise SymbolError(f"{symbol}: the source has no data for this symbol")
        return determine_stream(symbol, intervals, bases)

    async def add_symbol(
        self, symbol: str, intervals: Iterable[str | Interval], hours: str | None = None
    ) -> SymbolSessionData:
        """Register ``symbol`` with its full bar structure and start feeding it.

        ``hours``: its own session hours (as a watchlist entry's ``hours``); None: the run's.
        Raises :class:`SymbolError` or ``IntervalError`` and changes nothing when the
        request cannot be met.
        """
        own = {symbol: hours} if hours is not None else None
        return (await self.add_symbols([(symbol, intervals)], hours=own))[0]

    async def add_symbols(
        self, requests: Iterable[tuple[str, Iterable[str | Interval]]], hours: Mapping[str, str] | None = None
    ) -> list[SymbolSessionData]:
        """:meth:`add_symbol` for many (a watchlist): their sessions are read side by side.

        ``hours``: per symbol, its own session hours over the run's (kept in
        :attr:`symbol_hours`, so a saved session keeps them). Every request is checked
        before any is registered, so an error changes nothing.
        """
        own = {normalise_symbol(s): self._check_hours(s, h) for s, h in (hours or {}).items()}
        plans: list[StreamPlan] = []
        for symbol, intervals in requests:
            plan = self.plan(symbol, intervals)
            if plan.symbol in self.session_data or any(p.symbol == plan.symbol for p in plans):
                raise SymbolError(f"{plan.symbol} is already being watched")
            plans.append(plan)
        self.symbol_hours.update(own)
        added = [
            SymbolSessionData.create(
                plan.symbol,
                plan.required_base_interval,
                plan.derivable_intervals,
                self.session,
                history_sessions=self.history_sessions,
                requested=plan.requested,
                hours=self.symbol_hours.get(plan.symbol, self.hours),
            )
            for plan in plans
        ]
        for data in added:
            self.session_data.register_symbol_data(data)
        if self.state is not ClockState.FINISHED:
            await self._load_many(added, self.session)
        return added

    def _check_hours(self, symbol: str, hours: str) -> str:
        """``hours`` a symbol may be added with: extended only while the run's clock spans the extended day."""
        if hours not in HOURS:
            raise SymbolError(f"{symbol}: unknown session hours {hours!r} (expected one of {', '.join(HOURS)})")
        if hours == "extended" and self.calendar.hours != "extended":
            reason = self.calendar.hours_note or "the run follows regular hours (start it with --hours extended)"
            raise SymbolError(f"{symbol}: cannot follow extended hours: {reason}")
        return hours

    def remove_symbol(self, symbol: str) -> bool:
        """Stop watching ``symbol``; its bars still in flight are dropped."""
        key = symbol.strip().upper()
        self._feeds.pop(key, None)
        self._down.pop(key, None)
        task = self._loading.pop(key, None)
        if task is not None:
            task.cancel()
        try:
            self.source.close_feed(key)  # a live source unsubscribes it
        except Exception as exc:  # a source bug must not keep a symbol the user removed
            self.session_data.warn(f"{key}: could not close its feed: {exc}")
        return self.session_data.remove_symbol(key) is not None

    def _read(self, symbol: str, base: Interval, session: Session) -> asyncio.Future[_Read]:
        """Start reading ``symbol``'s session on a loading thread."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._load_pool, self._read_session, symbol, base, session)

    def _read_session(self, symbol: str, base: Interval, session: Session) -> _Read:
        """Runs on a loading thread: read the session and, when recording, hash it there too."""
        loaded = self.source.load_session(symbol, base, session)
        # a live source's history grows while it runs: only a replay's data can be fingerprinted
        recording = self.recorder is not None and not self.source.live
        return _Read(loaded, source_fingerprint(loaded.bars) if recording else None)

    async def _load_many(self, symbols: list[SymbolSessionData], session: Session) -> None:
        """Read the symbols' sessions side by side; register each in turn, in the order given.

        Every read starts at once (:data:`LOAD_WORKERS` run at a time); registering in
        order keeps messages, feeds and exports the same in every run.
        """
        readings = deque(self._read(data.symbol, data.base_interval, data.session_of(session)) for data in symbols)
        for data in symbols:
            # popped, so a read's bars are freed once its feed holds them
            await self._open(data.symbol, data.base_interval, data.session_of(session), readings.popleft())

    async def _open(self, symbol: str, base: Interval, session: Session, reading: Awaitable[_Read]) -> None:
        """Register what was read (``session``: the symbol's own): its problems, its feed, and
        what a recording already holds."""
        try:
            read = await reading
        except Exception as exc:  # a source bug must not end the session
            self.session_data.warn(f"{symbol}: could not load {session.date}: {exc}")
            return
        loaded, fingerprint = read.loaded, read.fingerprint
        data = self.session_data.get_symbol_data(symbol)
        if data is None or data.session != session or data.base_interval != base:
            return  # removed (or rolled over) while loading
        summarised = not len(loaded.bars.ts) and session.date in self.known_missing.get(symbol, ())
        for problem in () if summarised else loaded.problems:
            self.session_data.warn(str(problem))
        data.outside_session += loaded.outside_session
        data.notes.omits_empty = self.source.omits_empty_intervals
        if not len(loaded.bars.ts) and not loaded.problems and not summarised:
            self.session_data.warn(f"{symbol}: no data on {session.date.isoformat()}")
        feed = self.source.open_feed(loaded)
        feed.session = session
        if not self._steps_whole(session):
            feed.polled_in_parts()  # (a replay feed cuts its session into pieces now, not in the first tick)
        self._feeds[symbol] = feed
        self._resume_from_recording(symbol, base, session, feed, fingerprint)

    def _steps_whole(self, session: Session) -> bool:
        """True when each step takes a whole session (a headless replay at max speed)."""
        span = session.close + self.processor.grace - session.open
        return self.clock.speed is None and not self.live and self.max_chunk >= span

    def _resume_from_recording(
        self, symbol: str, base: Interval, session: Session, feed: SymbolFeed, fingerprint: SourceFingerprint | None
    ) -> None:
        """Bars accepted before a crash come back at once; the feed delivers every other bar.

        That includes bars the recording lost (a damaged or missing chunk): they are
        fetched again from the source, and the span is named.
        """
        if self.recorder is None:
            return
        day = session.date.isoformat()
        try:
            recovered = self.recorder.resume(self.recorder.key(base.name, symbol, session.date), fingerprint)
        except RecordingUnavailable as exc:
            self._recording_failed(exc)
            return
        if recovered.changed:
            self.session_data.warn(
                f"{symbol}: the source's data for {day} changed since it was recorded; replaying it afresh"
            )
        for span in recovered.lost:
            self.session_data.warn(f"{symbol}: {self._lost_text(span, base, session)}; fetching it again")
        recorded = recovered.bars
        if not len(recorded.ts):
            return
        self.session_data.add_base_bars(symbol, recorded)
        self._note_heard(symbol, recorded, feed, self.clock.now)
        feed.skip_recorded(recorded.ts)
        end = float(int(recorded.ts[-1]) + base.seconds)
        self._resume_clock = max(self._resume_clock or 0.0, end)
        self.session_data.warn(
            f"{symbol}: resumed {len(recorded.ts)} recorded bar(s) of {day} up to {_clock_text(end, session)}"
        )

    @staticmethod
    def _lost_text(span: LostSpan, base: Interval, session: Session) -> str:
        start = _clock_text(session.open if span.after is None else span.after + base.seconds, session)
        until = None if span.before is None else _clock_text(span.before, session)
        where = f"from {start} on" if until is None else f"between {start} and {until}"
        return (
            f"the recording of {session.date.isoformat()} lost {span.bars} bar(s) {where} "
            "(a damaged or missing chunk)"
        )

    def _recording_failed(self, exc: RecordingUnavailable) -> None:
        """A full disk must not hide the market: keep going, unrecorded, and say so once."""
        self.session_data.warn(f"recording stopped, continuing without it: {exc}")
        self.recorder = None

    def _own(self, symbol: str, session: Session) -> Session:
        """``symbol``'s session on the day of the run's ``session`` (in its own hours)."""
        data = self.session_data.get_symbol_data(symbol)
        return data.session_of(session) if data is not None else session

    async def _load_all(self, session: Session) -> None:
        """Open a feed for every symbol; those added before the run already have one for it."""
        loaded = {s for s, feed in self._feeds.items() if getattr(feed, "session", None) == self._own(s, session)}
        self._feeds = {s: f for s, f in self._feeds.items() if s in loaded}
        self._down = {s: o for s, o in self._down.items() if s in loaded}
        if not loaded:
            self._resume_clock = None
        await self._load_many([d for d in self.session_data.all_symbol_data() if d.symbol not in loaded], session)

    # -- running -------------------------------------------------------------------------
    def _poll(self, clock: float, final: bool) -> list[tuple[str, BarArrays]]:
        """Poll every feed that is up (or due a retry); commit what arrived when recording."""
        wall = time.monotonic()
        arrived: list[tuple[str, BarArrays]] = []
        for symbol, feed in list(self._feeds.items()):
            batch = self._poll_feed(symbol, feed, clock, final, wall)
            if batch is None:
                continue
            if len(batch.ts):
                arrived.append((symbol, batch))
            if len(batch.ts) or feed.alive_until is not None:
                self._note_heard(symbol, batch, feed, clock)
            if feed.ended_at is not None:
                self._note_ended(symbol, feed.ended_at)
        if arrived and self.recorder is not None:
            self._record(arrived)
        return arrived

    def _poll_feed(self, symbol: str, feed: SymbolFeed, clock: float, final: bool, wall: float) -> BarArrays | None:
        """One feed's new bars; None while it is down and not yet due a retry, or when it failed now."""
        outage = self._down.get(symbol)
        if outage is not None and wall < outage.retry_at and (not final or outage.retry_at == math.inf):
            return None
        try:
            batch = feed.poll(clock)
        except Exception as exc:  # FeedError, or any bug in a source: the session goes on
            self._feed_down(symbol, clock, exc, wall)
            return None
        if outage is not None:
            self._feed_up(symbol, clock, len(batch.ts))
        return batch

    def _note_ended(self, symbol: str, ended: float) -> None:
        """A feed with nothing after ``ended``: the rest of the session is ``ended`` — or quiet, when
        the silence is after-hours sparseness (extended hours: nothing traded after its last bar)."""
        data = self.session_data.get_symbol_data(symbol)
        if data is None or data.notes.ended_at is not None or ended >= data.session.close:
            return
        if _sparse_after_hours(data.session, data.notes, ended):  # the symbol's own session
            data.notes.heard(data.session.close)
        else:
            data.notes.ended_at = ended

    def _note_heard(self, symbol: str, batch: BarArrays, feed: SymbolFeed, clock: float) -> None:
        """What a gap's ``quiet`` cause rests on: the newest bar end and the connection's heartbeat."""
        data = self.session_data.get_symbol_data(symbol)
        if data is None:
            return
        notes = data.notes
        if len(batch.ts):
            notes.heard(float(batch.ts.max()) + data.base_interval.seconds)
        alive = feed.alive_until
        if alive is not None and (notes.alive_until is None or alive > notes.alive_until):
            notes.alive_until = min(alive, clock)  # never ahead of the pass

    def _hand_over(self, arrived: list[tuple[str, BarArrays]]) -> None:
        """Store arrived bars in SessionData: one call for the live case of one bar per symbol.
        Empties ``arrived`` (each batch is let go once stored)."""
        if not arrived:
            return
        end = max(float(batch.ts[-1]) + self._base_seconds(symbol) for symbol, batch in arrived)
        if all(len(batch.ts) == 1 for _, batch in arrived):
            released = self._store_rows([symbol for symbol, _ in arrived], BarArrays.concat(b for _, b in arrived))
            arrived.clear()
        else:
            released = self._store_each(arrived)
        self._note_released(released, end)

    def _store_each(self, arrived: list[tuple[str, BarArrays]]) -> int:
        """Each symbol's batch stored in turn and let go at once (``arrived`` empties): a long step at
        max speed brings whole sessions, and a batch kept until the step ends would be a second copy
        of them; what was let go goes back to the OS every :data:`TRIM_EVERY_BARS` bars."""
        released = since_trim = 0
        arrived.reverse()
        while arrived:
            symbol, batch = arrived.pop()
            stored = self.session_data.add_base_bars(symbol, batch)
            del batch
            released += stored
            since_trim += stored
            if since_trim >= TRIM_EVERY_BARS:
                since_trim = 0
                return_freed_memory()
        return released

    def _hand_over_slice(self, part: _Slice) -> None:
        """One slice of a cut tick; a symbol removed while the step let the loop in is skipped."""
        symbols, bars = part.symbols, part.bars
        keep = [k for k, symbol in enumerate(symbols) if symbol in self._feeds]
        if len(keep) != len(symbols):
            symbols, bars = [symbols[k] for k in keep], bars.take(np.asarray(keep, np.intp))
        if symbols:
            self._note_released(self._store_rows(symbols, bars), part.end)

    def _store_rows(self, symbols: list[str], bars: BarArrays) -> int:
        """One bar per symbol (row ``k`` for ``symbols[k]``), in one SessionData call."""
        if len(symbols) == 1:
            return self.session_data.add_base_bars(symbols[0], bars)
        return self.session_data.add_base_rows(symbols, bars)

    def _note_released(self, released: int, end: float) -> None:
        """Remember the newest bar end handed over and the release rate (the status bar shows both)."""
        if self._newest_end is None or end > self._newest_end:
            self._newest_end = end
        if released:
            self._released_window.append((time.monotonic(), released))
            self._released_since_trim += released

    def _return_freed_memory(self) -> None:
        """After a step (its batches dropped, so the pieces they came from are freed) now and then."""
        if self._released_since_trim >= TRIM_EVERY_BARS:
            self._released_since_trim = 0
            return_freed_memory()

    def _base_seconds(self, symbol: str) -> int:
        data = self.session_data.get_symbol_data(symbol)
        return data.base_interval.seconds if data is not None else 0

    def _record(self, arrived: list[tuple[str, BarArrays]]) -> None:
        recorder = self.recorder
        assert recorder is not None
        session = self.session
        batches = []
        for symbol, batch in arrived:
            data = self.session_data.get_symbol_data(symbol)
            if data is not None:
                batches.append((recorder.key(data.base_interval.name, symbol, session.date), batch))
        try:
            recorder.commit(batches)
        except RecordingUnavailable as exc:
            self._recording_failed(exc)

    def _feed_down(self, symbol: str, clock: float, exc: Exception, wall: float) -> None:
        outage = self._down.get(symbol)
        data = self.session_data.get_symbol_data(symbol)
        if outage is None:
            outage = self._down[symbol] = _Outage(since=clock)
            if data is not None:
                data.notes.outages.append([clock, None])
            self.feed_changed.emit(symbol, False)
        outage.attempts += 1
        if isinstance(exc, FeedRejected):  # retrying cannot help: say it once, stop asking
            outage.retry_at = math.inf
            self.session_data.warn(f"{symbol}: feed refused at {_clock_text(clock, self.session)}: {exc}")
            return
        delay = min(self.retry_max, self.retry_base * 2 ** (outage.attempts - 1))
        outage.retry_at = wall + delay
        self.session_data.warn(
            f"{symbol}: feed disconnected at {_clock_text(clock, self.session)} ({exc}); "
            f"retry {outage.attempts} in {delay:.2g} s"
        )

    def _feed_up(self, symbol: str, clock: float, backfilled: int) -> None:
        outage = self._down.pop(symbol)
        data = self.session_data.get_symbol_data(symbol)
        feed = self._feeds.get(symbol)
        if data is not None and data.notes.outages and data.notes.outages[-1][1] is None:
            if feed is not None and feed.backfills:
                data.notes.outages.pop()  # the span was served after all: what is still missing is missing
            else:
                data.notes.outages[-1][1] = clock
        self.feed_changed.emit(symbol, True)
        self.session_data.warn(
            f"{symbol}: feed reconnected at {_clock_text(clock, self.session)} after "
            f"{outage.attempts} attempt(s); {backfilled} bar(s) delivered since"
        )

    def step(self, clock: float, final: bool = False) -> None:
        """One iteration: release due bars, then processor passes up to ``clock``."""
        for _ in self._step_parts(clock, final):
            pass

    def _step_parts(self, clock: float, final: bool) -> Iterator[None]:
        """:meth:`step`, pausing (yielding) between the passes of a cut tick.

        A tick at a finite speed (or a live iteration) often brings a few bars per symbol.
        They are handed over one bar end at a time, each followed by a pass at that end, as
        a live feed at 1× would: the processor's vectorised path takes one bar per symbol
        for all symbols at once, where several bars per symbol would send every symbol
        through the per-symbol path. Results are the same either way. The health update
        after the last pass pauses too, between parts of its symbols.
        """
        arrived = self._poll(clock, final)
        slices = _by_bar_end(arrived, self._base_seconds) if arrived else None
        if slices is None:
            self._hand_over(arrived)
        else:
            for part in slices[:-1]:
                self._hand_over_slice(part)
                self.processor.process(min(part.end, clock))
                yield
            self._hand_over_slice(slices[-1])
        self.processor.process(clock)
        self.passed.emit(clock)
        yield
        yield from self.health.update_parts(clock, set(self._down))

    async def _step_cooperatively(self, clock: float) -> None:
        """:meth:`step`, letting the event loop (the GUI) in every :data:`STEP_BUDGET` seconds."""
        started = time.perf_counter()
        for _ in self._step_parts(clock, False):
            if time.perf_counter() - started > STEP_BUDGET:
                await asyncio.sleep(0)
                started = time.perf_counter()

    async def _catch_up(self, stepped: float, now: float) -> None:
        """Step from ``stepped`` to ``now``; a replay at a finite speed that fell a long way behind
        (the loop was held up: a busy machine, a slow pass) goes in pieces of at most
        :data:`MAX_SLICES` bars of the finest base, so each piece is cut into passes the event
        loop can come in between, rather than one uncut pass that holds the loop longer still
        and makes the next tick longer again. (A live session's first tick, the day so far,
        stays one piece.)"""
        if self.clock.speed is not None and not self.live and now - stepped > MAX_SLICES:
            piece = MAX_SLICES * self._finest_base_seconds()
            while (
                now - stepped > piece
                and not self._stopping
                and self._target is None
                and self._rewind_to is None
            ):
                stepped += piece
                await self._step_cooperatively(stepped)
        await self._step_cooperatively(now)

    def _finest_base_seconds(self) -> int:
        return min((data.base_interval.seconds for data in self.session_data.all_symbol_data()), default=1)

    async def run(self, hold: bool = False) -> None:
        """Run every session to its close (or until :meth:`stop`).

        ``hold``: after the last session, wait (FINISHED) for :meth:`seek` or
        :meth:`restart` instead of returning — the GUI keeps a finished replay movable.
        """
        index = 0
        try:
            while not self._stopping:
                if self._rewind_to is not None:
                    index, self._rewind_to = self._rewind_to, None
                    self._rewind(index)
                if index >= len(self.sessions):
                    self.session_index = len(self.sessions)
                    if not hold:
                        break
                    self._set_state(ClockState.FINISHED)
                    await self._resume.wait()
                    self._resume.clear()
                    continue
                completed = await self._run_session(index)
                if completed:
                    index += 1
        finally:
            for task in self._loading.values():
                task.cancel()
            self._load_pool.shutdown(wait=False, cancel_futures=True)
            self._set_state(ClockState.FINISHED)

    async def _run_session(self, index: int) -> bool:
        """One session from its open (or where a recording or a seek puts it) to its close.

        False when it was left early: a stop, or a rewind to handle first.
        """
        session = self.sessions[index]
        await self._open_session(index, session)
        done, total = float(self._offsets[index]), self.total_seconds
        final = session.close + self.processor.grace
        while self.clock.now < final and not self._stopping and self._rewind_to is None:
            now = await self._turn(final)
            if now is None:
                continue
            self._return_freed_memory()
            self.progress.emit(done + min(now, session.close) - session.open, total)
            await asyncio.sleep(0 if self.clock.speed is None or self._target is not None else TICK_SECONDS)
        if self._stopping or self._rewind_to is not None:
            return False
        self.step(final, final=True)
        self._set_state(ClockState.CLOSED)
        self.session_closed.emit(session)
        return True

    async def _open_session(self, index: int, session: Session) -> None:
        """Start ``session``: its clock at the open (live: at the bell), its symbols loaded, a
        recording's or a seek's resume point applied."""
        self.session_index = index
        self.session_data.start_session(session)
        self._newest_end = None
        self.clock.reset(float(session.open))
        if self.live:
            await self._wait_for_open(session)
        await self._load_all(session)
        if self._resume_clock is not None and self._resume_clock > self.clock.now:
            self.clock.reset(min(self._resume_clock, float(session.close)))
        self._set_state(ClockState.OPEN)

    async def _turn(self, final: float) -> float | None:
        """One turn of a session's loop: a seek's chunk, a wait while paused (None: nothing
        stepped), or the clock's next step. Returns the clock it stepped to."""
        if self._target is not None:  # a seek: straight there, in max-speed chunks
            now = min(self._target, final, self.clock.now + self.max_chunk)
            self.clock.reset(now)
            await self._step_cooperatively(now)
            if self._target is not None and now >= self._target:
                self._target = None
            return now
        if self.clock.paused:
            await self._resume.wait()
            if self.clock.paused:
                self._resume.clear()  # woken by a seek: handled above on the next turn
            self.clock.resync()
            return None
        stepped = self.clock.now
        now = self.clock.advance(final, self.max_chunk)
        await self._catch_up(stepped, now)
        return now

    async def _wait_for_open(self, session: Session) -> None:
        """Live: sit in pre-open until the bell (checking for stop once a second)."""
        self._set_state(ClockState.PRE_OPEN)
        while not self._stopping and WALL_CLOCK.now() < session.open:
            await asyncio.sleep(min(1.0, max(0.0, session.open - WALL_CLOCK.now())))
        self.clock.reset(float(session.open))


def _sparse_after_hours(session: Session, notes: FeedNotes, ended: float) -> bool:
    """A source that omits minutes without trades ended its day in the after-hours: the rest of
    the day had no trade (extended-hours data are sparse), not an outage."""
    return bool(session.segments) and notes.omits_empty and ended >= session.regular_close
