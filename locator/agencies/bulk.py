"""An agency's points in bulk: import a file of them, export them, sync what changed.

One file shape, both ways: what ``export`` writes, ``import_points`` reads back, so an
agency can export its points, fix them in a spreadsheet or a GIS, and import the file.
CSV (UTF-8, ``lat``/``lon`` columns), GeoJSON and GeoPackage (point geometries).

The import is all-or-nothing. Every row is checked (its fields, its agency and kind, the
point it updates, the same pin check as a single write) and the report names each bad
row, field and what to fix; one bad row and nothing is written. Rows are matched to the
agency's points by the agency's own id (``external_ref``), or by ``id`` as exported, and
otherwise created. A cell left empty (or a column left out) keeps the point's current
value, or the default for a new point: a half-filled sheet never wipes data.

Why the rows are written before the pin check, inside a savepoint: the check is the one
SQL the loader and the single writes use (``locator.registry.pincheck``), run once over every
written point, so a new row is compared with the registry *and* with the other rows of
the same file (two rows pinning one office twice are duplicates), in one pass. A refused
import, or a dry run, rolls the savepoint back. Measured on the whole 60,000-point
registry: bench/README.md (import).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.agencies.pinning import (
    BLOCKING_FLAGS,
    EDITABLE,
    PIN_FIELDS,
    PROVIDES,
    differs,
    kind_agencies,
    record_override,
)
from locator.db.engine import Executor
from locator.errors import InvalidInput, NotFound
from locator.progress import NullReporter, Reporter
from locator.registry import hours, pincheck
from locator.registry.agency_tree import subtree_cte
from locator.registry.provenance import synthetic_fields
from locator.schemas import PHONE_PATTERN
from locator.settings import Settings

Format = Literal["csv", "geojson", "gpkg"]
FORMATS: tuple[Format, ...] = ("csv", "geojson", "gpkg")
MEDIA_TYPES: dict[Format, str] = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
}
# what the export writes, in this order; the import reads the writable ones
COLUMNS = [
    "id", "external_ref", "agency", "kind", "name_th", "name_en", "lat", "lon",
    "address_th", "address_en", "tambon_code", "postcode", "phones", "opening_hours",
    "wheelchair", "priority_lane", "gecc", "status", "source", "version", "updated_at",
    "qa_flags", "synthetic",
]  # fmt: skip
# an import reads every column but source, updated_at, qa_flags and synthetic (exported
# for reading); ``id`` and ``version``, when given, must name the point as it is now
LIST_SEPARATOR = ";"  # phones, flags in flat files (a phone number holds no ';')
DEFAULT_HOURS = json.dumps(
    hours.weekly_from_days([[["08:30", "16:30"]]] * 5 + [[], []], closed_on_public_holidays=True),
    ensure_ascii=False,
)  # as JSON text, made once: dumping it per new row cost 0.6 s on 45,000 rows


# --- reading a file -------------------------------------------------------------------
def detect_format(name: str | None = None, content_type: str | None = None) -> Format:
    """The format a file name's extension or a Content-Type names."""
    media = (content_type or "").split(";")[0].strip().lower()
    by_media = {"text/csv": "csv", "application/geo+json": "geojson",
                "application/json": "geojson",
                "application/geopackage+sqlite3": "gpkg"}  # fmt: skip
    if media in by_media:
        return by_media[media]  # type: ignore[return-value]
    suffix = Path(name or "").suffix.lower().lstrip(".")
    by_suffix = {"csv": "csv", "geojson": "geojson", "json": "geojson", "gpkg": "gpkg"}
    if suffix in by_suffix:
        return by_suffix[suffix]  # type: ignore[return-value]
    raise InvalidInput(
        "say which format the file is: a .csv, .geojson or .gpkg file name, or a "
        "Content-Type of text/csv, application/geo+json or application/geopackage+sqlite3"
        f" (got {content_type or 'none'!s} and {name or 'no name'})"
    )


@dataclass
class Table:
    """The rows of a file as plain values, with the columns it had."""

    columns: list[str]
    rows: list[dict[str, Any]]


def read_file(data: bytes, fmt: Format, name: str = "the file") -> Table:
    if fmt == "csv":
        return _read_csv(data, name)
    if fmt == "geojson":
        return _read_geojson(data, name)
    return _read_gpkg(data, name)


def _read_csv(data: bytes, name: str) -> Table:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text: save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(content, newline=""))
    rows: list[dict[str, Any]] = []
    try:
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        for row in reader:
            if None in row:  # more cells than the header has names
                raise InvalidInput(
                    f"{name}, row {len(rows) + 1}: more cells than the header's "
                    f"{len(columns)} columns (a comma inside a cell needs quotes)",
                    row=len(rows) + 1,
                )
            rows.append(row)
    except csv.Error as exc:  # a NUL byte, an unclosed quote at the end
        raise InvalidInput(f"{name}, row {len(rows) + 1}: not CSV ({exc})") from None
    if not columns:
        raise InvalidInput(f"{name} is empty: a header row and one row per point are expected")
    return Table(columns, rows)


