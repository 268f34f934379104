"""The collection's items: pages of service points as GeoJSON-ready features.

Plain functions over a SQLAlchemy Session or Connection (``locator.db.engine.Executor``), free
of the web framework; the HTTP facade (``locator.api.routers.ogc``) adds links and media types
around what these return. The filter is ANDed with the shared point filters and the bbox;
``sortby`` orders by queryables with the id as the last key (stable pages); ``properties``
chooses the properties returned.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from locator.db.engine import Executor, run_prepared
from locator.errors import InvalidInput, NotFound
from locator.ogc.bbox import BBox, box_sql
from locator.ogc.cql import CqlFilter, filter_sql
from locator.ogc.queryables import MAX_ID
from locator.ogc.sorting import SortKey, order_by
from locator.query.filters import NO_COPY_POINT, PointFilter, check_codes, conditions
from locator.registry.points import POINT_COLUMNS, point_fields
from locator.registry.provenance import synthetic_fields

COLLECTION_ID = "service_points"

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
DERIVED_PROPERTIES = ("synthetic",)
"""Computed, not stored: ``synthetic`` lists the point's made-up fields (provenance)."""
SERVICE_PROPERTIES = ("service", "copies_required")
"""Written only when the items are filtered by ``service``: that offering's answer."""


def parse_properties(value: str | None) -> tuple[str, ...] | None:
    """``properties=name_en,kind``: the feature properties to return (None: all;
    empty: none, just the geometry and id)."""
    if value is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    known = PROPERTIES + DERIVED_PROPERTIES + SERVICE_PROPERTIES
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(
            f"properties: unknown {', '.join(unknown)}; the properties are: {', '.join(known)}",
            parameter="properties",
            unknown=unknown,
        )
    return names


@dataclass(frozen=True)
class ItemQuery:
    """One page of ``/collections/service_points/items``: the shared point filters, a
    box, a CQL2 filter, the order, the properties, and the page."""

    filters: PointFilter = field(default_factory=PointFilter)
    bbox: BBox | None = None
    cql: CqlFilter | None = None
    sortby: tuple[SortKey, ...] = ()
    properties: tuple[str, ...] | None = None
    limit: int = 100
    offset: int = 0


def filters_with(f: PointFilter, cql: CqlFilter | None, status_given: bool) -> PointFilter:
    """Active points by default, on every door; but a filter that speaks of ``status``
    itself (``status = 'closed'``) means every point, unless ``status=`` was given too."""
    if cql is not None and "status" in cql.properties and not status_given:
        return f.model_copy(update={"status": "any"})
    return f


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
        fragment, params = box_sql(q.bbox, c.geog)
        c.where.append(fragment)
        c.params.update(params)
    if q.cql is not None:
        fragment, params = filter_sql(q.cql, c.geog, c.offering)
        c.where.append(f"({fragment})")
        c.params.update(params)
    where = c.sql()
    wanted = set(PROPERTIES if q.properties is None else q.properties)
    if c.offering:
        extra = ", o.copies_required"
        outer = ", page.copies_required, cardinality(page.copies_required) = 0 AS no_copy"
    else:
        extra = ""
        outer = f", {NO_COPY_POINT} AS no_copy" if "no_copy" in wanted else ", NULL AS no_copy"
    order = order_by(q.sortby)
    # the page's ids first, then its rows: per-row work only for the rows returned
    page = f"""
        WITH page AS (
            SELECT p.id{extra} FROM {c.source} WHERE {where}
            ORDER BY {order} LIMIT :limit OFFSET :offset
        )
        SELECT {POINT_COLUMNS}{outer}
        FROM page
        JOIN service_point p ON p.id = page.id
        JOIN agency a ON a.id = p.agency_id
        ORDER BY {order}
    """
    count = f"SELECT count(*) FROM {c.source} WHERE {where}"
    return page, count, c.params


def _feature(
    row: Mapping[Any, Any], service: str | None, properties: tuple[str, ...] | None = None
) -> dict[str, Any]:
    point = point_fields(row)
    point["agency"] = point["agency"]["code"]
    point["no_copy"] = None if row["no_copy"] is None else bool(row["no_copy"])
    values = {name: point[name] for name in PROPERTIES}
    values["synthetic"] = synthetic_fields(point["source"], point["provided"])
    if service is not None:
        values["service"] = service
        values["copies_required"] = list(row["copies_required"] or [])
    if properties is not None:
        values = {name: values[name] for name in properties if name in values}
    return {
        "type": "Feature",
        "id": point["id"],
        "geometry": {"type": "Point", "coordinates": [point["lon"], point["lat"]]},
        "properties": values,
    }


def list_features(db: Executor, q: ItemQuery, max_page_size: int) -> FeaturePage:
    """One page of points matching the filters, in ``q.sortby`` order (by id when none),
    with the exact count."""
    _check_query(db, q, max_page_size)
    page, count, params = items_sql(q)
    stamp = _now()
    rows: Sequence[Mapping[Any, Any]] = []
    if q.cql is None and not q.sortby:
        # The everyday pages (a box, the shared filters) as prepared statements with
        # their generic plan, from a bounded set of statement shapes: 1.6x the
        # throughput of planning each one (bench/HISTORY.md, "OGC items beside tipg").
        # A CQL2 filter or a sort can take any shape, so those are planned per request.
        number_matched = int(run_prepared(db, count, params)[0]["count"])
        if q.offset < number_matched:
            rows = run_prepared(db, page, params)
    else:
        number_matched = db.execute(text(count), params).scalar_one()
        if q.offset < number_matched:
            rows = db.execute(text(page), params).mappings().all()
    return FeaturePage(
        features=[_feature(row, q.filters.service, q.properties) for row in rows],
        number_matched=number_matched,
        limit=q.limit,
        offset=q.offset,
        time_stamp=stamp,
    )


def parse_feature_id(value: str | int) -> int:
    """A feature id is the point's integer id; anything else names no feature."""
    text_value = str(value).strip()
    if not text_value.isascii() or not text_value.isdigit() or not 0 < int(text_value) <= MAX_ID:
        raise NotFound(
            f"no service point with id {text_value!r}: feature ids are positive integers",
            id=text_value,
        )
    return int(text_value)


def get_feature(
    db: Executor, feature_id: str | int, properties: tuple[str, ...] | None = None
) -> dict[str, Any]:
    point_id = parse_feature_id(feature_id)
    row = db.execute(
        text(
            f"""
            SELECT {POINT_COLUMNS}, {NO_COPY_POINT} AS no_copy
            FROM service_point p JOIN agency a ON a.id = p.agency_id
            WHERE p.id = :id
            """
        ),
        {"id": point_id},
    ).first()
    if row is None:
        raise NotFound(f"no service point with id {point_id}", id=point_id)
    return _feature(row._mapping, None, properties)


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
