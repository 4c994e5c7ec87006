import pytest

from session_monitor.core.intervals import IntervalError, parse_interval
from session_monitor.core.streams import determine_stream

ONE_SECOND, ONE_MINUTE = parse_interval("1s"), parse_interval("1m")


def names(intervals) -> list[str]:
    return [i.name for i in intervals]


def test_largest_base_that_divides_everything_wins() -> None:
    plan = determine_stream("spy", ["5m", "1m", "1h", "1d"], [ONE_SECOND, ONE_MINUTE])
    assert plan.symbol == "SPY"
    assert plan.required_base_interval == ONE_MINUTE
    assert names(plan.derivable_intervals) == ["5m", "1h", "1d"]


def test_an_interval_needing_seconds_pulls_the_base_down() -> None:
    plan = determine_stream("SPY", ["90s", "5m"], [ONE_SECOND, ONE_MINUTE])
    assert plan.required_base_interval == ONE_SECOND
    assert names(plan.derivable_intervals) == ["90s", "5m"]


def test_base_is_streamed_even_when_not_asked_for() -> None:
    plan = determine_stream("SPY", ["15m"], [ONE_MINUTE])
    assert names(plan.intervals) == ["1m", "15m"]


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        (["90s"], "interval 90s cannot be derived: it is not a whole multiple of any base the source streams \\(1m\\)"),
        (["1s"], "interval 1s is finer than the finest base the source streams \\(1m\\)"),
        (["30s", "5m"], "interval 30s is finer"),
        (["7x"], "unknown interval '7x'"),
    ],
)
def test_what_cannot_be_derived_is_refused_with_the_reason(requested: list[str], message: str) -> None:
    with pytest.raises(IntervalError, match=message):
        determine_stream("SPY", requested, [ONE_MINUTE])


def test_a_source_without_bases_is_refused() -> None:
    with pytest.raises(IntervalError, match="no intraday base"):
        determine_stream("SPY", ["1m"], [])
