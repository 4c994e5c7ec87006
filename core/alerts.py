"""Alerts: rules over feed health, coverage, quality, gaps, revisions and reconciliations, fired on the session clock.

An alert fires once when its condition starts and once when it clears. A clear is only
confirmed after the condition has stayed false for a hold-off (stale: 2 x N slots,
down: 2 x N seconds), and is then stamped with the time the condition really ended; a
condition that comes back within the hold-off continues the same alert. So a flapping
feed gives one start and one clear, not one per flap. Coverage and quality checked
while open use a 1-point margin instead (start below X, clear at X + 1 or above).

A reconciliation against a reference (:meth:`AlertEngine.on_reconciled`) starts a
``mismatch`` alert per (symbol, interval) at its first differing bar and clears it when a
later comparison of that series finds no difference.

With extended hours an event that concerns a time (stale, down, a gap, a revised bar, a
mismatch) names its segment (``pre``, ``regular``, ``post``); a gap crossing a segment
boundary is cut there, as in ``session.json``, each part judged on its own. Coverage and
quality are checked for the whole day and, at the close, coverage for each segment too
(named). Regular hours name no segment.

Rules are set globally and per watchlist entry (``[alerts]`` and ``[watchlist.alerts]``
in a session file); :class:`AlertRules` holds one set, :class:`AlertConfig` both levels.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from session_monitor.core.bars import REVISED
from session_monitor.core.calendar import Session
from session_monitor.core.causes import GapCause
from session_monitor.core.coordinator import SessionCoordinator
from session_monitor.core.coverage import coverage
from session_monitor.core.events import Event
from session_monitor.core.gaps import Gap
from session_monitor.core.health import HealthChange, HealthMonitor, HealthState
from session_monitor.core.reconcile.compare import FIELDS, BarCheck, SeriesReport, Status
from session_monitor.core.segments import cut_gaps, segment_figures
from session_monitor.core.session_data import BarIntervalData, SessionData, SymbolSessionData

__all__ = [
    "AlertConfig", "AlertEngine", "AlertEvent", "AlertLog", "AlertRule", "AlertRules", "attach_alerts", "parse_rules",
    "segment_at",
]

#: a coverage or quality alert checked while open clears only this many points above its threshold
MARGIN = 1.0
#: session seconds between coverage/quality checks while open
CHECK_EVERY = 60.0


class AlertRule(StrEnum):
    STALE = "stale"
    DOWN = "down"
    COVERAGE = "coverage"
    QUALITY = "quality"
    GAP = "gap"
    REVISED = "revised"
    MISMATCH = "mismatch"


@dataclass(frozen=True, slots=True)
class AlertRules:
    """One set of rules; ``None`` (or ``False``) turns a rule off. The defaults need no configuration."""

    #: a symbol stale for N expected slots while open (also its health threshold N)
    stale_slots: int | None = 5
    #: a feed down for N seconds
    down_seconds: float | None = 10.0
    #: coverage of an interval below X %
    coverage_below: float | None = 95.0
    #: quality of an interval below X %
    quality_below: float | None = None
    #: when coverage and quality are checked: ``close`` (once per session) or ``open`` (all along)
    check_at: str = "close"
    #: a gap (not quiet) longer than N slots of its interval, decided when it is known
    gap_slots: int | None = None
    #: a derived bar revised after it was final
    revised: bool = False
    #: derived bars that differ from a reference in a reconciliation
    mismatch: bool = True
    #: count bars whose prices agree and only the volume differs (off: Lean's own files differ in volume)
    mismatch_volume: bool = False

    def to_toml(self) -> dict[str, Any]:
        """The keys that differ from the defaults (``false`` for a default rule turned off)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = False if value is None else value
        return out


_NUMBERS: dict[str, tuple[type, float]] = {
    "stale_slots": (int, 1), "down_seconds": (float, 0), "coverage_below": (float, 0),
    "quality_below": (float, 0), "gap_slots": (int, 1),
}


_SWITCHES = ("revised", "mismatch", "mismatch_volume")


