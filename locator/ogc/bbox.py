"""A ``bbox``: a longitude/latitude rectangle (CRS84), and points inside it as SQL.

A point is inside when its longitude and latitude lie within the ranges: that test is
exact. The GiST index on ``geog`` is reached with ``&&`` against the same rectangle cast
to geography. A geography polygon has great-circle edges, which bow towards the pole and
would cut off points just inside the rectangle's equator-side edge (by kilometres on a
box several degrees wide), so the index envelope is first segmentized (0.05-degree edges
bow by well under a metre) and widened by 0.01 degree: it is a superset, and the exact
test trims it. With ``service`` the test runs on the offering's copy of the position,
whose composite GiST index (service_code, geog) answers both at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from locator.errors import InvalidInput

CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# the index envelope: edges of at most this many degrees, widened by this margin
_SEGMENT_DEG = 0.05
_MARGIN_DEG = 0.01


@dataclass(frozen=True)
class BBox:
    """A longitude/latitude rectangle (CRS84), edges included."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @property
    def area_deg2(self) -> float:
        return (self.max_lon - self.min_lon) * (self.max_lat - self.min_lat)


def parse_bbox(value: str, max_area_deg2: float) -> BBox:
    """``minLon,minLat,maxLon,maxLat`` (or the 6-number form with heights, which are
    ignored), checked for order, range and area."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in (4, 6):
        raise InvalidInput(
            f"bbox: give 4 comma-separated numbers minLon,minLat,maxLon,maxLat (or 6, "
            "minLon,minLat,minHeight,maxLon,maxLat,maxHeight) "
            f"(got {len(parts)} value{'s' if len(parts) != 1 else ''})",
            parameter="bbox",
        )
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidInput(
            f"bbox: {value!r} is not 4 comma-separated numbers minLon,minLat,maxLon,maxLat",
            parameter="bbox",
        ) from None
    box = box_from_numbers(numbers, "bbox", "bbox")
    if box.area_deg2 > max_area_deg2:
        raise InvalidInput(
            f"bbox: the box covers {box.area_deg2:.1f} square degrees, more than the "
            f"{max_area_deg2:g} allowed; ask for a smaller box (all of Thailand is about 125)",
            parameter="bbox",
            max_area_deg2=max_area_deg2,
        )
    return box


def box_from_numbers(numbers: list[float], where: str, parameter: str) -> BBox:
    """4 numbers (or 6, with heights, which are ignored) as a box, checked for range and
    order; ``where`` starts each message (``bbox``, or the filter's ``BBOX(...)``)."""
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidInput(f"{where}: every value must be a finite number", parameter=parameter)
    order = "(the order is minLon,minLat,maxLon,maxLat)"
    if len(numbers) == 6:
        # OGC API Features' 3D form puts each corner's height after its latitude; the
        # heights are checked (a box given as 4 numbers and 2 heights after them reads
        # as an inverted or impossible box, and says so in the 6-number order), then
        # ignored: every point is on the ground
        order = "(6 numbers are minLon,minLat,minHeight,maxLon,maxLat,maxHeight)"
        min_height, max_height = numbers[2], numbers[5]
        if min_height > max_height:
            raise InvalidInput(
                f"{where}: minHeight {min_height:g} is greater than maxHeight "
                f"{max_height:g} {order}",
                parameter=parameter,
            )
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    box = BBox(*numbers)
    for name, lon in (("minLon", box.min_lon), ("maxLon", box.max_lon)):
        if not -180 <= lon <= 180:
            raise InvalidInput(
                f"{where}: {name} {lon:g} is outside -180..180 {order}", parameter=parameter
            )
    for name, lat in (("minLat", box.min_lat), ("maxLat", box.max_lat)):
        if not -90 <= lat <= 90:
            raise InvalidInput(
                f"{where}: {name} {lat:g} is outside -90..90 {order}", parameter=parameter
            )
    if box.min_lon > box.max_lon:
        raise InvalidInput(
            f"{where}: minLon {box.min_lon:g} is greater than maxLon {box.max_lon:g} "
            f"{order}; boxes across the antimeridian are not supported",
            parameter=parameter,
        )
    if box.min_lat > box.max_lat:
        raise InvalidInput(
            f"{where}: minLat {box.min_lat:g} is greater than maxLat {box.max_lat:g} {order}",
            parameter=parameter,
        )
    return box


def box_sql(box: BBox, geog: str, prefix: str = "b_") -> tuple[str, dict[str, float]]:
    """Points in ``box``: the index envelope, then the exact longitude/latitude test.
    Plain SQL text, the same for every box (the values are parameters), so the page
    query it is part of can be a prepared statement."""
    envelope, params = envelope_sql(box, geog, prefix)
    params.update(
        {
            f"{prefix}min_lon": box.min_lon,
            f"{prefix}max_lon": box.max_lon,
            f"{prefix}min_lat": box.min_lat,
            f"{prefix}max_lat": box.max_lat,
        }
    )
    return (
        f"{envelope}"
        f" AND ST_X({geog}::geometry) BETWEEN :{prefix}min_lon AND :{prefix}max_lon"
        f" AND ST_Y({geog}::geometry) BETWEEN :{prefix}min_lat AND :{prefix}max_lat"
    ), params


def envelope_sql(box: BBox, geog: str, prefix: str) -> tuple[str, dict[str, float]]:
    """``geog && envelope``: a superset of the box that the GiST index answers."""
    params = {
        f"{prefix}i_min_lon": max(-180.0, box.min_lon - _MARGIN_DEG),
        f"{prefix}i_min_lat": max(-90.0, box.min_lat - _MARGIN_DEG),
        f"{prefix}i_max_lon": min(180.0, box.max_lon + _MARGIN_DEG),
        f"{prefix}i_max_lat": min(90.0, box.max_lat + _MARGIN_DEG),
        f"{prefix}segment": _SEGMENT_DEG,
    }
    return (
        f"{geog} && ST_Segmentize(ST_MakeEnvelope(:{prefix}i_min_lon, :{prefix}i_min_lat, "
        f":{prefix}i_max_lon, :{prefix}i_max_lat, 4326), :{prefix}segment)::geography"
    ), params
