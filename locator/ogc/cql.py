"""A CQL2 ``filter`` (OGC API Features Part 3) compiled to SQL.

The filter is parsed by the ``cql2`` package (the reference CQL2 implementation's Python
binding) into the standard's own JSON form, and that tree is translated here into
SQLAlchemy expressions over the queryables (``locator.ogc.queryables``): column names
come only from that table, every value is a bound parameter. A geometry in
``S_INTERSECTS`` is tested like ``bbox`` (``locator.ogc.bbox``): planar in CRS84,
through the same index envelope.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, cast

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
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.engine import Dialect

from locator.errors import InvalidInput
from locator.ogc.bbox import CRS84, BBox, box_from_numbers, box_sql, envelope_sql
from locator.ogc.queryables import MAX_ID, QUERYABLES, Queryable
from locator.query.filters import NO_COPY_POINT
from locator.registry.models import Agency, ServicePoint

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
# the registry's tables, under the aliases the rest of the items query uses
_P = ServicePoint.__table__.alias("p")
_AGENCY = Agency.__table__.alias("ag")
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


EXACT_INTEGER = 2**53
"""cql2 reads every number as a double: from here on, neighbouring integers read the same
(9007199254740993 would be read as ...992), so a larger one is refused, not rounded."""


def _integer(q: Queryable, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _fail(f"{q.name} is an integer: compare it with a number")
    if v != int(v) or not -MAX_ID <= v <= MAX_ID:
        raise _fail(f"{q.name} is an integer: {v!r} is not one")
    if abs(v) >= EXACT_INTEGER:
        raise _fail(
            f"{q.name}: a filter reads integers exactly up to {EXACT_INTEGER:,} only "
            "(CQL2 numbers are doubles); no point's id is that large"
        )
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
            raise _fail(
                "BBOX takes 4 numbers: minLon, minLat, maxLon, maxLat (or 6: minLon, "
                "minLat, minHeight, maxLon, maxLat, maxHeight)"
            )
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            raise _fail(
                "BBOX takes 4 numbers: minLon, minLat, maxLon, maxLat (or 6: minLon, "
                "minLat, minHeight, maxLon, maxLat, maxHeight)"
            )
        box = box_from_numbers([float(n) for n in numbers], "filter: BBOX", "filter")
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
