"""A deterministic simulated market, so the app works with no data at hand.

Bars depend only on (symbol, session date, seed): the generator is seeded with
``zlib.crc32`` of the symbol (Python's ``hash`` changes per process). One-second bars
are generated for the whole session and the one-minute bars are their aggregation, so
streaming either base shows the same market. A few bars are missing on purpose (single
seconds, whole minutes, and now and then a short outage) so quality and gaps have
something to show.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.derive.reduce import reduce_by_key
from session_monitor.core.intervals import Interval
from session_monitor.core.sources.base import BarSource, DataProblem, LoadedSession

__all__ = ["DemoSource", "aggregate_minutes"]

ONE_SECOND = Interval(1)
ONE_MINUTE = Interval(60)
#: chance that a session has one outage of several consecutive minutes
_OUTAGE_CHANCE = 0.3
_OUTAGE_MINUTES = (3, 8)
_ANNUAL_VOL = (0.15, 0.6)
_SESSION_SECONDS_PER_YEAR = 252 * 23_400
#: activity (volume, volatility) before and after the regular session, relative to its quiet midday
_EXTENDED_ACTIVITY = 0.25


def aggregate_minutes(bars: BarArrays) -> BarArrays:
    """One-minute bars (epoch-aligned) from sorted one-second bars; a minute exists if any second does.

    The engine's own reduction (:func:`core.derive.reduce.reduce_by_key`), so the demo's minute bars
    are the ones the engine derives from its seconds (its volumes are whole: exact in any order).
    """
    if not len(bars):
        return BarArrays.empty()
    minute = bars.ts - bars.ts % 60
    starts, reduced = reduce_by_key(minute, bars.open, bars.high, bars.low, bars.close, bars.volume)
    return BarArrays(minute[starts], reduced.open, reduced.high, reduced.low, reduced.close, reduced.volume)


@dataclass(frozen=True)
class _SessionShape:
    """What every symbol's bars of one session share: the seconds and the day's activity curve."""

    ts: np.ndarray
    #: busy open and close, quiet midday
    u_shape: np.ndarray
    root_u_shape: np.ndarray


@functools.lru_cache(maxsize=8)
def _session_shape(session: Session) -> _SessionShape:
    """Computed once per session, not once per symbol (the curve's power is most of a symbol's cost)."""
    ts = np.arange(session.open, session.close, dtype=np.int64)
    ts = ts[session.in_session_mask(ts)]
    phase = (ts - session.regular_open) / max(session.regular_close - session.regular_open, 1)
    u_shape = 1.0 + 3.0 * (2.0 * phase - 1.0) ** 4
    if session.segments:  # extended hours: a thin pre- and post-market around the regular session
        outside = (ts < session.regular_open) | (ts >= session.regular_close)
        u_shape = np.where(outside, _EXTENDED_ACTIVITY, u_shape)
    shape = _SessionShape(ts, u_shape, np.sqrt(u_shape))
    for column in (shape.ts, shape.u_shape, shape.root_u_shape):
        column.setflags(write=False)  # shared by every symbol (and loading thread)
    return shape


class DemoSource(BarSource):
    """Simulated 1s/1m bars for any symbol name."""

    name = "demo"

    def __init__(self, seed: int = 0, drop_rate: float = 0.01, base: Interval | None = None) -> None:
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        if base is not None and base not in (ONE_SECOND, ONE_MINUTE):
            raise ValueError(f"the demo feed serves 1s or 1m base bars, not {base}")
        self.seed = int(seed)
        self.drop_rate = float(drop_rate)
        #: ``--base``: stream this base even when a coarser one would do
        self.base = base

    @property
    def key(self) -> str:
        return f"demo:{self.seed}"

    def base_intervals(self, symbol: str) -> tuple[Interval, ...]:
        return (self.base,) if self.base is not None else (ONE_SECOND, ONE_MINUTE)

    def load_session(self, symbol: str, base: Interval, session: Session) -> LoadedSession:
        sym = symbol.strip().upper()
        if base not in (ONE_SECOND, ONE_MINUTE):
            problem = DataProblem(f"the demo feed serves 1s and 1m bars, not {base}", symbol=sym)
            return LoadedSession(sym, session, base, BarArrays.empty(), [problem])
        seconds = self.seconds(sym, session)
        bars = seconds if base == ONE_SECOND else aggregate_minutes(seconds)
        return LoadedSession(sym, session, base, bars)

    # -- generation ---------------------------------------------------------------------------
    def _rng(self, symbol: str, session: Session, stream: int) -> np.random.Generator:
        key = [self.seed & 0xFFFFFFFF, zlib.crc32(symbol.encode("utf-8")), session.date.toordinal(), stream]
        return np.random.default_rng(np.random.SeedSequence(key))

    def seconds(self, symbol: str, session: Session) -> BarArrays:
        """The session's one-second bars for ``symbol`` (sorted, in session, some dropped)."""
        sym = symbol.strip().upper()
        shape = _session_shape(session)
        ts, u_shape = shape.ts, shape.u_shape
        n = len(ts)
        if not n:
            return BarArrays.empty()
        # per-symbol character: stable across days (stream 0 of a fixed "date")
        traits = np.random.default_rng(np.random.SeedSequence([self.seed & 0xFFFFFFFF, zlib.crc32(sym.encode())]))
        level = float(np.exp(traits.uniform(np.log(20.0), np.log(500.0))))
        annual_vol = float(traits.uniform(*_ANNUAL_VOL))
        base_volume = float(traits.uniform(5.0, 200.0))

        rng = self._rng(sym, session, 1)
        # today's open drifts around the symbol's level
        p0 = level * float(np.exp(rng.normal(0.0, 0.05)))
        sigma = annual_vol / np.sqrt(_SESSION_SECONDS_PER_YEAR) * shape.root_u_shape
        log_path = np.cumsum(rng.normal(0.0, 1.0, n) * sigma)
        close = p0 * np.exp(log_path)
        open_ = np.empty(n)
        open_[0] = p0
        open_[1:] = close[:-1]
        spread = np.abs(rng.normal(0.0, 1.0, n)) * sigma * 0.5
        high = np.maximum(open_, close) * np.exp(spread)
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 1.0, n)) * sigma * 0.5)
        # cents, rounded once: rounding is monotonic, so high >= open/close >= low survives
        open_, high, low, close = (np.round(x, 2) for x in (open_, high, low, close))
        low = np.maximum(low, 0.01)
        high = np.maximum(high, low)
        volume = np.maximum(1.0, np.rint(base_volume * u_shape * rng.lognormal(0.0, 0.8, n)))

        keep = self._kept(sym, session, ts)
        return BarArrays(ts[keep], open_[keep], high[keep], low[keep], close[keep], volume[keep])

    def _kept(self, symbol: str, session: Session, ts: np.ndarray) -> np.ndarray:
        """Which seconds survive: drop single seconds, whole minutes and sometimes an outage."""
        n = len(ts)
        keep = np.ones(n, dtype=bool)
        if self.drop_rate <= 0.0:
            return keep
        rng = self._rng(symbol, session, 2)
        keep &= rng.random(n) >= self.drop_rate
        minute = (ts - session.open) // 60
        n_minutes = int(minute[-1]) + 1
        dropped_minutes = rng.random(n_minutes) < self.drop_rate
        if n_minutes > 30 and rng.random() < _OUTAGE_CHANCE:
            length = int(rng.integers(_OUTAGE_MINUTES[0], _OUTAGE_MINUTES[1] + 1))
            start = int(rng.integers(5, n_minutes - length - 5))
            dropped_minutes[start : start + length] = True
        keep &= ~dropped_minutes[minute]
        return keep
