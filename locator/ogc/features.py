"""The registry as OGC API Features: pages of service points as GeoJSON-ready dicts.

Plain functions over a SQLAlchemy Session or Connection (``locator.db.engine.Executor``), free
of the web framework; the HTTP facade (``locator.api.routers.ogc``) adds links and media types
around what these return.

A ``bbox`` is a rectangle in longitude/latitude (CRS84), so a point is inside when its
longitude and latitude lie within the ranges: that test is exact. The GiST index on
``geog`` is reached with ``&&`` against the same rectangle cast to geography. A
geography polygon has great-circle edges, which bow towards the pole and would cut off
points just inside the rectangle's equator-side edge (by kilometres on a box several
degrees wide), so the index envelope is first segmentized (0.05-degree edges bow by
well under a metre) and widened by 0.01 degree: it is a superset, and the exact test
trims it. With ``service`` the filter runs on the offering table, whose composite GiST
index (service_code, geog) answers both at once.

A CQL2 ``filter`` (OGC API Features Part 3) is parsed by the ``cql2`` package (the
reference CQL2 implementation's Python binding) into the standard's own JSON form,
and that tree is translated here into SQLAlchemy expressions over the queryables
(``QUERYABLES``): column names come only from that table, every value is a bound
parameter. A geometry in ``S_INTERSECTS`` is tested like ``bbox``: planar in CRS84,
through the same index envelope. The filter is ANDed with the shared point filters and
the bbox; ``sortby`` orders by queryables with the id as the last key (stable pages);
``properties`` chooses the properties returned.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

import cql2
import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Text,
    and_,
    bindparam,
    column,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.engine import Dialect

from locator.db.engine import Executor, run_prepared
from locator.errors import InvalidInput, NotFound
from locator.query.filters import NO_COPY_POINT, PointFilter, check_codes, conditions
from locator.registry.models import POINT_SOURCES, POINT_STATUSES
from locator.registry.provenance import synthetic_fields

COLLECTION_ID = "service_points"
CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# the index envelope: edges of at most this many degrees, widened by this margin
_SEGMENT_DEG = 0.05
_MARGIN_DEG = 0.01
_MAX_ID = 2**63 - 1  # bigint

# The feature properties, in the order they are written.
PROPERTIES = (
    "name_th",
    "name_en",
    "kind",
    "agency",
    "address_th",
    "address_en",
    "tambon_code",
    "postcode",
    "status",
    "source",
    "wheelchair",
    "priority_lane",
    "gecc",
    "no_copy",
)
DERIVED_PROPERTIES = ("synthetic",)
"""Computed, not stored: ``synthetic`` lists the point's made-up fields (provenance)."""
SERVICE_PROPERTIES = ("service", "copies_required")
"""Written only when the items are filtered by ``service``: that offering's answer."""


# --- boxes -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BBox:
    """A longitude/latitude rectangle (CRS84), edges included."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @property
    def area_deg2(self) -> float:
        return (self.max_lon - self.min_lon) * (self.max_lat - self.min_lat)


def parse_bbox(value: str, max_area_deg2: float) -> BBox:
    """``minLon,minLat,maxLon,maxLat`` (or the 6-number form with heights, which are
    ignored), checked for order, range and area."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in (4, 6):
        raise InvalidInput(
            f"bbox: give 4 comma-separated numbers minLon,minLat,maxLon,maxLat "
            f"(got {len(parts)} value{'s' if len(parts) != 1 else ''})",
            parameter="bbox",
        )
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidInput(
            f"bbox: {value!r} is not 4 comma-separated numbers minLon,minLat,maxLon,maxLat",
            parameter="bbox",
        ) from None
    box = _box(numbers, "bbox", "bbox")
    if box.area_deg2 > max_area_deg2:
        raise InvalidInput(
            f"bbox: the box covers {box.area_deg2:.1f} square degrees, more than the "
            f"{max_area_deg2:g} allowed; ask for a smaller box (all of Thailand is about 125)",
            parameter="bbox",
            max_area_deg2=max_area_deg2,
        )
    return box


def _box(numbers: list[float], where: str, parameter: str) -> BBox:
    """4 numbers (or 6, with heights, which are ignored) as a box, checked for range and
    order; ``where`` starts each message (``bbox``, or the filter's ``BBOX(...)``)."""
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidInput(f"{where}: every value must be a finite number", parameter=parameter)
    if len(numbers) == 6:  # minLon,minLat,minHeight,maxLon,maxLat,maxHeight
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    box = BBox(*numbers)
    order = "(the order is minLon,minLat,maxLon,maxLat)"
    for name, lon in (("minLon", box.min_lon), ("maxLon", box.max_lon)):
        if not -180 <= lon <= 180:
            raise InvalidInput(
                f"{where}: {name} {lon:g} is outside -180..180 {order}", parameter=parameter
            )
    for name, lat in (("minLat", box.min_lat), ("maxLat", box.max_lat)):
        if not -90 <= lat <= 90:
            raise InvalidInput(
                f"{where}: {name} {lat:g} is outside -90..90 {order}", parameter=parameter
            )
    if box.min_lon > box.max_lon:
        raise InvalidInput(
            f"{where}: minLon {box.min_lon:g} is greater than maxLon {box.max_lon:g}; "
            "give minLon,minLat,maxLon,maxLat (boxes across the antimeridian are not supported)",
            parameter=parameter,
        )
    if box.min_lat > box.max_lat:
        raise InvalidInput(
            f"{where}: minLat {box.min_lat:g} is greater than maxLat {box.max_lat:g}; "
            "give minLon,minLat,maxLon,maxLat",
            parameter=parameter,
        )
    return box


