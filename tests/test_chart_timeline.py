"""The folded chart time axis (gui/chart/timeline.py, Qt-free): exchange time ↔ chart x and labels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from session_monitor.core.calendar import Session, get_calendar
from session_monitor.gui.chart.timeline import Timeline, time_ticks

FRIDAY = dt.date(2013, 10, 4)
MONDAY = dt.date(2013, 10, 7)


@pytest.fixture(scope="module")
def weekend() -> list[Session]:
    cal = get_calendar("XNYS")
    return [cal.session(FRIDAY), cal.session(MONDAY)]


def test_a_friday_close_and_the_next_monday_open_are_adjacent(weekend: list[Session]) -> None:
    friday, monday = weekend
    timeline = Timeline.of_sessions(weekend)
    last_friday_bar, first_monday_bar = friday.close - 60, monday.open
    x = timeline.to_x(np.array([last_friday_bar, friday.close, monday.open, first_monday_bar + 60], np.int64))
    assert x.tolist() == [monday.open - 60, monday.open, monday.open, monday.open + 60]
    # the newest session keeps its own times as x; the weekend (and Friday night) is gone
    assert timeline.x_of(friday.open) == monday.open - (friday.close - friday.open)
    assert timeline.x_of(dt.datetime(2013, 10, 5, 12, tzinfo=dt.UTC).timestamp()) == monday.open
    # back from x: true exchange times, the shared boundary is Monday's open
    assert timeline.time_of(monday.open - 60) == last_friday_bar
    assert timeline.time_of(monday.open) == monday.open
    assert timeline.time_of(monday.open - 6.5 * 3600) == friday.open


def test_lunch_breaks_fold_and_linear_time_is_the_identity() -> None:
    lunch = Session(dt.date(2024, 1, 2), open=1000, close=5000, break_start=2000, break_end=3000)
    timeline = Timeline.of_sessions([lunch])
    assert timeline.to_x(np.array([1999, 2000, 2500, 3000, 4999])).tolist() == [1999, 2000, 2000, 2000, 3999]
    assert timeline.time_of(2000) == 3000
    linear = Timeline.of_sessions([lunch], folded=False)
    ts = np.array([1999, 2500, 4999])
    assert linear.to_x(ts) is ts and linear.time_of(2500.0) == 2500.0


def test_labels_keep_true_exchange_times_across_the_fold(weekend: list[Session]) -> None:
    friday, monday = weekend
    timeline = Timeline.of_sessions(weekend)
    # the last two Friday hours and the first two Monday hours on 800 pixels
    x0, x1 = monday.open - 2 * 3600, monday.open + 2 * 3600
    dates, times = time_ticks(timeline, weekend, x0, x1, 800)
    assert dates.labels == ["Mon 07"] and dates.values == [monday.open]
    shown = dict(zip(times.labels, times.values, strict=True))
    assert "15:00" in shown and "11:00" in shown  # Friday afternoon, Monday morning
    assert timeline.time_of(shown["15:00"]) == friday.close - 3600
    assert timeline.time_of(shown["11:00"]) == monday.open + 90 * 60
    # nothing labelled in the folded-away night, and no label within a label's width of the date
    assert not {"16:00", "20:00", "00:00", "09:00"} & set(shown)
    assert all(abs(x - monday.open) / ((x1 - x0) / 800) >= 60 for x in times.values)


def test_session_dates_thin_out_instead_of_colliding() -> None:
    cal = get_calendar("XNYS")
    sessions = cal.sessions_between(dt.date(2013, 1, 2), dt.date(2013, 12, 31))
    timeline = Timeline.of_sessions(sessions)
    x0, x1 = timeline.x_of(sessions[0].open), timeline.x_of(sessions[-1].close)
    dates = time_ticks(timeline, sessions, x0, x1, 900, date_px=80)[0]
    per_px = (x1 - x0) / 900
    assert len(dates.values) >= 3
    assert min(np.diff(dates.values)) / per_px >= 80
    # every other month, by month number: stays put while panning
    assert dates.labels == ["2013", "Mar", "May", "Jul", "Sep", "Nov"]


def test_linear_time_labels_midnight_with_the_day(weekend: list[Session]) -> None:
    friday, monday = weekend
    linear = Timeline.of_sessions(weekend, folded=False)
    times = time_ticks(linear, weekend, friday.open, monday.close, 900)[1]
    midnights = [label for label in times.labels if label.startswith(("Sat", "Sun"))]
    assert midnights == ["Sat 05", "Sun 06"] and "00:00" not in times.labels
    assert "Mon 07" not in times.labels  # Monday's open carries it (the date level)
