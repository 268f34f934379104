"""Thailand's public holidays, the days government offices close.

From the ``holidays`` package (python-holidays), which knows the lunar Buddhist days
(Makha, Visakha, Asarnha Bucha), the substitution days "in lieu" and the bridge
holidays the cabinet declares, in Thai and English. Offices close on its ``public`` and
``government`` categories (the Royal Ploughing Ceremony is a day off for civil servants
only).

The days live in the ``public_holiday`` table as well, because "open now" is judged in
SQL (``locator_is_open``) next to the KNN scan; the migration fills it for a span of
years and ``locator load reference`` refreshes it from the installed package, so a newer
release's cabinet decisions reach the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import holidays
from sqlalchemy import text

from locator.db.engine import Executor

CATEGORIES = ("public", "government")
FIRST_YEAR = 2020
YEARS_AHEAD = 5


@dataclass(frozen=True)
class Holiday:
    day: dt.date
    name_en: str
    name_th: str


def years(today: dt.date | None = None) -> range:
    """The years the table holds: from 2020 to five years after this one."""
    this = (today or dt.date.today()).year
    return range(FIRST_YEAR, this + YEARS_AHEAD + 1)


def thai_holidays(span: range) -> list[Holiday]:
    en = holidays.country_holidays("TH", years=span, categories=CATEGORIES, language="en_US")
    th = holidays.country_holidays("TH", years=span, categories=CATEGORIES, language="th")
    return [Holiday(day, en[day], th.get(day, en[day])) for day in sorted(en)]


@cache
def _days(year: int) -> frozenset[dt.date]:
    return frozenset(h.day for h in thai_holidays(range(year, year + 1)))


def is_holiday(day: dt.date) -> bool:
    return day in _days(day.year)


def next_holiday(after: dt.date) -> Holiday | None:
    """The first holiday on or after ``after`` (within a year)."""
    for h in thai_holidays(range(after.year, after.year + 2)):
        if h.day >= after:
            return h
    return None


def refresh(db: Executor, span: range | None = None) -> int:
    """Replace the table's days for ``span`` with the package's; returns how many."""
    span = span or years()
    found = thai_holidays(span)
    db.execute(
        text("DELETE FROM public_holiday WHERE day BETWEEN :a AND :b"),
        {"a": dt.date(span.start, 1, 1), "b": dt.date(span.stop - 1, 12, 31)},
    )
    if found:
        db.execute(
            text("INSERT INTO public_holiday (day, name_en, name_th) VALUES (:d, :en, :th)"),
            [{"d": h.day, "en": h.name_en, "th": h.name_th} for h in found],
        )
    return len(found)
