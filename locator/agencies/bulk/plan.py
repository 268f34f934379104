"""Planning an import: each row of a file checked on its own (its cells, its agency and
kind, the point it names), matched to the agency's point it updates, and turned into the
values to write and the fields that change; a new or moved pin gets the tambon it stands
in. A row that fails becomes a ``RowProblem``; nothing here writes.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import text

from locator.agencies.bulk.formats import COLUMNS, LIST_SEPARATOR, Table
from locator.agencies.bulk.scope import AgencyScope
from locator.agencies.pinning import (
    EDITABLE,
    NEW_POINT_HOURS,
    PROVIDES,
    differs,
    kind_agencies,
)
from locator.agencies.report import RowProblem
from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.progress import Reporter
from locator.registry import hours, pincheck
from locator.registry.fields import PHONE_PATTERN
from locator.settings import Settings

# as JSON text, made once: dumping it per new row cost 0.6 s on 45,000 rows
DEFAULT_HOURS = json.dumps(NEW_POINT_HOURS, ensure_ascii=False)


# --- checking a row -------------------------------------------------------------------


class ImportRow(BaseModel):
    """One row as the file states it: lax types (a CSV cell is text), strict values.
    None: the cell was empty, or the column left out (keep the current value)."""

    model_config = ConfigDict(extra="ignore")

    id: int | None = Field(default=None, gt=0)
    external_ref: str | None = Field(default=None, max_length=120)
    agency: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    kind: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name_th: str | None = Field(default=None, max_length=300)
    name_en: str | None = Field(default=None, max_length=300)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address_th: str | None = Field(default=None, max_length=500)
    address_en: str | None = Field(default=None, max_length=500)
    tambon_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    postcode: str | None = Field(default=None, pattern=r"^[1-9][0-9]{4}$")
    phones: list[str] | None = Field(default=None, max_length=5)
    opening_hours: str | None = Field(default=None, max_length=500)
    wheelchair: bool | None = None
    priority_lane: bool | None = None
    gecc: bool | None = None
    status: Literal["active", "temporarily_closed", "closed"] | None = None
    version: int | None = Field(default=None, gt=0)

    @field_validator("phones", mode="before")
    @classmethod
    def _split_phones(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(LIST_SEPARATOR) if p.strip()]
        return value

    @field_validator("phones")
    @classmethod
    def _phone_numbers(cls, value: list[str] | None) -> list[str] | None:
        for phone in value or []:
            if not re.match(PHONE_PATTERN, phone):
                raise ValueError(
                    f"{phone!r} is not a phone number (digits, spaces and dashes; "
                    f"several separated by '{LIST_SEPARATOR}')"
                )
        return value

    @field_validator("lat", "lon")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and value != value:  # NaN
            raise ValueError("not a number")
        return value


def _blank_to_none(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        elif value is None or (isinstance(value, float) and value != value):
            continue
        out[key] = value
    return out


@lru_cache(maxsize=4096)
def _parse_hours(expression: str) -> str:
    """The weekly form (as JSON) of an OSM expression: one parse per distinct text,
    since a file's rows mostly share a handful of timetables."""
    return json.dumps(hours.from_osm(expression), ensure_ascii=False)


@dataclass
class PlannedRow:
    """A row that passed its own checks, as it will be written."""

    row: int
    values: dict[str, Any]  # every EDITABLE field, plus kind, external_ref, agency_id
    stated: frozenset[str]  # the fields the row gave a value for
    current: Mapping[str, Any] | None = None  # the point it updates (None: a new point)
    point_id: int | None = None
    changed: list[str] = field(default_factory=list)
    provided: list[str] = field(default_factory=list)

    def refresh(self) -> None:
        """Which fields change, and which the agency has now provided (their provenance
        becomes real): a new point's stated fields, or an update's changed ones."""
        if self.current is None:
            self.changed = list(EDITABLE)
            self.provided = sorted({PROVIDES[k] for k in self.stated if k in PROVIDES})
            return
        self.changed = [k for k in EDITABLE if differs(self.current[k], self.values[k])]
        self.provided = sorted(
            set(self.current["provided"] or []) | {PROVIDES[k] for k in self.changed
                                                   if k in PROVIDES}
        )  # fmt: skip


