"""Path parameters several routers share: a service point's id, written with digits only."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator

from locator.registry.fields import MAX_ID

_DIGITS = re.compile(r"[1-9][0-9]{0,18}")


def _whole_number(value: object) -> object:
    """Ids are written as digits only: ``1.0``, ``+1`` or ``1e3`` name no point."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise ValueError("give a positive whole number, written with digits only")


DIGITS_ONLY = BeforeValidator(_whole_number)
"""Ids are digits only. Written after FastAPI's ``Path(ge=1, le=MAX_ID)`` in an
``Annotated``, so that the bounds still reach the OpenAPI document."""


PointId = Annotated[int, Path(ge=1, le=MAX_ID, description="service point id"), DIGITS_ONLY]