def parse_rules(table: Mapping[str, Any], key: str, base: AlertRules | None = None) -> AlertRules:
    """Rules from a TOML table over ``base``; ValueError names ``key.<name>`` and what is wrong."""
    rules = base or AlertRules()
    known = {f.name for f in fields(AlertRules)}
    changes: dict[str, Any] = {}
    for name, value in table.items():
        where = f"{key}.{name}"
        if name not in known:
            raise ValueError(f"{where}: unknown alert rule (known: {', '.join(sorted(known))})")
        changes[name] = _rule_value(name, value, where)
    return replace(rules, **changes)


def _rule_value(name: str, value: Any, where: str) -> Any:
    """One rule's value checked by its kind: ``check_at``, an on/off switch, or a threshold."""
    if name == "check_at":
        if value not in ("close", "open"):
            raise ValueError(f"{where}: expected 'close' or 'open', got {value!r}")
        return value
    if name in _SWITCHES:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false")
        return value
    return _threshold(name, value, where)


def _threshold(name: str, value: Any, where: str) -> int | float | None:
    """A numeric rule: ``false`` turns it off; otherwise a number of its kind within its range."""
    if value is False:
        return None
    kind, low = _NUMBERS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise ValueError(f"{where}: expected {'a whole number' if kind is int else 'a number'} or false")
    if value < low or (name.endswith("_below") and value > 100):
        raise ValueError(f"{where}: {value} is out of range")
    return int(value) if kind is int else float(value)


@dataclass
class AlertConfig:
    """Global rules and per-symbol overrides (a watchlist entry's ``alerts`` table)."""

    default: AlertRules = field(default_factory=AlertRules)
    per_symbol: dict[str, AlertRules] = field(default_factory=dict)

    def rules_for(self, symbol: str) -> AlertRules:
        return self.per_symbol.get(symbol.upper(), self.default)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert event: a condition started or cleared, at ``time`` on the session clock."""

    time: float
    tz: str
    symbol: str
    interval: str | None
    rule: AlertRule
    event: str  # "start" or "clear"
    value: float | int | None
    #: the differing fields of a ``mismatch`` start (written only when set)
    fields: tuple[str, ...] | None = None
    #: with extended hours, the segment the event concerns: ``pre``, ``regular`` or ``post``
    #: (written only when set: regular hours and whole-day figures have none)
    segment: str | None = None

    @property
    def iso_time(self) -> str:
        """ISO 8601 in exchange time with its offset (``2024-03-05T11:04:00-05:00``)."""
        return dt.datetime.fromtimestamp(self.time, ZoneInfo(self.tz)).isoformat()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"time": self.iso_time, "symbol": self.symbol, "interval": self.interval,
                               "rule": self.rule.value, "event": self.event, "value": self.value}
        if self.fields is not None:
            out["fields"] = list(self.fields)
        if self.segment is not None:
            out["segment"] = self.segment
        return out


def segment_at(session: Session, time: float, ending: bool = False) -> str | None:
    """The segment of an extended ``session`` holding ``time`` (None with regular hours). An
    ``ending`` time (a clear) belongs to the segment the condition was last true in, so a
    silence that ends at the regular open was a pre-market one."""
    for part in session.segments:
        if (part.start < time <= part.end) if ending else (part.start <= time < part.end):
            return part.name
    return None


#: rules whose events concern the time they carry (the others name their segment themselves,
#: or concern the whole day: coverage and quality)
_TIMED = frozenset({AlertRule.STALE, AlertRule.DOWN})


class _Key(NamedTuple):
    """Which alert a condition is: a rule for a symbol (and interval), and for a per-segment
    figure its segment."""

    rule: AlertRule
    symbol: str
    interval: str | None
    segment: str | None = None


@dataclass(eq=False)
class _Condition:
    """One alert's state: active or not, and a clear waiting for its hold-off."""

    active: bool = False
    started: float = 0.0
    clear_since: float | None = None