def _pydantic_problems(row: int, exc: ValidationError) -> list[RowProblem]:
    out = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"] if not isinstance(p, int)) or "row"
        value = e.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
        out.append(RowProblem(row, where, f"{e['msg']}{shown}"))
    return out


def _current_points(
    db: Executor, scope: AgencyScope, refs: Sequence[str], ids: Sequence[int]
) -> tuple[dict[tuple[int, str], list[dict[str, Any]]], dict[int, dict[str, Any]]]:
    """The points in scope the rows name, by (agency, external_ref) and by id."""
    rows = db.execute(
        text(
            """
            SELECT p.id, p.agency_id, p.kind, p.external_ref, p.name_th, p.name_en,
                   p.address_th, p.address_en, p.tambon_code, p.postcode, p.phones,
                   p.opening_hours, p.wheelchair, p.priority_lane, p.gecc, p.status,
                   p.version, p.provided,
                   ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon
            FROM service_point p
            WHERE p.agency_id = ANY(:agencies)
              -- IN (SELECT unnest) is a hashed subplan; = ANY(array) compared each point
              -- with every ref: 2.5 s for the 40,000 rows of one department
              AND (p.external_ref IN (SELECT unnest(CAST(:refs AS text[])))
                   OR p.id IN (SELECT unnest(CAST(:ids AS bigint[]))))
            FOR UPDATE OF p
            """
        ),
        {"agencies": list(scope.codes.values()), "refs": list(refs), "ids": list(ids)},
    )
    by_ref: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    by_id: dict[int, dict[str, Any]] = {}
    for r in rows:
        point = dict(r._mapping)
        point["opening_hours"] = json.dumps(point["opening_hours"], ensure_ascii=False)
        point["opening_hours_osm"] = _osm_of(point["opening_hours"])
        by_id[int(r.id)] = point
        if r.external_ref is not None:
            by_ref[(int(r.agency_id), r.external_ref)].append(point)
    return by_ref, by_id


def plan_rows(
    db: Executor,
    settings: Settings,
    scope: AgencyScope,
    table: Table,
    errors: list[RowProblem],
    reporter: Reporter,
) -> list[PlannedRow]:
    """Each row checked on its own: its cells, its agency and kind, the point it names."""
    kind_owner = kind_agencies(settings.catalogue_dir)
    unknown_columns = [
        c for c in table.columns if c not in COLUMNS and c not in ("lat", "lon", "geometry")
    ]
    if unknown_columns:
        raise InvalidInput(
            f"unknown column{'s' if len(unknown_columns) > 1 else ''}: "
            f"{', '.join(unknown_columns)}; the columns are {', '.join(COLUMNS)}",
            unknown=unknown_columns,
        )
    parsed: list[tuple[int, ImportRow]] = []
    reporter.stage("checking rows", len(table.rows))
    for i, raw in enumerate(table.rows, 1):
        cells = _blank_to_none(raw)
        # PostgreSQL text cannot hold a NUL, and Python's csv reads it as any character
        nul = [k for k, v in cells.items() if isinstance(v, str) and "\x00" in v]
        if nul:
            errors.extend(RowProblem(i, k, "contains a NUL character (\\x00); remove it")
                          for k in nul)  # fmt: skip
            continue
        try:
            parsed.append((i, ImportRow.model_validate(cells)))
        except ValidationError as exc:
            errors.extend(_pydantic_problems(i, exc))
        if i % 1000 == 0:
            reporter.advance(1000)
    reporter.advance(len(table.rows) % 1000)
    refs = [r.external_ref for _, r in parsed if r.external_ref]
    ids = [r.id for _, r in parsed if r.id]
    by_ref, by_id = _current_points(db, scope, refs, ids)
    seen_refs: dict[tuple[int, str], int] = {}
    seen_ids: dict[int, int] = {}
    planned = []
    for i, r in parsed:
        agency_code = r.agency or scope.code
        agency_id = scope.codes.get(agency_code)
        if agency_id is None:
            errors.append(RowProblem(i, "agency", f"{agency_code} is not {scope.code} or an "
                                     f"agency below it"))  # fmt: skip
            continue
        current = None
        if r.external_ref:
            key = (agency_id, r.external_ref)
            if key in seen_refs:
                errors.append(RowProblem(i, "external_ref", f"{r.external_ref!r} is on row "
                                         f"{seen_refs[key]} too: one row per point"))  # fmt: skip
                continue
            seen_refs[key] = i
            matches = by_ref.get(key, [])
            if len(matches) > 1:
                found = ", ".join(str(m["id"]) for m in matches)
                errors.append(RowProblem(i, "external_ref", f"{r.external_ref!r} names points "
                                         f"{found}: give the id of the one you mean"))  # fmt: skip
                continue
            current = matches[0] if matches else None
        if current is None and r.id is not None:
            current = by_id.get(r.id)
            if current is None:
                errors.append(RowProblem(i, "id", f"no point {r.id} of {scope.code}: leave id "
                                         "empty to create a point"))  # fmt: skip
                continue
        if current is not None:
            if int(current["id"]) in seen_ids:
                errors.append(RowProblem(i, "id", f"point {current['id']} is on row "
                                         f"{seen_ids[int(current['id'])]} too"))  # fmt: skip
                continue
            seen_ids[int(current["id"])] = i
        problem = _row_problem(r, current, agency_id, scope, kind_owner)
        if problem is not None:
            errors.append(RowProblem(i, *problem))
            continue
        planned.append(_plan(i, r, current, agency_id))
    return planned