# --- queryables ----------------------------------------------------------------------------
QueryableType = Literal["string", "integer", "boolean", "geometry"]


@dataclass(frozen=True)
class Queryable:
    """A property a filter may name, and a sort may order by when ``sortable``."""

    name: str
    type: QueryableType
    title: str
    nullable: bool = False
    sortable: bool = True
    enum: tuple[str, ...] = ()


QUERYABLES: dict[str, Queryable] = {
    q.name: q
    for q in (
        Queryable("id", "integer", "Feature id (the point's id)"),
        Queryable("name_th", "string", "Name in Thai"),
        Queryable("name_en", "string", "Name in English"),
        Queryable("kind", "string", "Kind of service point, e.g. land_office"),
        Queryable("agency", "string", "Code of the agency the point belongs to"),
        Queryable("status", "string", "Operating status", enum=POINT_STATUSES),
        Queryable("source", "string", "Where the position comes from", enum=POINT_SOURCES),
        Queryable("tambon_code", "string", "DOPA code of the tambon", nullable=True),
        Queryable("postcode", "string", "Postcode", nullable=True),
        Queryable("wheelchair", "boolean", "Step-free access"),
        Queryable("priority_lane", "boolean", "Priority lane for the elderly and disabled"),
        Queryable("gecc", "boolean", "GECC-certified office"),
        Queryable(
            "no_copy",
            "boolean",
            "Asks for no photocopies (for `service` when given, else for every service)",
            sortable=False,
        ),
        Queryable("geometry", "geometry", "Position (CRS84)", sortable=False),
    )
}


def queryables_schema(url: str, *, sortables: bool = False) -> dict[str, Any]:
    """The queryables (or, with ``sortables``, the sortables) as the JSON Schema that OGC
    API Features Part 3 (and the Part 8 draft) describe: clients build their filter and
    sort forms from it, so it lists exactly what ``filter`` and ``sortby`` accept."""
    chosen = [q for q in QUERYABLES.values() if q.sortable or not sortables]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "type": "object",
        "title": "Service points: " + ("sortables" if sortables else "queryables"),
        "properties": {q.name: _property_schema(q) for q in chosen},
        "additionalProperties": False,
    }


def _property_schema(q: Queryable) -> dict[str, Any]:
    if q.type == "geometry":
        return {"title": q.title, "format": "geometry-point"}
    schema: dict[str, Any] = {"title": q.title, "type": q.type}
    if q.enum:
        schema["enum"] = list(q.enum)
    if q.nullable:
        schema["description"] = "may be null (test with IS NULL)"
    return schema


# --- parsing a CQL2 filter -----------------------------------------------------------------
FilterLang = Literal["cql2-text", "cql-text"]
MAX_FILTER_LENGTH = 4096
"""Characters in a filter: a polygon of about 150 vertices fits."""
MAX_FILTER_DEPTH = 40
"""Nesting of the parsed tree (AND/OR/NOT, functions) a filter may have."""
MAX_LIST_ITEMS = 1000
"""Values in one ``IN (...)`` list."""

# cql2's parser is recursive native code: a deeply nested filter could exhaust a thread's
# stack and take the process down with it. It therefore runs on one thread of its own
# with a stack far larger than the longest filter allowed can need (measured: 2,000
# nested parentheses, the most 4,096 characters can hold, need under 10 MB).
_PARSER_STACK_BYTES = 128 * 2**20
_parser_lock = threading.Lock()
_parser_pool: ThreadPoolExecutor | None = None


def _parser() -> ThreadPoolExecutor:
    global _parser_pool
    with _parser_lock:
        if _parser_pool is None:
            previous = threading.stack_size(_PARSER_STACK_BYTES)
            try:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cql2-parser")
                pool.submit(int).result()  # its one thread starts now, with that stack
            finally:
                threading.stack_size(previous)
            _parser_pool = pool
        return _parser_pool


def _parse_text(value: str) -> Any:
    return cql2.parse_text(value).to_json()


@dataclass(frozen=True)
class CqlFilter:
    """A parsed filter: the CQL2-JSON tree, and the queryables it names."""

    tree: Any
    properties: frozenset[str]


