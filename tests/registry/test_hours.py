"""Opening hours are evaluated in Bangkok time, whatever the caller's zone."""

from __future__ import annotations

import datetime as dt

import pytest

from locator.registry.hours import from_osm, is_open, to_osm, weekly

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


def test_osm_syntax_round_trip() -> None:
    office = weekly([("08:30", "16:30")], [("09:00", "12:00")], closed_on_public_holidays=True)
    assert to_osm(office) == "Mo-Fr 08:30-16:30; Sa 09:00-12:00; PH off"
    assert from_osm(to_osm(office)) == {k: v for k, v in office.items() if k != "note_en"}
    always = weekly([("00:00", "24:00")], [("00:00", "24:00")], [("00:00", "24:00")])
    assert to_osm(always) == "24/7"
    assert to_osm({}) == "off"
    # what OSM mappers write: split shifts, a night past midnight, comments, PH closed
    night = from_osm('Mo-Fr 08:00-12:00,13:00-16:00; Sa 22:00-02:00 "by phone"; PH closed')
    assert night["weekly"]["mon"] == [["08:00", "12:00"], ["13:00", "16:00"]]
    assert night["weekly"]["sat"] == [["22:00", "24:00"]]
    assert night["weekly"]["sun"] == [["00:00", "02:00"]]
    assert night["public_holidays"] == "closed"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mo-Fr 8:", "not an OSM opening_hours expression"),
        ("Jan-Mar Mo 08:00-12:00", "week to week"),
        ("Mo-Fr 08:00-16:00; PH 10:00-12:00", "PH off"),
    ],
)
def test_osm_syntax_that_cannot_be_kept_is_refused(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        from_osm(text)


def test_our_hours_and_the_osm_evaluator_agree() -> None:
    """Every hours form the registry writes, judged by us and by the opening_hours package
    on its OSM form, minute by minute through a week without holidays."""
    import opening_hours

    forms = [
        OFFICE,
        weekly([("08:30", "19:00")], closed_on_public_holidays=True),
        weekly([("08:00", "16:00")], closed_on_public_holidays=True),
        weekly([("00:00", "24:00")], [("00:00", "24:00")], [("00:00", "24:00")]),
    ]
    start = dt.datetime(2026, 11, 23)
    for form in forms:
        theirs = opening_hours.OpeningHours(to_osm(form))
        for minutes in range(0, 7 * 24 * 60, 13):
            at = start + dt.timedelta(minutes=minutes)
            assert is_open(form, at) == theirs.is_open(at), (to_osm(form), at)