def _row_problem(
    r: ImportRow,
    current: Mapping[str, Any] | None,
    agency_id: int,
    scope: AgencyScope,
    kind_owner: Mapping[str, str],
) -> tuple[str, str] | None:
    if current is None:
        missing = [f for f in ("kind", "name_th", "name_en", "lat", "lon") if getattr(r, f) is None]
        if missing:
            return missing[0], (
                f"a new point needs {', '.join(missing)} (no point of yours has "
                f"external_ref {r.external_ref!r})"
                if r.external_ref
                else f"a new point needs {', '.join(missing)}"
            )
        kind = str(r.kind)
    else:
        kind = str(current["kind"])
        if r.kind is not None and r.kind != kind:
            return "kind", (
                f"point {current['id']} is a {kind}; a kind does not change: close it "
                "(status closed) and add the new office as a new row"
            )
        if r.version is not None and r.version != current["version"]:
            return "version", (
                f"point {current['id']} changed since you exported it (version "
                f"{current['version']}, your file has {r.version}): export again and redo "
                "this row"
            )
    owner = kind_owner.get(kind)
    if owner is None:
        return "kind", f"{kind!r} is not a kind of point: one of {', '.join(sorted(kind_owner))}"
    if owner not in scope.ancestors[agency_id]:
        return "kind", f"a {kind} belongs to {owner}, not to this row's agency"
    if r.opening_hours is not None:
        try:
            _parse_hours(r.opening_hours)
        except ValueError as exc:
            return "opening_hours", str(exc)
    return None


@lru_cache(maxsize=4096)
def _osm_of(stored: str) -> str:
    """Stored hours (JSON text) as OSM text, once per distinct timetable."""
    return hours.to_osm(json.loads(stored))


def _same_hours(expression: str, current: Mapping[str, Any]) -> bool:
    """The file's hours are OSM text: unchanged when they read as the stored hours do."""
    return bool(_osm_of(_parse_hours(expression)) == current["opening_hours_osm"])


def _plan(i: int, r: ImportRow, current: Mapping[str, Any] | None, agency_id: int) -> PlannedRow:
    stated = r.model_dump(exclude_none=True)
    if "opening_hours" in stated:
        stated["opening_hours"] = _parse_hours(stated["opening_hours"])
    if current is None:
        values: dict[str, Any] = {
            "name_th": None, "name_en": None, "lat": None, "lon": None, "address_th": None,
            "address_en": None, "tambon_code": None, "postcode": None, "phones": [],
            "opening_hours": DEFAULT_HOURS,
            "wheelchair": False, "priority_lane": False, "gecc": False, "status": "active",
        }  # fmt: skip
        values.update({k: v for k, v in stated.items() if k in EDITABLE})
        values.update(kind=r.kind, external_ref=r.external_ref, agency_id=agency_id)
    else:
        values = {k: current[k] for k in EDITABLE}
        values.update({k: v for k, v in stated.items() if k in EDITABLE})
        if r.opening_hours is not None and _same_hours(r.opening_hours, current):
            values["opening_hours"] = current["opening_hours"]  # its notes kept
        moved = any(differs(current[k], values[k]) for k in ("lat", "lon"))
        if moved and r.tambon_code is None:
            values["tambon_code"] = None  # the tambon the pin now stands in
        values.update(kind=current["kind"], external_ref=current["external_ref"],
                      agency_id=current["agency_id"])  # fmt: skip
    planned = PlannedRow(i, values, frozenset(stated), current,
                         None if current is None else int(current["id"]))  # fmt: skip
    planned.refresh()
    return planned


