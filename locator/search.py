"""The read side: nearest points, text search, point detail and the service catalogue.

Plain functions over a SQLAlchemy Session or Connection (``locator.db.Executor``),
shared by the API, the CLI and notebooks.

Ranking is by true geodesic distance. PostGIS' KNN operator ``<->`` on geography walks
the GiST index by *sphere* distance; the spheroid distance differs from it by less than
0.6 %, so ``nearest`` first takes the k nearest by the index, then re-ranks every point
within 1 % more than the k-th of them by ``ST_Distance`` on the spheroid. The result is
exact and both steps are index scans. With a ``service`` the first step runs on the
offering table's composite GiST index (service_code, geog), so the nearest point
offering even a rare service is found without scanning the others.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely
import shapely.geometry
from sqlalchemy import text

from locator.db import Executor, run_prepared
from locator.errors import InvalidInput, NotFound
from locator.hours import BANGKOK
from locator.ratings import rating_summary

# sphere vs spheroid: the two distances differ by well under 1 %
_SPHEROID_SLACK = 1.01


@dataclass(frozen=True)
class PointFilters:
    """Filters shared by nearest and text search; all optional."""

    service: str | None = None
    no_copy: bool | None = None
    agency: str | None = None
    kind: str | None = None
    open_now: bool | None = None
    at: dt.datetime | None = None
    wheelchair: bool | None = None
    priority_lane: bool | None = None
    gecc: bool | None = None

    def moment(self) -> dt.datetime:
        """The time "open" is judged at: ``at`` (naive = Bangkok time) or now, in UTC
        (the database then never meets an offset it does not know)."""
        if self.at is None:
            return dt.datetime.now(dt.UTC)
        at = self.at.replace(tzinfo=BANGKOK) if self.at.tzinfo is None else self.at
        return at.astimezone(dt.UTC)


@dataclass
class _Sql:
    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def clause(self) -> str:
        return " AND ".join(self.where) if self.where else "TRUE"


def _check_codes(db: Executor, filters: PointFilters) -> None:
    if filters.service is not None:
        found = db.execute(
            text("SELECT 1 FROM service WHERE code = :c"), {"c": filters.service}
        ).first()
        if not found:
            raise InvalidInput(
                f"service: unknown service code {filters.service!r}; "
                "GET /v1/services lists the codes",
                parameter="service",
            )
    if filters.agency is not None:
        found = db.execute(
            text("SELECT 1 FROM agency WHERE code = :c"), {"c": filters.agency}
        ).first()
        if not found:
            raise InvalidInput(
                f"agency: unknown agency code {filters.agency!r}", parameter="agency"
            )
    if filters.kind is not None:
        found = db.execute(
            text("SELECT 1 FROM service_point WHERE kind = :k LIMIT 1"), {"k": filters.kind}
        ).first()
        if not found:
            kinds = db.execute(text("SELECT DISTINCT kind FROM service_point ORDER BY 1"))
            raise InvalidInput(
                f"kind: no service point has kind {filters.kind!r}; the kinds are: "
                + ", ".join(kinds.scalars()),
                parameter="kind",
            )


def _point_filters(f: PointFilters, sql: _Sql) -> None:
    """Conditions on ``p`` (service_point); the offering side is the caller's."""
    sql.where.append("p.status = 'active'")
    if f.kind is not None:
        sql.where.append("p.kind = :kind")
        sql.params["kind"] = f.kind
    if f.agency is not None:
        # the agency itself or any agency below it (a ministry finds all its offices)
        sql.where.append(
            "p.agency_id IN (WITH RECURSIVE down AS ("
            " SELECT id FROM agency WHERE code = :agency"
            " UNION ALL SELECT a.id FROM agency a JOIN down ON a.parent_id = down.id)"
            " SELECT id FROM down)"
        )
        sql.params["agency"] = f.agency
    for flag in ("wheelchair", "priority_lane", "gecc"):
        value = getattr(f, flag)
        if value is not None:
            sql.where.append(f"p.{flag} = :{flag}")
            sql.params[flag] = value
    if f.open_now is not None:
        sql.where.append(("" if f.open_now else "NOT ") + "locator_is_open(p.opening_hours, :at)")
    if f.no_copy is not None and f.service is None:
        exists = (
            "EXISTS (SELECT 1 FROM offering x WHERE x.point_id = p.id "
            "AND cardinality(x.copies_required) > 0)"
        )
        sql.where.append(f"NOT {exists}" if f.no_copy else exists)


def _offering_filters(f: PointFilters, sql: _Sql) -> None:
    sql.where.append("o.service_code = :service")
    sql.params["service"] = f.service
    if f.no_copy is not None:
        sql.where.append("cardinality(o.copies_required) " + ("= 0" if f.no_copy else "> 0"))


