"""What a client may name: the queryables of a CQL2 ``filter`` and of ``sortby``, and
their JSON Schema (OGC API Features Part 3, and the Part 8 draft)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from locator.registry.models import POINT_STATUSES
from locator.registry.vocabulary import POINT_SOURCES

MAX_ID = 2**63 - 1
"""The largest point id (bigint)."""

QueryableType = Literal["string", "integer", "boolean", "geometry"]


@dataclass(frozen=True)
class Queryable:
    """A property a filter may name, and a sort may order by when ``sortable``."""

    name: str
    type: QueryableType
    title: str
    nullable: bool = False
    sortable: bool = True
    enum: tuple[str, ...] = ()


QUERYABLES: dict[str, Queryable] = {
    q.name: q
    for q in (
        Queryable("id", "integer", "Feature id (the point's id)"),
        Queryable("name_th", "string", "Name in Thai"),
        Queryable("name_en", "string", "Name in English"),
        Queryable("kind", "string", "Kind of service point, e.g. land_office"),
        Queryable("agency", "string", "Code of the agency the point belongs to"),
        Queryable("status", "string", "Operating status", enum=POINT_STATUSES),
        Queryable("source", "string", "Where the position comes from", enum=POINT_SOURCES),
        Queryable("tambon_code", "string", "DOPA code of the tambon", nullable=True),
        Queryable("postcode", "string", "Postcode", nullable=True),
        Queryable("wheelchair", "boolean", "Step-free access"),
        Queryable("priority_lane", "boolean", "Priority lane for the elderly and disabled"),
        Queryable("gecc", "boolean", "GECC-certified office"),
        Queryable(
            "no_copy",
            "boolean",
            "Asks for no photocopies (for `service` when given, else for every service)",
            sortable=False,
        ),
        Queryable("geometry", "geometry", "Position (CRS84)", sortable=False),
    )
}


def queryables_schema(url: str, *, sortables: bool = False) -> dict[str, Any]:
    """The queryables (or, with ``sortables``, the sortables) as the JSON Schema that OGC
    API Features Part 3 (and the Part 8 draft) describe: clients build their filter and
    sort forms from it, so it lists exactly what ``filter`` and ``sortby`` accept."""
    chosen = [q for q in QUERYABLES.values() if q.sortable or not sortables]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "type": "object",
        "title": "Service points: " + ("sortables" if sortables else "queryables"),
        "properties": {q.name: _property_schema(q) for q in chosen},
        "additionalProperties": False,
    }


def _property_schema(q: Queryable) -> dict[str, Any]:
    if q.type == "geometry":
        return {"title": q.title, "format": "geometry-point"}
    schema: dict[str, Any] = {"title": q.title, "type": q.type}
    if q.enum:
        schema["enum"] = list(q.enum)
    if q.nullable:
        schema["description"] = "may be null (test with IS NULL)"
    return schema
