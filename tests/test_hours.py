"""Opening hours are evaluated in Bangkok time, whatever the caller's zone."""

from __future__ import annotations

import datetime as dt

from locator.hours import is_open, weekly

OFFICE = weekly([("08:30", "16:30")], [("09:00", "12:00")])


def test_weekday_office_hours() -> None:
    monday = dt.datetime(2026, 11, 23, 10, 0)  # a Monday, Bangkok wall-clock time
    assert is_open(OFFICE, monday)
    assert not is_open(OFFICE, monday.replace(hour=8, minute=29))
    assert is_open(OFFICE, monday.replace(hour=8, minute=30))
    assert not is_open(OFFICE, monday.replace(hour=16, minute=30))


def test_weekend() -> None:
    assert is_open(OFFICE, dt.datetime(2026, 11, 28, 11, 59))  # Saturday
    assert not is_open(OFFICE, dt.datetime(2026, 11, 29, 10, 0))  # Sunday


def test_aware_times_are_converted_to_bangkok() -> None:
    # 03:00 UTC on a Monday is 10:00 in Bangkok (UTC+7)
    assert is_open(OFFICE, dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC))
    assert not is_open(OFFICE, dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC))


def test_always_open_and_missing_hours() -> None:
    day = [("00:00", "24:00")]
    always = weekly(day, day, day)
    assert is_open(always, dt.datetime(2026, 11, 29, 23, 59))
    assert not is_open({}, dt.datetime(2026, 11, 23, 10, 0))


def test_closed_on_public_holidays_when_marked() -> None:
    marked = weekly([("08:30", "16:30")], closed_on_public_holidays=True)
    constitution_day = dt.datetime(2026, 12, 10, 10, 0)
    assert not is_open(marked, constitution_day)
    assert is_open(OFFICE, constitution_day)  # unmarked hours hold on holidays
    assert is_open(marked, constitution_day - dt.timedelta(days=1))
    # Visakha Bucha 2026 fell on a Sunday: the Monday after is the day off
    assert not is_open(marked, dt.datetime(2026, 6, 1, 10, 0))