_RESULT_COLUMNS = """
    p.id, p.name_th, p.name_en, p.kind, p.status,
    a.code AS agency_code, a.name_th AS agency_name_th, a.name_en AS agency_name_en,
    p.address_th, p.address_en, p.wheelchair, p.priority_lane, p.gecc,
    ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon,
    locator_is_open(p.opening_hours, :at) AS open_now
"""


def _result(row: Mapping[str, Any], service: str | None) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "name_th": row["name_th"],
        "name_en": row["name_en"],
        "kind": row["kind"],
        "status": row["status"],
        "agency": {
            "code": row["agency_code"],
            "name_th": row["agency_name_th"],
            "name_en": row["agency_name_en"],
        },
        "lat": round(row["lat"], 6),
        "lon": round(row["lon"], 6),
        "address_th": row["address_th"],
        "address_en": row["address_en"],
        "open_now": bool(row["open_now"]),
        "wheelchair": row["wheelchair"],
        "priority_lane": row["priority_lane"],
        "gecc": row["gecc"],
        "offering": None,
    }
    distance = row.get("distance_m")
    if distance is not None:
        bearing = row["bearing_deg"]
        out["distance_m"] = round(float(distance), 1)
        out["bearing_deg"] = None if bearing is None else round(float(bearing), 1)
    if service is not None:
        copies = list(row["copies_required"] or [])
        out["offering"] = {"service": service, "copies_required": copies, "no_copy": not copies}
    return out


def nearest_sql(filters: PointFilters, radius_m: float | None) -> tuple[str, dict[str, Any]]:
    """The SQL of ``nearest`` (exposed so tests and benchmarks can EXPLAIN it)."""
    sql = _Sql(params={"at": filters.moment()})
    _point_filters(filters, sql)
    origin = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"
    if filters.service is not None:
        _offering_filters(filters, sql)
        source = "offering o JOIN service_point p ON p.id = o.point_id"
        geog = "o.geog"
        extra = ", o.copies_required"
    else:
        source = "service_point p"
        geog = "p.geog"
        extra = ""
    where = sql.clause()
    if radius_m is not None:
        sql.params["radius"] = radius_m
        candidates = (
            f"SELECT p.id AS point_id{extra} FROM {source} "
            f"WHERE {where} AND ST_DWithin({geog}, {origin}, :radius)"
        )
    else:
        # 1) the k nearest by the index (sphere); 2) everything within 1 % more than the
        # k-th of them, re-ranked below on the spheroid.
        candidates = f"""
            WITH knn AS (
                SELECT {geog} <-> {origin} AS d FROM {source} WHERE {where}
                ORDER BY {geog} <-> {origin} LIMIT :k
            )
            SELECT p.id AS point_id{extra} FROM {source}
            WHERE {where}
              AND ST_DWithin({geog}, {origin},
                             (SELECT max(d) FROM knn) * {_SPHEROID_SLACK} + 1, false)
        """
    statement = f"""
        WITH candidates AS ({candidates})
        SELECT {_RESULT_COLUMNS}{", c.copies_required" if extra else ""},
               ST_Distance(p.geog, {origin}) AS distance_m,
               degrees(ST_Azimuth({origin}, p.geog)) AS bearing_deg
        FROM candidates c
        JOIN service_point p ON p.id = c.point_id
        JOIN agency a ON a.id = p.agency_id
        ORDER BY distance_m, p.id
        LIMIT :k
    """
    return statement, sql.params


def nearest(
    db: Executor,
    lat: float,
    lon: float,
    k: int,
    filters: PointFilters,
    radius_m: float | None = None,
) -> list[dict[str, Any]]:
    statement, params = nearest_sql(filters, radius_m)
    rows = run_prepared(db, statement, {**params, "lat": lat, "lon": lon, "k": k})
    if not rows:
        # only now is an unknown code worth a round trip: it explains the empty answer
        _check_codes(db, filters)
    return [_result(row, filters.service) for row in rows]


MIN_TERM = 3
"""Characters a word needs before the trigram index can find it (pg_trgm's trigrams)."""


def search_terms(q: str) -> list[str]:
    """The words of a query: letters, digits and marks (Thai vowels and tone marks);
    punctuation, symbols and emoji only separate words."""
    text_ = unicodedata.normalize("NFC", q)
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in text_)
    return kept.split()


@dataclass
class SearchResult:
    results: list[dict[str, Any]]
    truncated: bool
    """More points matched than were ranked (``max_candidates``): the answer is the
    best of the first ones found (or, with a location, the nearest of all)."""


