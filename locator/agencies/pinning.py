"""Agencies pin and maintain their own points: create, edit, close, offer a service.

Every write is scoped to the caller's agency (and its sub-agencies) inside the SQL
itself, so another agency's point is simply not found (404), never "forbidden": a
caller learns nothing about points it may not touch. Fields come from an allow-list
(the Create / Update schemas); agency, source, version and audit fields are the
server's. A change needs the point's current ETag (``If-Match``): without one 428, a
stale one 412, and of two concurrent edits with the same ETag exactly one wins (the
row is locked, then its version compared). Every pin goes through the same pin check
as the loader (``locator.registry.pincheck``): a pin outside the tambon its address names, in
another province or with another tambon's postcode is refused (422, naming both
places) unless the caller overrides, which is recorded and leaves the point needing
review; a near-duplicate of one of the agency's points is a 409 naming it unless
confirmed. Every change is a row of ``change``: who, when, which field, old -> new.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import text

from locator.agencies.accounts import Account
from locator.db.engine import Executor
from locator.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from locator.registry import hours, pincheck
from locator.registry.agency_tree import ancestry_cte, subtree_ids
from locator.registry.etags import names_no_version, names_version, version_etag
from locator.registry.kinds import point_kinds
from locator.settings import Settings

# the fields an agency states, and which provenance field each makes real
PROVIDES = {
    "lat": "location", "lon": "location", "name_th": "name", "name_en": "name",
    "address_th": "address", "address_en": "address", "tambon_code": "address",
    "postcode": "address", "phones": "phones", "opening_hours": "hours",
}  # fmt: skip
EDITABLE = (
    "name_th", "name_en", "lat", "lon", "address_th", "address_en", "tambon_code",
    "postcode", "phones", "opening_hours", "wheelchair", "priority_lane", "gecc", "status",
)  # fmt: skip
PIN_FIELDS = {"lat", "lon", "tambon_code", "postcode", "name_th"}
BLOCKING_FLAGS = ("outside_tambon", "wrong_province", "postcode_mismatch")
# a new point's hours when its agency states none: a government office's week
NEW_POINT_HOURS = hours.weekly_from_days(
    [[["08:30", "16:30"]]] * 5 + [[], []], closed_on_public_holidays=True
)


@dataclass(frozen=True)
class WriteResult:
    point_id: int
    version: int
    flags: list[str]  # findings the caller overrode (the point now needs review)


def _scope_sql(account: Account) -> tuple[str, dict[str, Any]]:
    """``p.agency_id`` within the caller's agency and its sub-agencies."""
    if account.is_platform_admin:
        return "true", {}
    return (
        f"p.agency_id IN ({subtree_ids('id = :scope_agency')})",
        {"scope_agency": account.agency_id},
    )


def _lock(db: Executor, account: Account, point_id: int, if_match: str | None) -> Mapping[str, Any]:
    """The caller's point, locked for this transaction, at the version it last saw."""
    scope, params = _scope_sql(account)
    row = db.execute(
        text(
            f"""
            SELECT p.id, p.kind, p.agency_id, p.name_th, p.name_en, p.address_th,
                   p.address_en, p.tambon_code, p.postcode, p.phones, p.opening_hours,
                   p.wheelchair, p.priority_lane, p.gecc, p.status, p.version, p.provided,
                   ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon
            FROM service_point p WHERE p.id = :id AND {scope}
            FOR UPDATE
            """
        ),
        {"id": point_id, **params},
    ).first()
    if row is None:
        raise NotFound(f"no service point {point_id} of your agency")
    if not if_match or names_no_version(if_match):
        raise PreconditionRequired(
            f"send If-Match: {version_etag(row.version)} (the ETag of the point as you last read "
            "it, not *), so an edit cannot overwrite one you have not seen"
        )
    if not names_version(if_match, int(row.version)):
        raise PreconditionFailed(
            f"point {point_id} changed since you read it (its ETag is now "
            f"{version_etag(row.version)}): read it again and redo your edit",
            current_etag=version_etag(row.version),
        )
    return dict(row._mapping)


