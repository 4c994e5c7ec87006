"""Bar-by-bar comparison of Session Monitor's derived bars with a reference's.

Our bars are derived from the source's base bars on the reference's own windows (see
:mod:`core.reconcile.windows`), so a difference means the data differ, not the convention.
Each bar gets a status and, where it can be known, a likely cause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.intervals import Interval
from session_monitor.core.reconcile.reference import ReferenceSeries
from session_monitor.core.reconcile.windows import (
    Convention,
    WindowBars,
    Windows,
    derive_on,
    detect_convention,
    session_windows,
)

__all__ = [
    "FIELDS",
    "RELATIVE_TOLERANCE",
    "BarCheck",
    "Cause",
    "FieldDiff",
    "SeriesReport",
    "Status",
    "reconcile_series",
    "relative_diff",
]

#: fields compared, in report order
FIELDS = ("open", "high", "low", "close", "volume")
#: two floats agree when they differ by at most this much relative to the larger
RELATIVE_TOLERANCE = 1e-9


class Status(StrEnum):
    MATCH = "match"
    DIFFERS = "differs"
    ONLY_REFERENCE = "only-in-reference"
    ONLY_OURS = "only-in-ours"


class Cause(StrEnum):
    """The likely reason for a difference, where it can be known."""

    #: our window lacks base bars its slots expect
    MISSING_BASE_BARS = "missing-base-bars"
    #: prices agree, volume differs (e.g. a vendor's own boundary convention for volume)
    VOLUME_ONLY = "volume-only"
    #: our window holds every base bar it expects: the reference was built from other data
    PRICES_DIFFER = "prices-differ"
    #: only in the reference: the source has no base bar in that window
    NO_BASE_BARS = "no-base-bars"
    #: only ours: the reference has no bar for a window we derived
    NOT_IN_REFERENCE = "not-in-reference"
    #: a reference bar stamped on no window of the convention (outside every session, or off grid)
    OFF_WINDOW_GRID = "off-window-grid"


@dataclass(frozen=True, slots=True)
class FieldDiff:
    field: str
    ours: float
    reference: float
    relative: float


@dataclass(frozen=True, slots=True)
class BarCheck:
    """One bar of one series: how ours and the reference's compare."""

    symbol: str
    interval: Interval
    #: the bar's stamp as the reference stamps it (UTC epoch seconds)
    start: int
    status: Status
    differences: tuple[FieldDiff, ...] = ()
    cause: Cause | None = None
    #: base bars in our window and the slots it expects (0/0 when not applicable)
    base_bars: int = 0
    expected: int = 0

    @property
    def iso_start(self) -> str:
        """ISO 8601 UTC, as the exports write it."""
        return dt.datetime.fromtimestamp(self.start, dt.UTC).isoformat()


@dataclass(slots=True)
class SeriesReport:
    """Every bar of one symbol and interval in the range, with the convention compared on."""

    symbol: str
    interval: Interval
    convention: Convention
    checks: list[BarCheck] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status is status)

    @property
    def differing(self) -> list[BarCheck]:
        return [c for c in self.checks if c.status is not Status.MATCH]


def relative_diff(ours: float, reference: float) -> float:
    """``|a - b| / max(|a|, |b|)`` (0 when both are 0)."""
    scale = max(abs(ours), abs(reference))
    return 0.0 if scale == 0 else abs(ours - reference) / scale


def _field_diffs(ours: BarArrays, i: int, ref: BarArrays, j: int) -> tuple[FieldDiff, ...]:
    out = []
    for name in FIELDS:
        a, b = float(getattr(ours, name)[i]), float(getattr(ref, name)[j])
        rel = relative_diff(a, b)
        if rel > RELATIVE_TOLERANCE:
            out.append(FieldDiff(name, a, b, rel))
    return tuple(out)


def _cause_of(diffs: tuple[FieldDiff, ...], count: int, expected: int) -> Cause:
    if count < expected:
        return Cause.MISSING_BASE_BARS
    if all(d.field == "volume" for d in diffs):
        return Cause.VOLUME_ONLY
    return Cause.PRICES_DIFFER