def parse_filter(value: str, lang: FilterLang = "cql2-text", crs: str | None = None) -> CqlFilter:
    """CQL2 text (``cql-text`` is the pre-standard name GDAL up to 3.6 sends; it writes
    the common subset) into its tree; 422 naming the position or the unknown name."""
    if crs not in (None, CRS84):
        raise InvalidInput(
            f"filter-crs: only {CRS84} (longitude, latitude) is supported", parameter="filter-crs"
        )
    if not value.strip():
        raise InvalidInput("filter: the filter is empty", parameter="filter")
    if len(value) > MAX_FILTER_LENGTH:
        raise InvalidInput(
            f"filter: longer than {MAX_FILTER_LENGTH} characters", parameter="filter"
        )
    try:
        tree = _parser().submit(_parse_text, value).result()
    except (cql2.ParseError, ValueError) as exc:
        raise InvalidInput(f"filter: {_parse_message(str(exc))}", parameter="filter") from None
    names: set[str] = set()
    _check_tree(tree, 0, names)
    unknown = sorted(names - QUERYABLES.keys())
    if unknown:
        raise InvalidInput(
            f"filter: unknown propert{'ies' if len(unknown) > 1 else 'y'} "
            f"{', '.join(unknown)}; the queryables are: {', '.join(QUERYABLES)}",
            parameter="filter",
            unknown=unknown,
        )
    return CqlFilter(tree, frozenset(names))


def _parse_message(raw: str) -> str:
    """cql2's parse errors draw the line with a caret; say it in one line instead."""
    position = re.search(r"-->\s*(\d+):(\d+)", raw)
    expected = re.search(r"=\s*(expected .*)", raw)
    if position and expected:
        return (
            f"not valid CQL2 text at character {position.group(2)}: {expected.group(1)} "
            "(see the queryables for the property names)"
        )
    return " ".join(raw.split()) or "not valid CQL2 text"


def _check_tree(node: Any, depth: int, names: set[str]) -> None:
    """Bound the tree's depth (the translation recurses) and collect the property names."""
    if depth > MAX_FILTER_DEPTH:
        raise InvalidInput(
            f"filter: nested more than {MAX_FILTER_DEPTH} levels deep; simplify it",
            parameter="filter",
        )
    if isinstance(node, dict):
        if "property" in node:
            names.add(str(node["property"]))
        for child in node.get("args", ()):
            _check_tree(child, depth + 1, names)
    elif isinstance(node, list):
        for child in node:
            _check_tree(child, depth + 1, names)


# --- translating it to SQL -----------------------------------------------------------------
_P = table(
    "service_point",
    column("id", BigInteger()),
    column("agency_id", BigInteger()),
    *(column(name, Text()) for name in ("name_th", "name_en", "kind", "status", "source")),
    column("tambon_code", Text()),
    column("postcode", Text()),
    *(column(name, Boolean()) for name in ("wheelchair", "priority_lane", "gecc")),
).alias("p")
_AGENCY = table("agency", column("id", BigInteger()), column("code", Text())).alias("ag")
AGENCY_CODE = "(SELECT ag.code FROM agency ag WHERE ag.id = p.agency_id)"
"""The point's agency code as a value, for ordering (filters use ``_on_queryable``)."""
# psycopg2's, as the engines use (no casts on parameters), rendering :name parameters for
# text(); its constructor is untyped
_DIALECT: Dialect = cast(Any, PGDialect_psycopg2)(paramstyle="named")

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SUPPORTED = "AND, OR, NOT, =, <>, <, <=, >, >=, LIKE, IN, BETWEEN, IS NULL, CASEI, S_INTERSECTS"


@dataclass
class _Sql:
    """One translation: where the position is (``p.geog``, or ``o.geog`` with a service,
    for the composite index), and the bound parameters named so far."""

    geog: str
    offering: bool
    prefix: str = "cql_"
    count: int = 0

    params: dict[str, Any] = field(default_factory=dict)
    """Parameters of the SQL text fragments (``fragment``), beside the bound ones."""

    def bind(self, value: Any, type_: Any = None) -> Any:
        self.count += 1
        return bindparam(f"{self.prefix}{self.count}", value, type_=type_)

    def fragment(self, sql_text: str, params: dict[str, Any]) -> ColumnElement[bool]:
        """A condition written as SQL text with ``:name`` parameters (``box_sql``)."""
        self.params.update(params)
        return literal_column(f"({sql_text})", Boolean())


@dataclass(frozen=True)
class _Operand:
    """One side of a predicate: a queryable (maybe under CASEI) or a literal value."""

    queryable: Queryable | None = None
    value: Any = None
    casei: bool = False


def filter_sql(cql: CqlFilter, geog: str, offering: bool) -> tuple[str, dict[str, Any]]:
    """The filter as a WHERE fragment over ``p`` (and ``o`` with a service), and its
    parameters: compiled from SQLAlchemy expressions, every value bound."""
    sql = _Sql(geog, offering)
    fragment, params = compile_fragment(_predicate(cql.tree, sql))
    return fragment, {**params, **sql.params}


