"""Name search: Thai and English names, by every word first, then by similarity, and
the places a query names (the points inside them)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.query.filters import PointFilter, check_codes, conditions
from locator.query.nearest import check_origin
from locator.query.results import (
    DISTANCE_COLUMNS,
    OFFERING_CARRIED,
    OFFERING_DIRECT,
    ORIGIN,
    RESULT_COLUMNS,
    SPHEROID_SLACK,
    carried,
    result,
)
from locator.registry.gazetteer import DEFAULT_MIN_SCORE, PlaceMatch, get_gazetteer, match_places

MIN_TERM = 3
"""Letters or digits in a row a word needs before the trigram index can find it (one
trigram of pg_trgm's)."""

LETTER = (
    r"[0-9A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
    r"\u0e01-\u0e3a\u0e40-\u0e46\u0e4d\u0e50-\u0e59]"
)
"""A letter or digit of a name, as the trigram index reads it: Latin, and Thai letters,
vowels and digits. Thai vowel signs above or below a consonant (U+0E31, U+0E34-U+0E3A,
U+0E4D) are letters to the database's character classes (glibc's, which pg_trgm uses);
the tone marks and the other signs (U+0E47-U+0E4C, U+0E4E) are not: to the index they
split a word as a space does ("บ้าน" is "บ" and "าน"), so both the names and the query
are matched with them folded out (``fold_th``)."""
FOLDED = "\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4e"
"""The Thai signs the trigram index reads as spaces: mai taikhu, the four tone marks,
thanthakhat, yamakkan. The database's ``locator_fold_th`` (migration 0014) drops the
same ones from a name, and the index on the Thai names is on the folded name."""
MARK = "[\u0e47-\u0e4c\u0e4e]"
SEARCHABLE = f"{LETTER}(?:{MARK}*{LETTER}){{{MIN_TERM - 1}}}"
"""What a query needs: ``MIN_TERM`` letters or digits in a row once the tone marks are
folded out ("น่าน" is "นาน": three letters; "แม่" is two), as the OpenAPI document's
pattern for ``q`` and the check the search makes."""
_RUN = re.compile(f"{LETTER}+")
_FOLD = str.maketrans("", "", FOLDED)


def fold_th(s: str) -> str:
    """``s`` without the Thai signs the trigram index does not read (``FOLDED``): the
    Python twin of the database's ``locator_fold_th``, for the query's side."""
    return s.translate(_FOLD)


FUZZY_GRAMS = 16
"""Most trigrams of a query the near-miss step looks names up by: each lookup reads its
posting list from the index (up to about 3 ms for a trigram in most names)."""


def search_terms(q: str) -> list[str]:
    """The words of a query: letters, digits and marks (Thai vowels and tone marks);
    punctuation, symbols and emoji only separate words, and so do marks without a letter
    (three tone marks are no word: no index can look them up)."""
    text_ = unicodedata.normalize("NFC", q)
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in text_)
    return [w for w in kept.split() if _RUN.search(w)]


def searchable(terms: list[str]) -> bool:
    """Whether one of the words has ``MIN_TERM`` letters or digits in a row, tone marks
    folded out: then its folded pattern holds a whole trigram and the index on the folded
    names, not a scan of every name, finds it."""
    return any(re.search(SEARCHABLE, t) for t in terms)


def _grams(terms: list[str]) -> list[str]:
    """At most ``FUZZY_GRAMS`` distinct trigrams of the words, spread over the query."""
    grams = list(
        dict.fromkeys(
            run[i : i + MIN_TERM]
            for t in terms
            for run in _RUN.findall(fold_th(t).lower())
            for i in range(len(run) - MIN_TERM + 1)
        )
    )
    if len(grams) <= FUZZY_GRAMS:
        return grams
    step = len(grams) / FUZZY_GRAMS
    return [grams[int(i * step)] for i in range(FUZZY_GRAMS)]


@dataclass
class SearchResult:
    results: list[dict[str, Any]]
    truncated: bool
    """More points matched than were ranked (``max_candidates``): the answer is the
    best of the first ones found (or, with a location, the nearest of all)."""
    places: list[PlaceMatch] = field(default_factory=list)
    """The places the query names, when it names one; the results lie in them."""


