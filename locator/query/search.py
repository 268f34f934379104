"""The read side: nearest points, name search and point detail.

Plain functions over a SQLAlchemy Session or Connection (``locator.db.engine.Executor``),
shared by the API, the CLI and notebooks; which points a request means comes from
``locator.query.filters``, the one read model.

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

from sqlalchemy import RowMapping, text

from locator.db.engine import Executor, run_prepared
from locator.errors import InvalidInput, NotFound
from locator.query.filters import PointFilter, check_codes, conditions
from locator.registry import hours
from locator.registry.gazetteer import DEFAULT_MIN_SCORE, PlaceMatch, get_gazetteer, match_places
from locator.registry.provenance import provenance
from locator.registry.public_holidays import next_holiday
from locator.registry.ratings import rating_summary

# sphere vs spheroid: the two distances differ by well under 1 %
_SPHEROID_SLACK = 1.01
ORIGIN = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"


_RESULT_COLUMNS = """
    p.id, p.name_th, p.name_en, p.kind, p.status, p.source,
    a.code AS agency_code, a.name_th AS agency_name_th, a.name_en AS agency_name_en,
    p.address_th, p.address_en, p.wheelchair, p.priority_lane, p.gecc,
    ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon,
    locator_is_open(p.opening_hours, :at) AS open_now
