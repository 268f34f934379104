"""Opening hours in and out as OpenStreetMap ``opening_hours`` text, the syntax GIS users
and OSM mappers already write, one row per point (and per service with hours of its
own).

Import is all-or-nothing: every row is checked first (the point exists, the service is
offered there, the expression parses and fits the weekly form), and one bad row means
nothing is written and the report names the row, the field and what to fix. Every
change is recorded in ``change`` (old -> new), and the point's hours are marked as
provided (``service_point.provided``), so the provenance no longer calls them made up.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text

from locator.agencies.pinning import mark_provided, record_change
from locator.agencies.report import ImportReport, RowProblem
from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.registry import hours

COLUMNS = ["point_id", "external_ref", "name_th", "service_code", "opening_hours", "source"]
REQUIRED = ("opening_hours",)


def export_rows(
    conn: Executor, *, province: str | None = None, kind: str | None = None
) -> Iterator[dict[str, Any]]:
    """Each point's hours, then each of its services with hours of its own."""
    rows = conn.execute(
        text(
            """
            SELECT p.id, p.external_ref, p.name_th, NULL::text AS service_code,
                   p.opening_hours, p.source
            FROM service_point p
            WHERE (CAST(:province AS text) IS NULL OR left(p.tambon_code, 2) = :province)
              AND (CAST(:kind AS text) IS NULL OR p.kind = :kind)
            UNION ALL
            SELECT p.id, p.external_ref, p.name_th, o.service_code, o.opening_hours, p.source
            FROM offering o JOIN service_point p ON p.id = o.point_id
            WHERE o.opening_hours IS NOT NULL
              AND (CAST(:province AS text) IS NULL OR left(p.tambon_code, 2) = :province)
              AND (CAST(:kind AS text) IS NULL OR p.kind = :kind)
            ORDER BY 1, 4 NULLS FIRST
            """
        ),
        {"province": province, "kind": kind},
    )
    for r in rows:
        yield {
            "point_id": r.id,
            "external_ref": r.external_ref or "",
            "name_th": r.name_th,
            "service_code": r.service_code or "",
            "opening_hours": hours.to_osm(r.opening_hours),
            "source": r.source,
        }


def write_csv(rows: Iterable[dict[str, Any]], out: io.TextIOBase | Any) -> int:
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a UTF-8 CSV (a BOM from a spreadsheet is fine)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing or not {"point_id", "external_ref"} & set(reader.fieldnames or []):
                raise InvalidInput(
                    f"{path.name}: the header needs opening_hours and point_id or "
                    f"external_ref (it has: {', '.join(reader.fieldnames or []) or 'nothing'})"
                )
            return [dict(r) for r in reader]
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not UTF-8 text: save it as CSV UTF-8") from exc
    except FileNotFoundError as exc:
        raise InvalidInput(f"no such file: {path}") from exc


def import_rows(
    conn: Executor, rows: list[dict[str, str]], *, dry_run: bool = False
) -> ImportReport:
    """Check every row, then, if all are good and this is not a dry run, write them in
    the caller's transaction."""
    report = ImportReport(rows=len(rows), dry_run=dry_run)
    ids = {r.get("point_id", "").strip() for r in rows} - {""}
    refs = {r.get("external_ref", "").strip() for r in rows} - {""}
    known = conn.execute(
        text(
            "SELECT id, external_ref, opening_hours FROM service_point "
            "WHERE id = ANY(CAST(:ids AS bigint[])) OR external_ref = ANY(:refs)"
        ),
        {"ids": sorted(i for i in ids if i.isdigit()), "refs": sorted(refs)},
    ).all()
    by_id = {str(r.id): r for r in known}
    by_ref = {r.external_ref: r for r in known if r.external_ref}
    offered = {
        (r.point_id, r.service_code): r.opening_hours
        for r in conn.execute(
            text(
                "SELECT point_id, service_code, opening_hours FROM offering "
                "WHERE point_id = ANY(:ids)"
            ),
            {"ids": [r.id for r in known]},
        )
    }
    writes: list[tuple[int, str | None, Any, dict[str, Any]]] = []
    seen: dict[tuple[int, str | None], int] = {}
    for n, row in enumerate(rows, start=1):
        point_id = (row.get("point_id") or "").strip()
        ref = (row.get("external_ref") or "").strip()
        point = by_id.get(point_id) if point_id else by_ref.get(ref)
        if point is None:
            what = f"point_id {point_id}" if point_id else f"external_ref {ref!r}"
            if not point_id and not ref:
                report.problems.append(RowProblem(n, "point_id", "give point_id or external_ref"))
            else:
                report.problems.append(RowProblem(n, "point_id", f"no point with {what}"))
            continue
        service = (row.get("service_code") or "").strip() or None
        if service is not None and (point.id, service) not in offered:
            report.problems.append(
                RowProblem(n, "service_code", f"point {point.id} does not offer {service}")
            )
            continue
        expression = (row.get("opening_hours") or "").strip()
        if not expression:
            report.problems.append(
                RowProblem(n, "opening_hours", "empty: give the hours, e.g. Mo-Fr 08:30-16:30")
            )
            continue
        try:
            new = hours.from_osm(expression)
        except ValueError as exc:
            report.problems.append(RowProblem(n, "opening_hours", str(exc)))
            continue
        key = (point.id, service)
        if key in seen:
            report.problems.append(
                RowProblem(n, "point_id", f"the same hours as row {seen[key]} again")
            )
            continue
        seen[key] = n
        old = point.opening_hours if service is None else offered[key]
        if old is not None and _same(old, new):
            report.unchanged += 1
            continue
        writes.append((point.id, service, old, new))
    if report.problems or dry_run:
        report.updated = 0 if report.problems else len(writes)
        return report
    for target, service, old, new in writes:
        value = json.dumps(new, ensure_ascii=False)
        if service is None:
            conn.execute(
                text("UPDATE service_point SET opening_hours = CAST(:v AS jsonb) WHERE id = :id"),
                {"v": value, "id": target},
            )
            name = "opening_hours"
        else:
            conn.execute(
                text(
                    "UPDATE offering SET opening_hours = CAST(:v AS jsonb) "
                    "WHERE target = :id AND service_code = :s"
                ),
                {"v": value, "id": target, "s": service},
            )
            name = f"offerings.{service}.opening_hours"
        mark_provided(conn, target, "hours")
        record_change(conn, None, target, "update", name, old, new)
    report.updated = len(writes)
    report.written = True
    return report


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """The same hours, whatever notes the old ones carry."""
    keep = ("weekly", "public_holidays")
    return {k: old.get(k) for k in keep} == {k: new.get(k) for k in keep}
