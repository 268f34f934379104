"""The pin check: does a pinned office say the same thing as its address?

One check, two doors: ``check_pin`` judges one pin as an agency submits it (issue 12's
write door), ``check_registry`` judges the whole registry in one SQL pass (the loader
runs it on the real offices, ``locator qa`` again). Both run the same SQL over a set of
*claims* (a pin, the tambon and province its address or code names, its postcode, its
agency, kind and name), so the two cannot drift apart. The findings, one row per
(point, flag), land in ``qa_flag``; a point with an unresolved flag needs review.

The flags:

- ``outside_tambon``: the pin lies farther than ``pin_tambon_tolerance_m`` from the
  polygon of the tambon its address names (or names no known tambon). The polygons are
  heavily simplified (about 7 vertices), hence the tolerance (see the setting);
- ``wrong_province``: the tambon polygon the pin falls in (or the nearest) belongs to
  another province than the one its code says;
- ``postcode_mismatch``: the postcode is not one of the address tambon's postcodes (the
  ``admin_area`` list, from data.go.th; a tambon with none listed is not judged);
- ``duplicate``: another office of the same kind and agency (the same agency, or one
  under the same parent: two TAOs are both DLA's) within ``duplicate_distance_m`` whose
  Thai name has a trigram similarity of at least ``duplicate_similarity``;
- ``tao_misaddressed`` (real offices): a TAO whose address names a tambon other than
  the one in its name (its code; for the three TAOs with municipal 4-digit codes, its
  name must contain the address's tambon name).

For a real office the claim is what the source says: the tambon of its 6-digit code
(else the tambon its pin was placed in) and the province of its code.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from locator.db.engine import Executor
from locator.registry.vocabulary import QA_FLAGS
from locator.settings import Settings

# the tambon a pin stands in: the polygon holding it, else the nearest (KNN). The
# point-in-polygon probe first, because it is three times cheaper than the KNN (1.1 s
# against 3.0 s over the 60,000 points) and picks the same tambon for every one of them;
# the Append runs its branches in order and the LIMIT stops at the first row
PIN_TAMBON = """
    SELECT code FROM (
        (SELECT a.code FROM admin_area a
         WHERE a.level = 'tambon' AND ST_Intersects(a.geom, {pin}::geometry) LIMIT 1)
        UNION ALL
        (SELECT a.code FROM admin_area a WHERE a.level = 'tambon'
         ORDER BY a.geom <-> {pin}::geometry LIMIT 1)  -- a tie-break would lose the index
    ) pin LIMIT 1
"""

# the whole check over a CTE ``claim``; ``others`` are the points a duplicate may match
_CHECK = """
WITH claim AS ({claims}),
checked AS (
    SELECT c.*, t.code AS named_code, t.name_th AS named_th, ad.postcodes AS address_postcodes,
           CASE WHEN t.code IS NULL THEN NULL
                WHEN ST_Intersects(t.geom, c.geog::geometry) THEN 0.0
                ELSE ST_Distance(t.geom::geography, c.geog) END AS distance_m,
           pin.code AS pin_tambon
    FROM claim c
    LEFT JOIN admin_area t ON t.code = c.tambon_code AND t.level = 'tambon'
    LEFT JOIN admin_area ad ON ad.code = c.address_tambon AND ad.level = 'tambon'
    LEFT JOIN LATERAL ({pin_tambon}) pin ON true
)
SELECT point_id, 'outside_tambon' AS flag, NULL::bigint AS other_point_id,
       jsonb_build_object('tambon_code', tambon_code, 'tambon_th', named_th,
                          'distance_m', round(distance_m::numeric, 1),
                          'pin_tambon', pin_tambon) AS measured
FROM checked WHERE named_code IS NULL OR distance_m > :tolerance
UNION ALL
SELECT point_id, 'wrong_province', NULL,
       jsonb_build_object('code_province', province_code, 'pin_province', left(pin_tambon, 2),
                          'pin_tambon', pin_tambon,
                          'distance_m', round(distance_m::numeric, 1))
FROM checked WHERE left(pin_tambon, 2) IS DISTINCT FROM province_code
UNION ALL
SELECT point_id, 'postcode_mismatch', NULL,
       jsonb_build_object('postcode', postcode, 'tambon_code', address_tambon,
                          'tambon_postcodes', to_jsonb(address_postcodes))
FROM checked
WHERE cardinality(address_postcodes) > 0
  AND (postcode IS NULL OR NOT postcode = ANY (address_postcodes))
UNION ALL
SELECT c.point_id, 'duplicate', o.id,
       jsonb_build_object('other_name_th', o.name_th,
                          'distance_m', round(ST_Distance(c.geog, o.geog)::numeric, 1),
                          'similarity', round(similarity(c.name_th, o.name_th)::numeric, 2))
