"""Turn raw parsed columns into validated, in-session base bars.

Every reader (Lean zips, CSV, Parquet) parses its bytes into plain numpy columns and
hands them here, so the rules for what a good bar is live in one place. Everything is
done with numpy masks; Python only runs over the (capped) list of rejected rows to word
their messages, so a garbage file costs the same as a clean one.

Conventions:

* ``ts`` holds bar *start* times as int64 UTC epoch seconds; a row whose timestamp could
  not be parsed carries :data:`TS_INVALID` instead.
* ``rows`` holds the 1-based line number of each row in its file (header included for
  CSV), so a problem can point at the exact line.
* Rows outside the session are skipped and counted, never checked: a bad extended-hours
  print is not a problem of the regular session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

import numpy as np

from session_monitor.core.bars import BarArrays
from session_monitor.core.calendar import Session
from session_monitor.core.sources.base import DataProblem

__all__ = [
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_PROBLEMS",
    "MAX_VOLUME",
    "OUT_OF_RANGE",
    "TS_EARLIEST",
    "TS_INVALID",
    "TS_LATEST",
    "format_ts",
    "validate_bars",
]

#: sentinel in ``ts`` for a row whose timestamp could not be parsed
TS_INVALID = np.iinfo(np.int64).min
#: the dates a bar may carry: a row dated 1900 or 9999 is a typo, not a session to plan
EARLIEST_DATE = dt.date(1970, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)
TS_EARLIEST = int(dt.datetime.combine(EARLIEST_DATE, dt.time(), dt.UTC).timestamp())
TS_LATEST = int(dt.datetime.combine(LATEST_DATE, dt.time(23, 59, 59), dt.UTC).timestamp())
#: the largest volume a bar may carry: more is a unit or parsing error, and 1e308 sums to inf
MAX_VOLUME = 1e18
#: why a row outside that range is rejected
OUT_OF_RANGE = f"timestamp outside the supported range {EARLIEST_DATE}..{LATEST_DATE}"
#: rejected-row problems kept per call; the rest are summarised in one extra problem
MAX_PROBLEMS = 1000
#: duplicate row pairs spelled out in the duplicate warning
_MAX_NAMED = 10

_PRICES = ("open", "high", "low", "close")


def format_ts(ts: int) -> str:
    """ISO 8601 UTC text for a problem message."""
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float) -> str:
    return f"{float(value):.10g}"


def validate_bars(
    ts: np.ndarray,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    rows: np.ndarray,
    file: str | None,
    symbol: str | None,
    session: Session | None,
    *,
    rejected: Sequence[tuple[np.ndarray, str]] = (),
) -> tuple[BarArrays, list[DataProblem], int]:
    """Keep the good in-session rows, sorted and unique; word one problem per bad row.

    ``rejected`` lets a reader add its own per-row reasons (mask aligned with the rows,
    message), e.g. "timestamp without a UTC offset"; a row with :data:`TS_INVALID` and no
    such reason is reported as an unparsable timestamp. ``session=None`` keeps every
    parsable row (no session filter).

    Returns ``(bars, problems, outside_session)``. Never raises for bad values.
    """
    ts = np.asarray(ts, dtype=np.int64)
    cols = {
        "open": np.asarray(open, dtype=np.float64),
        "high": np.asarray(high, dtype=np.float64),
        "low": np.asarray(low, dtype=np.float64),
        "close": np.asarray(close, dtype=np.float64),
    }
    vol = np.asarray(volume, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    n = len(ts)
    if n == 0:
        return BarArrays.empty(), [], 0

    bad_ts = ts == TS_INVALID
    if session is not None:
        outside = ~bad_ts & ~session.in_session_mask(ts)
        outside_count = int(np.count_nonzero(outside))
        considered = ~outside
    else:
        outside_count = 0
        considered = np.ones(n, dtype=bool)

    # (mask, message per row) in the order messages are joined
    checks: list[tuple[np.ndarray, object]] = []
    explained = np.zeros(n, dtype=bool)
    for mask, message in rejected:
        mask = np.asarray(mask, dtype=bool)
        checks.append((mask, message))
        explained |= mask
    checks.append((bad_ts & ~explained, "unparsable timestamp"))

    finite = {name: np.isfinite(col) for name, col in cols.items()}
    for name, col in cols.items():
        nan = np.isnan(col)
        checks.append((nan, f"{name} is missing or not a number"))
        checks.append((~finite[name] & ~nan, f"{name} is infinite"))
        checks.append((finite[name] & (col <= 0), (f"{name} {{}} is not a positive price", name)))
    vnan = np.isnan(vol)
    checks.append((vnan, "volume is missing or not a number"))
    checks.append((np.isinf(vol) & (vol > 0), "volume is infinite"))
    checks.append((~vnan & (vol < 0), ("negative volume {}", "volume")))
    checks.append((np.isfinite(vol) & (vol > MAX_VOLUME), (f"volume {{}} is above the limit {MAX_VOLUME:g}", "volume")))

    o, h, lo, c = cols["open"], cols["high"], cols["low"], cols["close"]
    with np.errstate(invalid="ignore"):
        checks.append((h < lo, ("high {} is below low {}", "high", "low")))
        checks.append((h < o, ("high {} is below open {}", "high", "open")))
        checks.append((h < c, ("high {} is below close {}", "high", "close")))
        checks.append((lo > o, ("low {} is above open {}", "low", "open")))
        checks.append((lo > c, ("low {} is above close {}", "low", "close")))

    bad = np.zeros(n, dtype=bool)
    for mask, _ in checks:
        bad |= mask
    bad &= considered

    values = {**cols, "volume": vol}
    problems = _word_rejections(bad, checks, values, rows, file, symbol)

    good = np.flatnonzero(considered & ~bad)
    if not len(good):
        return BarArrays.empty(), problems, outside_count

    gts = ts[good]
    if len(gts) > 1 and not bool(np.all(gts[1:] >= gts[:-1])):
        first = int(np.flatnonzero(gts[1:] < gts[:-1])[0]) + 1
        problems.append(
            DataProblem(
                f"rows are not in time order (row {rows[good[first]]} starts before the row above it); "
                "sorted them",
                file=file,
                row=int(rows[good[first]]),
                symbol=symbol,
            )
        )
        order = np.argsort(gts, kind="stable")
        good = good[order]
        gts = gts[order]

    if len(gts) > 1:
        keep = np.empty(len(gts), dtype=bool)
        keep[:-1] = gts[1:] != gts[:-1]
        keep[-1] = True
        if not bool(keep.all()):
            problems.append(_duplicate_warning(keep, good, gts, rows, file, symbol))
            good = good[keep]
            gts = gts[keep]

    bars = BarArrays(
        gts.copy(),
        cols["open"][good],
        cols["high"][good],
        cols["low"][good],
        cols["close"][good],
        vol[good],
    )
    return bars, problems, outside_count


def _word_rejections(
    bad: np.ndarray,
    checks: list[tuple[np.ndarray, object]],
    values: dict[str, np.ndarray],
    rows: np.ndarray,
    file: str | None,
    symbol: str | None,
) -> list[DataProblem]:
    """One problem per rejected row (capped), each naming everything wrong with the row."""
    bad_idx = np.flatnonzero(bad)
    if not len(bad_idx):
        return []
    shown = bad_idx[:MAX_PROBLEMS]
    reasons: dict[int, list[str]] = {int(i): [] for i in shown}
    for mask, spec in checks:
        hit = shown[mask[shown]]
        if not len(hit):
            continue
        if isinstance(spec, str):
            for i in hit:
                reasons[int(i)].append(spec)
        else:
            template, *names = cast(tuple[str, ...], spec)
            for i in hit:
                reasons[int(i)].append(template.format(*(_num(values[name][i]) for name in names)))
    problems = [
        DataProblem("; ".join(reasons[int(i)]), file=file, row=int(rows[i]), symbol=symbol) for i in shown
    ]
    hidden = len(bad_idx) - len(shown)
    if hidden:
        problems.append(
            DataProblem(
                f"{hidden} more rejected rows not listed (rows {rows[bad_idx[MAX_PROBLEMS]]}"
                f"..{rows[bad_idx[-1]]}); {len(bad_idx)} rows rejected in all",
                file=file,
                row=None,
                symbol=symbol,
            )
        )
    return problems


def _duplicate_warning(
    keep: np.ndarray,
    good: np.ndarray,
    gts: np.ndarray,
    rows: np.ndarray,
    file: str | None,
    symbol: str | None,
) -> DataProblem:
    """One warning for every superseded row: which row lost to which (the last row wins)."""
    dropped = np.flatnonzero(~keep)
    # the winner of a dropped sorted position is the last position with the same ts
    winners = np.searchsorted(gts, gts[dropped], side="right") - 1
    pairs = [
        f"row {rows[good[d]]} by row {rows[good[w]]} at {format_ts(gts[d])}"
        for d, w in zip(dropped[:_MAX_NAMED], winners[:_MAX_NAMED], strict=True)
    ]
    more = f" and {len(dropped) - _MAX_NAMED} more" if len(dropped) > _MAX_NAMED else ""
    first_row = int(min(rows[good[dropped]]))
    return DataProblem(
        f"{len(dropped)} duplicate timestamp row(s) replaced by a later row with the same start: "
        + ", ".join(pairs)
        + more,
        file=file,
        row=first_row,
        symbol=symbol,
    )
