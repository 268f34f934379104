"""A point's detail: everything a citizen reads about one office."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import NotFound
from locator.query.filters import PointFilter
from locator.query.results import RESULT_COLUMNS, result
from locator.registry import hours
from locator.registry.provenance import provenance
from locator.registry.public_holidays import next_holiday
from locator.registry.ratings import rating_summary


def _next_closure(opening_hours: dict[str, Any], moment: dt.datetime) -> dict[str, Any] | None:
    """The next public holiday the point closes for (from the day of ``moment``)."""
    if opening_hours.get("public_holidays") != "closed":
        return None
    found = next_holiday(moment.astimezone(hours.BANGKOK).date())
    if found is None:
        return None
    return {"date": found.day, "name_th": found.name_th, "name_en": found.name_en}


def point_detail(db: Executor, point_id: int, at: dt.datetime | None = None) -> dict[str, Any]:
    """Everything a citizen reads about one office."""
    moment = PointFilter(at=at).moment()
    row = db.execute(
        text(
            f"""
            SELECT {RESULT_COLUMNS}, p.version, p.phones, p.opening_hours, p.updated_at
            FROM service_point p JOIN agency a ON a.id = p.agency_id WHERE p.id = :id
            """
        ),
        {"id": point_id, "at": moment},
    ).first()
    if row is None:
        raise NotFound(f"no service point with id {point_id}")
    out = result(row._mapping, None)
    out.pop("offering")
    out.update(
        version=row.version,
        postcode=row.postcode,
        tambon_code=row.tambon_code,
        phones=list(row.phones),
        opening_hours=row.opening_hours,
        opening_hours_osm=hours.to_osm(row.opening_hours),
        next_closure=_next_closure(row.opening_hours, moment),
        provenance=provenance(row.source, row.provided or ()),
        source=row.source,
        updated_at=row.updated_at,
    )
    services = db.execute(
        text(
            """
            SELECT s.code, s.name_th, s.name_en, s.category, s.steps, s.processing_minutes,
                   s.fee_thb, s.fee_note_th, s.fee_note_en, s.link,
                   o.copies_required, o.no_copy_since, o.notes, o.opening_hours,
                   locator_is_open(coalesce(o.opening_hours, p.opening_hours), :at) AS open_now,
                   coalesce(json_agg(json_build_object(
                       'code', d.code, 'name_th', d.name_th, 'name_en', d.name_en,
                       'original', sd.original, 'note', sd.note,
                       'copy_required', d.code = ANY(o.copies_required))
                     ORDER BY sd.position) FILTER (WHERE d.code IS NOT NULL), '[]') AS documents
            FROM offering o
            JOIN service_point p ON p.id = o.point_id
            JOIN service s ON s.code = o.service_code
            LEFT JOIN service_document sd ON sd.service_code = s.code
            LEFT JOIN document_type d ON d.code = sd.document_code
            WHERE o.point_id = :id
            GROUP BY s.code, o.point_id, o.service_code, p.opening_hours
            ORDER BY s.category, s.code
            """
        ),
        {"id": point_id, "at": moment},
    ).all()
    out["services"] = [
        {
            "code": s.code,
            "name_th": s.name_th,
            "name_en": s.name_en,
            "category": s.category,
            "steps": s.steps,
            "processing_minutes": s.processing_minutes,
            "fee_thb": None if s.fee_thb is None else float(s.fee_thb),
            "fee_note_th": s.fee_note_th,
            "fee_note_en": s.fee_note_en,
            "link": s.link,
            "copies_required": list(s.copies_required),
            "no_copy": not s.copies_required,
            "no_copy_since": s.no_copy_since,
            "notes": s.notes,
            "opening_hours": s.opening_hours,
            "opening_hours_osm": None if s.opening_hours is None else hours.to_osm(s.opening_hours),
            "open_now": bool(s.open_now),
            "documents": s.documents,
        }
        for s in services
    ]
    out["rating"] = rating_summary(db, point_id)
    return out
