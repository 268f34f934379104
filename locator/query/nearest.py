"""Nearest points: the k nearest, or every point within a radius a page at a time.

Ranking is by true geodesic distance. PostGIS' KNN operator ``<->`` on geography walks
the GiST index by *sphere* distance; the spheroid distance differs from it by less than
0.6 %, so ``nearest`` first takes the k nearest by the index, then re-ranks every point
within 1 % more than the k-th of them by ``ST_Distance`` on the spheroid. The result is
exact and both steps are index scans. With a ``service`` the first step runs on the
offering table's composite GiST index (service_code, geog), so the nearest point
offering even a rare service is found without scanning the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from locator.db.engine import Executor, run_prepared
from locator.errors import InvalidInput
from locator.query.filters import PointFilter, check_codes, conditions
from locator.query.results import (
    BEARING,
    DISTANCE_COLUMNS,
    OFFERING_CARRIED,
    ORIGIN,
    RESULT_COLUMNS,
    carried,
    nearest_by_index,
    result,
    within_nearest,
)

REACHABLE = (
    f"(SELECT z.geog <-> {ORIGIN} FROM service_point z "
    f"WHERE ST_DWithin(z.geog, {ORIGIN}, :reach, false) "
    f"ORDER BY z.geog <-> {ORIGIN} LIMIT 1) IS NOT NULL"
)
"""Some service point lies within ``:reach`` metres of the origin. A one-time filter in
front of the KNN scan: from far outside the served area (a bad GPS fix at 0,0) every
box of the geography index is about as far as every other, and a KNN scan of 10 walked
all 60,000 entries (200 ms; 0.4-0.8 s through the API). Bounded by the box of ``:reach``,
this probe answers in well under a millisecond wherever the origin is."""


def nearest_sql(
    f: PointFilter, radius_m: float | None, paged: bool = False
) -> tuple[str, dict[str, Any]]:
    """The SQL of ``nearest`` (exposed so tests and benchmarks can EXPLAIN it).

    Three forms: the k nearest (from an origin within ``:reach`` of some point); the k
    nearest within ``radius_m``; and (``paged``) every point within ``radius_m``,
    nearest first, a page (``:limit``, ``:offset``) at a time.

    The k forms rank the few candidates by their spheroid distance alone and only then
    join the k chosen to their points and agencies for the answer's columns ("open now"
    above all, a SQL function planned anew in every statement that calls it).
    """
    c = conditions(f)
    extra = OFFERING_CARRIED if c.offering else ""
    where = c.sql()
    if paged:
        c.params["radius"] = radius_m
        statement = f"""
            WITH candidates AS (
                SELECT p.id AS point_id{extra} FROM {c.source}
                WHERE {where} AND ST_DWithin({c.geog}, {ORIGIN}, :radius)
            )
            SELECT {RESULT_COLUMNS}{carried("c") if extra else ""}{DISTANCE_COLUMNS}
            FROM candidates c
            JOIN service_point p ON p.id = c.point_id
            JOIN agency a ON a.id = p.agency_id
            ORDER BY distance_m, p.id
            LIMIT :limit OFFSET :offset
        """
        return statement, c.params
    if radius_m is None:
        c.params["reach"] = None  # bound by ``nearest``
        gated = f"{where} AND {REACHABLE}"
    else:
        c.params["radius"] = radius_m
        where = gated = f"{where} AND ST_DWithin({c.geog}, {ORIGIN}, :radius)"
    # 1) the k nearest by the index (sphere); 2) everything within 1 % more than the k-th
    # of them, ranked on the spheroid; 3) the answer's columns for the k first only.
    statement = f"""
        WITH {nearest_by_index(c.geog, c.source, gated, ":k")},
        top AS (
            SELECT p.id AS point_id{extra}, ST_Distance(p.geog, {ORIGIN}) AS distance_m
            FROM {c.source}
            WHERE {where} AND {within_nearest(c.geog)}
            ORDER BY distance_m, p.id
            LIMIT :k
        )
        SELECT {RESULT_COLUMNS}{carried("t") if extra else ""}, t.distance_m,
               {BEARING} AS bearing_deg
        FROM top t
        JOIN service_point p ON p.id = t.point_id
        JOIN agency a ON a.id = p.agency_id
        ORDER BY t.distance_m, p.id
    """
    return statement, c.params


def check_origin(db: Executor, lat: float, lon: float, max_gap_m: float) -> None:
    """A 422 for an origin farther than ``max_gap_m`` from every service point (``0,0``,
    a common bad GPS fix, lies 11,000 km from Thailand)."""
    found = run_prepared(
        db, f"SELECT {REACHABLE} AS near", {"lat": lat, "lon": lon, "reach": max_gap_m}
    )
    if not found[0]["near"]:
        km = max_gap_m / 1000
        bound = f"{km:,.0f}" if km >= 10 else f"{km:.2g}"
        raise InvalidInput(
            f"lat, lon: ({lat:g}, {lon:g}) is more than {bound} km from every service point, "
            "outside the area this locator serves (Thailand); check the location (0,0 is a "
            "common bad GPS fix, and lat comes before lon)",
            parameter="lat",
            max_origin_gap_m=max_gap_m,
        )


@dataclass
class NearestPage:
    results: list[dict[str, Any]]
    total: int | None
    """Every point within the radius (paged form only)."""
    next_offset: int | None
    """Where the next page starts, when there is one (paged form only)."""


def nearest(
    db: Executor,
    lat: float,
    lon: float,
    f: PointFilter,
    k: int | None = None,
    radius_m: float | None = None,
    limit: int = 100,
    offset: int = 0,
    *,
    max_gap_m: float,
) -> NearestPage:
    """The ``k`` nearest points (within ``radius_m`` if given); or, with a radius and no
    ``k``, every point within it, nearest first, ``limit`` at a time from ``offset``,
    with their total.

    An origin farther than ``max_gap_m`` from every service point is ``InvalidInput``
    (a 422 on the API): a bad GPS fix, not a place this registry serves.
    """
    paged = radius_m is not None and k is None
    statement, params = nearest_sql(f, radius_m, paged)
    values = {**params, "lat": lat, "lon": lon}
    if paged:
        values.update(limit=limit, offset=offset)
    else:
        values["k"] = k
    if "reach" in values:
        values["reach"] = max_gap_m
    rows = run_prepared(db, statement, values)
    if not rows:
        # only now are an unknown code and a far origin worth a round trip: they explain
        # the empty answer
        check_codes(db, f)
        check_origin(db, lat, lon, max_gap_m)
    results = [result(row, f.service) for row in rows]
    if not paged:
        return NearestPage(results, None, None)
    c = conditions(f)
    total = db.execute(
        text(
            f"SELECT count(*) FROM {c.source} WHERE {c.sql()} "
            f"AND ST_DWithin({c.geog}, {ORIGIN}, :radius)"
        ),
        {**c.params, "lat": lat, "lon": lon, "radius": radius_m},
    ).scalar_one()
    more = offset + len(results) < total
    return NearestPage(results, total, offset + len(results) if more else None)