def _tambon_of_pin(db: Executor, lon: float, lat: float, settings: Settings) -> str:
    """The tambon a pin stands in (or the nearest within the tolerance): outside that,
    the pin is not in Thailand."""
    row = db.execute(
        text(
            """
            SELECT code, ST_Distance(geom::geography,
                                     ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) AS m
            FROM admin_area WHERE level = 'tambon'
            ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 1
            """
        ),
        {"lon": lon, "lat": lat},
    ).first()
    if row is None or row.m > settings.pin_tambon_tolerance_m:
        far = f"{row.m / 1000:,.0f} km" if row is not None else "far"
        raise InvalidInput(
            f"the pin ({lat:.5f}, {lon:.5f}) lies {far} outside Thailand: check that "
            "latitude and longitude are not swapped",
            field="lat",
        )
    return str(row.code)


def _check(
    db: Executor,
    settings: Settings,
    values: Mapping[str, Any],
    kind: str,
    agency_id: int,
    point_id: int | None,
    override: bool,
    confirm_duplicate: bool,
) -> list[pincheck.Finding]:
    """The pin check of the values about to be written: refuse, or return the findings
    the caller overrode (to be stored as QA flags)."""
    findings = pincheck.check_pin(
        db,  # type: ignore[arg-type]  # a Session executes text() like a Connection
        settings,
        lon=values["lon"], lat=values["lat"], tambon_code=values["tambon_code"],
        postcode=values.get("postcode"), kind=kind, agency_id=agency_id,
        name_th=values["name_th"], province_code=values["tambon_code"][:2], point_id=point_id,
    )  # fmt: skip
    blocking = [f for f in findings if f.flag in BLOCKING_FLAGS]
    if blocking and not override:
        raise InvalidInput(
            "the pin and the address disagree: "
            + "; ".join(f"{f.flag}: {f.detail}" for f in blocking)
            + ". Move the pin or correct the address; if both are right (the polygons are "
            "approximate), send override=true and the point will be reviewed",
            findings=[{"flag": f.flag, "detail": f.detail, **f.measured} for f in blocking],
        )
    duplicates = [f for f in findings if f.flag == "duplicate"]
    if duplicates and not confirm_duplicate:
        other = duplicates[0]
        raise Conflict(
            f"your agency already has point {other.other_point_id} here: {other.detail}. "
            "Edit that point instead; if this is another office, send "
            "confirm_duplicate=true",
            existing_point_id=other.other_point_id,
        )
    return blocking if override else []


def record_change(
    db: Executor,
    account_id: int | None,
    point_id: int,
    action: str,
    field: str | None,
    old: Any,
    new: Any,
) -> None:
    db.execute(
        text(
            "INSERT INTO change (table_name, record_id, action, field, old_value, new_value, "
            "account_id) VALUES ('service_point', :record, :action, :field, "
            "CAST(:old AS jsonb), CAST(:new AS jsonb), :account)"
        ),
        {
            "record": str(point_id), "action": action, "field": field,
            "old": json.dumps(old, ensure_ascii=False, default=str),
            "new": json.dumps(new, ensure_ascii=False, default=str), "account": account_id,
        },
    )  # fmt: skip


def mark_provided(db: Executor, point_id: int, provided: str) -> int:
    """A new version of the point, whose agency has now stated ``provided`` (one of
    ``PROVIDES``' values, or ``no_copy``): its provenance is real from here on."""
    version = db.execute(
        text(
            "UPDATE service_point SET version = version + 1, updated_at = now(), "
            "provided = CASE WHEN CAST(:provided AS text) = ANY(provided) THEN provided "
            "ELSE array_append(provided, CAST(:provided AS text)) END "
            "WHERE id = :id RETURNING version"
        ),
        {"id": point_id, "provided": provided},
    ).scalar_one()
    return int(version)


def record_override(
    db: Executor, account_id: int | None, point_id: int, findings: list[pincheck.Finding]
) -> None:
    """A save over the pin check's findings: the override in the change log and each
    finding as an unresolved QA flag, so the point is in the review queue."""
    record_change(db, account_id, point_id, "override", "pin_check", None,
                  [f.flag for f in findings])  # fmt: skip
    for f in findings:
        db.execute(
            text(
                "INSERT INTO qa_flag (point_id, flag, detail, measured) "
                "VALUES (:p, :flag, :detail, CAST(:m AS jsonb))"
            ),
            {"p": point_id, "flag": f.flag, "detail": f"overridden by its agency: {f.detail}",
             "m": json.dumps(f.measured, ensure_ascii=False, default=str)},
        )  # fmt: skip


