"""Opening hours: a small structured form, evaluated in Asia/Bangkok.

Stored as JSON on each point::

    {"tz": "Asia/Bangkok",
     "weekly": {"mon": [["08:30", "16:30"]], ..., "sun": []},
     "public_holidays": "closed",
     "note_en": "...", "note_th": "..."}

Intervals are local wall-clock times; "24:00" closes at midnight. ``public_holidays``
"closed" (OSM's ``PH off``) shuts the point on Thailand's public and government
holidays (``locator.public_holidays``); without it the weekly hours hold on them too.
Structured (not the free text of OSM's opening_hours) so that "open now" is a cheap,
exact check in Python and in SQL alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from locator.public_holidays import is_holiday

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
