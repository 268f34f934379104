"""Writing a planned import: new points by COPY, updates in one statement, the change log
and the overridden findings, in the caller's transaction. The decisions were made by the
plan; this is only the SQL.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.agencies.bulk.formats import LIST_SEPARATOR
from locator.agencies.bulk.plan import PlannedRow
from locator.agencies.pinning import record_override
from locator.agencies.report import ImportReport
from locator.db.engine import Executor
from locator.registry import pincheck


def _columns(planned: Sequence[PlannedRow]) -> dict[str, list[Any]]:
    v = [p.values for p in planned]
    return {
        "agency": [x["agency_id"] for x in v], "kind": [x["kind"] for x in v],
        "name_th": [x["name_th"] for x in v], "name_en": [x["name_en"] for x in v],
        "lon": [x["lon"] for x in v], "lat": [x["lat"] for x in v],
        "address_th": [x["address_th"] for x in v], "address_en": [x["address_en"] for x in v],
        "tambon_code": [x["tambon_code"] for x in v], "postcode": [x["postcode"] for x in v],
        "phones": [LIST_SEPARATOR.join(x["phones"] or []) for x in v],
        "hours": [x["opening_hours"] for x in v],
        "wheelchair": [bool(x["wheelchair"]) for x in v],
        "priority_lane": [bool(x["priority_lane"]) for x in v],
        "gecc": [bool(x["gecc"]) for x in v], "status": [x["status"] for x in v],
        "external_ref": [x["external_ref"] for x in v],
        "provided": [LIST_SEPARATOR.join(p.provided) for p in planned],
    }  # fmt: skip


# unnest of one array per column: one statement for any number of rows
_ROWS = """
unnest(CAST(:id AS bigint[]), CAST(:agency AS int[]), CAST(:kind AS text[]),
       CAST(:name_th AS text[]), CAST(:name_en AS text[]), CAST(:lon AS float8[]),
       CAST(:lat AS float8[]), CAST(:address_th AS text[]), CAST(:address_en AS text[]),
       CAST(:tambon_code AS text[]), CAST(:postcode AS text[]), CAST(:phones AS text[]),
       CAST(:hours AS text[]), CAST(:wheelchair AS bool[]), CAST(:priority_lane AS bool[]),
       CAST(:gecc AS bool[]), CAST(:status AS text[]), CAST(:external_ref AS text[]),
       CAST(:provided AS text[]))
AS u(id, agency, kind, name_th, name_en, lon, lat, address_th, address_en, tambon_code,
     postcode, phones, hours, wheelchair, priority_lane, gecc, status, external_ref, provided)
"""


def insert(db: Executor, planned: list[PlannedRow]) -> None:
    """New points through COPY, with ids drawn first so each row knows its point. An
    INSERT from 19 arrays of 60,000 values took 6.2 s where COPY of the same rows takes
    4.0 (bench/HISTORY.md, import): the difference was the arrays' SQL literals."""
    if not planned:
        return
    import pandas as pd
    import shapely

    from locator.db.copy import copy_frame

    ids = db.execute(
        text("SELECT nextval('service_point_id_seq') FROM generate_series(1, :n)"),
        {"n": len(planned)},
    ).scalars()
    for p, new_id in zip(planned, ids, strict=True):
        p.point_id = int(new_id)
    v = [p.values for p in planned]
    frame = pd.DataFrame(
        {
            "id": [p.point_id for p in planned], "agency_id": [x["agency_id"] for x in v],
            "kind": [x["kind"] for x in v], "name_th": [x["name_th"] for x in v],
            "name_en": [x["name_en"] for x in v],
            "geog": shapely.points([x["lon"] for x in v], [x["lat"] for x in v]),
            "address_th": [x["address_th"] for x in v],
            "address_en": [x["address_en"] for x in v],
            "tambon_code": [x["tambon_code"] for x in v], "postcode": [x["postcode"] for x in v],
            "phones": [list(x["phones"] or []) for x in v],
            "opening_hours": [x["opening_hours"] for x in v],
            "wheelchair": [bool(x["wheelchair"]) for x in v],
            "priority_lane": [bool(x["priority_lane"]) for x in v],
            "gecc": [bool(x["gecc"]) for x in v], "status": [x["status"] for x in v],
            "source": "imported", "external_ref": [x["external_ref"] for x in v],
            "provided": [p.provided for p in planned],
        }
    )  # fmt: skip
    connection = db.connection() if isinstance(db, Session) else db
    copy_frame(connection, "service_point", frame, list(frame.columns),
               array_columns=["phones", "provided"], geometry_columns=["geog"])  # fmt: skip


