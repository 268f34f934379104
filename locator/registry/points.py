"""A service point as it is read: one column list and one row builder for every door.

Nearest, name search and a point's detail (``locator.query``) and the OGC features
(``locator.ogc.items``) select these columns over ``p`` (service_point) joined to ``a``
(its agency) and build the point's values from the row here, so a point reads the same
(rounding, names of the agency, provenance's inputs) whichever door answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

POINT_COLUMNS = """
    p.id, p.name_th, p.name_en, p.kind, p.status, p.source, p.provided,
    a.code AS agency_code, a.name_th AS agency_name_th, a.name_en AS agency_name_en,
    p.address_th, p.address_en, p.tambon_code, p.postcode,
    p.wheelchair, p.priority_lane, p.gecc,
    ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon
"""

FACILITIES = ("wheelchair", "priority_lane", "gecc")
"""What a point offers beyond its services, each true or false."""

COORDINATE_DIGITS = 6
"""Decimals of a latitude or longitude given out: about 0.1 m, finer than any pin."""


def point_fields(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The values of a row of ``POINT_COLUMNS``; each door picks and orders its own."""
    return {
        "id": row["id"],
        "name_th": row["name_th"],
        "name_en": row["name_en"],
        "kind": row["kind"],
        "status": row["status"],
        "source": row["source"],
        "provided": list(row["provided"] or ()),
        "agency": {
            "code": row["agency_code"],
            "name_th": row["agency_name_th"],
            "name_en": row["agency_name_en"],
        },
        "lat": round(row["lat"], COORDINATE_DIGITS),
        "lon": round(row["lon"], COORDINATE_DIGITS),
        "address_th": row["address_th"],
        "address_en": row["address_en"],
        "tambon_code": row["tambon_code"],
        "postcode": row["postcode"],
        **{name: row[name] for name in FACILITIES},
    }