class AlertEngine:
    """Turns health changes, closed sessions and bar revisions into :class:`AlertEvent` s.

    Subscribes to the coordinator's :class:`HealthMonitor` and to ``SessionData`` events;
    :attr:`fired` carries each event, :attr:`history` keeps them all (the GUI dock's list).
    """

    def __init__(self, session_data: SessionData, health: HealthMonitor, config: AlertConfig | None = None) -> None:
        self.session_data = session_data
        self.health = health
        self.config = config or AlertConfig()
        #: (AlertEvent)
        self.fired = Event("alert")
        self.history: list[AlertEvent] = []
        self._conditions: dict[_Key, _Condition] = {}
        self._down_since: dict[str, float] = {}
        self._last_check = -math.inf
        self._gaps_seen: dict[tuple[str, str], set[int]] = {}
        self._revised_seen: dict[tuple[str, str], set[int]] = {}
        self._revised_pending: set[tuple[str, str]] = set()
        self._closed_session: Session | None = None
        self.apply_stale_thresholds()
        health.changed.connect_batch(self._on_health_batch)
        health.updated.connect(self._on_updated)
        session_data.events.bars_changed.connect_batch(self._on_bars_changed)
        session_data.events.session_started.connect(self.on_session_started)

    def set_config(self, config: AlertConfig) -> None:
        """New rules from now on (alerts already started still clear as before)."""
        self.config = config
        self.apply_stale_thresholds()

    def apply_stale_thresholds(self) -> None:
        """The stale rule's N is the health threshold N of each symbol (one rule, one place)."""
        self.health.settings = replace(self.health.settings, stale_slots=self.config.default.stale_slots or 5)
        self.health.stale_slots = {
            symbol: rules.stale_slots for symbol, rules in self.config.per_symbol.items() if rules.stale_slots
        }

    # -- queries -----------------------------------------------------------------------
    def active(self, symbol: str | None = None) -> list[tuple[AlertRule, str, str | None]]:
        """(rule, symbol, interval) of the alerts started and not cleared, for ``symbol`` or all."""
        active = (key[:3] for key, cond in self._conditions.items() if cond.active and symbol in (None, key.symbol))
        return list(dict.fromkeys(active))  # a figure alerting in two segments is one alert of the interval

    def clear_history(self) -> None:
        """Forget the events shown so far (active alerts stay active and will still clear)."""
        self.history.clear()

    # -- firing ------------------------------------------------------------------------
    def _fire(self, time: float, session: Session, symbol: str, interval: str | None, rule: AlertRule, event: str,
              value: float | int | None, fields: tuple[str, ...] | None = None, segment: str | None = None) -> None:
        if rule in _TIMED:
            segment = segment_at(session, time, ending=event == "clear")
        alert = AlertEvent(time, session.tz, symbol, interval, rule, event, value, fields, segment)
        self.history.append(alert)
        self.fired.emit(alert)

    def _condition(self, key: _Key) -> _Condition:
        found = self._conditions.get(key)
        if found is None:
            found = self._conditions[key] = _Condition()
        return found

    def _set(self, key: _Key, true: bool, time: float, session: Session, value: float | int | None,
             hold: float) -> None:
        """Drive one condition: start when it turns true, clear once false for ``hold`` seconds."""
        cond = self._condition(key)
        self._confirm(key, cond, time, session, hold)
        if true:
            cond.clear_since = None
            if not cond.active:
                cond.active, cond.started = True, time
                self._fire(time, session, key.symbol, key.interval, key.rule, "start", value, segment=key.segment)
        elif cond.active and cond.clear_since is None:
            cond.clear_since = time
            if hold <= 0:
                self._confirm(key, cond, time, session, hold)

    def _confirm(self, key: _Key, cond: _Condition, now: float, session: Session, hold: float) -> None:
        if cond.active and cond.clear_since is not None and now - cond.clear_since >= hold:
            cond.active = False
            since, cond.clear_since = cond.clear_since, None
            self._fire(since, session, key.symbol, key.interval, key.rule, "clear", round(since - cond.started, 3),
                       segment=key.segment)

    # -- health: stale and down -----------------------------------------------------------
    def _stale_hold(self, data: SymbolSessionData) -> float:
        n = self.health.stale_slots.get(data.symbol, self.health.settings.stale_slots)
        return 2.0 * n * data.base_interval.seconds

    def _on_health_batch(self, items: list[tuple[Any, ...]]) -> None:
        for (change,) in items:
            self._on_health(change)

    def _on_health(self, change: HealthChange) -> None:
        data = self.session_data.get_symbol_data(change.symbol)
        if data is None:
            return
        rules = self.config.rules_for(change.symbol)
        session = data.session
        symbol, t = change.symbol, change.time
        self._due_down(symbol, t, session, rules)
        if rules.stale_slots is not None:
            stale = change.state is HealthState.STALE
            self._set(_Key(AlertRule.STALE, symbol, None), stale, t, session, change.silent_slots,
                      self._stale_hold(data))
        if rules.down_seconds is not None:
            hold = 2.0 * rules.down_seconds
            if change.state is HealthState.DOWN:
                self._down_since.setdefault(symbol, t)
                if self._condition(_Key(AlertRule.DOWN, symbol, None)).active:  # down again within the hold-off
                    self._set(_Key(AlertRule.DOWN, symbol, None), True, t, session, rules.down_seconds, hold)
            else:
                self._down_since.pop(symbol, None)
                self._set(_Key(AlertRule.DOWN, symbol, None), False, t, session, None, hold)

    def _due_down(self, symbol: str, now: float, session: Session, rules: AlertRules) -> None:
        """A feed down since ``t`` starts its alert at ``t + N`` if still down then."""
        since = self._down_since.get(symbol)
        if since is None or rules.down_seconds is None:
            return
        due = since + rules.down_seconds
        if due <= now:
            self._set(_Key(AlertRule.DOWN, symbol, None), True, due, session, rules.down_seconds,
                      2.0 * rules.down_seconds)

    def _hold(self, rule: AlertRule, data: SymbolSessionData) -> float:
        if rule is AlertRule.STALE:
            return self._stale_hold(data)
        if rule is AlertRule.DOWN:
            return 2.0 * (self.config.rules_for(data.symbol).down_seconds or 0.0)
        return 0.0

    def _confirm_due(self, clock: float, force: bool = False) -> None:
        """Confirm the clears whose hold-off has passed (all of them when ``force``: the session is over)."""
        for key, cond in list(self._conditions.items()):
            if cond.clear_since is None:
                continue
            data = self.session_data.get_symbol_data(key.symbol)
            if data is not None:
                hold = 0.0 if force else self._hold(key.rule, data)
                self._confirm(key, cond, clock, data.session, hold)

    def _on_updated(self, clock: float) -> None:
        """After each health pass: due down alerts, confirmed clears, checks while open, gaps, revisions."""
        for symbol in list(self._down_since):
            data = self.session_data.get_symbol_data(symbol)
            if data is None:
                self._down_since.pop(symbol)
                continue
            self._due_down(symbol, clock, data.session, self.config.rules_for(symbol))
        self._confirm_due(clock)
        if self.config.default.gap_slots is not None or any(
            r.gap_slots is not None for r in self.config.per_symbol.values()
        ):
            for data in self.session_data.all_symbol_data():
                slots = self.config.rules_for(data.symbol).gap_slots
                if slots is not None:
                    self._check_gaps(data, slots)
        if clock - self._last_check >= CHECK_EVERY:
            self._last_check = clock
            self._check_figures(clock, at_close=False)
        if self._revised_pending:
            self._check_revised(clock)

    # -- coverage and quality ------------------------------------------------------------
    def on_session_closed(self, session: Session) -> None:
        """Coverage and quality at the close (the coordinator's ``session_closed``)."""
        self._confirm_due(float(session.close), force=True)
        self._check_figures(float(session.close), at_close=True, session=session)
        self._closed_session = session

    def on_session_started(self, session: Session) -> None:
        """Alerts about the previous session's close clear when the next one opens."""
        for key, cond in list(self._conditions.items()):
            figure = key.rule in (AlertRule.COVERAGE, AlertRule.QUALITY)
            closing = figure and self.config.rules_for(key.symbol).check_at == "close"
            if closing and cond.active:
                cond.clear_since = float(session.open)
                self._confirm(key, cond, float(session.open), session, 0.0)

    def _check_figures(self, clock: float, at_close: bool, session: Session | None = None) -> None:
        for data in self.session_data.all_symbol_data():
            rules = self.config.rules_for(data.symbol)
            if not self._figures_due(data, rules, clock, at_close, session):
                continue
            wanted = {i.name for i in data.requested}
            for name, interval in data.bars.items():
                if name in wanted:
                    self._set_figure(data, name, AlertRule.COVERAGE, rules.coverage_below,
                                     coverage(interval, data.base), clock, at_close)
                    self._set_figure(data, name, AlertRule.QUALITY, rules.quality_below, interval.quality,
                                     clock, at_close)
                    if at_close:
                        self._check_segments(data, name, interval, rules, clock)

    def _check_segments(self, data: SymbolSessionData, name: str, interval: BarIntervalData, rules: AlertRules,
                        clock: float) -> None:
        """With extended hours, at the close: each segment's coverage too (a lost half hour of the
        regular session must not hide in the whole day's larger count). Quality is not checked per
        segment: before and after the regular session it measures how thinly the market traded."""
        for part in segment_figures(interval, data.base) if data.session.segments else ():
            self._set_figure(data, name, AlertRule.COVERAGE, rules.coverage_below, part.coverage, clock, True,
                             part.segment.name)

    @staticmethod
    def _figures_due(data: SymbolSessionData, rules: AlertRules, clock: float, at_close: bool,
                     session: Session | None) -> bool:
        """This check is the symbol's (at the close or while open), for its session, and it is open now."""
        own = data.session_of(session) if session is not None else None
        if (rules.check_at == "close") != at_close or (own is not None and data.session != own):
            return False
        return at_close or data.session.open <= clock < data.session.close

    def _set_figure(self, data: SymbolSessionData, name: str, rule: AlertRule, threshold: float | None,
                    value: float | None, clock: float, at_close: bool, segment: str | None = None) -> None:
        """A figure below its threshold starts the alert; while open, one ``MARGIN`` above clears it."""
        if threshold is None or value is None:
            return
        rounded = round(value, 3)
        key = _Key(rule, data.symbol, name, segment)
        if value < threshold:
            self._set(key, True, clock, data.session, rounded, 0.0)
        elif not at_close and value >= threshold + MARGIN:
            self._set(key, False, clock, data.session, rounded, 0.0)

    # -- gaps -----------------------------------------------------------------------------
    def _check_gaps(self, data: SymbolSessionData, slots: int) -> None:
        """Gaps longer than ``slots``, once known: bars resumed after them (so their cause is known)."""
        wanted = {i.name for i in data.requested}
        for name, interval in data.bars.items():
            if name not in wanted or not interval.gap_count:
                continue
            seen = self._gaps_seen.setdefault((data.symbol, name), set())
            if len(seen) >= interval.gap_count:
                continue
            last = interval.data.last_ts
            for gap in interval.gaps:
                if gap.start in seen or last is None or gap.end > last:
                    continue  # still open: decided when it is known
                seen.add(gap.start)
                if gap.cause == GapCause.QUIET:
                    continue
                for segment, part in _gap_parts(gap, interval):
                    if part.bars > slots:
                        self._fire_gap(data, interval, part, slots, segment)

    def _fire_gap(self, data: SymbolSessionData, interval: BarIntervalData, gap: Gap, slots: int,
                  segment: str | None) -> None:
        grid = interval.grid
        first = grid.window_of_one(gap.start)
        counted = grid.cum_slots[first:] - grid.cum_slots[first]
        reached = first + int(np.searchsorted(counted, slots + 1)) - 1
        at = float(grid.ends[min(reached, grid.size - 1)])
        session = data.session
        self._fire(at, session, data.symbol, interval.name, AlertRule.GAP, "start", gap.bars, segment=segment)
        self._fire(float(gap.end), session, data.symbol, interval.name, AlertRule.GAP, "clear", gap.bars,
                   segment=segment)

    # -- revisions ------------------------------------------------------------------------
    def _on_bars_changed(self, items: list[tuple[Any, ...]]) -> None:
        # a pass changes every interval of every symbol: look each symbol's rules up once
        # (per item, 500 symbols made 730,000 lookups in 20 s)
        watched: dict[str, bool] = {}
        for symbol, name, _first in items:
            wanted = watched.get(symbol)
            if wanted is None:
                wanted = watched[symbol] = bool(self.config.rules_for(symbol).revised)
            if wanted:
                self._revised_pending.add((symbol, name))

    def _check_revised(self, clock: float) -> None:
        pending, self._revised_pending = self._revised_pending, set()
        for symbol, name in sorted(pending):
            data = self.session_data.get_symbol_data(symbol)
            interval = None if data is None else data.bars.get(name)
            if data is None or interval is None or not interval.derived:
                continue
            revised = interval.data.ts[(interval.data.flags & REVISED) > 0]
            seen = self._revised_seen.setdefault((symbol, name), set())
            for ts in revised.tolist():
                if ts not in seen:
                    seen.add(ts)
                    self._fire(clock, data.session, symbol, name, AlertRule.REVISED, "start", int(ts),
                               segment=segment_at(data.session, ts))

    # -- reconciliation -------------------------------------------------------------------
    def on_reconciled(self, reports: list[SeriesReport]) -> None:
        """A comparison with a reference: a ``mismatch`` starts at the first differing bar of a
        series (value: how many differ, with their fields) and clears at the newest bar of a later
        comparison of that series that finds none. Only bars present on both sides count: a bar
        missing on one side is the gap rule's business."""
        for report in reports:
            data = self.session_data.get_symbol_data(report.symbol)
            rules = self.config.rules_for(report.symbol)
            if data is not None and rules.mismatch and report.checks:
                self._on_report(report, data.session, rules)

    def _on_report(self, report: SeriesReport, session: Session, rules: AlertRules) -> None:
        """One series' comparison: start at its first differing bar, or clear at its newest bar
        (each in the segment of that bar)."""
        differing = [c for c in report.checks if _counts_as_mismatch(c, rules.mismatch_volume)]
        name = report.interval.name
        cond = self._condition(_Key(AlertRule.MISMATCH, report.symbol, name))
        if differing and not cond.active:
            cond.active, cond.started = True, float(differing[0].start)
            fields = _mismatch_fields(differing, rules.mismatch_volume)
            self._fire(cond.started, session, report.symbol, name, AlertRule.MISMATCH, "start", len(differing),
                       fields, segment_at(session, cond.started))
        elif not differing and cond.active:
            cond.active = False
            newest = float(report.checks[-1].start)
            self._fire(newest, session, report.symbol, name, AlertRule.MISMATCH, "clear", 0,
                       segment=segment_at(session, newest))