FROM checked c
-- the fence (OFFSET 0) keeps the planner from ANDing the kind index into each spatial
-- probe: 39,000 headman offices share one kind, and the check over the whole registry
-- took 15 s in that join alone instead of 0.95 s
JOIN LATERAL (SELECT * FROM service_point o
              WHERE ST_DWithin(o.geog, c.geog, :dup_distance) OFFSET 0) o
     ON o.id IS DISTINCT FROM c.point_id AND o.kind = c.kind AND ({others})
JOIN agency oa ON oa.id = o.agency_id
LEFT JOIN agency ca ON ca.id = c.agency_id
WHERE (o.agency_id = c.agency_id OR oa.parent_id = ca.parent_id)
  AND similarity(c.name_th, o.name_th) >= :dup_similarity
UNION ALL
SELECT c.point_id, 'tao_misaddressed', NULL,
       jsonb_build_object('named_tambon', c.tambon_code, 'address_tambon', c.address_tambon,
                          'address_tambon_th', at.name_th)
FROM checked c JOIN admin_area at ON at.code = c.address_tambon
WHERE c.kind = 'tao_office' AND c.source = 'pinned'
  AND CASE WHEN length(c.code) = 6 THEN c.code <> c.address_tambon
           ELSE strpos(c.name_th, at.name_th) = 0 END
ORDER BY 1, 2, 3
"""

# the registry's points as claims: a real office claims what its source code says
_REGISTRY_CLAIMS = """
SELECT p.id AS point_id, p.geog, p.kind, p.agency_id, p.name_th, p.postcode, p.source,
       r.code, p.tambon_code AS address_tambon,
       CASE WHEN p.source = 'pinned' AND length(r.code) IN (6, 8) THEN left(r.code, 6)
            ELSE p.tambon_code END AS tambon_code,
       CASE WHEN p.source = 'pinned' AND length(r.code) >= 2 THEN left(r.code, 2)
            ELSE left(p.tambon_code, 2) END AS province_code
FROM service_point p,
     LATERAL (SELECT split_part(coalesce(p.external_ref, ''), ':', 2) AS code) r
WHERE {where}
"""

# one pin as an agency submits it
_ONE_CLAIM = """
SELECT CAST(:point_id AS bigint) AS point_id,
       ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS geog,
       CAST(:kind AS text) AS kind, CAST(:agency_id AS integer) AS agency_id,
       CAST(:name_th AS text) AS name_th, CAST(:postcode AS text) AS postcode,
       'pinned'::text AS source, ''::text AS code,
       CAST(:tambon_code AS text) AS address_tambon, CAST(:tambon_code AS text) AS tambon_code,
       coalesce(CAST(:province_code AS text), left(CAST(:tambon_code AS text), 2))
           AS province_code
"""


@dataclass(frozen=True)
class Finding:
    point_id: int | None
    flag: str
    detail: str
    measured: dict[str, Any]
    other_point_id: int | None = None


@dataclass
class QaResult:
    findings: list[Finding]
    checked: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    points_flagged: int = 0


def _check_sql(claims: str, others: str) -> str:
    return _CHECK.format(claims=claims, others=others, pin_tambon=PIN_TAMBON.format(pin="c.geog"))


def _params(settings: Settings) -> dict[str, Any]:
    return {
        "tolerance": settings.pin_tambon_tolerance_m,
        "dup_distance": settings.duplicate_distance_m,
        "dup_similarity": settings.duplicate_similarity,
    }


def _detail(flag: str, m: dict[str, Any], settings: Settings) -> str:
    if flag == "outside_tambon":
        if m.get("tambon_th") is None:
            return f"the address names tambon {m.get('tambon_code')}, which does not exist"
        return (
            f"pin {float(m['distance_m']):,.0f} m outside tambon {m['tambon_code']} "
            f"{m['tambon_th']} (tolerance {settings.pin_tambon_tolerance_m:,.0f} m); "
            f"it falls in {m.get('pin_tambon')}"
        )
    if flag == "wrong_province":
        return (
            f"code says province {m['code_province']}, the pin lies in province "
            f"{m['pin_province']} (tambon {m['pin_tambon']})"
        )
    if flag == "postcode_mismatch":
        return (
            f"postcode {m.get('postcode')} is not among tambon {m['tambon_code']}'s "
            f"{', '.join(m['tambon_postcodes'])}"
        )
    if flag == "duplicate":
        where = (
            "at the same coordinates"
            if float(m["distance_m"]) == 0
            else f"{float(m['distance_m']):,.0f} m away"
        )
        return f"same agency and kind, {where}: {m['other_name_th']} (similarity {m['similarity']})"
    return (
        f"TAO of tambon {m['named_tambon']} addressed to tambon {m['address_tambon']} "
        f"{m['address_tambon_th']}"
    )


def _run(conn: Connection, sql: str, params: dict[str, Any], settings: Settings) -> list[Finding]:
    out = []
    for point_id, flag, other, measured in conn.execute(text(sql), {**_params(settings), **params}):
        m = measured if isinstance(measured, dict) else json.loads(measured)
        out.append(Finding(point_id, flag, _detail(flag, m, settings), m, other))
    return out


def check_pin(
    conn: Connection,
    settings: Settings,
    *,
    lon: float,
    lat: float,
    tambon_code: str,
    postcode: str | None,
    kind: str,
    agency_id: int | None,
    name_th: str,
    province_code: str | None = None,
    point_id: int | None = None,
) -> list[Finding]:
    """What is wrong with one pin (an empty list: nothing). ``point_id`` is the point
    being edited, if it exists, so it is not its own duplicate."""
    sql = _check_sql(_ONE_CLAIM, "true")
    params = {
        "point_id": point_id, "lon": lon, "lat": lat, "kind": kind, "agency_id": agency_id,
        "name_th": name_th, "postcode": postcode, "tambon_code": tambon_code,
        "province_code": province_code,
    }  # fmt: skip
    return _run(conn, sql, params, settings)


# points as their agency states them (an import's written rows): the address's tambon
_STATED_CLAIMS = """
SELECT p.id AS point_id, p.geog, p.kind, p.agency_id, p.name_th, p.postcode,
       'pinned'::text AS source, ''::text AS code, p.tambon_code AS address_tambon,
       p.tambon_code, left(p.tambon_code, 2) AS province_code