def _read_geojson(data: bytes, name: str) -> Table:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{name} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InvalidInput(f"{name}: a GeoJSON FeatureCollection is expected")
    features = doc.get("features")
    if not isinstance(features, list):
        raise InvalidInput(f"{name}: its features are not a list")
    columns: dict[str, None] = {}
    rows = []
    for i, feature in enumerate(features, 1):
        if not isinstance(feature, dict):
            raise InvalidInput(f"{name}, feature {i}: not a GeoJSON Feature", row=i)
        props = dict(feature.get("properties") or {})
        geometry = feature.get("geometry")
        if geometry is not None:
            props["lon"], props["lat"] = _point_coordinates(geometry, name, i)
        columns.update(dict.fromkeys(props))
        rows.append(props)
    return Table(list(columns), rows)


def _point_coordinates(geometry: Any, name: str, row: int) -> tuple[Any, Any]:
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (
        not isinstance(geometry, dict)
        or geometry.get("type") != "Point"
        or not isinstance(coords, list)
        or len(coords) < 2
    ):
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise InvalidInput(f"{name}, feature {row}: a pin is a Point geometry, not {kind}", row=row)
    return coords[0], coords[1]


def _read_gpkg(data: bytes, name: str) -> Table:
    import pyogrio  # type: ignore[import-untyped]

    with tempfile.NamedTemporaryFile(suffix=".gpkg") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            frame = pyogrio.read_dataframe(tmp.name)
        except Exception as exc:  # GDAL's message, for a file that is no GeoPackage
            raise InvalidInput(f"{name} could not be read as a GeoPackage: {exc}") from None
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geometry = frame.geometry
    columns = [c for c in frame.columns if c != geometry.name]
    records = frame[columns].astype(object).where(frame[columns].notna(), None)
    rows = records.to_dict("records")
    for i, (row, geom) in enumerate(zip(rows, geometry, strict=True), 1):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type != "Point":
            raise InvalidInput(
                f"{name}, feature {i}: a pin is a Point geometry, not {geom.geom_type}", row=i
            )
        row["lon"], row["lat"] = geom.x, geom.y
    return Table([*columns, "lat", "lon"], [{str(k): v for k, v in r.items()} for r in rows])


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


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1 = the first data row (the header is not counted)
    field: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    overridden: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "written": self.written, "rows": self.rows,
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "errors": [{"row": e.row, "field": e.field, "message": e.message}
                       for e in self.errors],
            "overridden": self.overridden,
        }  # fmt: skip


MAX_REPORTED_ERRORS = 1000


@dataclass
class _Planned:
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


@dataclass
class _Scope:
    """The importing agency and those below it: the points an import may touch."""

    agency_id: int
    code: str
    codes: dict[str, int]  # code -> id, every agency in scope
    ancestors: dict[int, set[str]]  # agency id -> its own code and every code above it


def agency_scope(db: Executor, code: str) -> _Scope:
    rows = db.execute(
        text(
            f"""
            WITH RECURSIVE {subtree_cte("code = :code", "down")},
            up AS (
                SELECT d.id AS start, a.id, a.parent_id, a.code
                FROM down d JOIN agency a ON a.id = d.id
                UNION ALL SELECT up.start, a.id, a.parent_id, a.code
                FROM up JOIN agency a ON a.id = up.parent_id)
            SELECT d.id, d.code, array_agg(DISTINCT up.code) AS above
            FROM down d JOIN up ON up.start = d.id GROUP BY d.id, d.code
            """
        ),
        {"code": code},
    ).all()
    if not rows:
        raise NotFound(
            f"no agency {code!r}: a code such as dopa (a department), dopa_50 (its office in "
            "one province) or rtp"
        )
    codes = {r.code: int(r.id) for r in rows}
    return _Scope(codes[code], code, codes, {int(r.id): set(r.above) for r in rows})


def _pydantic_problems(row: int, exc: ValidationError) -> list[RowProblem]:
    out = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"] if not isinstance(p, int)) or "row"
        value = e.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
        out.append(RowProblem(row, where, f"{e['msg']}{shown}"))
    return out