def _gap_parts(gap: Gap, interval: BarIntervalData) -> list[tuple[str | None, Gap]]:
    """The gap as the alerts judge it: whole with regular hours, cut per segment with extended."""
    segments = interval.grid.session.segments
    if not segments:
        return [(None, gap)]
    return [(segment.name, part) for segment in segments for part in cut_gaps([gap], interval, segment)]


def _mismatch_fields(differing: list[BarCheck], volume: bool) -> tuple[str, ...]:
    """The fields that differ, in bar order (volume only when it counts)."""
    shown = {d.field for c in differing for d in c.differences}
    if not volume:
        shown.discard("volume")
    return tuple(f for f in FIELDS if f in shown)


def _counts_as_mismatch(check: BarCheck, volume: bool) -> bool:
    """A bar on both sides that differs (in a price, or in volume too when ``volume``)."""
    if check.status is not Status.DIFFERS:
        return False
    return volume or any(d.field != "volume" for d in check.differences)


class AlertLog:
    """Writes each alert event as one JSON line (``replay --alerts FILE``)."""

    def __init__(self, target: str | Path | IO[str]) -> None:
        self._owned = isinstance(target, (str, Path))
        # the log lives as long as the run: closed by close(), not a with block
        self._fh: IO[str] = Path(target).open("w", encoding="utf-8") if isinstance(target, (str, Path)) else target  # noqa: SIM115

    def write(self, alert: AlertEvent) -> None:
        self._fh.write(json.dumps(alert.as_dict()) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._owned:
            self._fh.close()


def attach_alerts(coordinator: SessionCoordinator, config: AlertConfig | None = None) -> AlertEngine:
    """An :class:`AlertEngine` over ``coordinator``'s health, checking coverage and quality at each close."""
    engine = AlertEngine(coordinator.session_data, coordinator.health, config)
    coordinator.session_closed.connect(engine.on_session_closed)
    return engine
