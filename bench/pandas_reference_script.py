"""The pandas script a user would write instead of ``session-monitor replay …``.

Usage: ``python bench/pandas_reference_script.py IN_FOLDER OUT_FOLDER [INTERVALS]``

Reads every ``*.csv`` (``timestamp,open,high,low,close,volume``, ISO 8601 with offset) and
``*.parquet`` (the same columns, ``timestamp`` a UTC time) of ``IN_FOLDER``, one XNYS
session per file; resamples session-anchored (origin = that day's 09:30 New York,
``closed='left', label='left'``, empty windows dropped) and writes
``OUT_FOLDER/<SYMBOL>/<interval>.csv``. ``OUT_FOLDER`` ``-`` keeps the derived bars in
memory instead (as ``replay`` without ``--export`` does) and prints how many there are.
Used by bench/pandas_script.py and bench/scale_pandas.py as the reference. Deliberately
standalone: pandas only, nothing from Session Monitor.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

RULES = {"1m": "1min", "5m": "5min", "15m": "15min", "1h": "1h"}
OHLCV = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
EXCHANGE_TZ = "America/New_York"
OPEN = pd.Timedelta(hours=9, minutes=30)


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        # pyarrow parses the ISO 8601 times natively (the fastest of pandas' readers here)
        df = pd.read_csv(path, engine="pyarrow", parse_dates=["timestamp"])
    df = df.set_index("timestamp").sort_index()
    if df.index.tz is None:
        raise SystemExit(f"{path}: timestamps without a UTC offset")
    df.index = df.index.tz_convert("UTC")
    return df


def derive(path: Path, intervals: list[str]) -> dict[str, pd.DataFrame]:
    df = read(path)
    session_open = (df.index[0].tz_convert(EXCHANGE_TZ).normalize() + OPEN).tz_convert("UTC")
    derived = {}
    for name in intervals:
        bars = df.resample(RULES[name], origin=session_open, closed="left", label="left").agg(OHLCV)
        derived[name] = bars[bars["open"].notna()]
    return derived


def main(argv: list[str]) -> int:
    source, out = Path(argv[0]), argv[1]
    intervals = argv[2].split(",") if len(argv) > 2 else list(RULES)
    kept: dict[str, dict[str, pd.DataFrame]] = {}
    for path in sorted([*source.glob("*.csv"), *source.glob("*.parquet")]):
        derived = derive(path, intervals)
        if out == "-":
            kept[path.stem.upper()] = derived
            continue
        folder = Path(out) / path.stem.upper()
        folder.mkdir(parents=True, exist_ok=True)
        for name, bars in derived.items():
            bars.to_csv(folder / f"{name}.csv", date_format="%Y-%m-%dT%H:%M:%S+00:00")
    if out == "-":
        print(sum(len(bars) for derived in kept.values() for bars in derived.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
