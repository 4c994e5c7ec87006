"""Stream determination: which base interval to stream for what the user asked.

The largest base the source offers that divides every requested interval wins (fewest
bars to stream); everything else requested is derived from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from session_monitor.core.intervals import Interval, IntervalError, parse_interval

__all__ = ["StreamPlan", "determine_stream"]


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What to stream for one symbol and what to build from it."""

    symbol: str
    required_base_interval: Interval
    derivable_intervals: tuple[Interval, ...]
    #: what the user asked for, canonical and sorted (the base is streamed even when absent)
    requested: tuple[Interval, ...] = ()

    @property
    def intervals(self) -> tuple[Interval, ...]:
        """Base first, then the derived intervals, shortest first."""
        return (self.required_base_interval, *self.derivable_intervals)


def determine_stream(
    symbol: str, requested: Iterable[str | Interval], available_bases: Iterable[Interval]
) -> StreamPlan:
    """Pick the base to stream for ``requested``; refuse what cannot be derived.

    Raises :class:`IntervalError` naming the interval and the reason.
    """
    wanted = sorted({parse_interval(i) for i in requested}, key=Interval.sort_key)
    bases = sorted({b for b in available_bases if not b.is_daily}, key=Interval.sort_key)
    symbol = symbol.upper()
    if not wanted:
        raise IntervalError(f"{symbol}: no intervals requested")
    if not bases:
        raise IntervalError(f"{symbol}: the source streams no intraday base interval for this symbol")
    for interval in wanted:
        _check_derivable(symbol, interval, bases)
    usable = [b for b in bases if all(b.divides(i) for i in wanted)]
    if not usable:
        names = ", ".join(i.name for i in wanted)
        raise IntervalError(
            f"{symbol}: no single base the source streams ({_offered(bases)}) divides all of {names}"
        )
    base = usable[-1]
    derived = tuple(i for i in wanted if i != base)
    return StreamPlan(symbol, base, derived, tuple(wanted))


def _offered(bases: list[Interval]) -> str:
    return ", ".join(b.name for b in bases)


def _check_derivable(symbol: str, interval: Interval, bases: list[Interval]) -> None:
    """``interval`` is derivable from one of ``bases`` (intraday, shortest first), or why not."""
    if not interval.is_daily and interval.seconds < bases[0].seconds:
        raise IntervalError(
            f"{symbol}: interval {interval} is finer than the finest base the source streams ({_offered(bases)})"
        )
    if not any(b.divides(interval) for b in bases):
        raise IntervalError(
            f"{symbol}: interval {interval} cannot be derived: it is not a whole multiple of "
            f"any base the source streams ({_offered(bases)})"
        )
