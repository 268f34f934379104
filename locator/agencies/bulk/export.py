"""Exporting an agency's points (with those below it) as rows, for ``formats.write_file``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text

from locator.agencies.bulk.scope import agency_scope
from locator.db.engine import Executor
from locator.registry import hours
from locator.registry.provenance import synthetic_fields


def export_rows(
    db: Executor,
    agency_code: str,
    *,
    modified_after: dt.datetime | None = None,
    include_closed: bool = False,
) -> list[dict[str, Any]]:
    """The agency's points (with those below it), oldest id first. With
    ``modified_after`` (incremental sync) closed points are included: a sync must learn
    of a closure."""
    scope = agency_scope(db, agency_code)
    rows = db.execute(
        text(
            """
            SELECT p.id, p.external_ref, a.code AS agency, p.kind, p.name_th, p.name_en,
                   ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon,
                   p.address_th, p.address_en, p.tambon_code, p.postcode, p.phones,
                   p.opening_hours, p.wheelchair, p.priority_lane, p.gecc, p.status,
                   p.source, p.version, p.updated_at, p.provided,
                   coalesce((SELECT array_agg(DISTINCT q.flag ORDER BY q.flag) FROM qa_flag q
                             WHERE q.point_id = p.id AND q.resolved_at IS NULL), '{}')
                       AS qa_flags
            FROM service_point p JOIN agency a ON a.id = p.agency_id
            WHERE p.agency_id = ANY(:agencies)
              AND (CAST(:after AS timestamptz) IS NULL OR p.updated_at > :after)
              AND (:closed OR p.status <> 'closed')
            ORDER BY p.id
            """
        ),
        {"agencies": list(scope.codes.values()), "after": modified_after,
         "closed": include_closed or modified_after is not None},
    )  # fmt: skip
    out = []
    for r in rows:
        row = dict(r._mapping)
        row["opening_hours"] = hours.to_osm(row["opening_hours"])
        row["phones"] = list(row["phones"] or [])
        row["qa_flags"] = list(row["qa_flags"])
        row["synthetic"] = synthetic_fields(row["source"], row.pop("provided") or ())
        out.append(row)
    return out
