"""Bar intervals: parsing, canonical names and divisibility.

One canonical spelling per interval (``60m`` -> ``1h``, ``60s`` -> ``1m``) so that
``SessionData`` keys, exports and the GUI never disagree about what an interval is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

__all__ = [
    "DAILY",
    "MAX_INTRADAY_SECONDS",
    "Interval",
    "IntervalError",
    "parse_interval",
    "parse_intervals",
    "same_intervals",
]

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_PATTERN = re.compile(r"^\s*([0-9]+)\s*([smhd])\s*$")
#: the longest intraday interval: a whole day (the longest session, 24/7, is one)
MAX_INTRADAY_SECONDS = 86_400


class IntervalError(ValueError):
    """An interval the engine cannot understand or cannot derive."""


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A bar length; ``seconds == 0`` means one bar per regular session (``1d``)."""

    seconds: int

    @property
    def is_daily(self) -> bool:
        return self.seconds == 0

    @property
    def name(self) -> str:
        return _name(self.seconds)

    def sort_key(self) -> tuple[int, int]:
        """Daily sorts after every intraday interval."""
        return (1, 0) if self.is_daily else (0, self.seconds)

    def divides(self, other: Interval) -> bool:
        """True when ``other`` is a whole number of ``self`` bars (any intraday base divides ``1d``)."""
        if self.is_daily:
            return other.is_daily
        if other.is_daily:
            return True
        return other.seconds % self.seconds == 0

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Interval({self.name})"


DAILY = Interval(0)


@cache
def _name(seconds: int) -> str:
    """The largest exact unit: 60s -> 1m, 120m -> 2h, 90m stays 90m."""
    if seconds == 0:
        return "1d"
    for unit in ("h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short: a 5,000-character argument is not echoed whole."""
    text = str(text)
    return repr(text if len(text) <= 24 else text[:24] + "…")


def parse_interval(text: str | Interval) -> Interval:
    """Parse ``Ns``, ``Nm``, ``Nh`` or ``1d``; anything else raises :class:`IntervalError`."""
    if isinstance(text, Interval):
        return text
    match = _PATTERN.match(str(text).lower())
    if not match:
        raise IntervalError(
            f"unknown interval {_shown(text)}: use a whole number followed by s, m or h (e.g. 1s, 5m, 1h), or 1d"
        )
    digits, unit = match.group(1), match.group(2)
    count = int(digits) if len(digits) <= 9 else MAX_INTRADAY_SECONDS + 1  # no 4,300-digit int() here
    if count <= 0:
        raise IntervalError(f"unknown interval {_shown(text)}: the length must be positive")
    if unit == "d":
        if count != 1:
            raise IntervalError(f"unknown interval {text!r}: only 1d (one bar per session) is supported")
        return DAILY
    seconds = count * _UNIT_SECONDS[unit]
    if seconds > MAX_INTRADAY_SECONDS:
        raise IntervalError(
            f"interval {_shown(text)} is too long: at most 24h (1440m, 86400s); 1d is one bar per session"
        )
    return Interval(seconds)


def same_intervals(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """One line per interval spelled more than once (``1h, 60m``): :func:`parse_intervals`
    keeps one of them, and the user should hear that once."""
    items = [str(i).strip() for i in (text.split(",") if isinstance(text, str) else text) if str(i).strip()]
    spellings: dict[Interval, list[str]] = {}
    for item in items:
        try:
            spellings.setdefault(parse_interval(item), []).append(item)
        except IntervalError:
            continue  # parse_intervals says what is wrong with it
    return [
        f"intervals {' and '.join(names)} are the same interval: {interval} is used once"
        for interval, names in spellings.items()
        if len(set(names)) > 1
    ]


def parse_intervals(text: str | list[str] | tuple[str, ...]) -> list[Interval]:
    """Parse a comma-separated list (or a list), dropping duplicates, sorted shortest first."""
    items = text.split(",") if isinstance(text, str) else list(text)
    parsed = {parse_interval(item) for item in items if str(item).strip()}
    if not parsed:
        raise IntervalError("no intervals given: name at least one, e.g. 1m,5m,15m")
    return sorted(parsed, key=Interval.sort_key)
