"""The registry as OGC API Features: pages of service points as GeoJSON-ready dicts.

Plain functions over a SQLAlchemy Session or Connection (``locator.db.Executor``), free
of the web framework; the HTTP facade (``locator.api.ogc``) adds links and media types
around what these return.

A ``bbox`` is a rectangle in longitude/latitude (CRS84), so a point is inside when its
longitude and latitude lie within the ranges: that test is exact. The GiST index on
``geog`` is reached with ``&&`` against the same rectangle cast to geography. A
geography polygon has great-circle edges, which bow towards the pole and would cut off
points just inside the rectangle's equator-side edge (by kilometres on a box several
degrees wide), so the index envelope is first segmentized (0.05-degree edges bow by
well under a metre) and widened by 0.01 degree: it is a superset, and the exact test
trims it. With ``service`` the filter runs on the offering table, whose composite GiST
index (service_code, geog) answers both at once.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from locator.db import Executor
from locator.errors import InvalidInput, NotFound
from locator.filters import NO_COPY_POINT, PointFilter, check_codes, conditions

COLLECTION_ID = "service_points"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# the index envelope: edges of at most this many degrees, widened by this margin
_SEGMENT_DEG = 0.05
_MARGIN_DEG = 0.01
_MAX_ID = 2**63 - 1  # bigint

# The feature properties, in the order they are written.
PROPERTIES = (
    "name_th",
    "name_en",
    "kind",
    "agency",
    "address_th",
    "address_en",
    "tambon_code",
    "postcode",
    "status",
    "source",
    "wheelchair",
    "priority_lane",
    "gecc",
    "no_copy",
)


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
            f"bbox: give 4 comma-separated numbers minLon,minLat,maxLon,maxLat "
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
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidInput("bbox: every value must be a finite number", parameter="bbox")
    if len(numbers) == 6:  # minLon,minLat,minHeight,maxLon,maxLat,maxHeight
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    box = BBox(*numbers)
    for name, lon in (("minLon", box.min_lon), ("maxLon", box.max_lon)):
        if not -180 <= lon <= 180:
            raise InvalidInput(
                f"bbox: {name} {lon:g} is outside -180..180 (the order is "
                "minLon,minLat,maxLon,maxLat)",
                parameter="bbox",
            )
    for name, lat in (("minLat", box.min_lat), ("maxLat", box.max_lat)):
        if not -90 <= lat <= 90:
            raise InvalidInput(
                f"bbox: {name} {lat:g} is outside -90..90 (the order is "
                "minLon,minLat,maxLon,maxLat)",
                parameter="bbox",
            )
    if box.min_lon > box.max_lon:
        raise InvalidInput(
            f"bbox: minLon {box.min_lon:g} is greater than maxLon {box.max_lon:g}; "
            "give minLon,minLat,maxLon,maxLat (boxes across the antimeridian are not supported)",
            parameter="bbox",
        )
    if box.min_lat > box.max_lat:
        raise InvalidInput(
            f"bbox: minLat {box.min_lat:g} is greater than maxLat {box.max_lat:g}; "
            "give minLon,minLat,maxLon,maxLat",
            parameter="bbox",
        )
    if box.area_deg2 > max_area_deg2:
        raise InvalidInput(
            f"bbox: the box covers {box.area_deg2:.1f} square degrees, more than the "
            f"{max_area_deg2:g} allowed; ask for a smaller box (all of Thailand is about 125)",
            parameter="bbox",
            max_area_deg2=max_area_deg2,
        )
    return box


@dataclass(frozen=True)
class ItemQuery:
    """One page of ``/collections/service_points/items``: the shared point filters, a
    box, and the page."""

    filters: PointFilter = field(default_factory=PointFilter)
    bbox: BBox | None = None
    limit: int = 100
    offset: int = 0


@dataclass
class FeaturePage:
    features: list[dict[str, Any]]
    number_matched: int
    limit: int
    offset: int
    time_stamp: str

    @property
    def number_returned(self) -> int:
        return len(self.features)

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.number_matched

    @property
    def has_prev(self) -> bool:
        return self.offset > 0


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _check_query(db: Executor, q: ItemQuery, max_page_size: int) -> None:
    if not 1 <= q.limit <= max_page_size:
        raise InvalidInput(
            f"limit: give a number from 1 to {max_page_size} (got {q.limit})", parameter="limit"
        )
    if q.offset < 0:
        raise InvalidInput(f"offset: give 0 or more (got {q.offset})", parameter="offset")
    check_codes(db, q.filters)


def items_sql(q: ItemQuery) -> tuple[str, str, dict[str, Any]]:
    """The page query and the count query for ``q`` (exposed so tests can EXPLAIN them)."""
    c = conditions(q.filters)
    c.params.update(limit=q.limit, offset=q.offset)
    if q.bbox is not None:
        b = q.bbox
        c.params.update(
            min_lon=b.min_lon,
            min_lat=b.min_lat,
            max_lon=b.max_lon,
            max_lat=b.max_lat,
            i_min_lon=max(-180.0, b.min_lon - _MARGIN_DEG),
            i_min_lat=max(-90.0, b.min_lat - _MARGIN_DEG),
            i_max_lon=min(180.0, b.max_lon + _MARGIN_DEG),
            i_max_lat=min(90.0, b.max_lat + _MARGIN_DEG),
            segment=_SEGMENT_DEG,
        )
        c.where.append(
            f"{c.geog} && ST_Segmentize(ST_MakeEnvelope("
            ":i_min_lon, :i_min_lat, :i_max_lon, :i_max_lat, 4326), :segment)::geography"
        )
        c.where.append(f"ST_X({c.geog}::geometry) BETWEEN :min_lon AND :max_lon")
        c.where.append(f"ST_Y({c.geog}::geometry) BETWEEN :min_lat AND :max_lat")
    where = c.sql()
    if c.offering:
        extra = ", o.copies_required"
        outer = ", page.copies_required, cardinality(page.copies_required) = 0 AS no_copy"
    else:
        extra = ""
        outer = f", {NO_COPY_POINT} AS no_copy"
    # the page's ids first, then its rows: per-row work only for the rows returned
    page = f"""
        WITH page AS (
            SELECT p.id{extra} FROM {c.source} WHERE {where}
            ORDER BY p.id LIMIT :limit OFFSET :offset
        )
        SELECT {_COLUMNS}{outer}
        FROM page
        JOIN service_point p ON p.id = page.id
        JOIN agency a ON a.id = p.agency_id
        ORDER BY p.id
    """
    count = f"SELECT count(*) FROM {c.source} WHERE {where}"
    return page, count, c.params


_COLUMNS = """
    p.id, ST_X(p.geog::geometry) AS lon, ST_Y(p.geog::geometry) AS lat,
    p.name_th, p.name_en, p.kind, a.code AS agency, p.address_th, p.address_en,
    p.tambon_code, p.postcode, p.status, p.source, p.wheelchair, p.priority_lane, p.gecc
