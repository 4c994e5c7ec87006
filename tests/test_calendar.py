import datetime as dt
from pathlib import Path

import pytest

from session_monitor.core import calendar as calendar_module
from session_monitor.core.calendar import CalendarError, SessionCalendar, get_calendar
from tests.core_helpers import utc


def test_early_close_comes_from_the_calendar() -> None:
    session = get_calendar("XNYS").session(dt.date(2015, 12, 24))
    assert session.open == utc("2015-12-24T14:30:00")
    assert session.close == utc("2015-12-24T18:00:00")  # 13:00 New York
    assert session.length == 3.5 * 3600


def test_holidays_and_weekends_are_skipped() -> None:
    sessions = get_calendar("XNYS").sessions_between(dt.date(2015, 12, 23), dt.date(2015, 12, 28))
    assert [s.date for s in sessions] == [dt.date(2015, 12, 23), dt.date(2015, 12, 24), dt.date(2015, 12, 28)]
    with pytest.raises(CalendarError, match="2015-12-25 is not a XNYS session"):
        get_calendar("XNYS").session(dt.date(2015, 12, 25))


def test_calendar_is_built_once_and_widened_for_old_dates() -> None:
    first = get_calendar("XNYS")
    assert get_calendar("XNYS") is first
    old = get_calendar("XNYS", earliest=dt.date(1995, 3, 1))
    assert old.is_session(dt.date(1995, 3, 1))
    assert get_calendar("XNYS") is old


def test_a_later_run_today_reads_the_cached_table_and_a_broken_one_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_MONITOR_CACHE_DIR", str(tmp_path))
    built = SessionCalendar("XHKG")  # lunch breaks: every column of the table is kept
    [stored] = list(tmp_path.glob("calendars/XHKG-*/*.npz"))

    def no_build(name: str, first_year: int) -> None:
        raise AssertionError("built again although today's table is cached")

    with monkeypatch.context() as patched:
        patched.setattr(calendar_module, "_build_table", no_build)
        cached = SessionCalendar("XHKG")
    assert cached.sessions_between(cached.first_date, cached.last_date) == \
        built.sessions_between(built.first_date, built.last_date)
    assert cached.session(dt.date(2015, 12, 23)).break_start == utc("2015-12-23T04:00:00")  # 12:00 Hong Kong
    assert str(cached.tz) == "Asia/Hong_Kong"

    stored.write_bytes(b"not a table")
    again = SessionCalendar("XHKG")
    assert again.sessions_between(again.first_date, again.last_date) == \
        built.sessions_between(built.first_date, built.last_date)
    assert SessionCalendar("XHKG").session(dt.date(2015, 12, 24)) == built.session(dt.date(2015, 12, 24))


def test_crypto_sessions_are_utc_days() -> None:
    session = get_calendar("24/7").session(dt.date(2018, 4, 4))
    assert session.open == utc("2018-04-04T00:00:00")
    assert session.close == utc("2018-04-05T00:00:00")


def test_lunch_break_minutes_are_never_expected() -> None:
    session = get_calendar("XTKS").session(dt.date(2020, 1, 14))
    assert session.break_start is not None
    assert not session.contains(session.break_start)
    assert session.contains(session.break_start - 60)
    assert session.expected_slots(60, session.open, session.close) == 300  # 5 h of trading


def test_unknown_calendar_and_dates_outside_it() -> None:
    with pytest.raises(CalendarError, match="unknown calendar"):
        get_calendar("NOPE")
    with pytest.raises(CalendarError, match="outside"):
        get_calendar("XNYS").sessions_between(dt.date(2090, 1, 1), dt.date(2090, 1, 5))
    with pytest.raises(CalendarError, match="before start"):
        get_calendar("XNYS").sessions_between(dt.date(2015, 1, 5), dt.date(2015, 1, 2))