FOLDED_TH = "locator_fold_th(p.name_th)"
"""The Thai name as the trigram index holds it (ix_service_point_name_th_fold_trgm): the
search's Thai conditions use this expression, so the index answers them."""

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
    *,
    max_gap_m: float,
) -> SearchResult:
    """Thai and English names, by substring (every word) first, then by similarity.

    Thai is written without spaces between words, so a Thai term matches any substring
    of the name; a Latin term matches at the start of a word, case-insensitively. Every
    word must match. Thai matches with the tone marks folded out of both the name and
    the query (``fold_th``): the trigram index reads them as spaces, so "น่าน" could not
    be looked up as written; folded, a wrong or missing tone mark (a common typing
    mistake, "นาน" or "น้าน" for "น่าน") also matches. When nothing matches that way,
    trigram similarity finds near-misses (typos). With ``lat``/``lon`` the matches are
    ordered by distance. Otherwise names that hold the Thai words as typed, tone marks
    and all, come first (among the first ``max_candidates`` matches, when more match),
    then the other exact matches shortest name first (the more of the name
    the words cover, the better the match: what trigram similarity measures, without
    its cost, 13-25 ms per thousand Thai names), and near-misses by similarity.

    Every query is bounded, whatever is typed: a query needs one word the trigram index
    can look up (three characters or more; shorter words only narrow it), and at most
    ``max_candidates`` matches are ranked. A common word ("office" matches three points
    in four) is answered from the first matches the index gives, so it costs the same
    as a rare one; with a location it walks the spatial index outwards instead, so the
    nearest matches are exact. An origin farther than ``max_gap_m`` from every point is
    ``InvalidInput``, as for ``nearest``: from there the walk would read every point.
    """
    terms = search_terms(q)
    if not searchable(terms):
        raise InvalidInput(
            f"q: give at least one word with {MIN_TERM} or more Thai or Latin letters or "
            "digits in a row, such as part of a name (ที่ว่าการ, น่าน, Bang Rak); punctuation "
            "and symbols are not letters, and tone marks do not count",
            parameter="q",
        )
    check_codes(db, f)
    if lat is not None and lon is not None:
        check_origin(db, lat, lon, max_gap_m)
    places = named_places(db, q)
    if places and places[0].how != "in_query":  # the query is a place
        return _in_places(db, q, limit, f, lat, lon, places)
    c = conditions(f)
    c.params.update(q=fold_th(" ".join(terms)), limit=limit, cap=max_candidates + 1)
    extra = OFFERING_CARRIED if c.offering else ""
    # Latin words match at the start of a word of the English name ("district" is not
    # "Subdistrict"), through the words index; Thai has no spaces between words, so a
    # Thai word matches anywhere in the Thai name, through the trigram index on the name
    # without its tone marks.
    latin = [t for t in terms if t.isascii()]
    thai = [t for t in terms if not t.isascii()]
    words = []
    if latin:
        c.params["words"] = " & ".join(f"{t}:*" for t in latin)  # letters and digits only
        words.append("to_tsvector('simple'::regconfig, p.name_en) @@ to_tsquery('simple', :words)")
    as_typed = []
    for i, term in enumerate(thai):
        c.params[f"t{i}"] = f"%{fold_th(term)}%"  # letters and marks only: nothing to escape
        c.params[f"u{i}"] = f"%{term}%"
        words.append(f"{FOLDED_TH} ILIKE :t{i}")
        as_typed.append(f"p.name_th ILIKE :u{i}")
    all_terms = " AND ".join(words)
    # near-misses (typos, a missing tone mark), by trigram similarity of the whole query
    fuzzy_parts = []
    scores = []
    if latin:
        fuzzy_parts.append(":q <% p.name_en")
        scores.append("word_similarity(:q, p.name_en)")
    if thai:
        fuzzy_parts += [f"{FOLDED_TH} % :q", f":q <% {FOLDED_TH}"]
        scores.append(f"greatest(similarity({FOLDED_TH}, :q), word_similarity(:q, {FOLDED_TH}))")
    fuzzy = f"({' OR '.join(fuzzy_parts)})"
    score = scores[0] if len(scores) == 1 else f"greatest({', '.join(scores)})"
    shortest = f"length(p.{'name_en' if latin else 'name_th'})"
    near = lat is not None and lon is not None
    if near:
        c.params.update(lat=lat, lon=lon)
    distance = DISTANCE_COLUMNS if near else ""
    ranked = f"""
        WITH {{near}}matches AS (
            SELECT p.id{extra} FROM {{source}}
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
    # the tone marks as typed rank first: "น่าน" before "นาน" and "น้าน"
    typed_first = f"({' AND '.join(as_typed)}) DESC, " if as_typed else ""
    order = "distance_m, p.id" if near else f"{typed_first}{shortest}, p.id"
    sql = ranked.format(near="", source=c.source, match=match, order=order)
    rows = db.execute(text(sql), c.params).all()
    if not rows and places:  # no name has every word, but a place is among them
        return _in_places(db, q, limit, f, lat, lon, places)
    if not rows:
        # Near-misses cost a similarity per name (15-40 us), so they are looked for only
        # among the names that share a trigram with the query, a bounded number for each
        # of at most FUZZY_GRAMS of its trigrams: a rare trigram (the part of a name
        # that tells it apart) brings every name it is in, a common one a sample. The
        # similarity condition alone would scan every name sharing 30 % of the query's
        # trigrams, all of them for a common word (1.7 s for "ที่ว่าการ" eight times).
        grams = _grams(terms)
        per_gram = max(1, max_candidates // len(grams))
        lookups = []
        for i, gram in enumerate(grams):
            column = "p.name_en" if gram.isascii() else FOLDED_TH
            c.params[f"g{i}"] = f"%{gram}%"  # letters and digits only: nothing to escape
            lookups.append(
                f"(SELECT p.id FROM {c.source} WHERE {c.sql()} AND {column} ILIKE :g{i} "
                "LIMIT :per_gram)"
            )
        c.params["per_gram"] = per_gram
        # the similarity is computed on the names looked up (n, materialised: no index
        # can answer it there), never by the index over every name
        match = f"p.id = n.id AND {fuzzy.replace('p.name_', 'n.name_')}"
        order = "distance_m, p.id" if near else f"{score} DESC, p.id"
        looked_up = (
            f"looked_up AS ({' UNION '.join(lookups)}), near AS MATERIALIZED ("
            "SELECT p.id, p.name_th, p.name_en FROM looked_up l "
            "JOIN service_point p ON p.id = l.id), "
        )
        source = f"near n, {c.source}"
        sql = ranked.format(near=looked_up, source=source, match=match, order=order)
        rows = db.execute(text(sql), c.params).all()
    truncated = bool(rows) and rows[0].matched > max_candidates
    if truncated and near and match is all_terms:
        # A common word near a place: walk outwards from it by the spatial index (the
        # matches are dense, so the walk stops soon) to the nearest max_candidates
        # matches, then, as in `nearest`, keep those within 1 % more than the limit-th
        # one's sphere distance and order them on the spheroid. The walk's length bounds
        # the work: from far away (a bad GPS fix at 0,0) "within 1 %" is a band wider
        # than the country, which a distance test over the index would read whole.
        walk = f"""
            WITH walked AS MATERIALIZED (
                SELECT p.id, {c.geog} <-> {ORIGIN} AS d FROM {c.source}
                WHERE {c.sql()} AND {match}
                ORDER BY {c.geog} <-> {ORIGIN} LIMIT :cap
            ), edge AS (SELECT max(d) AS d FROM (SELECT d FROM walked ORDER BY d LIMIT :limit) k)
            SELECT {RESULT_COLUMNS}{OFFERING_DIRECT if extra else ""}{distance}
            FROM walked w JOIN {c.source} ON p.id = w.id JOIN agency a ON a.id = p.agency_id
            WHERE {c.sql()} AND w.d <= (SELECT d FROM edge) * {SPHEROID_SLACK} + 1
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
