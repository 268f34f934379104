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
from locator.query.filters import PointFilter, check_codes, conditions
from locator.query.results import (
    DISTANCE_COLUMNS,
    OFFERING_CARRIED,
    ORIGIN,
    RESULT_COLUMNS,
    carried,
    nearest_by_index,
    result,
    within_nearest,
)


def nearest_sql(
    f: PointFilter, radius_m: float | None, paged: bool = False
) -> tuple[str, dict[str, Any]]:
    """The SQL of ``nearest`` (exposed so tests and benchmarks can EXPLAIN it).

    Three forms: the k nearest; the k nearest within ``radius_m``; and (``paged``) every
    point within ``radius_m``, nearest first, a page (``:limit``, ``:offset``) at a time.
    """
    c = conditions(f)
    extra = OFFERING_CARRIED if c.offering else ""
    where = c.sql()
    if radius_m is not None:
        c.params["radius"] = radius_m
        candidates = (
            f"SELECT p.id AS point_id{extra} FROM {c.source} "
            f"WHERE {where} AND ST_DWithin({c.geog}, {ORIGIN}, :radius)"
        )
    else:
        # 1) the k nearest by the index (sphere); 2) everything within 1 % more than the
        # k-th of them, re-ranked below on the spheroid.
        candidates = f"""
            WITH {nearest_by_index(c.geog, c.source, where, ":k")}
            SELECT p.id AS point_id{extra} FROM {c.source}
            WHERE {where} AND {within_nearest(c.geog)}
        """
    page = "LIMIT :limit OFFSET :offset" if paged else "LIMIT :k"
    statement = f"""
        WITH candidates AS ({candidates})
        SELECT {RESULT_COLUMNS}{carried("c") if extra else ""}{DISTANCE_COLUMNS}
        FROM candidates c
        JOIN service_point p ON p.id = c.point_id
        JOIN agency a ON a.id = p.agency_id
        ORDER BY distance_m, p.id
        {page}
    """
    return statement, c.params


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
) -> NearestPage:
    """The ``k`` nearest points (within ``radius_m`` if given); or, with a radius and no
    ``k``, every point within it, nearest first, ``limit`` at a time from ``offset``,
    with their total."""
    paged = radius_m is not None and k is None
    statement, params = nearest_sql(f, radius_m, paged)
    values = {**params, "lat": lat, "lon": lon}
    if paged:
        values.update(limit=limit, offset=offset)
    else:
        values["k"] = k
    rows = run_prepared(db, statement, values)
    if not rows:
        # only now is an unknown code worth a round trip: it explains the empty answer
        check_codes(db, f)
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