def _current_points(
    db: Executor, scope: _Scope, refs: Sequence[str], ids: Sequence[int]
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


def _plan_rows(
    db: Executor,
    settings: Settings,
    scope: _Scope,
    table: Table,
    errors: list[RowProblem],
    reporter: Reporter,
) -> list[_Planned]:
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
    scope: _Scope,
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


def _plan(i: int, r: ImportRow, current: Mapping[str, Any] | None, agency_id: int) -> _Planned:
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
    planned = _Planned(i, values, frozenset(stated), current,
                       None if current is None else int(current["id"]))  # fmt: skip
    planned.refresh()
    return planned


# --- writing ----------------------------------------------------------------------------
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


def _pin_tambons(db: Executor, points: Sequence[_Planned]) -> list[tuple[str | None, float]]:
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


def _outside_thailand(p: _Planned, distance_m: float) -> RowProblem:
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


def _fill_from_pins(db: Executor, settings: Settings, planned: list[_Planned],
                    errors: list[RowProblem]) -> list[_Planned]:  # fmt: skip
    """The tambon of a new or moved pin whose row names none (the tambon it stands in),
    and a postcode the row does not state (the tambon's). A row naming a tambon is
    checked against it by the pin check; only a pin that names none is looked up here,
    and refused when it is farther than the tolerance from every tambon."""
    postcodes_of = _tambon_postcodes(db)
    todo = [p for p in planned if p.values["tambon_code"] is None]
    refused = set()
    for p, (code, distance) in zip(todo, _pin_tambons(db, todo), strict=True):
        if code is None or distance > settings.pin_tambon_tolerance_m:
            errors.append(_outside_thailand(p, distance))
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


def _columns(planned: Sequence[_Planned]) -> dict[str, list[Any]]:
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


def _insert(db: Executor, planned: list[_Planned]) -> None:
    """New points through COPY, with ids drawn first so each row knows its point. An
    INSERT from 19 arrays of 60,000 values took 6.2 s where COPY of the same rows takes
    4.0 (bench/README.md, import): the difference was the arrays' SQL literals."""
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


def _update(db: Executor, planned: list[_Planned]) -> None:
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


def _log_changes(db: Executor, account_id: int | None, created: list[_Planned],
                 updated: list[_Planned]) -> None:  # fmt: skip
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


def _pin_check(
    db: Executor,
    settings: Settings,
    checked: list[_Planned],
    report: ImportReport,
    override: bool,
    confirm_duplicates: bool,
) -> list[pincheck.Finding]:
    """The shared pin check over the written points: refusals become row problems;
    returns the findings overridden (stored as QA flags, so the points need review)."""
    if not checked:
        return []
    row_of = {int(p.point_id or 0): p.row for p in checked}
    findings = pincheck.check_points(db, settings, list(row_of))
    away = {int(f.point_id or 0) for f in findings if f.flag == "outside_tambon"}
    if away:
        plans = [p for p in checked if int(p.point_id or 0) in away]
        abroad = set()
        for p, (code, distance) in zip(plans, _pin_tambons(db, plans), strict=True):
            if code is None or distance > settings.pin_tambon_tolerance_m:
                report.errors.append(_outside_thailand(p, distance))
                abroad.add(int(p.point_id or 0))
        findings = [f for f in findings if int(f.point_id or 0) not in abroad]
    overridden = []
    blocking: dict[int, list[pincheck.Finding]] = defaultdict(list)
    for f in findings:
        row = row_of[int(f.point_id or 0)]
        if f.flag in BLOCKING_FLAGS:
            if override:
                overridden.append(f)
            else:
                blocking[row].append(f)
        elif f.flag == "duplicate" and not confirm_duplicates:
            other = int(f.other_point_id or 0)
            where = f"row {row_of[other]}" if other in row_of else f"point {other}"
            report.errors.append(RowProblem(row, "name_th", f"a duplicate of {where}: "
                f"{f.detail}. Give that point's external_ref to update it; if this is "
                "another office, import with confirm_duplicates"))  # fmt: skip
    for row, found in blocking.items():
        report.errors.append(RowProblem(row, "lat", "the pin and the address disagree: "
            + "; ".join(f"{f.flag}: {f.detail}" for f in found)
            + ". Move the pin or correct the address; if both are right, import with "
            "override and the point will be reviewed"))  # fmt: skip
    return overridden


def limit_import_statements(db: Executor, settings: Settings) -> None:
    """The statement time limit of an import through the API, for the rest of the
    caller's transaction: longer than a single write's, still bounded."""
    db.execute(text(f"SET LOCAL statement_timeout = {int(settings.import_statement_timeout_ms)}"))


def import_points(
    db: Executor,
    settings: Settings,
    agency_code: str,
    table: Table,
    *,
    account_id: int | None = None,
    dry_run: bool = False,
    override: bool = False,
    confirm_duplicates: bool = False,
    reporter: Reporter | None = None,
) -> ImportReport:
    """Import ``table`` as ``agency_code``'s points inside the caller's transaction, at a
    savepoint that is kept only when every row is good and this is no dry run. The caller
    has checked that the account may act for the agency."""
    report = ImportReport(rows=len(table.rows), dry_run=dry_run)
    if not table.rows:
        raise InvalidInput("the file has no rows")
    if len(table.rows) > settings.max_import_rows:
        raise InvalidInput(
            f"{len(table.rows):,} rows: at most {settings.max_import_rows:,} in one import; "
            "split the file"
        )
    reporter = reporter or NullReporter()
    started = time.perf_counter()
    savepoint = db.begin_nested()
    try:
        scope = agency_scope(db, agency_code)
        planned = _plan_rows(db, settings, scope, table, report.errors, reporter)
        report.seconds["rows"] = time.perf_counter() - started
        reporter.stage("finding the tambons of pins")
        mark = time.perf_counter()
        planned = _fill_from_pins(db, settings, planned, report.errors)
        report.seconds["fill"] = time.perf_counter() - mark
        created = [p for p in planned if p.point_id is None]
        updated = [p for p in planned if p.point_id is not None and p.changed]
        report.unchanged = len(planned) - len(created) - len(updated)
        reporter.stage("writing the points", len(created) + len(updated))
        mark = time.perf_counter()
        _insert(db, created)
        _update(db, updated)
        report.seconds["write"] = time.perf_counter() - mark
        reporter.advance(len(created) + len(updated))
        mark = time.perf_counter()
        checked = created + [p for p in updated if PIN_FIELDS & set(p.changed)]
        reporter.stage("the pin check", len(checked))
        overridden = _pin_check(db, settings, checked, report, override, confirm_duplicates)
        report.seconds["pin_check"] = time.perf_counter() - mark
        reporter.advance(len(checked))
        report.errors.sort(key=lambda e: (e.row, e.field))
        if report.errors:
            del report.errors[MAX_REPORTED_ERRORS:]
            savepoint.rollback()
            return report
        reporter.stage("the change log")
        mark = time.perf_counter()
        _log_changes(db, account_id, created, updated)
        _store_overrides(db, account_id, overridden, report, checked)
        report.seconds["log"] = time.perf_counter() - mark
        report.created, report.updated = len(created), len(updated)
        if dry_run:
            savepoint.rollback()
        else:
            savepoint.commit()
            report.written = True
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    report.seconds["total"] = time.perf_counter() - started
    return report


def _store_overrides(db: Executor, account_id: int | None, overridden: list[pincheck.Finding],
                     report: ImportReport, checked: list[_Planned]) -> None:  # fmt: skip
    row_of = {int(p.point_id or 0): p.row for p in checked}
    by_point: dict[int, list[pincheck.Finding]] = defaultdict(list)
    for f in overridden:
        by_point[int(f.point_id or 0)].append(f)
    for point_id, findings in by_point.items():
        record_override(db, account_id, point_id, findings)
        report.overridden.append({"row": row_of[point_id], "point_id": point_id,
                                  "flags": [f.flag for f in findings]})  # fmt: skip


# --- export -----------------------------------------------------------------------------
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


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["phones"] = LIST_SEPARATOR.join(row["phones"])
    out["qa_flags"] = LIST_SEPARATOR.join(row["qa_flags"])
    out["updated_at"] = row["updated_at"].isoformat()
    return out


def write_export(rows: Iterable[Mapping[str, Any]], fmt: Format) -> bytes:
    """The rows as a file of ``fmt``, in ``COLUMNS`` order."""
    rows = list(rows)
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(_flat(r) for r in rows)
        return buffer.getvalue().encode("utf-8")
    if fmt == "geojson":
        features = [
            {"type": "Feature", "id": r["id"],
             "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
             "properties": {**{k: r[k] for k in COLUMNS if k not in ("lat", "lon")},
                            "synthetic": [f for f in r["synthetic"].split(",") if f]}}
            for r in rows
        ]  # fmt: skip
        doc = {"type": "FeatureCollection", "features": features}
        return orjson.dumps(doc, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)
    return _write_gpkg(rows)


def _write_gpkg(rows: list[Mapping[str, Any]]) -> bytes:
    import geopandas as gpd
    import pandas as pd
    import shapely

    flat = [_flat(r) for r in rows]
    frame = pd.DataFrame(flat, columns=COLUMNS)
    points = shapely.points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    gdf = gpd.GeoDataFrame(frame.drop(columns=["lat", "lon"]), geometry=points, crs=4326)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "points.gpkg"
        gdf.to_file(path, layer="service_points", driver="GPKG", engine="pyogrio")
        return path.read_bytes()
