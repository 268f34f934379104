"""The shape of a found point, shared by nearest, name search and the detail: its
columns over ``p`` (service_point) and ``a`` (agency), and a row as the answer's dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import RowMapping

# sphere vs spheroid: the two distances differ by well under 1 %
SPHEROID_SLACK = 1.01
ORIGIN = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"

RESULT_COLUMNS = """
    p.id, p.name_th, p.name_en, p.kind, p.status, p.source,
    a.code AS agency_code, a.name_th AS agency_name_th, a.name_en AS agency_name_en,
    p.address_th, p.address_en, p.wheelchair, p.priority_lane, p.gecc,
    ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon,
    locator_is_open(p.opening_hours, :at) AS open_now
"""


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
    out = {
        "id": row["id"],
        "name_th": row["name_th"],
        "name_en": row["name_en"],
        "kind": row["kind"],
        "status": row["status"],
        "source": row["source"],
        "agency": {
            "code": row["agency_code"],
            "name_th": row["agency_name_th"],
            "name_en": row["agency_name_en"],
        },
        "lat": round(row["lat"], 6),
        "lon": round(row["lon"], 6),
        "address_th": row["address_th"],
        "address_en": row["address_en"],
        "open_now": bool(row["open_now"]),
        "wheelchair": row["wheelchair"],
        "priority_lane": row["priority_lane"],
        "gecc": row["gecc"],
        "offering": None,
    }
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