def reconcile_series(
    reference: ReferenceSeries,
    sessions: list[Session],
    base: Interval,
    load_base: Callable[[Session], BarArrays],
    convention: Convention | None = None,
    until: int | None = None,
) -> SeriesReport:
    """Compare ``reference`` with bars derived from ``load_base(session)`` over ``sessions``.

    The reference's convention is detected from its stamps unless given. Reference bars
    stamped inside the span of ``sessions`` but on none of their windows are reported as
    only in the reference (``off-window-grid``); bars outside that span are not compared.
    ``until`` (a session still running) leaves out windows ending after it and reference
    bars stamped at or after it.
    """
    interval = reference.interval
    if not sessions:
        return SeriesReport(reference.symbol, interval, convention or Convention.SESSION_ANCHORED)
    per_session = {c: [session_windows(s, interval, c) for s in sessions] for c in Convention}
    ref = _in_span(reference.bars, per_session, sessions, until)
    if convention is None:
        convention = detect_convention(ref.ts, sessions, interval)
    report = SeriesReport(reference.symbol, interval, convention)
    matched = np.zeros(len(ref.ts), bool)
    for session, windows in zip(sessions, per_session[convention], strict=True):
        side = _Ours(derive_on(load_base(session), windows), session, windows, base)
        report.checks.extend(_session_checks(reference, side, ref, matched, until))
    for j in np.flatnonzero(~matched).tolist():
        report.checks.append(BarCheck(reference.symbol, interval, int(ref.ts[j]), Status.ONLY_REFERENCE,
                                      cause=Cause.OFF_WINDOW_GRID))
    report.checks.sort(key=lambda c: c.start)
    return report


def _in_span(
    ref: BarArrays, per_session: dict[Convention, list[Windows]], sessions: list[Session], until: int | None
) -> BarArrays:
    """The reference bars stamped within the sessions' span (under any convention), before ``until``."""
    span_lo = min(int(ws[0].labels[0]) for ws in per_session.values())  # a label never follows its start
    span_hi = sessions[-1].close if until is None else min(sessions[-1].close, until)
    lo, hi = np.searchsorted(ref.ts, [span_lo, span_hi])
    return ref.take(slice(int(lo), int(hi)))


@dataclass(frozen=True, slots=True)
class _Ours:
    """Our bars of one session, derived on the reference's windows."""

    derived: WindowBars
    session: Session
    windows: Windows
    base: Interval


def _session_checks(
    reference: ReferenceSeries, ours: _Ours, ref: BarArrays, matched: np.ndarray, until: int | None
) -> list[BarCheck]:
    """One check per window of the session that either side has a bar for; marks the reference bars seen."""
    windows, derived = ours.windows, ours.derived
    expected = [ours.session.expected_slots(ours.base.seconds, int(s), int(e)) for s, e in
                zip(windows.starts, windows.ends, strict=True)]
    ours_at = dict(zip(derived.window.tolist(), range(len(derived.window)), strict=True))
    pos = np.searchsorted(ref.ts, windows.labels)
    checks: list[BarCheck] = []
    for k, label in enumerate(windows.labels.tolist()):
        if until is not None and int(windows.ends[k]) > until:
            break
        j = int(pos[k])
        in_ref = j < len(ref.ts) and int(ref.ts[j]) == label
        if in_ref:
            matched[j] = True
        i = ours_at.get(k)
        count = int(derived.counts[i]) if i is not None else 0
        bar = BarCheck(reference.symbol, reference.interval, label, Status.MATCH, base_bars=count,
                       expected=expected[k])
        check = _compare(bar, derived.bars, i, ref, j if in_ref else None)
        if check is not None:
            checks.append(check)
    return checks


def _compare(bar: BarCheck, ours: BarArrays, i: int | None, ref: BarArrays, j: int | None) -> BarCheck | None:
    """``bar`` (a match) as it really compares: ours at ``i`` and the reference's at ``j``, either absent."""
    if i is not None and j is not None:
        diffs = _field_diffs(ours, i, ref, j)
        if not diffs:
            return bar
        return replace(bar, status=Status.DIFFERS, differences=diffs, cause=_cause_of(diffs, bar.base_bars,
                                                                                      bar.expected))
    if j is not None:
        return replace(bar, status=Status.ONLY_REFERENCE, cause=Cause.NO_BASE_BARS)
    if i is not None:
        return replace(bar, status=Status.ONLY_OURS, cause=Cause.NOT_IN_REFERENCE)
    return None