def text_search(
    db: Executor,
    q: str,
    limit: int,
    filters: PointFilters,
    lat: float | None = None,
    lon: float | None = None,
    max_candidates: int = 1000,
) -> SearchResult:
    """Thai and English names, by substring (every word) first, then by similarity.

    Thai is written without spaces between words, so a Thai term matches any substring
    of the name; a Latin term matches at the start of a word, case-insensitively. Every
    word must match. When nothing matches that way, trigram similarity finds near-misses
    (typos, missing tone marks). With ``lat``/``lon`` the matches are ordered by
    distance. Otherwise exact matches come shortest name first (the more of the name
    the words cover, the better the match: what trigram similarity measures, without
    its cost, 13-25 ms per thousand Thai names), and near-misses by similarity.

    Every query is bounded, whatever is typed: a query needs one word the trigram index
    can look up (three characters or more; shorter words only narrow it), and at most
    ``max_candidates`` matches are ranked. A common word ("office" matches three points
    in four) is answered from the first matches the index gives, so it costs the same
    as a rare one; with a location it walks the spatial index outwards instead, so the
    nearest matches are exact.
    """
    terms = search_terms(q)
    if not any(len(t) >= MIN_TERM for t in terms):
        raise InvalidInput(
            f"q: give at least one word of {MIN_TERM} or more letters or digits "
            "(punctuation and symbols are ignored)",
            parameter="q",
        )
    _check_codes(db, filters)
    params = {"at": filters.moment(), "q": " ".join(terms), "limit": limit}
    sql = _Sql(params={**params, "cap": max_candidates + 1})
    _point_filters(filters, sql)
    join = ""
    extra = ""
    if filters.service is not None:
        _offering_filters(filters, sql)
        join = "JOIN offering o ON o.point_id = p.id"
        extra = ", o.copies_required"
    # Latin words match at the start of a word of the English name ("district" is not
    # "Subdistrict"), through the words index; Thai has no spaces between words, so a
    # Thai word matches anywhere in the Thai name, through the trigram index.
    latin = [t for t in terms if t.isascii()]
    thai = [t for t in terms if not t.isascii()]
    conditions = []
    if latin:
        sql.params["words"] = " & ".join(f"{t}:*" for t in latin)  # letters and digits only
        conditions.append(
            "to_tsvector('simple'::regconfig, p.name_en) @@ to_tsquery('simple', :words)"
        )
    for i, term in enumerate(thai):
        sql.params[f"t{i}"] = f"%{term}%"  # letters and marks only: nothing to escape
        conditions.append(f"p.name_th ILIKE :t{i}")
    all_terms = " AND ".join(conditions)
    # near-misses (typos, a missing tone mark), by trigram similarity of the whole query
    fuzzy_parts = []
    scores = []
    if latin:
        fuzzy_parts.append(":q <% p.name_en")
        scores.append("word_similarity(:q, p.name_en)")
    if thai:
        fuzzy_parts += ["p.name_th % :q", ":q <% p.name_th"]
        scores.append("greatest(similarity(p.name_th, :q), word_similarity(:q, p.name_th))")
    fuzzy = f"({' OR '.join(fuzzy_parts)})"
    score = scores[0] if len(scores) == 1 else f"greatest({', '.join(scores)})"
    shortest = f"length(p.{'name_en' if latin else 'name_th'})"
    near = lat is not None and lon is not None
    if near:
        sql.params.update(lat=lat, lon=lon)
    origin = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"
    distance = (
        f", ST_Distance(p.geog, {origin}) AS distance_m, "
        f"degrees(ST_Azimuth({origin}, p.geog)) AS bearing_deg"
        if near
        else ""
    )
    ranked = f"""
        WITH matches AS (
            SELECT p.id FROM service_point p {join}
            WHERE {sql.clause()} AND {{match}}
            LIMIT :cap
        )
        SELECT {_RESULT_COLUMNS}{extra}{distance}, (SELECT count(*) FROM matches) AS matched
        FROM matches m JOIN service_point p ON p.id = m.id
        JOIN agency a ON a.id = p.agency_id {join}
        WHERE {sql.clause()}
        ORDER BY {{order}} LIMIT :limit
    """
    match = all_terms
    order = "distance_m, p.id" if near else f"{shortest}, p.id"
    rows = db.execute(text(ranked.format(match=match, order=order)), sql.params).all()
    if not rows:
        match = fuzzy
        order = "distance_m, p.id" if near else f"{score} DESC, p.id"
        rows = db.execute(text(ranked.format(match=match, order=order)), sql.params).all()
    truncated = bool(rows) and rows[0].matched > max_candidates
    if truncated and near:
        # A common word near a place: walk outwards from it by the spatial index (the
        # matches are dense, so the walk stops soon), then, as in `nearest`, take every
        # match within 1 % more than the last one's sphere distance and order them on
        # the spheroid.
        walk = f"""
            WITH knn AS (
                SELECT p.geog <-> {origin} AS d FROM service_point p {join}
                WHERE {sql.clause()} AND {match}
                ORDER BY p.geog <-> {origin} LIMIT :limit
            )
            SELECT {_RESULT_COLUMNS}{extra}{distance}
            FROM service_point p JOIN agency a ON a.id = p.agency_id {join}
            WHERE {sql.clause()} AND {match}
              AND ST_DWithin(p.geog, {origin},
                             (SELECT max(d) FROM knn) * {_SPHEROID_SLACK} + 1, false)
            ORDER BY {order} LIMIT :limit
        """
        rows = db.execute(text(walk), sql.params).all()
        truncated = False
    return SearchResult([_result(row._mapping, filters.service) for row in rows], truncated)


