"""The shape of a found point, shared by nearest, name search and the detail: its
columns over ``p`` (service_point) and ``a`` (agency), and a row as the answer's dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import RowMapping

from locator.registry.points import FACILITIES, POINT_COLUMNS, point_fields

# sphere vs spheroid: the two distances differ by well under 1 %
SPHEROID_SLACK = 1.01
ORIGIN = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"
BEARING = f"degrees(ST_Azimuth({ORIGIN}, p.geog))"
DISTANCE_COLUMNS = f", ST_Distance(p.geog, {ORIGIN}) AS distance_m, {BEARING} AS bearing_deg"
"""The spheroid distance and bearing from the origin (``:lat``, ``:lon``) to the point."""


def nearest_by_index(geog: str, source: str, where: str, limit: str) -> str:
    """The CTE ``knn``: the sphere distances of the ``limit`` nearest, by the GiST index."""
    return (
        f"knn AS (SELECT {geog} <-> {ORIGIN} AS d FROM {source} WHERE {where} "
        f"ORDER BY {geog} <-> {ORIGIN} LIMIT {limit})"
    )


def within_nearest(geog: str) -> str:
    """Within 1 % more than the farthest of ``knn``: every point the spheroid distance
    could rank among them."""
    return f"ST_DWithin({geog}, {ORIGIN}, (SELECT max(d) FROM knn) * {SPHEROID_SLACK} + 1, false)"


RESULT_COLUMNS = f"{POINT_COLUMNS}, locator_is_open(p.opening_hours, :at) AS open_now"
# the answer's first fields, in the order they are written
_LEADING = (
    "id",
    "name_th",
    "name_en",
    "kind",
    "status",
    "source",
    "agency",
    "lat",
    "lon",
    "address_th",
    "address_en",
)


# With a service, the answer's offering: its copies and whether it is open at :at by its
# own hours (a hospital's outpatient services) or the point's. DIRECT where ``o`` is in
# the FROM; CARRIED passes the columns through a CTE and ``carried`` reads them there.
OFFERING_DIRECT = (
    ", o.copies_required, "
    "locator_is_open(coalesce(o.opening_hours, p.opening_hours), :at) AS offering_open"
)
OFFERING_CARRIED = ", o.copies_required, o.opening_hours AS offering_hours"


def carried(alias: str) -> str:
    return (
        f", {alias}.copies_required, "
        f"locator_is_open(coalesce({alias}.offering_hours, p.opening_hours), :at) "
        "AS offering_open"
    )


def result(row: Mapping[str, Any] | RowMapping, service: str | None) -> dict[str, Any]:
    point = point_fields(row)
    out = {name: point[name] for name in _LEADING}
    out["open_now"] = bool(row["open_now"])
    out.update((name, point[name]) for name in FACILITIES)
    out["offering"] = None
    distance = row.get("distance_m")
    if distance is not None:
        bearing = row["bearing_deg"]
        out["distance_m"] = round(float(distance), 1)
        out["bearing_deg"] = None if bearing is None else round(float(bearing), 1)
    if service is not None:
        copies = list(row["copies_required"] or [])
        out["offering"] = {
            "service": service,
            "copies_required": copies,
            "no_copy": not copies,
            "open_now": bool(row["offering_open"]),
        }
    return out
