"""1. Batch derivation (history, fast replay): core.batch.derive_batch against pandas resample.

Session Monitor: one ``derive_batch`` call, a numpy ``reduceat`` cascade (5m from 1m, 15m
from 5m, 1h from 15m, 1d from 1h).

Reference: the vectorised pandas a competent user would write over the whole history at
once (not a loop per session): for 5m/15m/1h one ``df.resample(rule, origin=<first
session open>, closed='left', label='left').agg(first/max/min/last/sum)`` each, empty bins
dropped; for 1d ``df.resample('1D')`` on the UTC index, relabelled with each session's
open. That equals session-anchored windows for XNYS because every open is hh:30 UTC (DST
moves it by whole hours), every close is a whole number of half hours after the open (the
last window's cut falls on a bin edge or after the last bar) and each session lies inside
one UTC day. The bench checks that both sides produce identical bars (O/H/L/C and the
integer volumes exactly).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench import REPO_ROOT, Row, interleave, median, ratio
from bench.data import session_minutes
from session_monitor.core.bars import BarArrays
from session_monitor.core.batch import DerivedBars, derive_batch

__all__ = ["ROWS", "pandas_derive", "run"]

INTERVALS = ["5m", "15m", "1h", "1d"]
_RULES = {"5m": "5min", "15m": "15min", "1h": "1h"}
_OHLCV = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
TARGET = 3.0

ROW_RANDOM = "batch derive 1m→5m,15m,1h,1d (random walk)"
ROW_LEAN = "batch derive 1m→5m,15m,1h,1d (Lean SPY+GOOG)"
ROWS = (ROW_RANDOM, ROW_LEAN)

LEAN_MINUTE = REPO_ROOT / "tests" / "data" / "lean" / "equity" / "usa" / "minute"


def to_frame(bars: BarArrays) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(bars.ts, unit="s", utc=True), name="timestamp")
    return pd.DataFrame(
        {"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close, "volume": bars.volume},
        index=index,
    )


def pandas_derive(df: pd.DataFrame, opens: np.ndarray) -> dict[str, pd.DataFrame]:
    """The pandas reference: one vectorised resample per interval over all sessions."""
    origin = pd.Timestamp(int(opens[0]), unit="s", tz="UTC")
    out: dict[str, pd.DataFrame] = {}
    for name, rule in _RULES.items():
        frame = df.resample(rule, origin=origin, closed="left", label="left").agg(_OHLCV)
        out[name] = frame[frame["open"].notna()]
    daily = df.resample("1D", closed="left", label="left").agg(_OHLCV)
    daily = daily[daily["open"].notna()]
    open_index = pd.DatetimeIndex(pd.to_datetime(opens, unit="s", utc=True))
    daily.index = open_index[open_index.searchsorted(daily.index)]
    out["1d"] = daily
    return out


def check_reference_assumptions(opens: np.ndarray, closes: np.ndarray) -> None:
    """The sessions for which :func:`pandas_derive` is session-anchored."""
    if not bool(np.all((opens - opens[0]) % 3600 == 0)):
        raise AssertionError("session opens are not all congruent modulo 1h: pandas origin would differ")
    if not bool(np.all((closes - opens) % 1800 == 0)):
        raise AssertionError("a session length is not a whole number of half hours")
    if not bool(np.all(opens // 86_400 == (closes - 1) // 86_400)):
        raise AssertionError("a session spans two UTC days: the 1d reference would split it")


def assert_identical(ours: dict[str, DerivedBars], reference: dict[str, pd.DataFrame], what: str) -> None:
    """Same bars, same starts, exact O/H/L/C/V; raises AssertionError naming the first difference."""
    for name in INTERVALS:
        mine = ours[name].bars
        theirs = reference[name]
        ref_ts = theirs.index.as_unit("s").asi8
        if len(mine.ts) != len(ref_ts):
            raise AssertionError(f"{what} {name}: {len(mine.ts)} bars vs pandas {len(ref_ts)}")
        if not np.array_equal(mine.ts, ref_ts):
            raise AssertionError(f"{what} {name}: bar starts differ from pandas")
        for field in ("open", "high", "low", "close", "volume"):
            if not np.array_equal(getattr(mine, field), theirs[field].to_numpy()):
                raise AssertionError(f"{what} {name}: {field} differs from pandas")
        if int(ours[name].count.sum()) != int(ours[INTERVALS[0]].count.sum()):
            raise AssertionError(f"{what} {name}: counts do not add up to the base bars")


def _measure(bars: BarArrays, opens: np.ndarray, closes: np.ndarray, rounds: int) -> tuple[float, float]:
    check_reference_assumptions(opens, closes)
    df = to_frame(bars)
    results: dict[str, object] = {}

    def ours() -> None:
        results["ours"] = derive_batch(*bars, opens, closes, INTERVALS)

    def pandas() -> None:
        results["pandas"] = pandas_derive(df, opens)

    times = interleave({"ours": ours, "pandas": pandas}, rounds=rounds)
    assert_identical(results["ours"], results["pandas"], "derive_batch")  # type: ignore[arg-type]
    n = len(bars.ts)
    return n / median(times["ours"]), n / median(times["pandas"])


def _lean_history() -> list[tuple[BarArrays, np.ndarray, np.ndarray]]:
    """Every Lean minute session in tests/data for SPY and GOOG (one batch per symbol)."""
    from session_monitor.core.calendar import get_calendar
    from session_monitor.core.sources.lean import LeanSource

    source = LeanSource(Path(LEAN_MINUTE))
    cal = get_calendar("XNYS")
    out = []
    for symbol in ("SPY", "GOOG"):
        parts, sessions = [], []
        for date in source.dates(symbol):
            session = cal.session(date)
            loaded = source.load_session(symbol, source.layout.base, session)
            if len(loaded.bars.ts):
                parts.append(loaded.bars)
                sessions.append(session)
        bars = BarArrays(*(np.concatenate([p[i] for p in parts]) for i in range(6)))
        out.append((bars, np.array([s.open for s in sessions]), np.array([s.close for s in sessions])))
    return out


def _row(name: str, ours: float, reference: float, note: str) -> Row:
    r = ratio(ours, reference)
    return Row(name, ours, reference, "bars/s", r, f"≥ {TARGET:.1f}× pandas", r is not None and r >= TARGET, note)


def run(quick: bool) -> list[Row]:
    n = 20_000 if quick else 1_000_000
    data = session_minutes(n, seed=1)
    ours, ref = _measure(data.bars, data.opens, data.closes, rounds=3 if quick else 9)
    rows = [
        _row(
            ROW_RANDOM,
            ours,
            ref,
            f"{n:,} bars, {len(data.sessions):,} sessions; ref: vectorised pandas resample; output identical",
        )
    ]
    lean = _lean_history()
    total = sum(len(b.ts) for b, _, _ in lean)
    # two separate histories (SPY, GOOG): seconds per pass on each side, added up
    seconds_ours = seconds_ref = 0.0
    for bars, opens, closes in lean:
        o, p = _measure(bars, opens, closes, rounds=5 if quick else 21)
        seconds_ours += len(bars.ts) / o
        seconds_ref += len(bars.ts) / p
    rows.append(
        _row(
            ROW_LEAN,
            total / seconds_ours,
            total / seconds_ref,
            f"{total:,} real bars, 9 sessions incl. the 2015-12-24 half day; output identical",
        )
    )
    return rows