def compile_fragment(expression: ColumnElement[Any]) -> tuple[str, dict[str, Any]]:
    compiled = expression.compile(dialect=_DIALECT)
    return str(compiled), dict(compiled.params)


def _fail(message: str) -> InvalidInput:
    return InvalidInput(f"filter: {message}", parameter="filter")


def _predicate(node: Any, sql: _Sql) -> ColumnElement[bool]:
    if isinstance(node, bool):
        return true() if node else false()
    if not isinstance(node, dict) or "op" not in node:
        raise _fail(f"{_describe(node)} is not a condition; compare a property with a value")
    op = str(node["op"]).lower()
    args = list(node.get("args", ()))
    if op in ("and", "or"):
        parts = [_predicate(arg, sql) for arg in args]
        return and_(*parts) if op == "and" else or_(*parts)
    if op == "not":
        if len(args) != 1:
            raise _fail("NOT takes one condition")
        return not_(_predicate(args[0], sql))
    handler = _PREDICATES.get(op)
    if handler is None:
        raise _fail(f"{op.upper()} is not supported; the filter may use {_SUPPORTED}")
    return handler(args, sql)


def _operand(node: Any, casei: bool = False) -> _Operand:
    if isinstance(node, dict) and "property" in node:
        return _Operand(queryable=QUERYABLES[str(node["property"])], casei=casei)
    if isinstance(node, dict) and str(node.get("op", "")).lower() == "casei":
        if casei or len(node.get("args", ())) != 1:
            raise _fail("CASEI takes one property or one string")
        return _operand(node["args"][0], casei=True)
    if isinstance(node, dict) and ("op" in node or "timestamp" in node or "date" in node):
        raise _fail(f"{_describe(node)} cannot be used here; compare a property with a value")
    return _Operand(value=node, casei=casei)


def _describe(node: Any) -> str:
    if isinstance(node, dict):
        if "op" in node:
            return f"{str(node['op']).upper()}(...)"
        if "timestamp" in node or "date" in node:
            return "a date or time"
        if "bbox" in node or "type" in node:
            return "a geometry"
        if "property" in node:
            return f"the property {node['property']}"
    if isinstance(node, list):
        return "a list"
    return repr(node)


def _property_and_value(args: list[Any], op: str) -> tuple[_Operand, _Operand, bool]:
    """The queryable side and the value side of a binary predicate, and whether the
    value came first (``'x' = kind``)."""
    if len(args) != 2:
        raise _fail(f"{op.upper()} takes two operands")
    left, right = _operand(args[0]), _operand(args[1])
    if left.queryable and right.queryable:
        raise _fail(f"{op.upper()} compares a property with a value, not two properties")
    if left.queryable:
        return left, right, False
    if right.queryable:
        return right, left, True
    raise _fail(f"{op.upper()} needs a property (one of the queryables) on one side")


def _comparison(op: str) -> Callable[[list[Any], _Sql], ColumnElement[bool]]:
    def build(args: list[Any], sql: _Sql) -> ColumnElement[bool]:
        prop, value, flipped = _property_and_value(args, op)
        actual = _FLIPPED[op] if flipped else op
        q = _queryable(prop)
        if q.type == "boolean":
            return _boolean_comparison(q, actual, value, sql)
        bound = _value(q, value, sql, actual)
        return _on_queryable(q, sql, prop.casei, lambda col: _COMPARISONS[actual](col, bound))

    return build


def _boolean_comparison(q: Queryable, op: str, value: _Operand, sql: _Sql) -> ColumnElement[bool]:
    """``wheelchair = true`` as the bare predicate, so a computed flag (no_copy) stays a
    plain (NOT) EXISTS the planner knows."""
    if op not in ("=", "<>"):
        raise _fail(f"{q.name} is true or false: compare it with = or <>")
    wanted = _boolean(q, value)
    column_ = _boolean_column(q, sql)
    return column_ if wanted == (op == "=") else not_(column_)


def _boolean(q: Queryable, value: _Operand) -> bool:
    # GDAL writes booleans as 1 and 0 (they are integer fields to it)
    if isinstance(value.value, bool):
        return value.value
    if isinstance(value.value, float | int) and value.value in (0, 1):
        return bool(value.value)
    raise _fail(f"{q.name} is true or false: compare it with TRUE or FALSE")


def _boolean_column(q: Queryable, sql: _Sql) -> ColumnElement[bool]:
    if q.name == "no_copy":
        if sql.offering:
            return literal_column("cardinality(o.copies_required) = 0", Boolean())
        return literal_column(f"({NO_COPY_POINT})", Boolean())
    result: ColumnElement[bool] = _P.c[q.name]
    return result


def _queryable(prop: _Operand) -> Queryable:
    q = prop.queryable
    assert q is not None
    if q.type == "geometry":
        raise _fail("geometry can only be tested with S_INTERSECTS(geometry, ...)")
    if prop.casei and q.type != "string":
        raise _fail(f"CASEI applies to text; {q.name} is {_article(q.type)}")
    return q


