"""The two ends of a trip: a place given as ``lat,lon``, or a service point by its id.

Routes, rankings and the straight-line estimate all take their ends as a ``Place``; the
doors parse them here, so a malformed end is the same 400 on the API, the web page and
the CLI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    point_id: int | None = None


def parse_place(value: str, parameter: str) -> Place:
    """``lat,lon`` (WGS84 degrees), or, for ``to``, a service point's id."""
    if value.strip().isascii() and value.strip().isdigit():
        if parameter != "to":
            raise InvalidInput(f"{parameter}: give lat,lon", parameter=parameter)
        number = int(value.strip())
        if not 0 < number < 2**63:
            raise NotFound(f"no service point with id {number}", id=number)
        return Place(0.0, 0.0, number)
    parts = value.strip().split(",")
    try:
        lat, lon = (float(p) for p in parts)
        if not all(map(math.isfinite, (lat, lon))):
            raise ValueError
    except ValueError:
        want = "lat,lon or a point id" if parameter == "to" else "lat,lon"
        raise InvalidInput(
            f"{parameter}: {value!r} is not {want} (for example 13.7466,100.5347)",
            parameter=parameter,
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(
            f"{parameter}: latitude is -90..90 and longitude -180..180, in that order",
            parameter=parameter,
        )
    return Place(lat, lon)


def resolve(db: Executor, place: Place) -> Place:
    """A point id replaced by the point's position."""
    if place.point_id is None:
        return place
    row = db.execute(
        text("SELECT ST_Y(geog::geometry), ST_X(geog::geometry) FROM service_point WHERE id = :id"),
        {"id": place.point_id},
    ).first()
    if row is None:
        raise NotFound(f"no service point with id {place.point_id}", id=place.point_id)
    return Place(float(row[0]), float(row[1]), place.point_id)
