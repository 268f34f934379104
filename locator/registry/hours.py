"""Opening hours: a small structured form, evaluated in Asia/Bangkok.

Stored as JSON on each point::

    {"tz": "Asia/Bangkok",
     "weekly": {"mon": [["08:30", "16:30"]], ..., "sun": []},
     "public_holidays": "closed",
     "note_en": "...", "note_th": "..."}

Intervals are local wall-clock times; "24:00" closes at midnight. ``public_holidays``
"closed" (OSM's ``PH off``) shuts the point on Thailand's public and government
holidays (``locator.registry.public_holidays``); without it the weekly hours hold on them too.
Structured (not the free text of OSM's opening_hours) so that "open now" is a cheap,
exact check in Python and in SQL alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from locator.registry.public_holidays import is_holiday

BANGKOK = ZoneInfo("Asia/Bangkok")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Interval = tuple[str, str]


def weekly(
    weekdays: list[Interval],
    saturday: list[Interval] | None = None,
    sunday: list[Interval] | None = None,
    *,
    note_en: str | None = None,
    note_th: str | None = None,
    closed_on_public_holidays: bool = False,
) -> dict[str, Any]:
    week: dict[str, list[list[str]]] = {d: [list(i) for i in weekdays] for d in DAYS[:5]}
    week["sat"] = [list(i) for i in saturday or []]
    week["sun"] = [list(i) for i in sunday or []]
    out: dict[str, Any] = {"tz": "Asia/Bangkok", "weekly": week}
    if closed_on_public_holidays:
        out["public_holidays"] = "closed"
    if note_en:
        out["note_en"] = note_en
    if note_th:
        out["note_th"] = note_th
    return out


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def is_open(hours: dict[str, Any] | None, at: dt.datetime) -> bool:
    """Whether the point is open at ``at`` (naive datetimes are taken as Bangkok time)."""
    if not hours or "weekly" not in hours:
        return False
    zone = ZoneInfo(hours.get("tz", "Asia/Bangkok"))
    local = at.replace(tzinfo=zone) if at.tzinfo is None else at.astimezone(zone)
    if hours.get("public_holidays") == "closed" and is_holiday(local.date()):
        return False
    now = local.hour * 60 + local.minute
    day = DAYS[local.weekday()]
    for start, end in hours["weekly"].get(day, []):
        if _minutes(start) <= now < _minutes(end):
            return True
    return False


# --- OpenStreetMap's opening_hours syntax ------------------------------------------------
_OSM_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_REFERENCE_MONDAY = dt.datetime(2026, 11, 23)
"""A week with no Thai public holiday: where an OSM expression's weekly hours are read."""


def to_osm(hours: dict[str, Any] | None) -> str:
    """The hours in OSM's ``opening_hours`` syntax (``Mo-Fr 08:30-16:30; PH off``), the
    form OSM and GIS users read and write. Consecutive days with the same intervals are
    one rule; no intervals at all is ``off``."""
    if not hours or "weekly" not in hours:
        return "off"
    week = [tuple(tuple(i) for i in hours["weekly"].get(d, [])) for d in DAYS]
    if all(day == (("00:00", "24:00"),) for day in week):
        rules = ["24/7"]
    else:
        rules, start = [], 0
        while start < 7:
            end = start
            while end + 1 < 7 and week[end + 1] == week[start]:
                end += 1
            if week[start]:
                days = _OSM_DAYS[start] if start == end else f"{_OSM_DAYS[start]}-{_OSM_DAYS[end]}"
                rules.append(f"{days} {','.join(f'{a}-{b}' for a, b in week[start])}")
            start = end + 1
        rules = rules or ["off"]
    if hours.get("public_holidays") == "closed":
        rules.append("PH off")
    return "; ".join(rules)


def from_osm(
    text: str, *, note_en: str | None = None, note_th: str | None = None
) -> dict[str, Any]:
    """Hours from an OSM ``opening_hours`` expression, parsed and evaluated by the
    ``opening_hours`` package (the OSM syntax in full: week ranges, comments, ``24/7``,
    ``off``), read back as the weekly form over a week without public holidays. ``PH
    off`` (or ``PH closed``) marks the point closed on Thailand's public holidays; other
    public-holiday hours, and hours that change from week to week (month ranges, week
    numbers, sunrise), cannot be kept in the weekly form and are refused."""
    import opening_hours

    try:
        parsed = opening_hours.OpeningHours(text)
    except opening_hours.ParserError as exc:  # type: ignore[attr-defined]  # not in its stub
        raise ValueError(f"not an OSM opening_hours expression: {exc}") from None
    normal = str(parsed.normalize())
    ph_rules = [r.strip() for r in normal.split(";") if r.strip().startswith("PH")]
    if any(r not in ("PH off", "PH closed") for r in ph_rules):
        raise ValueError("public-holiday rules other than `PH off` cannot be kept")
    weekly: dict[str, list[list[str]]] = {d: [] for d in DAYS}
    for week in (0, 1, 9, 17, 26, 39):  # the same hours through the seasons of a year
        start = _REFERENCE_MONDAY + dt.timedelta(weeks=week)
        seen: dict[str, list[list[str]]] = {d: [] for d in DAYS}
        for a, b, state, _ in parsed.intervals(start, start + dt.timedelta(days=7)):
            if state != opening_hours.State.OPEN:
                continue
            while a < b:  # an interval past midnight is one per day
                midnight = dt.datetime.combine(a.date() + dt.timedelta(days=1), dt.time())
                until = min(b, midnight)
                end = "24:00" if until == midnight else until.strftime("%H:%M")
                seen[DAYS[a.weekday()]].append([a.strftime("%H:%M"), end])
                a = until
        if week == 0:
            weekly = seen
        elif seen != weekly:
            raise ValueError("hours that change from week to week cannot be kept weekly")
    week_lists = [weekly[d] for d in DAYS]
    out = weekly_from_days(week_lists, closed_on_public_holidays=bool(ph_rules))
    if note_en:
        out["note_en"] = note_en
    if note_th:
        out["note_th"] = note_th
    return out


def weekly_from_days(
    days: list[list[list[str]]], *, closed_on_public_holidays: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"tz": "Asia/Bangkok", "weekly": dict(zip(DAYS, days, strict=True))}
    if closed_on_public_holidays:
        out["public_holidays"] = "closed"
    return out