def _article(type_: str) -> str:
    return {"integer": "an integer", "boolean": "true or false"}.get(type_, type_)


def _value(q: Queryable, value: _Operand, sql: _Sql, op: str) -> Any:
    """The literal as a bound parameter of the queryable's type (422 otherwise)."""
    v = value.value
    if q.type == "string":
        if not isinstance(v, str):
            raise _fail(
                f"{q.name} is text: compare it with a quoted string, e.g. {q.name} {op} '...'"
            )
        return sql.bind(v, Text()) if not value.casei else func.lower(sql.bind(v, Text()))
    if value.casei:
        raise _fail(f"CASEI applies to text; {q.name} is {_article(q.type)}")
    return sql.bind(_integer(q, v), BigInteger())


def _integer(q: Queryable, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _fail(f"{q.name} is an integer: compare it with a number")
    if v != int(v) or not -_MAX_ID <= v <= _MAX_ID:
        raise _fail(f"{q.name} is an integer: {v!r} is not one")
    return int(v)


def _on_queryable(
    q: Queryable,
    sql: _Sql,
    casei: bool,
    test: Callable[[ColumnElement[Any]], ColumnElement[bool]],
) -> ColumnElement[bool]:
    """``test`` applied to the queryable's column; for ``agency`` the test runs on the
    agency table (``p.agency_id IN (SELECT ... WHERE code ...)``: its indexes, no
    per-row lookup)."""
    if q.name == "agency":
        code: ColumnElement[Any] = _AGENCY.c.code
        code = func.lower(code) if casei else code
        return _P.c.agency_id.in_(select(_AGENCY.c.id).where(test(code)).scalar_subquery())
    col: ColumnElement[Any] = _P.c[q.name]
    return test(func.lower(col) if casei else col)


def _like(args: list[Any], sql: _Sql) -> ColumnElement[bool]:
    if len(args) != 2:
        raise _fail("LIKE takes a property and a pattern")
    prop, pattern = _operand(args[0]), _operand(args[1])
    if prop.queryable is None or pattern.queryable is not None:
        raise _fail("LIKE takes a property first, then a quoted pattern")
    q = _queryable(prop)
    if q.type != "string":
        raise _fail(f"LIKE applies to text; {q.name} is {_article(q.type)}")
    if not isinstance(pattern.value, str):
        raise _fail("LIKE takes a quoted pattern ('%' any text, '_' one character)")
    trailing = len(pattern.value) - len(pattern.value.rstrip("\\"))
    if trailing % 2:
        raise _fail("a LIKE pattern cannot end with the escape character \\")
    if prop.casei and pattern.casei:
        # ILIKE, which the trigram indexes on the names answer; lower() on both sides
        # would be the same test, by a full scan
        plain = sql.bind(pattern.value, Text())
        return _on_queryable(q, sql, False, lambda col: col.ilike(plain))
    bound = _value(q, pattern, sql, "LIKE")
    return _on_queryable(q, sql, prop.casei, lambda col: col.like(bound))


def _in(args: list[Any], sql: _Sql) -> ColumnElement[bool]:
    if len(args) != 2 or not isinstance(args[1], list):
        raise _fail("IN takes a property and a list of values: kind IN ('a', 'b')")
    prop = _operand(args[0])
    if prop.queryable is None:
        raise _fail("IN takes a property first, then a list of values")
    q = _queryable(prop)
    items = args[1]
    if not 1 <= len(items) <= MAX_LIST_ITEMS:
        raise _fail(f"IN takes 1 to {MAX_LIST_ITEMS} values (got {len(items)})")
    if q.type == "boolean":
        wanted = {_boolean(q, _operand(item)) for item in items}
        column_ = _boolean_column(q, sql)
        return true() if len(wanted) == 2 else (column_ if True in wanted else not_(column_))
    bound = [_value(q, _operand(item), sql, "IN") for item in items]
    return _on_queryable(q, sql, prop.casei, lambda col: col.in_(bound))


def _between(args: list[Any], sql: _Sql) -> ColumnElement[bool]:
    if len(args) != 3:
        raise _fail("BETWEEN takes a property and two numbers: id BETWEEN 1 AND 10")
    prop = _operand(args[0])
    if prop.queryable is None:
        raise _fail("BETWEEN takes a property first")
    q = _queryable(prop)
    if q.type != "integer":
        raise _fail(f"BETWEEN compares numbers; {q.name} is {_article(q.type)}")
    low, high = (_value(q, _operand(arg), sql, "BETWEEN") for arg in args[1:])
    return _on_queryable(q, sql, False, lambda col: col.between(low, high))


def _is_null(args: list[Any], sql: _Sql) -> ColumnElement[bool]:
    prop = _operand(args[0]) if len(args) == 1 else _Operand()
    if prop.queryable is None:
        raise _fail("IS NULL applies to a property: postcode IS NULL")
    q = prop.queryable
    if not q.nullable:
        return false()  # every point has it
    col: ColumnElement[Any] = _P.c[q.name]
    return col.is_(None)


def _s_intersects(args: list[Any], sql: _Sql) -> ColumnElement[bool]:
    if len(args) != 2:
        raise _fail("S_INTERSECTS takes the geometry property and a geometry")
    first, second = _operand(args[0]), _operand(args[1])
    prop, literal = (first, second) if first.queryable else (second, first)
    if prop.queryable is None or prop.queryable.type != "geometry" or literal.queryable:
        raise _fail("S_INTERSECTS takes the property geometry and a geometry literal")
    return _intersects(literal.value, sql)


_PREDICATES: dict[str, Callable[[list[Any], _Sql], ColumnElement[bool]]] = {
    **{op: _comparison(op) for op in _COMPARISONS},
    "like": _like,
    "in": _in,
    "between": _between,
    "isnull": _is_null,
    "s_intersects": _s_intersects,
}


# --- space ---------------------------------------------------------------------------------
def _intersects(literal: Any, sql: _Sql) -> ColumnElement[bool]:
    """A point intersects a BBOX when its longitude and latitude lie in the ranges, and
    any other geometry when the planar (CRS84) test says so; both behind the index
    envelope of the geometry's bounds (see the module's notes)."""
    if isinstance(literal, dict) and "bbox" in literal:
        numbers = literal["bbox"]
        if not isinstance(numbers, list) or len(numbers) not in (4, 6):
            raise _fail("BBOX takes 4 numbers: minLon, minLat, maxLon, maxLat")
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            raise _fail("BBOX takes 4 numbers: minLon, minLat, maxLon, maxLat")
        box = _box([float(n) for n in numbers], "filter: BBOX", "filter")
        return box_condition(box, sql)
    geometry = _geometry(literal)
    lo_lon, lo_lat, hi_lon, hi_lat = geometry.bounds
    exact = func.ST_Intersects(
        literal_column(f"{sql.geog}::geometry"),
        func.ST_SetSRID(func.ST_GeomFromGeoJSON(sql.bind(shapely.to_geojson(geometry))), 4326),
    )
    return and_(_index_envelope(BBox(lo_lon, lo_lat, hi_lon, hi_lat), sql), exact)


def _geometry(literal: Any) -> BaseGeometry:
    if not isinstance(literal, dict) or "type" not in literal:
        raise _fail("S_INTERSECTS takes a geometry: BBOX(...), POINT(...), POLYGON(...), ...")
    try:
        geometry = shapely.force_2d(shape(literal))
    except (ValueError, TypeError, GEOSException) as exc:
        raise _fail(f"the geometry cannot be used: {exc}") from None
    if geometry.is_empty:
        raise _fail("the geometry is empty")
    lo_lon, lo_lat, hi_lon, hi_lat = geometry.bounds
    if not (-180 <= lo_lon <= hi_lon <= 180 and -90 <= lo_lat <= hi_lat <= 90):
        raise _fail("geometry coordinates are longitude (-180..180) then latitude (-90..90)")
    if not geometry.is_valid:
        raise _fail(f"the geometry is not valid: {shapely.is_valid_reason(geometry)}")
    return geometry


def box_condition(box: BBox, sql: _Sql) -> ColumnElement[bool]:
    """``box_sql`` as an expression of the filter's tree, its parameters named apart."""
    sql.count += 1
    return sql.fragment(*box_sql(box, sql.geog, f"{sql.prefix}{sql.count}_"))


def _index_envelope(box: BBox, sql: _Sql) -> ColumnElement[bool]:
    sql.count += 1
    return sql.fragment(*envelope_sql(box, sql.geog, f"{sql.prefix}{sql.count}_"))


def box_sql(box: BBox, geog: str, prefix: str = "b_") -> tuple[str, dict[str, float]]:
    """Points in ``box``: the index envelope, then the exact longitude/latitude test.
    Plain SQL text, the same for every box (the values are parameters), so the page
    query it is part of can be a prepared statement."""
    envelope, params = envelope_sql(box, geog, prefix)
    params.update(
        {
            f"{prefix}min_lon": box.min_lon,
            f"{prefix}max_lon": box.max_lon,
            f"{prefix}min_lat": box.min_lat,
            f"{prefix}max_lat": box.max_lat,
        }
    )
    return (
        f"{envelope}"
        f" AND ST_X({geog}::geometry) BETWEEN :{prefix}min_lon AND :{prefix}max_lon"
        f" AND ST_Y({geog}::geometry) BETWEEN :{prefix}min_lat AND :{prefix}max_lat"
    ), params


def envelope_sql(box: BBox, geog: str, prefix: str) -> tuple[str, dict[str, float]]:
    """``geog && envelope``: a superset of the box that the GiST index answers."""
    params = {
        f"{prefix}i_min_lon": max(-180.0, box.min_lon - _MARGIN_DEG),
        f"{prefix}i_min_lat": max(-90.0, box.min_lat - _MARGIN_DEG),
        f"{prefix}i_max_lon": min(180.0, box.max_lon + _MARGIN_DEG),
        f"{prefix}i_max_lat": min(90.0, box.max_lat + _MARGIN_DEG),
        f"{prefix}segment": _SEGMENT_DEG,
    }
    return (
        f"{geog} && ST_Segmentize(ST_MakeEnvelope(:{prefix}i_min_lon, :{prefix}i_min_lat, "
        f":{prefix}i_max_lon, :{prefix}i_max_lat, 4326), :{prefix}segment)::geography"
    ), params


# --- sorting and choosing properties -------------------------------------------------------
@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool = False


def parse_sortby(value: str | None) -> tuple[SortKey, ...]:
    """``name_en,-id``: sortables, each at most once, ``-`` for descending (``+`` or
    nothing for ascending; a ``+`` left unencoded in a URL arrives as a space)."""
    if value is None:
        return ()
    keys: list[SortKey] = []
    for raw in value.split(","):
        item = raw.strip()
        descending = item.startswith("-")
        name = item[1:].strip() if item[:1] in "+-" and item else item
        q = QUERYABLES.get(name)
        if q is None or not q.sortable:
            sortable = ", ".join(q.name for q in QUERYABLES.values() if q.sortable)
            raise InvalidInput(
                f"sortby: {name or raw!r} is not sortable; give comma-separated names, "
                f"'-' before one for descending order, from: {sortable}",
                parameter="sortby",
            )
        if any(k.name == name for k in keys):
            raise InvalidInput(f"sortby: {name} is given twice", parameter="sortby")
        keys.append(SortKey(name, descending))
    return tuple(keys)


def order_by(keys: Iterable[SortKey]) -> str:
    """ORDER BY over ``p``: the keys, then the id, so a page boundary never splits ties
    differently from one request to the next."""
    terms = []
    has_id = False
    for key in keys:
        has_id = has_id or key.name == "id"
        expression = AGENCY_CODE if key.name == "agency" else f"p.{key.name}"
        terms.append(expression + (" DESC" if key.descending else ""))
    if not has_id:
        terms.append("p.id")
    return ", ".join(terms)


def parse_properties(value: str | None) -> tuple[str, ...] | None:
    """``properties=name_en,kind``: the feature properties to return (None: all;
    empty: none, just the geometry and id)."""
    if value is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    known = PROPERTIES + DERIVED_PROPERTIES + SERVICE_PROPERTIES
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(
            f"properties: unknown {', '.join(unknown)}; the properties are: {', '.join(known)}",
            parameter="properties",
            unknown=unknown,
        )
    return names


# --- pages of items ------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemQuery:
    """One page of ``/collections/service_points/items``: the shared point filters, a
    box, a CQL2 filter, the order, the properties, and the page."""

    filters: PointFilter = field(default_factory=PointFilter)
    bbox: BBox | None = None
    cql: CqlFilter | None = None
    sortby: tuple[SortKey, ...] = ()
    properties: tuple[str, ...] | None = None
    limit: int = 100
    offset: int = 0


def filters_with(f: PointFilter, cql: CqlFilter | None, status_given: bool) -> PointFilter:
    """Active points by default, on every door; but a filter that speaks of ``status``
    itself (``status = 'closed'``) means every point, unless ``status=`` was given too."""
    if cql is not None and "status" in cql.properties and not status_given:
        return f.model_copy(update={"status": "any"})
    return f


@dataclass
class FeaturePage:
    features: list[dict[str, Any]]
    number_matched: int
    limit: int
    offset: int
    time_stamp: str

    @property
    def number_returned(self) -> int:
        return len(self.features)

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.number_matched

    @property
    def has_prev(self) -> bool:
        return self.offset > 0


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _check_query(db: Executor, q: ItemQuery, max_page_size: int) -> None:
    if not 1 <= q.limit <= max_page_size:
        raise InvalidInput(
            f"limit: give a number from 1 to {max_page_size} (got {q.limit})", parameter="limit"
        )
    if q.offset < 0:
        raise InvalidInput(f"offset: give 0 or more (got {q.offset})", parameter="offset")
    check_codes(db, q.filters)


def items_sql(q: ItemQuery) -> tuple[str, str, dict[str, Any]]:
    """The page query and the count query for ``q`` (exposed so tests can EXPLAIN them)."""
    c = conditions(q.filters)
    c.params.update(limit=q.limit, offset=q.offset)
    if q.bbox is not None:
        fragment, params = box_sql(q.bbox, c.geog)
        c.where.append(fragment)
        c.params.update(params)
    if q.cql is not None:
        fragment, params = filter_sql(q.cql, c.geog, c.offering)
        c.where.append(f"({fragment})")
        c.params.update(params)
    where = c.sql()
    wanted = set(PROPERTIES if q.properties is None else q.properties)
    if c.offering:
        extra = ", o.copies_required"
        outer = ", page.copies_required, cardinality(page.copies_required) = 0 AS no_copy"
    else:
        extra = ""
        outer = f", {NO_COPY_POINT} AS no_copy" if "no_copy" in wanted else ", NULL AS no_copy"
    order = order_by(q.sortby)
    # the page's ids first, then its rows: per-row work only for the rows returned
    page = f"""
        WITH page AS (
            SELECT p.id{extra} FROM {c.source} WHERE {where}
            ORDER BY {order} LIMIT :limit OFFSET :offset
        )
        SELECT {_COLUMNS}{outer}
        FROM page
        JOIN service_point p ON p.id = page.id
        JOIN agency a ON a.id = p.agency_id
        ORDER BY {order}
    """
    count = f"SELECT count(*) FROM {c.source} WHERE {where}"
    return page, count, c.params


_COLUMNS = """
    p.id, ST_X(p.geog::geometry) AS lon, ST_Y(p.geog::geometry) AS lat,
    p.name_th, p.name_en, p.kind, a.code AS agency, p.address_th, p.address_en,
    p.tambon_code, p.postcode, p.status, p.source, p.provided, p.wheelchair, p.priority_lane,
    p.gecc
"""


def _feature(
    row: Mapping[Any, Any], service: str | None, properties: tuple[str, ...] | None = None
) -> dict[str, Any]:
    values = {name: row[name] for name in PROPERTIES}
    values["no_copy"] = None if row["no_copy"] is None else bool(row["no_copy"])
    values["synthetic"] = synthetic_fields(row["source"], row["provided"] or ())
    if service is not None:
        values["service"] = service
        values["copies_required"] = list(row["copies_required"] or [])
    if properties is not None:
        values = {name: values[name] for name in properties if name in values}
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {
            "type": "Point",
            "coordinates": [round(row["lon"], 6), round(row["lat"], 6)],
        },
        "properties": values,
    }


