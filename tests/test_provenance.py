"""Bar provenance on real data: GOOG 2015-12-28 lacks eight regular-session minutes (first 12:08 New York)."""

from __future__ import annotations

import pytest

from session_monitor.core.intervals import Interval
from session_monitor.core.provenance import BarState, ContainingBar, MissingSlot, bars_containing, derived_provenance
from session_monitor.core.sources.lean import LeanSource
from tests.core_helpers import utc, watch, xnys

MINUTE = Interval(60)


def _goog(lean_minute, date: str, clock_offset: int | None = None):
    session = xnys(date)
    sd, data, processor = watch(session, "1m", ["5m", "15m", "1h"], symbol="GOOG")
    bars = LeanSource(lean_minute).load_session("GOOG", MINUTE, session).bars
    clock = session.close if clock_offset is None else session.open + clock_offset
    sd.add_base_bars("GOOG", bars.take(bars.ts < clock))
    processor.process(clock)
    return data


def _minutes(start: str, end: str) -> tuple[int, ...]:
    return tuple(range(utc(start), utc(end), 60))


def test_hour_bar_lists_its_base_bars_and_the_missing_minutes(lean_minute) -> None:
    data = _goog(lean_minute, "2015-12-28")
    hour = data.bars["1h"]
    index = hour.data.index_of(utc("2015-12-28T16:30:00"))  # 11:30 New York
    prov = derived_provenance(hour, data.base, index)
    assert (prov.start, prov.end) == (utc("2015-12-28T16:30:00"), utc("2015-12-28T17:30:00"))
    missing = (utc("2015-12-28T17:08:00"), utc("2015-12-28T17:15:00"))
    assert prov.present == tuple(t for t in _minutes("2015-12-28T16:30:00", "2015-12-28T17:30:00") if t not in missing)
    assert prov.expected == 60
    assert prov.missing == (
        MissingSlot(utc("2015-12-28T17:08:00"), utc("2015-12-28T17:09:00"), "missing"),
        MissingSlot(utc("2015-12-28T17:15:00"), utc("2015-12-28T17:16:00"), "missing"),
    )
    assert prov.state is BarState.FINAL
    assert prov.describe() == [
        "1h bar 2015-12-28 11:30–12:30 (America/New_York), final",
        "base 1m bars: 58 of 60 present",
        "missing: 12:08 (missing), 12:15 (missing)",
    ]


def test_missing_slot_carries_the_gap_trackers_cause(lean_minute) -> None:
    data = _goog(lean_minute, "2015-12-28")
    data.notes.outages.append([float(utc("2015-12-28T17:05:00")), float(utc("2015-12-28T17:10:00"))])
    quarter = data.bars["15m"]
    prov = derived_provenance(quarter, data.base, quarter.data.index_of(utc("2015-12-28T17:00:00")))
    assert prov.missing == (MissingSlot(utc("2015-12-28T17:08:00"), utc("2015-12-28T17:09:00"), "disconnect"),)
    assert len(prov.present) == 14


def test_short_last_window_and_forming_bar(lean_minute) -> None:
    data = _goog(lean_minute, "2015-12-24", clock_offset=150 * 60)  # 12:00 on the 13:00 half day
    hour = data.bars["1h"]
    last = derived_provenance(hour, data.base, len(hour.data) - 1)
    assert (last.start, last.end) == (utc("2015-12-24T16:30:00"), utc("2015-12-24T17:30:00"))
    assert last.state is BarState.FORMING
    assert (len(last.present), last.expected, last.pending, last.missing) == (30, 60, 30, ())
    full = _goog(lean_minute, "2015-12-24")
    hour = full.bars["1h"]
    short = derived_provenance(hour, full.base, len(hour.data) - 1)
    # the 12:30 bar of the half day is a 30-minute window ending at the 13:00 close
    assert (short.start, short.end, short.expected) == (utc("2015-12-24T17:30:00"), utc("2015-12-24T18:00:00"), 30)
    assert short.state is BarState.FINAL