def point_detail(db: Executor, point_id: int, at: dt.datetime | None = None) -> dict[str, Any]:
    """Everything a citizen reads about one office."""
    moment = PointFilters(at=at).moment()
    row = db.execute(
        text(
            f"""
            SELECT {_RESULT_COLUMNS}, p.version, p.postcode, p.tambon_code, p.phones,
                   p.opening_hours, p.source, p.updated_at
            FROM service_point p JOIN agency a ON a.id = p.agency_id WHERE p.id = :id
            """
        ),
        {"id": point_id, "at": moment},
    ).first()
    if row is None:
        raise NotFound(f"no service point with id {point_id}")
    out = _result(row._mapping, None)
    out.pop("offering")
    out.update(
        version=row.version,
        postcode=row.postcode,
        tambon_code=row.tambon_code,
        phones=list(row.phones),
        opening_hours=row.opening_hours,
        source=row.source,
        updated_at=row.updated_at,
    )
    services = db.execute(
        text(
            """
            SELECT s.code, s.name_th, s.name_en, s.category, s.steps, s.processing_minutes,
                   s.fee_thb, s.fee_note_th, s.fee_note_en, s.link,
                   o.copies_required, o.no_copy_since, o.notes,
                   coalesce(json_agg(json_build_object(
                       'code', d.code, 'name_th', d.name_th, 'name_en', d.name_en,
                       'original', sd.original, 'note', sd.note,
                       'copy_required', d.code = ANY(o.copies_required))
                     ORDER BY sd.position) FILTER (WHERE d.code IS NOT NULL), '[]') AS documents
            FROM offering o
            JOIN service s ON s.code = o.service_code
            LEFT JOIN service_document sd ON sd.service_code = s.code
            LEFT JOIN document_type d ON d.code = sd.document_code
            WHERE o.point_id = :id
            GROUP BY s.code, o.point_id, o.service_code
            ORDER BY s.category, s.code
            """
        ),
        {"id": point_id},
    ).all()
    out["services"] = [
        {
            "code": s.code,
            "name_th": s.name_th,
            "name_en": s.name_en,
            "category": s.category,
            "steps": s.steps,
            "processing_minutes": s.processing_minutes,
            "fee_thb": None if s.fee_thb is None else float(s.fee_thb),
            "fee_note_th": s.fee_note_th,
            "fee_note_en": s.fee_note_en,
            "link": s.link,
            "copies_required": list(s.copies_required),
            "no_copy": not s.copies_required,
            "no_copy_since": s.no_copy_since,
            "notes": s.notes,
            "documents": s.documents,
        }
        for s in services
    ]
    out["rating"] = rating_summary(db, point_id)
    return out


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
        raise NotFound(f"no service with code {code!r}; GET /v1/services lists the codes")
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


def areas_geojson(db: Executor, level: str, tolerance_deg: float) -> dict[str, Any]:
    """Simplified admin polygons: the offline background of the citizen page.

    Simplified as one coverage (GEOS through shapely), so neighbours keep one shared
    border: simplifying each polygon on its own (``ST_SimplifyPreserveTopology``) left
    gaps and overlaps along every border when zoomed in. PostGIS has
    ``ST_CoverageSimplify`` only from 3.4; Debian 12 ships 3.3.
    """
    rows = db.execute(
        text(
            "SELECT code, name_th, name_en, population, ST_AsBinary(geom) AS wkb "
            "FROM admin_area WHERE level = :level ORDER BY code"
        ),
        {"level": level},
    ).all()
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
    if tolerance_deg > 0 and len(geoms):
        geoms = shapely.coverage_simplify(geoms, tolerance_deg)
    geoms = shapely.set_precision(geoms, 1e-5)  # about a metre: enough for a background
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.code,
                "geometry": shapely.geometry.mapping(g),
                "properties": {
                    "code": r.code,
                    "name_th": r.name_th,
                    "name_en": r.name_en,
                    "population": r.population,
                },
            }
            for r, g in zip(rows, geoms, strict=True)
        ],
    }