_PIN_TAMBONS = """
SELECT u.i, pin.code, coalesce((
           SELECT ST_Distance(a.geom::geography,
                              ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography)
           FROM admin_area a WHERE a.code = pin.code), 'Infinity') AS m
FROM unnest(CAST(:i AS int[]), CAST(:lon AS float8[]), CAST(:lat AS float8[]))
     AS u(i, lon, lat)
LEFT JOIN LATERAL ({pin_tambon}) pin ON true
""".format(
    pin_tambon=pincheck.PIN_TAMBON.format(pin="ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)")
)


def pin_tambons(db: Executor, points: Sequence[PlannedRow]) -> list[tuple[str | None, float]]:
    """The tambon each pin stands in (or the nearest) and how far it is from it."""
    if not points:
        return []
    rows = db.execute(
        text(_PIN_TAMBONS),
        {"i": list(range(len(points))), "lon": [p.values["lon"] for p in points],
         "lat": [p.values["lat"] for p in points]},
    ).all()  # fmt: skip
    found = {r.i: (r.code, float(r.m)) for r in rows}
    return [found[i] for i in range(len(points))]


def outside_thailand(p: PlannedRow, distance_m: float) -> RowProblem:
    lat, lon = p.values["lat"], p.values["lon"]
    far = f"{distance_m / 1000:,.0f} km" if distance_m != float("inf") else "far"
    return RowProblem(p.row, "lat", f"the pin ({lat:.5f}, {lon:.5f}) lies {far} outside "
                      "Thailand: check that lat and lon are not swapped")  # fmt: skip


def _tambon_postcodes(db: Executor) -> dict[str, list[str]]:
    return {
        code: list(postcodes or [])
        for code, postcodes in db.execute(
            text("SELECT code, postcodes FROM admin_area WHERE level = 'tambon'")
        )
    }


def fill_from_pins(
    db: Executor, settings: Settings, planned: list[PlannedRow], errors: list[RowProblem]
) -> list[PlannedRow]:
    """The tambon of a new or moved pin whose row names none (the tambon it stands in),
    and a postcode the row does not state (the tambon's). A row naming a tambon is
    checked against it by the pin check; only a pin that names none is looked up here,
    and refused when it is farther than the tolerance from every tambon."""
    postcodes_of = _tambon_postcodes(db)
    todo = [p for p in planned if p.values["tambon_code"] is None]
    refused = set()
    for p, (code, distance) in zip(todo, pin_tambons(db, todo), strict=True):
        if code is None or distance > settings.pin_tambon_tolerance_m:
            errors.append(outside_thailand(p, distance))
            refused.add(p.row)
        else:
            p.values["tambon_code"] = code
    for p in planned:
        if p.row in refused or (p.current is not None and not p.changed):
            continue
        tambon = p.values["tambon_code"]
        if tambon not in postcodes_of:
            errors.append(RowProblem(p.row, "tambon_code", f"no tambon {tambon}: a 6-digit "
                                     "DOPA code (GET /v1/areas/tambon lists them)"))  # fmt: skip
            refused.add(p.row)
            continue
        postcodes = postcodes_of[tambon]
        # a postcode the row did not state follows the tambon (kept if it still fits)
        if "postcode" not in p.stated and postcodes and p.values["postcode"] not in postcodes:
            p.values["postcode"] = postcodes[0]
        p.refresh()
    return [p for p in planned if p.row not in refused]