"""


def _feature(row: Any, service: str | None) -> dict[str, Any]:
    properties = {name: getattr(row, name) for name in PROPERTIES}
    properties["no_copy"] = bool(row.no_copy)
    if service is not None:
        properties["service"] = service
        properties["copies_required"] = list(row.copies_required or [])
    return {
        "type": "Feature",
        "id": row.id,
        "geometry": {"type": "Point", "coordinates": [round(row.lon, 6), round(row.lat, 6)]},
        "properties": properties,
    }


def list_features(db: Executor, q: ItemQuery, max_page_size: int) -> FeaturePage:
    """One page of points in ``q.bbox`` matching the filters, by id; with the exact count."""
    _check_query(db, q, max_page_size)
    page, count, params = items_sql(q)
    stamp = _now()
    number_matched = db.execute(text(count), params).scalar_one()
    rows = db.execute(text(page), params).all() if q.offset < number_matched else []
    return FeaturePage(
        features=[_feature(row, q.filters.service) for row in rows],
        number_matched=number_matched,
        limit=q.limit,
        offset=q.offset,
        time_stamp=stamp,
    )


def parse_feature_id(value: str | int) -> int:
    """A feature id is the point's integer id; anything else names no feature."""
    text_value = str(value).strip()
    if not text_value.isascii() or not text_value.isdigit() or not 0 < int(text_value) <= _MAX_ID:
        raise NotFound(
            f"no service point with id {text_value!r}: feature ids are positive integers",
            id=text_value,
        )
    return int(text_value)


def get_feature(db: Executor, feature_id: str | int) -> dict[str, Any]:
    point_id = parse_feature_id(feature_id)
    row = db.execute(
        text(
            f"""
            SELECT {_COLUMNS}, {NO_COPY_POINT} AS no_copy
            FROM service_point p JOIN agency a ON a.id = p.agency_id
            WHERE p.id = :id
            """
        ),
        {"id": point_id},
    ).first()
    if row is None:
        raise NotFound(f"no service point with id {point_id}", id=point_id)
    return _feature(row, None)


def data_extent(db: Executor) -> list[float] | None:
    """``[minLon, minLat, maxLon, maxLat]`` of every service point, None when there are none."""
    row = db.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geog::geometry) AS e FROM service_point) s"
        )
    ).one()
    if row[0] is None:
        return None
    lo_lon, lo_lat, hi_lon, hi_lat = (float(v) for v in row)
    # outward to 6 decimals, so the rounded box still covers every point
    return [
        math.floor(lo_lon * 1e6) / 1e6,
        math.floor(lo_lat * 1e6) / 1e6,
        math.ceil(hi_lon * 1e6) / 1e6,
        math.ceil(hi_lat * 1e6) / 1e6,
    ]
