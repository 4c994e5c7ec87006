import pytest

from session_monitor.core.intervals import DAILY, Interval, IntervalError, parse_interval, parse_intervals


@pytest.mark.parametrize(
    ("text", "canonical", "seconds"),
    [
        ("1s", "1s", 1),
        ("60s", "1m", 60),
        ("5m", "5m", 300),
        ("60m", "1h", 3600),
        ("1h", "1h", 3600),
        ("120m", "2h", 7200),
        ("90m", "90m", 5400),
        ("90s", "90s", 90),
        (" 15M ", "15m", 900),
        ("1d", "1d", 0),
    ],
)
def test_parse_gives_the_largest_exact_unit(text: str, canonical: str, seconds: int) -> None:
    interval = parse_interval(text)
    assert interval.name == canonical
    assert interval.seconds == seconds
    assert str(interval) == canonical


@pytest.mark.parametrize("text", ["7x", "", "m", "0m", "-5m", "1.5m", "2d", "1w", "5 minutes"])
def test_unknown_intervals_are_refused_with_the_text_named(text: str) -> None:
    with pytest.raises(IntervalError, match="interval"):
        parse_interval(text)


def test_same_interval_spelled_twice_is_one() -> None:
    assert parse_interval("60m") == parse_interval("1h")
    assert parse_intervals("1h,60m,5m,1d,1m") == [Interval(60), Interval(300), Interval(3600), DAILY]


def test_empty_list_is_refused() -> None:
    with pytest.raises(IntervalError, match="no intervals"):
        parse_intervals(" , ")


def test_divisibility() -> None:
    one_minute = parse_interval("1m")
    assert one_minute.divides(parse_interval("5m"))
    assert one_minute.divides(DAILY)
    assert not one_minute.divides(parse_interval("90s"))
    assert parse_interval("1s").divides(parse_interval("90s"))
    assert not DAILY.divides(one_minute)
