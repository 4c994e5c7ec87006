"""Feed coverage: the share of expected slots that are present or provably quiet.

Quality counts the bars present; coverage also counts the slots the feed proved had
nothing to send (a ``quiet`` gap, :mod:`core.causes`), so it is the figure a trader
reads as "is my data complete?". A derived interval's coverage is measured in base
slots over its elapsed windows, as its quality is.
"""

from __future__ import annotations

from session_monitor.core.causes import GapCause
from session_monitor.core.session_data import BarIntervalData

__all__ = ["coverage", "covered"]


def coverage(interval: BarIntervalData, base: BarIntervalData) -> float | None:
    """Percent of the expected base slots in ``interval``'s elapsed windows that are covered.

    None until a window has elapsed (as quality). ``base`` is the symbol's base interval
    (``interval`` itself for the base).
    """
    quality = interval.quality
    elapsed = interval.elapsed
    if quality is None or not elapsed:
        return None
    return covered(interval, base, 0, elapsed, quality)


def covered(interval: BarIntervalData, base: BarIntervalData, first: int, last: int, quality: float) -> float | None:
    """Coverage over ``interval``'s elapsed windows ``[first, last)`` whose quality is ``quality``
    (the whole day, or one segment of an extended session)."""
    grid = interval.grid
    expected = int(grid.cum_expected[last] - grid.cum_expected[first])
    if not expected:
        return None
    notes = base.notes
    heard = notes.heard_until
    if not notes.omits_empty or heard is None:
        return quality  # nothing is provably quiet: every hole is a loss
    since = int(grid.starts[first])
    until = int(grid.ends[last - 1])
    session = grid.session
    step = base.interval.seconds
    if notes.outages:  # the general rule: sum the base gaps that are not quiet
        lost = sum(
            session.expected_slots(step, max(gap.start, since), min(gap.end, until))
            for gap in base.gaps
            if gap.start < until and gap.end > since and gap.cause != GapCause.QUIET
        )
    else:  # every hole before the feed was last heard from is quiet; the rest is lost
        lost = session.expected_slots(step, max(int(heard), since), until) if heard < until else 0
        if notes.ended_at is not None and notes.bars_until is None:
            lost = expected  # no data at all
    return 100.0 * (expected - lost) / expected