def _hours_value(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            return hours.from_osm(value)
        except ValueError as exc:
            raise InvalidInput(f"opening_hours: {exc}", field="opening_hours") from None
    return dict(value)


@lru_cache(maxsize=4)
def kind_agencies(catalogue_dir: Path) -> dict[str, str]:
    """Each kind of point and the department it belongs to (data/point_kinds.yaml)."""
    return {code: k.agency for code, k in point_kinds(catalogue_dir).items()}


def _kind_allowed(db: Executor, settings: Settings, account: Account, kind: str) -> None:
    """An agency pins its own kinds of office: the kind's agency is the caller's agency
    or one above it (a DOPA provincial office pins district offices; police cannot)."""
    owner = kind_agencies(settings.catalogue_dir).get(kind)
    if owner is None:
        known = ", ".join(sorted(kind_agencies(settings.catalogue_dir)))
        raise InvalidInput(f"kind {kind!r}: one of {known}", field="kind")
    ours = db.execute(
        text(
            f"""
            WITH RECURSIVE {ancestry_cte(":agency", "up")}
            SELECT EXISTS (SELECT 1 FROM up WHERE code = :owner)
            """
        ),
        {"agency": account.agency_id, "owner": owner},
    ).scalar_one()
    if not ours:
        raise Forbidden(f"a {kind} belongs to {owner}, not to {account.agency_code}")


def create(
    db: Executor,
    settings: Settings,
    account: Account,
    values: Mapping[str, Any],
    *,
    override: bool = False,
    confirm_duplicate: bool = False,
) -> WriteResult:
    if account.agency_id is None:
        raise Forbidden("a platform admin moderates; pin points with an agency's account")
    kind = str(values["kind"])
    _kind_allowed(db, settings, account, kind)
    row = dict(values)
    pin_tambon = _tambon_of_pin(db, row["lon"], row["lat"], settings)
    row["tambon_code"] = row.get("tambon_code") or pin_tambon
    if row.get("postcode") is None:
        row["postcode"] = db.execute(
            text("SELECT postcodes[1] FROM admin_area WHERE code = :c"), {"c": row["tambon_code"]}
        ).scalar()
    overridden = _check(db, settings, row, kind, account.agency_id, None, override,
                        confirm_duplicate)  # fmt: skip
    row["opening_hours"] = _hours_value(row.get("opening_hours") or NEW_POINT_HOURS)
    provided = sorted({PROVIDES[k] for k in values if k in PROVIDES})
    new_id = db.execute(
        text(
            """
            INSERT INTO service_point (agency_id, kind, name_th, name_en, geog, address_th,
                address_en, tambon_code, postcode, phones, opening_hours, wheelchair,
                priority_lane, gecc, status, source, external_ref, provided)
            VALUES (:agency, :kind, :name_th, :name_en,
                ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :address_th,
                :address_en, :tambon_code, :postcode, :phones, CAST(:hours AS jsonb),
                :wheelchair, :priority_lane, :gecc, :status, 'imported', :external_ref,
                :provided)
            RETURNING id
            """
        ),
        {
            "agency": account.agency_id, "kind": kind, "name_th": row["name_th"],
            "name_en": row["name_en"], "lon": row["lon"], "lat": row["lat"],
            "address_th": row.get("address_th"), "address_en": row.get("address_en"),
            "tambon_code": row["tambon_code"], "postcode": row["postcode"],
            "phones": list(row.get("phones") or []),
            "hours": json.dumps(row["opening_hours"], ensure_ascii=False),
            "wheelchair": bool(row.get("wheelchair")),
            "priority_lane": bool(row.get("priority_lane")), "gecc": bool(row.get("gecc")),
            "status": row.get("status") or "active",
            "external_ref": row.get("external_ref"), "provided": provided,
        },
    ).scalar_one()  # fmt: skip
    record_change(
        db, account.id, new_id, "create", None, None, {k: row.get(k) for k in (*EDITABLE, "kind")}
    )
    if overridden:
        record_override(db, account.id, new_id, overridden)
    return WriteResult(new_id, 1, [f.flag for f in overridden])


def update(
    db: Executor,
    settings: Settings,
    account: Account,
    point_id: int,
    changes: Mapping[str, Any],
    if_match: str | None,
    *,
    override: bool = False,
    confirm_duplicate: bool = False,
) -> WriteResult:
    current = _lock(db, account, point_id, if_match)
    new = dict(current)
    for key, value in changes.items():
        new[key] = _hours_value(value) if key == "opening_hours" else value
    changed = [k for k in EDITABLE if k in changes and differs(current[k], new[k])]
    overridden: list[pincheck.Finding] = []
    if PIN_FIELDS & set(changed):
        if {"lat", "lon"} & set(changed) and "tambon_code" not in changes:
            new["tambon_code"] = _tambon_of_pin(db, new["lon"], new["lat"], settings)
            if new["tambon_code"] != current["tambon_code"]:
                changed.append("tambon_code")
        overridden = _check(db, settings, new, current["kind"], current["agency_id"], point_id,
                            override, confirm_duplicate)  # fmt: skip
    if not changed:
        return WriteResult(point_id, int(current["version"]), [])
    provided = sorted(
        set(current["provided"] or []) | {PROVIDES[k] for k in changed if k in PROVIDES}
    )
    sets = [f"{k} = :{k}" for k in changed if k not in ("lat", "lon", "opening_hours")]
    if "lat" in changed or "lon" in changed:
        sets.append("geog = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography")
    if "opening_hours" in changed:
        sets.append("opening_hours = CAST(:opening_hours AS jsonb)")
    params = {k: new[k] for k in changed}
    params.update(lat=new["lat"], lon=new["lon"], id=point_id, provided=provided)
    if "opening_hours" in params:
        params["opening_hours"] = json.dumps(new["opening_hours"], ensure_ascii=False)
    version = db.execute(
        text(
            f"UPDATE service_point SET {', '.join(sets)}, provided = :provided, "
            "version = version + 1, updated_at = now() WHERE id = :id RETURNING version"
        ),
        params,
    ).scalar_one()
    for key in changed:
        record_change(db, account.id, point_id, "update", key, current[key], new[key])
    if overridden:
        record_override(db, account.id, point_id, overridden)
    return WriteResult(point_id, int(version), [f.flag for f in overridden])


def differs(old: Any, new: Any) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        return old is None or new is None or abs(float(old) - float(new)) > 1e-9
    return bool(old != new)


def close(db: Executor, account: Account, point_id: int, if_match: str | None) -> WriteResult:
    """Closing keeps the point (its history, its ratings), marked closed."""
    current = _lock(db, account, point_id, if_match)
    if current["status"] == "closed":
        return WriteResult(point_id, int(current["version"]), [])
    version = db.execute(
        text(
            "UPDATE service_point SET status = 'closed', version = version + 1, "
            "updated_at = now() WHERE id = :id RETURNING version"
        ),
        {"id": point_id},
    ).scalar_one()
    record_change(db, account.id, point_id, "close", "status", current["status"], "closed")
    return WriteResult(point_id, int(version), [])


def put_offering(
    db: Executor,
    settings: Settings,
    account: Account,
    point_id: int,
    service: str,
    body: Mapping[str, Any],
    if_match: str | None,
) -> WriteResult:
    """Offer a service at the point (or change it): which documents the office still
    wants as photocopies (none: it is No-Copy), its own hours, a note. Only a service its
    kind of office gives (data/point_kinds.yaml): a land office offering passports would
    answer every passport search."""
    current = _lock(db, account, point_id, if_match)
    documents = db.execute(
        text(
            "SELECT sd.document_code, d.issued_by_government FROM service_document sd "
            "JOIN document_type d ON d.code = sd.document_code WHERE sd.service_code = :s"
        ),
        {"s": service},
    ).all()
    exists = db.execute(text("SELECT 1 FROM service WHERE code = :s"), {"s": service}).first()
    if exists is None:
        raise NotFound(f"no service {service!r} in the catalogue (GET /v1/services)")
    kind = point_kinds(settings.catalogue_dir).get(current["kind"])
    if kind is not None and service not in kind.services:
        raise InvalidInput(
            f"a {kind.name_en.lower()} ({current['kind']}) does not give {service}; its "
            f"services: {', '.join(kind.services)}",
            parameter="service",
        )
    asked = list(dict.fromkeys(body.get("copies_required") or []))
    known = {d.document_code for d in documents}
    unknown = [d for d in asked if d not in known]
    if unknown:
        raise InvalidInput(
            f"copies_required: {', '.join(unknown)} not among {service}'s documents "
            f"({', '.join(sorted(known)) or 'none'})",
            field="copies_required",
        )
    own_hours = body.get("opening_hours")
    hours_json = json.dumps(_hours_value(own_hours), ensure_ascii=False) if own_hours else None
    old = db.execute(
        text(
            "SELECT copies_required, no_copy_since, notes, opening_hours FROM offering "
            "WHERE point_id = :p AND service_code = :s"
        ),
        {"p": point_id, "s": service},
    ).first()
    since = None
    if not asked:
        since = old.no_copy_since if old is not None and not old.copies_required else None
        since = since or dt.date.today()
    db.execute(
        text(
            """
            INSERT INTO offering (point_id, service_code, copies_required, no_copy_since,
                                  notes, opening_hours, geog)
            SELECT :p, :s, :copies, :since, :notes, CAST(:hours AS jsonb), geog
            FROM service_point WHERE id = :p
            ON CONFLICT (point_id, service_code) DO UPDATE SET
                copies_required = EXCLUDED.copies_required,
                no_copy_since = EXCLUDED.no_copy_since, notes = EXCLUDED.notes,
                opening_hours = EXCLUDED.opening_hours
            """
        ),
        {"p": point_id, "s": service, "copies": asked, "since": since,
         "notes": body.get("notes"), "hours": hours_json},
    )  # fmt: skip
    version = mark_provided(db, point_id, "no_copy")
    before = None
    if old is not None:
        before = {"copies_required": list(old.copies_required), "notes": old.notes,
                  "opening_hours": old.opening_hours}  # fmt: skip
    after = {"copies_required": asked, "notes": body.get("notes"),
             "opening_hours": json.loads(hours_json) if hours_json else None}  # fmt: skip
    record_change(db, account.id, point_id, "offer" if old is None else "update",
            f"offerings.{service}", before, after)  # fmt: skip
    return WriteResult(point_id, int(version), [])


def history(db: Executor, account: Account, point_id: int) -> list[dict[str, Any]]:
    """Every change of the caller's point, oldest first, with who made it."""
    scope, params = _scope_sql(account)
    found = db.execute(
        text(f"SELECT 1 FROM service_point p WHERE p.id = :id AND {scope}"),
        {"id": point_id, **params},
    ).first()
    if found is None:
        raise NotFound(f"no service point {point_id} of your agency")
    rows = db.execute(
        text(
            """
            SELECT c.id, c.changed_at, c.action, c.field, c.old_value, c.new_value,
                   a.username
            FROM change c LEFT JOIN account a ON a.id = c.account_id
            WHERE c.table_name = 'service_point' AND c.record_id = :id
            ORDER BY c.changed_at, c.id
            """
        ),
        {"id": str(point_id)},
    )
    return [
        {"id": r.id, "at": r.changed_at, "action": r.action, "field": r.field,
         "old": r.old_value, "new": r.new_value, "by": r.username}
        for r in rows
    ]  # fmt: skip


def review_queue(db: Executor, limit: int) -> list[dict[str, Any]]:
    """Points with unresolved pin-check flags, the most flagged first."""
    rows = db.execute(
        text(
            """
            SELECT p.id, p.name_th, p.name_en, p.kind, a.code AS agency, p.source,
                   array_agg(DISTINCT q.flag ORDER BY q.flag) AS flags,
                   array_agg(q.detail ORDER BY q.id) AS details, max(q.created_at) AS flagged_at
            FROM qa_flag q JOIN service_point p ON p.id = q.point_id
            JOIN agency a ON a.id = p.agency_id
            WHERE q.resolved_at IS NULL
            GROUP BY p.id, a.code
            ORDER BY count(*) DESC, max(q.created_at) DESC, p.id
            LIMIT :limit
            """
        ),
        {"limit": limit},
    )
    return [dict(r._mapping) for r in rows]