def update(db: Executor, planned: list[PlannedRow]) -> None:
    if not planned:
        return
    db.execute(
        text(
            f"""
            UPDATE service_point p SET
                name_th = u.name_th, name_en = u.name_en,
                geog = CASE WHEN ST_X(p.geog::geometry) = u.lon
                             AND ST_Y(p.geog::geometry) = u.lat THEN p.geog
                       ELSE ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography END,
                address_th = u.address_th, address_en = u.address_en,
                tambon_code = u.tambon_code, postcode = u.postcode,
                phones = string_to_array(u.phones, '{LIST_SEPARATOR}'),
                opening_hours = CAST(u.hours AS jsonb), wheelchair = u.wheelchair,
                priority_lane = u.priority_lane, gecc = u.gecc, status = u.status,
                provided = string_to_array(u.provided, '{LIST_SEPARATOR}'),
                version = p.version + 1, updated_at = now()
            FROM {_ROWS}
            WHERE p.id = u.id
            """
        ),
        {"id": [p.point_id for p in planned], **_columns(planned)},
    )


def log_changes(
    db: Executor, account_id: int | None, created: list[PlannedRow], updated: list[PlannedRow]
) -> None:
    """The change log, as a single write keeps it: a create with the point's fields, an
    update per changed field (old -> new). The creates' rows are made in SQL from the
    written points: building 60,000 JSON values in Python and sending them took 2.9 s."""
    if created:
        db.execute(
            text(
                """
                INSERT INTO change (table_name, record_id, action, field, old_value,
                                    new_value, account_id)
                SELECT 'service_point', p.id::text, 'create', NULL, 'null'::jsonb,
                       jsonb_build_object(
                           'name_th', p.name_th, 'name_en', p.name_en,
                           'lat', round(ST_Y(p.geog::geometry)::numeric, 7),
                           'lon', round(ST_X(p.geog::geometry)::numeric, 7),
                           'address_th', p.address_th, 'address_en', p.address_en,
                           'tambon_code', p.tambon_code, 'postcode', p.postcode,
                           'phones', to_jsonb(p.phones), 'opening_hours', p.opening_hours,
                           'wheelchair', p.wheelchair, 'priority_lane', p.priority_lane,
                           'gecc', p.gecc, 'status', p.status, 'kind', p.kind), :account
                FROM service_point p
                WHERE p.id IN (SELECT unnest(CAST(:ids AS bigint[])))
                """
            ),
            {"ids": [p.point_id for p in created], "account": account_id},
        )
    records: list[tuple[str, str, str | None, str, str]] = []
    dumps = json.dumps
    for p in updated:
        old = p.current or {}
        for key in p.changed:
            before, after = old[key], p.values[key]
            if key == "opening_hours":
                before, after = json.loads(before), json.loads(after)
            records.append((str(p.point_id), "update", key,
                            dumps(before, ensure_ascii=False, default=str),
                            dumps(after, ensure_ascii=False, default=str)))  # fmt: skip
    if not records:
        return
    record, action, fld, old_v, new_v = (list(c) for c in zip(*records, strict=True))
    db.execute(
        text(
            """
            INSERT INTO change (table_name, record_id, action, field, old_value, new_value,
                                account_id)
            SELECT 'service_point', u.record, u.action, u.field, CAST(u.old AS jsonb),
                   CAST(u.new AS jsonb), :account
            FROM unnest(CAST(:record AS text[]), CAST(:action AS text[]),
                        CAST(:field AS text[]), CAST(:old AS text[]), CAST(:new AS text[]))
                 AS u(record, action, field, old, new)
            """
        ),
        {"record": record, "action": action, "field": fld, "old": old_v, "new": new_v,
         "account": account_id},
    )  # fmt: skip


def store_overrides(
    db: Executor,
    account_id: int | None,
    overridden: list[pincheck.Finding],
    report: ImportReport,
    checked: list[PlannedRow],
) -> None:
    row_of = {int(p.point_id or 0): p.row for p in checked}
    by_point: dict[int, list[pincheck.Finding]] = defaultdict(list)
    for f in overridden:
        by_point[int(f.point_id or 0)].append(f)
    for point_id, findings in by_point.items():
        record_override(db, account_id, point_id, findings)
        report.overridden.append({"row": row_of[point_id], "point_id": point_id,
                                  "flags": [f.flag for f in findings]})  # fmt: skip
