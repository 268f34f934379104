"""The shapes of values the registry stores and every door accepts: codes, ids, moments,
phone numbers. One definition each, so the API, the filters and the bulk import refuse the
same things with the same words.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

CODE = r"^[a-z][a-z0-9_]*[a-z0-9]$"
"""Catalogue codes, kinds and agency codes: lower-case ASCII words joined by underscores,
two characters at least and no underscore at the end (the shortest real code is the
Revenue Department's ``rd``; services are like ``id_card_renewal``, 11 to 38)."""

MAX_ID = 2**63 - 1  # bigint

ISO_MOMENT = (
    r"^(19\d\d|2[01]\d\d|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|z|[+-](0\d|1[0-4]):?[0-5]\d)?)?$"
)
"""What ``at`` accepts, as the OpenAPI document says it: ISO 8601, years 1900-2200."""
_ISO_DATETIME = re.compile(ISO_MOMENT)


def _iso_only(value: object) -> object:
    """Only ISO 8601 text: pydantic alone would also take a number as a Unix time."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.fullmatch(value):
        raise ValueError(
            "give an ISO 8601 date and time, such as 2026-03-30T10:00:00+07:00 "
            "(no offset: Bangkok time)"
        )
    return value


def _real_moment(value: dt.datetime) -> dt.datetime:
    offset = value.utcoffset()
    if offset is not None and not -dt.timedelta(hours=12) <= offset <= dt.timedelta(hours=14):
        raise ValueError("the UTC offset must lie between -12:00 and +14:00")
    if not 1900 <= value.year <= 2200:
        raise ValueError("give a year from 1900 to 2200")
    return value


Moment = Annotated[
    dt.datetime,
    BeforeValidator(_iso_only),
    AfterValidator(_real_moment),
    WithJsonSchema({"type": "string", "pattern": ISO_MOMENT, "examples": ["2026-03-30T10:00"]}),
]
"""A moment for "open now": ISO 8601 text with a real UTC offset, -12:00 to +14:00 (none:
Bangkok time)."""


PHONE_PATTERN = r"^\+?[0-9][0-9 -]{5,18}[0-9]$"