def list_features(db: Executor, q: ItemQuery, max_page_size: int) -> FeaturePage:
    """One page of points matching the filters, in ``q.sortby`` order (by id when none),
    with the exact count."""
    _check_query(db, q, max_page_size)
    page, count, params = items_sql(q)
    stamp = _now()
    rows: Sequence[Mapping[Any, Any]] = []
    if q.cql is None and not q.sortby:
        # The everyday pages (a box, the shared filters) as prepared statements with
        # their generic plan, from a bounded set of statement shapes: 1.6x the
        # throughput of planning each one (bench/README.md, "OGC items beside tipg").
        # A CQL2 filter or a sort can take any shape, so those are planned per request.
        number_matched = int(run_prepared(db, count, params)[0]["count"])
        if q.offset < number_matched:
            rows = run_prepared(db, page, params)
    else:
        number_matched = db.execute(text(count), params).scalar_one()
        if q.offset < number_matched:
            rows = db.execute(text(page), params).mappings().all()
    return FeaturePage(
        features=[_feature(row, q.filters.service, q.properties) for row in rows],
        number_matched=number_matched,
        limit=q.limit,
        offset=q.offset,
        time_stamp=stamp,
    )


def parse_feature_id(value: str | int) -> int:
    """A feature id is the point's integer id; anything else names no feature."""
    text_value = str(value).strip()
    if not text_value.isascii() or not text_value.isdigit() or not 0 < int(text_value) <= _MAX_ID:
        raise NotFound(
            f"no service point with id {text_value!r}: feature ids are positive integers",
            id=text_value,
        )
    return int(text_value)