"""


# With a service, the answer's offering: its copies and whether it is open at :at by its
# own hours (a hospital's outpatient services) or the point's. DIRECT where ``o`` is in
# the FROM; CARRIED passes the columns through a CTE and ``carried`` reads them there.
OFFERING_DIRECT = (
    ", o.copies_required, "
    "locator_is_open(coalesce(o.opening_hours, p.opening_hours), :at) AS offering_open"
)
OFFERING_CARRIED = ", o.copies_required, o.opening_hours AS offering_hours"


def carried(alias: str) -> str:
    return (
        f", {alias}.copies_required, "
        f"locator_is_open(coalesce({alias}.offering_hours, p.opening_hours), :at) "
        "AS offering_open"
    )


def _result(row: Mapping[str, Any] | RowMapping, service: str | None) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "name_th": row["name_th"],
        "name_en": row["name_en"],
        "kind": row["kind"],
        "status": row["status"],
        "source": row["source"],
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
        out["offering"] = {
            "service": service,
            "copies_required": copies,
            "no_copy": not copies,
            "open_now": bool(row["offering_open"]),
        }
    return out


def nearest_sql(
    f: PointFilter, radius_m: float | None, paged: bool = False
) -> tuple[str, dict[str, Any]]:
    """The SQL of ``nearest`` (exposed so tests and benchmarks can EXPLAIN it).

    Three forms: the k nearest; the k nearest within ``radius_m``; and (``paged``) every
    point within ``radius_m``, nearest first, a page (``:limit``, ``:offset``) at a time.
    """
    c = conditions(f)
    extra = OFFERING_CARRIED if c.offering else ""
    where = c.sql()
    if radius_m is not None:
        c.params["radius"] = radius_m
        candidates = (
            f"SELECT p.id AS point_id{extra} FROM {c.source} "
            f"WHERE {where} AND ST_DWithin({c.geog}, {ORIGIN}, :radius)"
        )
    else:
        # 1) the k nearest by the index (sphere); 2) everything within 1 % more than the
        # k-th of them, re-ranked below on the spheroid.
        candidates = f"""
            WITH knn AS (
                SELECT {c.geog} <-> {ORIGIN} AS d FROM {c.source} WHERE {where}
                ORDER BY {c.geog} <-> {ORIGIN} LIMIT :k
            )
            SELECT p.id AS point_id{extra} FROM {c.source}
            WHERE {where}
              AND ST_DWithin({c.geog}, {ORIGIN},
                             (SELECT max(d) FROM knn) * {_SPHEROID_SLACK} + 1, false)
        """
    page = "LIMIT :limit OFFSET :offset" if paged else "LIMIT :k"
    statement = f"""
        WITH candidates AS ({candidates})
        SELECT {_RESULT_COLUMNS}{carried("c") if extra else ""},
               ST_Distance(p.geog, {ORIGIN}) AS distance_m,
               degrees(ST_Azimuth({ORIGIN}, p.geog)) AS bearing_deg
        FROM candidates c
        JOIN service_point p ON p.id = c.point_id
        JOIN agency a ON a.id = p.agency_id
        ORDER BY distance_m, p.id
        {page}
    """
    return statement, c.params


@dataclass
class NearestPage:
    results: list[dict[str, Any]]
    total: int | None
    """Every point within the radius (paged form only)."""
    next_offset: int | None
    """Where the next page starts, when there is one (paged form only)."""


def nearest(
    db: Executor,
    lat: float,
    lon: float,
    f: PointFilter,
    k: int | None = None,
    radius_m: float | None = None,
    limit: int = 100,
    offset: int = 0,
) -> NearestPage:
    """The ``k`` nearest points (within ``radius_m`` if given); or, with a radius and no
    ``k``, every point within it, nearest first, ``limit`` at a time from ``offset``,
    with their total."""
    paged = radius_m is not None and k is None
    statement, params = nearest_sql(f, radius_m, paged)
    values = {**params, "lat": lat, "lon": lon}
    if paged:
        values.update(limit=limit, offset=offset)
    else:
        values["k"] = k
    rows = run_prepared(db, statement, values)
    if not rows:
        # only now is an unknown code worth a round trip: it explains the empty answer
        check_codes(db, f)
    results = [_result(row, f.service) for row in rows]
    if not paged:
        return NearestPage(results, None, None)
    c = conditions(f)
    total = db.execute(
        text(
            f"SELECT count(*) FROM {c.source} WHERE {c.sql()} "
            f"AND ST_DWithin({c.geog}, {ORIGIN}, :radius)"
        ),
        {**c.params, "lat": lat, "lon": lon, "radius": radius_m},
    ).scalar_one()
    more = offset + len(results) < total
    return NearestPage(results, total, offset + len(results) if more else None)


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
    places: list[PlaceMatch] = field(default_factory=list)
    """The places the query names, when it names one; the results lie in them."""


# when a query names a place, its government comes first: province hall and provincial
# administration, then district offices, then the subdistrict and municipal offices
OFFICE_RANK = (
    "CASE p.kind WHEN 'province_hall' THEN 0 WHEN 'pao_office' THEN 1 "
    "WHEN 'district_office' THEN 2 WHEN 'municipality_office' THEN 3 "
    "WHEN 'tao_office' THEN 3 ELSE 4 END"
)


def named_places(db: Executor, q: str) -> list[PlaceMatch]:
    """The places ``q`` names: the gazetteer's best matches, tied at the top (a shared
    name is several places). Words that name no place ("office", "โรงพยาบาล") score
    below ``DEFAULT_MIN_SCORE``. A query that is only the start of names ("Ubon",
    "บุรีรัม") names them when they are few; the start of many ("Bang") names none."""
    found = match_places(db, q, 10, min_score=DEFAULT_MIN_SCORE)
    top = [m for m in found if m.score == found[0].score] if found else []
    if top and top[0].how == "part_of_name" and len({m.name_en for m in top}) > 2:
        return []
    return top


def text_search(
    db: Executor,
    q: str,
    limit: int,
    f: PointFilter,
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
    check_codes(db, f)
    places = named_places(db, q)
    if places and places[0].how != "in_query":  # the query is a place
        return _in_places(db, q, limit, f, lat, lon, places)
    c = conditions(f)
    c.params.update(q=" ".join(terms), limit=limit, cap=max_candidates + 1)
    extra = OFFERING_CARRIED if c.offering else ""
    # Latin words match at the start of a word of the English name ("district" is not
    # "Subdistrict"), through the words index; Thai has no spaces between words, so a
    # Thai word matches anywhere in the Thai name, through the trigram index.
    latin = [t for t in terms if t.isascii()]
    thai = [t for t in terms if not t.isascii()]
    words = []
    if latin:
        c.params["words"] = " & ".join(f"{t}:*" for t in latin)  # letters and digits only
        words.append("to_tsvector('simple'::regconfig, p.name_en) @@ to_tsquery('simple', :words)")
    for i, term in enumerate(thai):
        c.params[f"t{i}"] = f"%{term}%"  # letters and marks only: nothing to escape
        words.append(f"p.name_th ILIKE :t{i}")
    all_terms = " AND ".join(words)
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
        c.params.update(lat=lat, lon=lon)
    distance = (
        f", ST_Distance(p.geog, {ORIGIN}) AS distance_m, "
        f"degrees(ST_Azimuth({ORIGIN}, p.geog)) AS bearing_deg"
        if near
        else ""
    )
    ranked = f"""
        WITH matches AS (
            SELECT p.id{extra} FROM {c.source}
            WHERE {c.sql()} AND {{match}}
            LIMIT :cap
        )
        SELECT {_RESULT_COLUMNS}{carried("m") if extra else ""}{distance},
               (SELECT count(*) FROM matches) AS matched
        FROM matches m JOIN service_point p ON p.id = m.id
        JOIN agency a ON a.id = p.agency_id
        ORDER BY {{order}} LIMIT :limit
    """
    match = all_terms
    order = "distance_m, p.id" if near else f"{shortest}, p.id"
    rows = db.execute(text(ranked.format(match=match, order=order)), c.params).all()
    if not rows and places:  # no name has every word, but a place is among them
        return _in_places(db, q, limit, f, lat, lon, places)
    if not rows:
        match = fuzzy
        order = "distance_m, p.id" if near else f"{score} DESC, p.id"
        rows = db.execute(text(ranked.format(match=match, order=order)), c.params).all()
    truncated = bool(rows) and rows[0].matched > max_candidates
    if truncated and near:
        # A common word near a place: walk outwards from it by the spatial index (the
        # matches are dense, so the walk stops soon), then, as in `nearest`, take every
        # match within 1 % more than the last one's sphere distance and order them on
        # the spheroid.
        walk = f"""
            WITH knn AS (
                SELECT {c.geog} <-> {ORIGIN} AS d FROM {c.source}
                WHERE {c.sql()} AND {match}
                ORDER BY {c.geog} <-> {ORIGIN} LIMIT :limit
            )
            SELECT {_RESULT_COLUMNS}{OFFERING_DIRECT if extra else ""}{distance}
            FROM {c.source} JOIN agency a ON a.id = p.agency_id
            WHERE {c.sql()} AND {match}
              AND ST_DWithin({c.geog}, {ORIGIN},
                             (SELECT max(d) FROM knn) * {_SPHEROID_SLACK} + 1, false)
            ORDER BY {order} LIMIT :limit
        """
        rows = db.execute(text(walk), c.params).all()
        truncated = False
    return SearchResult([_result(row._mapping, f.service) for row in rows], truncated, places)


def _in_places(
    db: Executor,
    q: str,
    limit: int,
    f: PointFilter,
    lat: float | None,
    lon: float | None,
    places: list[PlaceMatch],
) -> SearchResult:
    """The points inside the places a query names ("Chaing Mai", "Bangrak", "โคราช").

    Nearest first with a location. Otherwise, when the query is just the place, its
    government first (province hall, provincial administration, district offices, then
    the subdistrict and municipal offices); when the place is part of a longer query
    ("post office bangrak"), the names most like the whole query first. A place is its
    tambons, so this is an index scan on the points' tambon codes, however the name was
    spelt.
    """
    gazetteer = get_gazetteer(db)
    codes = sorted({t for p in places for t in gazetteer.tambon_codes(p.code)})
    c = conditions(f)
    c.where.append("p.tambon_code = ANY(:tambons)")
    c.params.update(tambons=codes, limit=limit, q=q)
    extra = OFFERING_DIRECT if c.offering else ""
    distance = ""
    if lat is not None and lon is not None:
        c.params.update(lat=lat, lon=lon)
        distance = (
            f", ST_Distance(p.geog, {ORIGIN}) AS distance_m, "
            f"degrees(ST_Azimuth({ORIGIN}, p.geog)) AS bearing_deg"
        )
        order = "distance_m, p.id"
    elif places[0].how == "in_query":
        order = (
            "greatest(word_similarity(:q, p.name_en), word_similarity(:q, p.name_th)) DESC, p.id"
        )
    else:
        order = f"{OFFICE_RANK}, length(p.name_en), p.id"
    rows = db.execute(
        text(
            f"""
            SELECT {_RESULT_COLUMNS}{extra}{distance}, count(*) OVER () AS matched
            FROM {c.source} JOIN agency a ON a.id = p.agency_id
            WHERE {c.sql()}
            ORDER BY {order} LIMIT :limit
            """
        ),
        c.params,
    ).all()
    return SearchResult(
        [_result(row._mapping, f.service) for row in rows],
        truncated=False,
        places=places,
    )


def _next_closure(opening_hours: dict[str, Any], moment: dt.datetime) -> dict[str, Any] | None:
    """The next public holiday the point closes for (from the day of ``moment``)."""
    if opening_hours.get("public_holidays") != "closed":
        return None
    found = next_holiday(moment.astimezone(hours.BANGKOK).date())
    if found is None:
        return None
    return {"date": found.day, "name_th": found.name_th, "name_en": found.name_en}


def point_detail(db: Executor, point_id: int, at: dt.datetime | None = None) -> dict[str, Any]:
    """Everything a citizen reads about one office."""
    moment = PointFilter(at=at).moment()
    row = db.execute(
        text(
            f"""
            SELECT {_RESULT_COLUMNS}, p.version, p.postcode, p.tambon_code, p.phones,
                   p.opening_hours, p.updated_at, p.provided
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
        opening_hours_osm=hours.to_osm(row.opening_hours),
        next_closure=_next_closure(row.opening_hours, moment),
        provenance=provenance(row.source, row.provided or ()),
        source=row.source,
        updated_at=row.updated_at,
    )
    services = db.execute(
        text(
            """
            SELECT s.code, s.name_th, s.name_en, s.category, s.steps, s.processing_minutes,
                   s.fee_thb, s.fee_note_th, s.fee_note_en, s.link,
                   o.copies_required, o.no_copy_since, o.notes, o.opening_hours,
                   locator_is_open(coalesce(o.opening_hours, p.opening_hours), :at) AS open_now,
                   coalesce(json_agg(json_build_object(
                       'code', d.code, 'name_th', d.name_th, 'name_en', d.name_en,
                       'original', sd.original, 'note', sd.note,
                       'copy_required', d.code = ANY(o.copies_required))
                     ORDER BY sd.position) FILTER (WHERE d.code IS NOT NULL), '[]') AS documents
            FROM offering o
            JOIN service_point p ON p.id = o.point_id
            JOIN service s ON s.code = o.service_code
            LEFT JOIN service_document sd ON sd.service_code = s.code
            LEFT JOIN document_type d ON d.code = sd.document_code
            WHERE o.point_id = :id
            GROUP BY s.code, o.point_id, o.service_code, p.opening_hours
            ORDER BY s.category, s.code
            """
        ),
        {"id": point_id, "at": moment},
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
            "opening_hours": s.opening_hours,
            "opening_hours_osm": None if s.opening_hours is None else hours.to_osm(s.opening_hours),
            "open_now": bool(s.open_now),
            "documents": s.documents,
        }
        for s in services
    ]
    out["rating"] = rating_summary(db, point_id)
    return out