def test_every_derived_bar_containing_a_base_bar(lean_minute) -> None:
    data = _goog(lean_minute, "2015-12-28")
    found = bars_containing(data.bars, utc("2015-12-28T17:09:00"))
    assert [(c.interval.name, c.start, c.end) for c in found] == [
        ("5m", utc("2015-12-28T17:05:00"), utc("2015-12-28T17:10:00")),
        ("15m", utc("2015-12-28T17:00:00"), utc("2015-12-28T17:15:00")),
        ("1h", utc("2015-12-28T16:30:00"), utc("2015-12-28T17:30:00")),
    ]
    assert found[0] == ContainingBar(Interval(300), data.bars["5m"].data.index_of(utc("2015-12-28T17:05:00")),
                                     utc("2015-12-28T17:05:00"), utc("2015-12-28T17:10:00"))
    assert bars_containing(data.bars, utc("2015-12-28T22:00:00")) == []  # after the close


def test_bad_questions_are_refused(lean_minute) -> None:
    data = _goog(lean_minute, "2015-12-28")
    with pytest.raises(IndexError, match="1h has no bar 99"):
        derived_provenance(data.bars["1h"], data.base, 99)
    with pytest.raises(ValueError, match="1m is not derived from 1m"):
        derived_provenance(data.base, data.base, 0)


def test_a_late_bar_and_a_correction_are_counted_as_revisions_with_the_last_pass_clock(lean_minute) -> None:
    """12:20 New York arrives late (12:50:30), then corrected (13:02:15): the 12:15 15m bar is revised twice."""
    session = xnys("2015-12-28")
    sd, data, processor = watch(session, "1m", ["15m", "1h"], symbol="GOOG")
    bars = LeanSource(lean_minute).load_session("GOOG", MINUTE, session).bars
    late = utc("2015-12-28T17:20:00")
    sd.add_base_bars("GOOG", bars.take((bars.ts < utc("2015-12-28T17:45:00")) & (bars.ts != late)))
    processor.process(utc("2015-12-28T17:45:00"))
    quarter = data.bars["15m"]
    index = quarter.data.index_of(utc("2015-12-28T17:15:00"))
    before = derived_provenance(quarter, data.base, index)
    assert (before.state, before.revisions, before.revised_at) == (BarState.FINAL, 0, None)

    sd.add_base_bars("GOOG", bars.take(bars.ts == late))
    processor.process(utc("2015-12-28T17:50:30"))
    once = derived_provenance(quarter, data.base, index)
    assert (once.state, once.revisions, once.revised_at) == (BarState.REVISED, 1, float(utc("2015-12-28T17:50:30")))
    assert once.describe()[-1] == "revised once, last at 12:50:30"

    fixed = bars.take(bars.ts == late)
    fixed.high[:] += 1.0
    sd.add_base_bars("GOOG", fixed)
    processor.process(utc("2015-12-28T18:02:15"))
    prov = derived_provenance(quarter, data.base, index)
    assert (prov.revisions, prov.revised_at) == (2, float(utc("2015-12-28T18:02:15")))
    assert late in prov.present and len(prov.present) == 14  # 12:15 itself never came
    assert prov.describe() == [
        "15m bar 2015-12-28 12:15–12:30 (America/New_York), revised",
        "base 1m bars: 14 of 15 present",
        "missing: 12:15 (missing)",
        "revised 2 times, last at 13:02:15",
    ]
    hour = data.bars["1h"]
    held = derived_provenance(hour, data.base, hour.data.index_of(utc("2015-12-28T16:30:00")))
    assert (held.revisions, held.revised_at) == (2, float(utc("2015-12-28T18:02:15")))
    untouched = derived_provenance(quarter, data.base, quarter.data.index_of(utc("2015-12-28T17:00:00")))
    assert (untouched.revisions, untouched.revised_at) == (0, None)
    assert untouched.describe()[-1] == "missing: 12:08 (missing)"