def get_feature(
    db: Executor, feature_id: str | int, properties: tuple[str, ...] | None = None
) -> dict[str, Any]:
    point_id = parse_feature_id(feature_id)
    row = db.execute(
        text(
            f"""
            SELECT {_COLUMNS}, {NO_COPY_POINT} AS no_copy
            FROM service_point p JOIN agency a ON a.id = p.agency_id
            WHERE p.id = :id
            """
        ),
        {"id": point_id},
    ).first()
    if row is None:
        raise NotFound(f"no service point with id {point_id}", id=point_id)
    return _feature(row._mapping, None, properties)


def data_extent(db: Executor) -> list[float] | None:
    """``[minLon, minLat, maxLon, maxLat]`` of every service point, None when there are none."""
    row = db.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geog::geometry) AS e FROM service_point) s"
        )
    ).one()
    if row[0] is None:
        return None
    lo_lon, lo_lat, hi_lon, hi_lat = (float(v) for v in row)
    # outward to 6 decimals, so the rounded box still covers every point
    return [
        math.floor(lo_lon * 1e6) / 1e6,
        math.floor(lo_lat * 1e6) / 1e6,
        math.ceil(hi_lon * 1e6) / 1e6,
        math.ceil(hi_lat * 1e6) / 1e6,
    ]
