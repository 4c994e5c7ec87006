"""The pandas script a user would write instead of ``session-monitor replay … --export``.

Usage: ``python bench/pandas_reference_script.py IN_FOLDER OUT_FOLDER [INTERVALS]``

Reads every ``*.csv`` (``timestamp,open,high,low,close,volume``, ISO 8601 with offset, one
XNYS session per file), resamples session-anchored (origin = that day's 09:30 New York,
``closed='left', label='left'``, empty windows dropped) and writes
``OUT_FOLDER/<SYMBOL>/<interval>.csv``. Used by bench/pandas_script.py as the reference.
Deliberately standalone: pandas only, nothing from Session Monitor.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

RULES = {"1m": "1min", "5m": "5min", "15m": "15min", "1h": "1h"}
OHLCV = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
EXCHANGE_TZ = "America/New_York"
OPEN = pd.Timedelta(hours=9, minutes=30)


def derive(path: Path, out: Path, intervals: list[str]) -> None:
    # pyarrow parses the ISO 8601 times natively (the fastest of pandas' readers here)
    df = pd.read_csv(path, engine="pyarrow", parse_dates=["timestamp"]).set_index("timestamp").sort_index()
    if df.index.tz is None:
        raise SystemExit(f"{path}: timestamps without a UTC offset")
    df.index = df.index.tz_convert("UTC")
    session_open = (df.index[0].tz_convert(EXCHANGE_TZ).normalize() + OPEN).tz_convert("UTC")
    folder = out / path.stem.upper()
    folder.mkdir(parents=True, exist_ok=True)
    for name in intervals:
        bars = df.resample(RULES[name], origin=session_open, closed="left", label="left").agg(OHLCV)
        bars = bars[bars["open"].notna()]
        bars.to_csv(folder / f"{name}.csv", date_format="%Y-%m-%dT%H:%M:%S+00:00")


def main(argv: list[str]) -> int:
    source, out = Path(argv[0]), Path(argv[1])
    intervals = argv[2].split(",") if len(argv) > 2 else list(RULES)
    for path in sorted(source.glob("*.csv")):
        derive(path, out, intervals)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
