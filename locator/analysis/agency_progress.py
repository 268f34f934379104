"""An agency's pinning progress: of the points it should have pinned, how many stand where
the office really is, and how many of those the pin check has nothing against.

An agency means itself and every agency below it (a department with its provincial
offices, DLA with its 4,264 local governments), by the same rule as the ``agency``
search filter: the points are selected through ``locator.query.filters`` so "DOPA's points"
cannot mean one thing on the map and another in the progress table.

- **target**: the agency's points that should be pinned: every one not ``closed`` (a
  temporarily closed office still has to be found when it reopens);
- **pinned**: those whose location is real (``locator.registry.provenance``): a real office from
  the public source or an import (``source`` pinned or imported), or a point whose agency
  provided its location (``'location' = ANY(provided)``), whatever its source;
- **validated**: pinned and not needing review: no unresolved ``qa_flag`` for the point,
  the rule ``locator.registry.pincheck.counts`` counts ``needs_review`` by.

Shares are of the target. A generated point is never pinned: its position is made up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import NotFound
from locator.query.filters import PointFilter, conditions
from locator.registry import pincheck
from locator.registry.provenance import REAL_SOURCES

PINNED = "(p.source = ANY(:real_sources) OR 'location' = ANY(p.provided))"
"""A point whose location is real, as ``locator.registry.provenance`` judges it."""


DEPARTMENTS = (
    "SELECT a.code FROM agency a WHERE a.level = 'department' OR (a.level = 'ministry' "
    "AND NOT EXISTS (SELECT 1 FROM agency d WHERE d.parent_id = a.id AND d.level = 'department')) "
    "ORDER BY a.id"
)
"""The units that run offices: every department, and a ministry with no departments of
its own (the Royal Thai Police has its provincial commands directly under it)."""


def share(part: int, whole: int) -> float | None:
    """None, not 0, for an empty target: nothing to pin is not "nothing pinned"."""
    return round(part / whole, 4) if whole else None


def _counts(target: int, pinned: int, validated: int) -> dict[str, Any]:
    return {
        "target": target,
        "pinned": pinned,
        "validated": validated,
        "pinned_share": share(pinned, target),
        "validated_share": share(validated, target),
    }


def department_codes(db: Executor) -> list[str]:
    return list(db.execute(text(DEPARTMENTS)).scalars())


def progress(db: Executor, code: str) -> dict[str, Any]:
    """The agency's progress, in total and by province (the province of the tambon the
    point's address names; only the provinces where it has points)."""
    agency = db.execute(
        text("SELECT code, name_th, name_en, level FROM agency WHERE code = :code"),
        {"code": code},
    ).first()
    if agency is None:
        raise NotFound(
            f"no agency with code {code!r}; the departments are: "
            + ", ".join(department_codes(db)),
            code=code,
        )
    c = conditions(PointFilter(agency=code, status="any"))
    rows = db.execute(
        text(
            "WITH point AS ("
            f" SELECT left(p.tambon_code, 2) AS province, {PINNED} AS pinned,"
            f" {pincheck.NEEDS_REVIEW} AS needs_review"
            f" FROM {c.source} WHERE {c.sql()} AND p.status <> 'closed'),"
            " per AS (SELECT province, count(*) AS target,"
            " count(*) FILTER (WHERE pinned) AS pinned,"
            " count(*) FILTER (WHERE pinned AND NOT needs_review) AS validated"
            " FROM point GROUP BY province)"
            " SELECT per.*, a.name_en, a.name_th FROM per"
            " LEFT JOIN admin_area a ON a.level = 'province' AND a.code = per.province"
            " ORDER BY per.province NULLS LAST"
        ),
        {**c.params, "real_sources": list(REAL_SOURCES)},
    ).all()
    by_province = [
        {
            "code": r.province,
            "name_en": r.name_en,
            "name_th": r.name_th,
            **_counts(r.target, r.pinned, r.validated),
        }
        for r in rows
    ]
    total = _counts(*(sum(p[k] for p in by_province) for k in ("target", "pinned", "validated")))
    return {
        "agency": {"code": agency.code, "name_th": agency.name_th, "name_en": agency.name_en},
        "level": agency.level,
        "total": total,
        "by_province": by_province,
    }


def departments_progress(db: Executor) -> list[dict[str, Any]]:
    """Every department's totals, for the overview: who is how far along."""
    out = []
    for code in department_codes(db):
        entry = progress(db, code)
        del entry["by_province"]
        out.append(entry)
    return out