FROM service_point p WHERE p.id = ANY(CAST(:ids AS bigint[]))
"""


def check_points(conn: Executor, settings: Settings, point_ids: list[int]) -> list[Finding]:
    """The check of stored points as their agency states them (a bulk import checks its
    rows after writing them, so that they are compared with each other too)."""
    sql = _check_sql(_STATED_CLAIMS, "true")
    return _run(conn, sql, {"ids": point_ids}, settings)  # type: ignore[arg-type]


def check_registry(conn: Connection, settings: Settings, *, real_only: bool = True) -> QaResult:
    """The pin check on every real office (or every point), in one SQL pass."""
    started = time.perf_counter()
    where = "p.source = 'pinned'" if real_only else "true"
    claims = _REGISTRY_CLAIMS.format(where=where)
    others = "o.source = 'pinned'" if real_only else "true"
    findings = _run(conn, _check_sql(claims, others), {}, settings)
    checked = conn.execute(text(f"SELECT count(*) FROM service_point p WHERE {where}")).scalar_one()
    result = QaResult(findings, int(checked), round(time.perf_counter() - started, 2))
    result.counts = {flag: sum(f.flag == flag for f in findings) for flag in QA_FLAGS}
    result.points_flagged = len({f.point_id for f in findings})
    return result


def store(conn: Connection, result: QaResult) -> None:
    """Replace the flags with these findings (inside the caller's transaction)."""
    conn.execute(text("DELETE FROM qa_flag"))
    if result.findings:
        conn.execute(
            text(
                "INSERT INTO qa_flag (point_id, flag, detail, measured, other_point_id) "
                "VALUES (:point_id, :flag, :detail, CAST(:measured AS jsonb), :other)"
            ),
            [
                {"point_id": f.point_id, "flag": f.flag, "detail": f.detail,
                 "measured": json.dumps(f.measured, ensure_ascii=False, default=str),
                 "other": f.other_point_id}
                for f in result.findings
            ],
        )  # fmt: skip


NEEDS_REVIEW = "EXISTS (SELECT 1 FROM qa_flag q WHERE q.point_id = p.id AND q.resolved_at IS NULL)"
"""SQL: point ``p`` has an unresolved finding (what ``counts`` counts, per point)."""


def counts(conn: Executor) -> dict[str, Any]:
    """The unresolved flags per flag, and how many points need review."""
    per_flag = dict.fromkeys(QA_FLAGS, 0)
    for flag, n in conn.execute(
        text("SELECT flag, count(*) FROM qa_flag WHERE resolved_at IS NULL GROUP BY 1")
    ):
        per_flag[flag] = n
    needs_review = conn.execute(
        text("SELECT count(DISTINCT point_id) FROM qa_flag WHERE resolved_at IS NULL")
    ).scalar_one()
    return {"flags": per_flag, "needs_review": needs_review}


REPORT_COLUMNS = [
    "point_id", "external_ref", "kind", "name_th", "name_en", "flag", "detail",
    "distance_m", "similarity", "other_point_id", "measured",
]  # fmt: skip


def write_report(conn: Connection, path: Path) -> int:
    """The stored flags as CSV, one row per finding, with the numbers measured."""
    rows = conn.execute(
        text(
            "SELECT q.point_id, p.external_ref, p.kind, p.name_th, p.name_en, q.flag, "
            "q.detail, q.measured->>'distance_m', q.measured->>'similarity', "
            "q.other_point_id, q.measured::text "
            "FROM qa_flag q JOIN service_point p ON p.id = q.point_id "
            "WHERE q.resolved_at IS NULL ORDER BY q.flag, q.point_id, q.other_point_id"
        )
    ).all()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(rows)
    return len(rows)
