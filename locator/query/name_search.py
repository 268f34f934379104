"""Name search: Thai and English names, by every word first, then by similarity, and
the places a query names (the points inside them)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.query.filters import PointFilter, check_codes, conditions
from locator.query.results import (
    DISTANCE_COLUMNS,
    OFFERING_CARRIED,
    OFFERING_DIRECT,
    RESULT_COLUMNS,
    carried,
    nearest_by_index,
    result,
    within_nearest,
)
from locator.registry.gazetteer import DEFAULT_MIN_SCORE, PlaceMatch, get_gazetteer, match_places

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
    distance = DISTANCE_COLUMNS if near else ""
    ranked = f"""
        WITH matches AS (
            SELECT p.id{extra} FROM {c.source}
            WHERE {c.sql()} AND {{match}}
            LIMIT :cap
        )
        SELECT {RESULT_COLUMNS}{carried("m") if extra else ""}{distance},
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
            WITH {nearest_by_index(c.geog, c.source, f"{c.sql()} AND {match}", ":limit")}
            SELECT {RESULT_COLUMNS}{OFFERING_DIRECT if extra else ""}{distance}
            FROM {c.source} JOIN agency a ON a.id = p.agency_id
            WHERE {c.sql()} AND {match} AND {within_nearest(c.geog)}
            ORDER BY {order} LIMIT :limit
        """
        rows = db.execute(text(walk), c.params).all()
        truncated = False
    return SearchResult([result(row._mapping, f.service) for row in rows], truncated, places)


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
        distance = DISTANCE_COLUMNS
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
            SELECT {RESULT_COLUMNS}{extra}{distance}, count(*) OVER () AS matched
            FROM {c.source} JOIN agency a ON a.id = p.agency_id
            WHERE {c.sql()}
            ORDER BY {order} LIMIT :limit
            """
        ),
        c.params,
    ).all()
    return SearchResult(
        [result(row._mapping, f.service) for row in rows],
        truncated=False,
        places=places,
    )
