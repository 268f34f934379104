"""The service catalogue as citizens read it: services, their documents, and how many
points offer each (and how many of those ask for no photocopies).

The catalogue is loaded by ``locator.ingest.catalogue``; this is its read side.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import InvalidInput, NotFound


def list_services(
    db: Executor, category: str | None = None, code: str | None = None
) -> list[dict[str, Any]]:
    if category is not None:
        categories = list(
            db.execute(text("SELECT DISTINCT category FROM service ORDER BY 1")).scalars()
        )
        if category not in categories:
            raise InvalidInput(
                f"category: unknown category {category!r}; the categories are: "
                + ", ".join(categories),
                parameter="category",
            )
    rows = db.execute(
        text(
            """
            SELECT s.code, s.name_th, s.name_en, s.category, s.agency_code,
                   s.processing_minutes, s.fee_thb, s.fee_note_en, s.fee_note_th,
                   coalesce(o.points, 0) AS points, coalesce(o.no_copy, 0) AS no_copy_points
            FROM service s
            LEFT JOIN (
                SELECT service_code, count(*) AS points,
                       count(*) FILTER (WHERE cardinality(copies_required) = 0) AS no_copy
                FROM offering GROUP BY service_code
            ) o ON o.service_code = s.code
            WHERE (CAST(:category AS text) IS NULL OR s.category = :category)
              AND (CAST(:code AS text) IS NULL OR s.code = :code)
            ORDER BY s.category, s.code
            """
        ),
        {"category": category, "code": code},
    ).all()
    return [_service_summary(r) for r in rows]


def _service_summary(r: Any) -> dict[str, Any]:
    return {
        "code": r.code,
        "name_th": r.name_th,
        "name_en": r.name_en,
        "category": r.category,
        "agency": r.agency_code,
        "processing_minutes": r.processing_minutes,
        "fee_thb": None if r.fee_thb is None else float(r.fee_thb),
        "fee_note_th": r.fee_note_th,
        "fee_note_en": r.fee_note_en,
        "points": r.points,
        "no_copy_points": r.no_copy_points,
    }


def service_detail(db: Executor, code: str) -> dict[str, Any]:
    services = list_services(db, code=code)
    if not services:
        raise NotFound(f"no service with code {code!r}; the catalogue lists the codes")
    out = services[0]
    row = db.execute(
        text("SELECT description_th, description_en, steps, link FROM service WHERE code = :c"),
        {"c": code},
    ).one()
    out.update(
        description_th=row.description_th,
        description_en=row.description_en,
        steps=row.steps,
        link=row.link,
    )
    out["documents"] = [
        dict(d._mapping)
        for d in db.execute(
            text(
                "SELECT d.code, d.name_th, d.name_en, sd.original, sd.note, "
                "d.issued_by_government FROM service_document sd "
                "JOIN document_type d ON d.code = sd.document_code "
                "WHERE sd.service_code = :c ORDER BY sd.position"
            ),
            {"c": code},
        )
    ]
    return out


def service_names(db: Executor, code: str | None) -> tuple[str, str] | None:
    """A service's Thai and English names; None for no code or an unknown one."""
    row = db.execute(
        text("SELECT name_th, name_en FROM service WHERE code = :c"), {"c": code}
    ).first()
    return (row.name_th, row.name_en) if row else None
