"""NautilusTrader reference for bench/live.py; runs INSIDE bench/.nautilus-venv, never imports core.

Usage: ``python nautilus_live_script.py DATA.npz`` where the file holds ``ts`` (minute
starts, seconds, shape M) and ``open/high/low/close/volume`` (shape S x M). One
``TimeBarAggregator`` per symbol builds 5-minute bars from the 1-minute bars, all on one
``TestClock``, driven live-style: each iteration hands every symbol its new bar
(``handle_bar``, stamped at the bar's close) and then advances the clock to that close,
firing the aggregators' timers. One untimed warm-up pass, then one timed pass on fresh
aggregators. Prints one JSON object: the rate and the 5-minute bars it built.
"""

from __future__ import annotations

import json
import sys
import time

import nautilus_trader
import numpy as np
from nautilus_trader.common.component import TestClock
from nautilus_trader.data.aggregation import TimeBarAggregator
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider

NS = 1_000_000_000


def _one_pass(data, instruments, bar_types_1m):
    ts = data["ts"]
    o, h, lo, c, v = (data[k] for k in ("open", "high", "low", "close", "volume"))
    symbols, minutes = o.shape
    step = int(ts[1] - ts[0]) if len(ts) > 1 else 60
    ends = [int(t + step) * NS for t in ts.tolist()]
    # the feed's bar objects exist before the clock starts (as ours get their arrays)
    bars = [
        [
            Bar(
                bar_types_1m[k],
                Price(float(o[k, i]), 2),
                Price(float(h[k, i]), 2),
                Price(float(lo[k, i]), 2),
                Price(float(c[k, i]), 2),
                Quantity(float(v[k, i]), 0),
                ends[i],
                ends[i],
            )
            for k in range(symbols)
        ]
        for i in range(minutes)
    ]
    clock = TestClock()
    clock.set_time(int(ts[0]) * NS)
    built = [[] for _ in range(symbols)]
    aggregators = [
        TimeBarAggregator(inst, BarType.from_str(f"{inst.id}-5-MINUTE-LAST-INTERNAL"), built[k].append, clock)
        for k, inst in enumerate(instruments)
    ]
    start = time.perf_counter()
    for i in range(minutes):
        row = bars[i]
        for k in range(symbols):
            aggregators[k].handle_bar(row[k])
        for handler in clock.advance_time(ends[i]):
            handler.handle()
    elapsed = time.perf_counter() - start
    return elapsed, symbols * minutes, built


def main() -> int:
    data = dict(np.load(sys.argv[1]))
    symbols = data["open"].shape[0]
    instruments = [TestInstrumentProvider.equity(symbol=f"S{k}", venue="XNAS") for k in range(symbols)]
    bar_types_1m = [BarType.from_str(f"{inst.id}-1-MINUTE-LAST-EXTERNAL") for inst in instruments]
    _one_pass(data, instruments, bar_types_1m)  # warm-up
    elapsed, count, built = _one_pass(data, instruments, bar_types_1m)
    five = [
        [
            [b.ts_event // NS - 300, b.open.as_double(), b.high.as_double(), b.low.as_double(),
             b.close.as_double(), b.volume.as_double()]
            for b in per_symbol
        ]
        for per_symbol in built
    ]
    print(json.dumps({
        "version": nautilus_trader.__version__,
        "bars": count,
        "seconds": elapsed,
        "bars_per_s": count / elapsed,
        "five_minute": five,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
