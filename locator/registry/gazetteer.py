"""A gazetteer of Thai provinces, districts and tambons, and fuzzy matching against it.

Citizens type place names as they hear them: "Chaing Mai", "Khon Kean", "Cholburi",
"Bangrak", "Korat", or in Thai with a tone mark or vowel wrong (เชียงไหม่, บางลัก). The
official names (admin_area: Thai, and RTGS romanisation) are one spelling among many, so
both sides are reduced to a *phonetic key* first: the rules below merge what Thai
romanisations confuse (kh/k, ph/p, th/t, ch/j, u/oo, ue/eu, ae/ea/a, r/l, final l/n,
silent final r, -bury/-buri, Sri/Si, doubled letters, spaces, hyphens); Thai keys drop
tone marks and merge consonants that sound alike (ข/ค/ฆ, ท/ธ/ถ/ฐ/ฑ/ฒ, ส/ศ/ษ/ซ, ร/ล, ใ/ไ,
...). What the rules leave, a real edit distance (rapidfuzz's optimal string alignment:
a transposition costs one edit, as in "Chaing") absorbs. Names the rules cannot derive
(Korat, Krung Thep, Pattaya) are hand-written data in ``data/place_aliases.yaml``.

The gazetteer lives in memory: 8,430 areas make about 12,000 distinct keys (about 11 MB),
which rapidfuzz scores against a query in about 0.3 ms, so a table (and a migration)
would only add a round trip. It is built once per database from ``admin_area`` (about
1 s, a third of it loading PyThaiNLP's word list) and cached; call ``clear_cache()``
after reloading the reference data into a running process.

Ranking, for the search route: score first (an exact or phonetically equal name is
100), then a literal match before a phonetic one, then the level the query names
("amphoe", "ตำบล", ...), then province before district before tambon, then population.
"""

from __future__ import annotations

import math
import os
import re
import threading
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import yaml
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, LCSseq
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

# PyThaiNLP creates ~/pythainlp-data when imported unless it is read-only; the gazetteer
# uses only its rule-based text utilities and must never write or download anything.
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
from pythainlp.tokenize import word_tokenize
from pythainlp.util import normalize as _thai_normalize

from locator.db.engine import Executor
from locator.settings import get_settings

Level = Literal["province", "district", "tambon"]
How = Literal["exact", "phonetic", "fuzzy", "part_of_name", "in_query"]
VariantKind = Literal["name_en", "name_th", "short_en", "short_th", "alias"]

LEVEL_RANK: Mapping[str, int] = {"province": 0, "district": 1, "tambon": 2}
DEFAULT_MIN_SCORE = 75.0
"""Below this a candidate is noise. On the test table (tests/registry/test_gazetteer.py) the
intended place of every variant spelling scores 75 or more (all but "Trad" and
"Phetburi", 80 or more), and the best match of a string that names no place ("office",
"โรงพยาบาล", random letters) at most 67."""
STRONG_SCORE = 80.0
"""A best match at or above this is safe to act on alone (e.g. to restrict a search to
the place); see DEFAULT_MIN_SCORE for the measurements behind both."""

_MAX_QUERY_CHARS = 80  # longer input is not a place name; bounds the partial scoring
_PART_MIN_RATIO = 80.0  # a part that aligns worse than this is a coincidence
_MAX_SPAN_WORDS = 4  # longest run of query words tried as a place name
_MAX_SPAN_WORDS_THAI = 6  # Thai tokens are shorter, and a misspelt word splits up
_MAX_WORDS = 12
_LATER_WORD = 0.95  # a part of a name that is not its start (see _best_window)
_MIN_KEY = {"latin": 3, "thai": 2}  # shorter keys match everything
_MIN_PART_KEY = {"latin": 4, "thai": 3}  # shortest name or query matched as a part


@dataclass(frozen=True, slots=True)
class Place:
    """One administrative area, as the gazetteer needs it (no geometry)."""

    code: str
    level: str
    name_th: str
    name_en: str
    parent_code: str | None
    population: int | None


@dataclass(frozen=True, slots=True)
class PlaceMatch(Place):
    """A place a query may mean. ``variant`` is the name that matched, as written in the
    gazetteer (an official name, a short form such as "Chiang Mai" for the district
    "Mueang Chiang Mai", or an alias); ``how`` says how it matched, so a caller can
    decide what to trust: ``exact`` and ``phonetic`` are the whole query,
    ``fuzzy`` is within a few edits, ``part_of_name`` means the query is the start or
    part of a longer name ("Ubon"), ``in_query`` that the name is part of a longer query
    ("post office bangrak")."""

    score: float
    how: How
    variant: str
    variant_kind: VariantKind

    @property
    def province_code(self) -> str:
        return self.code[:2]


@dataclass(frozen=True, slots=True)
class Alias:
    codes: tuple[str, ...]
    names: tuple[str, ...]
    source: str


# --- keys ----------------------------------------------------------------------------
# Thai letters, vowels and marks; not ฯ (abbreviation), ฿ (baht) or ๆ (repetition),
# which no two spellings of a name agree on
_THAI_CHAR = re.compile(r"[\u0e01-\u0e2e\u0e30-\u0e3a\u0e40-\u0e45\u0e47-\u0e4e]")

# Order matters: digraphs before the letters they contain, finals before r/l merge,
# doubled letters last (so "Ayutthaya" and "Ayuthaya" meet after th -> t).
_LATIN_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"bury", "buri"),  # Anglicised -buri (Chonbury)
        (r"sri", "si"),  # Sanskrit spelling of ศรี (Sri Racha, Nakhon Sri Thammarat)
        (r"dh", "t"),  # Pali spelling (Dhammarat, Ayudhya)
        (r"ch|j", "c"),  # ช/ฉ/ฌ: Chiang, Jiang
        (r"tc", "c"),  # Ratchaburi / Rajaburi / Rachaburi
        (r"([kptbgs])h", r"\1"),  # aspiration is optional: kh/k, ph/p, th/t
        (r"v", "w"),
        (r"ue|eu", "u"),  # ึ/ื: Mueang / Muang / Meuang
        (r"oo|ou", "u"),  # ู: Phuket / Phooket
        (r"ee", "i"),
        (r"ae|ea", "a"),  # แ: Kaen / Kean / Kan
        (r"ie", "ia"),  # เีย: Chieng / Chiang
        (r"(?<=[aeiou])y(?![aeiou])", "i"),  # ไ/ย final: Loey, Chiangmay
        (r"(?<=[aeiou])w(?![aeiou])", "o"),  # ว final: Kaew / Kaeo
        (r"l(?![aeiou])", "n"),  # final ล is heard as n: Cholburi
        (r"(?<=[aeiou])[rh](?![aeiou])", ""),  # silent final r, h: Udorn, Nakorn, Koh
        (r"r", "l"),  # ร/ล are merged in speech
        (r"(.)\1+", r"\1"),
    )
)

_THAI_DROP = dict.fromkeys(
    map(
        ord,
        "\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e",  # ็ ่ ้ ๊ ๋ ์ ํ ๎: marks people miss
    )
)
_THAI_MERGE = str.maketrans(
    {
        "ใ": "ไ",
        "ฃ": "ค",
        "ข": "ค",
        "ฅ": "ค",
        "ฆ": "ค",
        "ฐ": "ท",
        "ฑ": "ท",
        "ฒ": "ท",
        "ถ": "ท",
        "ธ": "ท",
        "ฏ": "ต",
        "ฎ": "ด",
        "ศ": "ส",
        "ษ": "ส",
        "ซ": "ส",
        "ผ": "พ",
        "ภ": "พ",
        "ฝ": "ฟ",
        "ฉ": "ช",
        "ฌ": "ช",
        "ณ": "น",
        "ญ": "ย",
        "ล": "ร",
        "ฬ": "ร",
        "ฤ": "ร",
        "ฦ": "ร",
    }
)
_WORD = re.compile(r"[^\W\d_]+")


def latin_literal(s: str) -> str:
    """Letters only, no diacritics, lower case: "Bang Rak" == "Bangrak" == "bang-rak"."""
    decomposed = unicodedata.normalize("NFKD", s)
    return "".join(c for c in decomposed.casefold() if "a" <= c <= "z")


def latin_key(s: str) -> str:
    """The phonetic key of a romanised Thai name (see the module docstring)."""
    return _latin_fold(latin_literal(s))


def _latin_fold(literal: str) -> str:
    key = literal
    for pattern, repl in _LATIN_RULES:
        key = pattern.sub(repl, key)
    return key


def thai_literal(s: str) -> str:
    """Thai letters and marks only, in PyThaiNLP's canonical order (it also mends
    doubled marks and เเ typed for แ)."""
    return "".join(_THAI_CHAR.findall(_thai_normalize(s).replace("เเ", "แ")))


def thai_key(s: str) -> str:
    """The key of a Thai name: without tone and silent marks, with consonants that
    sound alike merged, so a wrong or missing mark is no edit at all."""
    return _thai_fold(thai_literal(s))


def _thai_fold(literal: str) -> str:
    # no collapsing of doubled letters, unlike Latin keys: Thai doubles are spelling
    # (ปัตตานี), and collapsing "ลบบุรี" made it the tail of ชลบุรี instead of ลพบุรี
    return literal.translate(_THAI_DROP).translate(_THAI_MERGE)


# --- what the query says about the level ----------------------------------------------
_LATIN_LEVEL_WORDS: Mapping[str, Level] = {
    "province": "province",
    "changwat": "province",
    "district": "district",
    "amphoe": "district",
    "amphur": "district",
    "khet": "district",
    "subdistrict": "tambon",
    "tambon": "tambon",
    "khwaeng": "tambon",
}
_LATIN_LEVEL_PREFIX = re.compile(r"^\s*(changwat|amphoe|amphur|khet|tambon|khwaeng)\b\.?\s*", re.I)
_LATIN_LEVEL_SUFFIX = re.compile(r"\s*\b(province|district|sub-?\s?district)\s*$", re.I)
_THAI_LEVEL_PREFIX = re.compile(r"^\s*(จังหวัด|จ\.|กิ่งอำเภอ|อำเภอ|อ\.|เขต|ตำบล|ต\.|แขวง)\s*")
_THAI_LEVEL: Mapping[str, Level] = {
    "จังหวัด": "province",
    "จ.": "province",
    "กิ่งอำเภอ": "district",
    "อำเภอ": "district",
    "อ.": "district",
    "เขต": "district",
    "ตำบล": "tambon",
    "ต.": "tambon",
    "แขวง": "tambon",
}


def _latin_level(query: str) -> tuple[str, Level | None]:
    """Strip a leading "Amphoe"/"Tambon" or a trailing "province"/"district" (only
    there: "Khet" also ends real names, such as Sanam Chai Khet)."""
    hint: Level | None = None
    m = _LATIN_LEVEL_PREFIX.match(query)
    if m:
        hint = _LATIN_LEVEL_WORDS[m.group(1).lower()]
        query = query[m.end() :]
    m = _LATIN_LEVEL_SUFFIX.search(query)
    if m:
        word = re.sub(r"[^a-z]", "", m.group(1).lower())
        hint = hint or _LATIN_LEVEL_WORDS[word]
        query = query[: m.start()]
    return query, hint


def _thai_level(query: str) -> tuple[str, Level | None]:
    m = _THAI_LEVEL_PREFIX.match(query)
    if not m:
        return query, None
    return query[m.end() :], _THAI_LEVEL[m.group(1)]


# --- the index -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Variant:
    place: int  # index into Gazetteer.places
    text: str  # as written in the gazetteer
    kind: VariantKind
    literal: str


@dataclass(slots=True)
class _Index:
    """The distinct keys of one script, each with the names that reduce to it and where
    the words of those names start in it (a query that is part of a name must start
    at one of its words: "Chiang Mai" in "Si Chiang Mai", not "Pata" in "Pattaya")."""

    keys: list[str] = field(default_factory=list)
    variants: list[list[_Variant]] = field(default_factory=list)
    starts: list[set[int]] = field(default_factory=list)
    tails: list[tuple[tuple[str, bool], ...]] = field(default_factory=list)
    suffixes: bool = False  # also match a part at the end of a name (Thai)
    lengths: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    _slot: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, variant: _Variant, starts: Iterable[int]) -> None:
        slot = self._slot.get(key)
        if slot is None:
            slot = self._slot[key] = len(self.keys)
            self.keys.append(key)
            self.variants.append([])
            self.starts.append(set())
        self.starts[slot].update(starts)
        held = self.variants[slot]
        if all(v.place != variant.place or v.literal != variant.literal for v in held):
            held.append(variant)

    def freeze(self, suffixes: bool) -> None:
        self.lengths = np.fromiter((len(k) for k in self.keys), np.int32, len(self.keys))
        self.tails = [
            tuple((key[s:], s > 0) for s in sorted(st) if 0 <= s < len(key))
            for key, st in zip(self.keys, self.starts, strict=True)
        ]
        self.suffixes = suffixes
        self.starts, self._slot = [], {}  # only needed while adding


_PAREN = re.compile(r"\s*\(([^)]*)\)\s*")
_MUEANG_EN = re.compile(r"^(Mueang|Khet|King Amphoe)\s+")
_MUEANG_TH = re.compile(r"^(เมือง|เขต|กิ่งอำเภอ)")


def _name_forms(name: str) -> list[str]:
    """A name and its parenthesised other name: "ปอภาร (ปอพาน)" is both."""
    forms = [_PAREN.sub(" ", name).strip()]
    forms += [m.strip() for m in _PAREN.findall(name) if m.strip()]
    return [f for f in forms if f]


class Gazetteer:
    """Places and the keys of all their names, ready to match; immutable once built."""

    def __init__(self, places: Iterable[Place], aliases: Iterable[Alias] = ()) -> None:
        self.places: list[Place] = list(places)
        self.by_code: dict[str, int] = {p.code: i for i, p in enumerate(self.places)}
        self.latin = _Index()
        self.thai = _Index()
        for i, place in enumerate(self.places):
            for form in _name_forms(place.name_en):
                self._add(i, form, "name_en")
                short = _MUEANG_EN.sub("", form)
                if short != form and place.level == "district":
                    self._add(i, short, "short_en")
            for form in _name_forms(place.name_th):
                self._add(i, form, "name_th")
                short = _MUEANG_TH.sub("", form)
                if short != form and place.level == "district":
                    self._add(i, short, "short_th")
        for alias in aliases:
            for code in alias.codes:
                # a database holding part of the country has no such place; the test
                # against the full reference data checks every code exists
                if code in self.by_code:
                    for name in alias.names:
                        self._add(self.by_code[code], name, "alias")
        self.latin.freeze(suffixes=False)
        self.thai.freeze(suffixes=True)
        _thai_words("เชียงใหม่")  # loads the tokeniser's dictionary (0.4 s) now, not in a query
        self._tambons = sorted(p.code for p in self.places if p.level == "tambon")
        # among equally good matches: province, district, tambon, then the most people
        by_importance = sorted(
            range(len(self.places)),
            key=lambda i: (
                LEVEL_RANK.get(self.places[i].level, 3),
                -(self.places[i].population or 0),
                self.places[i].code,
            ),
        )
        self._order = [0] * len(self.places)
        for position, i in enumerate(by_importance):
            self._order[i] = position

    def _add(self, place: int, name: str, kind: VariantKind) -> None:
        if _THAI_CHAR.search(name):
            # Thai is written without spaces: only the start of the name is known
            literal = thai_literal(name)
            key, starts, index = _thai_fold(literal), [0], self.thai
        else:
            literal = latin_literal(name)
            key, index = _latin_fold(literal), self.latin
            words = _WORD.findall(name)
            # from the end: letters merged across a boundary ("Ban Na" -> "bana") then
            # count for the word before, and the later word still starts where it reads
            starts = [len(key) - len(latin_key(" ".join(words[i:]))) for i in range(len(words))]
        if key:
            index.add(key, _Variant(place, name, kind, literal), starts)

    @classmethod
    def from_db(cls, db: Executor, aliases_path: Path | None = None) -> Gazetteer:
        rows = db.execute(
            text(
                "SELECT code, level, name_th, name_en, parent_code, population "
                "FROM admin_area ORDER BY code"
            )
        ).all()
        places = [
            Place(r.code, r.level, r.name_th, r.name_en, r.parent_code, r.population) for r in rows
        ]
        return cls(places, load_aliases(aliases_path))

    def __len__(self) -> int:
        return len(self.places)

    def place(self, code: str) -> Place:
        return self.places[self.by_code[code]]

    def tambon_codes(self, code: str) -> list[str]:
        """The tambons inside a place (itself, for a tambon): DOPA codes nest by prefix,
        and ``service_point.tambon_code`` is indexed, so ``tambon_code = ANY(...)`` finds
        a place's points without touching a polygon."""
        start = bisect_left(self._tambons, code)
        end = start
        while end < len(self._tambons) and self._tambons[end].startswith(code):
            end += 1
        return self._tambons[start:end]

    def match(
        self, query: str, limit: int = 10, *, min_score: float = DEFAULT_MIN_SCORE
    ) -> list[PlaceMatch]:
        """The places ``query`` may name, best first (see the module docstring)."""
        query = unicodedata.normalize("NFC", query)[:_MAX_QUERY_CHARS]
        if limit <= 0:
            return []
        best: dict[int, _Candidate] = {}
        hints: list[Level] = []
        thai_part = "".join(c if _THAI_CHAR.match(c) or c in " ." else " " for c in query)
        latin_part = _THAI_CHAR.sub(" ", query)
        for script, part in (("thai", thai_part.strip()), ("latin", latin_part)):
            stripped, hint = _thai_level(part) if script == "thai" else _latin_level(part)
            if hint:
                hints.append(hint)
            # "Khet", "จ." also begin or end real names: score the query both ways
            for form in (stripped, part) if stripped != part else (part,):
                self._score(script, form, min_score, best)
        hint_level = hints[0] if hints else None

        def rank(item: tuple[int, _Candidate]) -> tuple[float, bool, bool, int]:
            i, (score, exact, _, _) = item
            off_level = hint_level is not None and self.places[i].level != hint_level
            return (-score, not exact, off_level, self._order[i])

        out: list[PlaceMatch] = []
        for i, (score, _, how, variant) in sorted(best.items(), key=rank)[:limit]:
            p = self.places[i]
            out.append(
                PlaceMatch(
                    p.code,
                    p.level,
                    p.name_th,
                    p.name_en,
                    p.parent_code,
                    p.population,
                    score,
                    how,
                    variant.text,
                    variant.kind,
                )
            )
        return out

    def _score(self, script: str, form: str, min_score: float, best: dict[int, _Candidate]) -> None:
        """Score every key of the script's index against the query: the whole of it in
        one vectorised rapidfuzz pass, then the few keys that could contain the query or
        be contained in it (pre-selected by their longest common subsequence)."""
        thai = script == "thai"
        index = self.thai if thai else self.latin
        key = thai_key(form) if thai else latin_key(form)
        n = len(key)
        if n < _MIN_KEY[script] or not index.keys:
            return
        literal = thai_literal(form) if thai else latin_literal(form)
        full = process.cdist([key], index.keys, scorer=OSA.normalized_similarity, dtype=np.float32)
        scores: npt.NDArray[np.float32] = full[0] * np.float32(100.0)
        how: dict[int, How] = {}
        lcs: npt.NDArray[np.int32] = process.cdist(
            [key], index.keys, scorer=LCSseq.similarity, dtype=np.int32
        )[0]
        lengths = index.lengths
        min_part = _MIN_PART_KEY[script]

        # the query is a word-aligned part of a longer name ("Ubon", "Ayutthaya")
        if n >= min_part:
            longer = np.nonzero((lengths > n) & (lcs >= math.ceil(0.8 * n)))[0]
            if longer.size:
                # an alignment anywhere (rapidfuzz, vectorised) must be good before the
                # word starts are tried one by one
                names = [index.keys[k] for k in longer.tolist()]
                anywhere = process.cdist([key], names, scorer=fuzz.partial_ratio, dtype=np.uint8)
                for k in longer[anywhere[0] >= _PART_MIN_RATIO - 5].tolist():
                    sim = _best_window(key, index.keys[k], index.tails[k], index.suffixes)
                    if sim >= _PART_MIN_RATIO / 100:
                        part = 100.0 * sim * _weight(n / int(lengths[k]))
                        if part > scores[k]:
                            scores[k], how[k] = part, "part_of_name"

        # a name is part of a longer query ("post office bangrak", "ไปรษณีย์บางรัก"):
        # it must match a run of whole words of the query, or "สถานีตำรวจ" (police
        # station) would name the tambon Sathan
        shorter = np.nonzero((lengths < n) & (lengths >= min_part) & (lcs >= 0.8 * lengths))[0]
        spans = [s for s in _spans(form, thai) if len(s) >= min_part]
        if shorter.size and spans:
            names = [index.keys[k] for k in shorter.tolist()]
            sims = process.cdist(spans, names, scorer=OSA.normalized_similarity, dtype=np.float32)
            top = sims.argmax(axis=0)
            for col, k in enumerate(shorter.tolist()):
                sim = float(sims[top[col], col])
                if sim >= _PART_MIN_RATIO / 100:
                    part = 100.0 * sim * _in_query_weight(len(spans[top[col]]) / n)
                    if part > scores[k]:
                        scores[k], how[k] = part, "in_query"

        for k in np.nonzero(scores >= min_score)[0].tolist():
            score = round(float(scores[k]), 1)
            for variant in index.variants[k]:
                exact = score >= 100.0 and variant.literal == literal
                matched = how.get(k) or (
                    "exact" if exact else "phonetic" if score >= 100 else "fuzzy"
                )
                candidate = (score, exact, matched, variant)
                held = best.get(variant.place)
                if held is None or _better(candidate, held):
                    best[variant.place] = candidate


_Candidate = tuple[float, bool, How, _Variant]


def _best_window(key: str, name: str, tails: Sequence[tuple[str, bool]], suffix: bool) -> float:
    """How well ``key`` matches ``name`` from one of its word starts (``tails``: the name
    from each word on), or, for Thai, at its very end. People shorten a name by its end
    (Suphan, Ubon, Nakhon Si), so a match at the start counts a little more."""
    n = len(key)
    best = 0.0
    for tail, later in tails:  # exact first: it is the common case, and cheap
        if tail.startswith(key):
            best = max(best, _LATER_WORD if later else 1.0)
    for tail, later in tails:
        if (_LATER_WORD if later else 1.0) <= best:
            continue
        for size in (n - 1, n, n + 1):
            sim = OSA.normalized_similarity(key, tail[:size], score_cutoff=0.75)
            best = max(best, sim * _LATER_WORD if later else sim)
    if suffix and best < _LATER_WORD:
        for size in (n - 1, n, n + 1):
            sim = OSA.normalized_similarity(key, name[-size:], score_cutoff=0.75)
            best = max(best, sim * _LATER_WORD)
    return best


def _thai_words(text_: str) -> list[str]:
    return list(word_tokenize(text_, engine="newmm", keep_whitespace=False))


def _spans(form: str, thai: bool) -> list[str]:
    """The keys of every run of words of the query but the whole. Thai is written
    without spaces, so its words come from PyThaiNLP's dictionary tokeniser (newmm,
    bundled); a misspelt word falls apart into fragments ("ไห", "ม่"), which a longer
    run puts back together."""
    if thai:
        words = [w for w in _thai_words(thai_literal(form)) if w.strip()][:_MAX_WORDS]
        longest, fold = _MAX_SPAN_WORDS_THAI, thai_key
    else:
        words = _WORD.findall(form)[:_MAX_WORDS]
        longest, fold = _MAX_SPAN_WORDS, latin_key
    runs = {
        fold("".join(words[i:j]) if thai else " ".join(words[i:j]))
        for i in range(len(words))
        for j in range(i + 1, min(len(words), i + longest) + 1)
        if j - i < len(words)
    }
    return sorted(runs)


def _weight(coverage: float) -> float:
    """A query that is part of a name is weaker evidence than the whole name, the more
    so the less of the name it covers."""
    return 0.8 + 0.2 * coverage


def _in_query_weight(coverage: float) -> float:
    """A name that explains only part of the query ranks below one that explains all of
    it ("Phra Nakhon Si" is Ayutthaya's start before it is the district Phra Nakhon),
    but a place named word for word stays above the noise floor however long the rest
    of the query ("ที่ว่าการอำเภอหัวหินเปิดกี่โมง": 78 to 90)."""
    return 0.78 + 0.12 * coverage


_KIND_RANK: Mapping[str, int] = {
    "name_en": 0,
    "name_th": 0,
    "short_en": 1,
    "short_th": 1,
    "alias": 2,
}


def _better(a: _Candidate, b: _Candidate) -> bool:
    """Which of two variants of one place explains the query best: the official name
    before a short form before an alias, when they score alike."""
    return (a[0], a[1], -_KIND_RANK[a[3].kind]) > (b[0], b[1], -_KIND_RANK[b[3].kind])


# --- aliases ---------------------------------------------------------------------------
def load_aliases(path: Path | None = None) -> list[Alias]:
    """The hand-written aliases; a malformed entry is an error naming it, not a skip."""
    path = path or get_settings().catalogue_dir / "place_aliases.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a list of aliases")
    aliases = []
    for n, entry in enumerate(raw, 1):
        if not (
            isinstance(entry, dict)
            and _str_list(entry.get("codes"))
            and _str_list(entry.get("names"))
            and isinstance(entry.get("source"), str)
            and entry["source"].strip()
        ):
            raise ValueError(
                f"{path}: entry {n} needs codes (a list of DOPA codes as strings), "
                "names (a list of strings) and source (where the names come from)"
            )
        aliases.append(Alias(tuple(entry["codes"]), tuple(entry["names"]), entry["source"]))
    return aliases


def _str_list(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


# --- one gazetteer per database --------------------------------------------------------
_cache: dict[str, Gazetteer] = {}
_cache_lock = threading.Lock()


def _database_key(db: Executor) -> str:
    """The server and database, not the role: the API reads as locator_reader and the
    CLI as the owner, and both see the same admin areas."""
    bind = db.get_bind() if isinstance(db, Session) else db
    engine = bind.engine if isinstance(bind, Connection) else bind
    return engine.url.set(username=None, password=None).render_as_string()


def get_gazetteer(db: Executor) -> Gazetteer:
    """The gazetteer of ``db``'s database, built on first use (about 0.3 s) and kept:
    admin areas change only when the reference data is reloaded."""
    key = _database_key(db)
    gazetteer = _cache.get(key)
    if gazetteer is None:
        with _cache_lock:
            gazetteer = _cache.get(key)
            if gazetteer is None:
                gazetteer = _cache[key] = Gazetteer.from_db(db)
    return gazetteer


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def match_places(
    db_or_gazetteer: Executor | Gazetteer,
    query: str,
    limit: int = 10,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
) -> list[PlaceMatch]:
    """The places a citizen's ``query`` may name, best first, at most ``limit``."""
    gazetteer = (
        db_or_gazetteer
        if isinstance(db_or_gazetteer, Gazetteer)
        else get_gazetteer(db_or_gazetteer)
    )
    return gazetteer.match(query, limit, min_score=min_score)


__all__: Sequence[str] = (
    "DEFAULT_MIN_SCORE",
    "STRONG_SCORE",
    "Alias",
    "Gazetteer",
    "Place",
    "PlaceMatch",
    "clear_cache",
    "get_gazetteer",
    "latin_key",
    "latin_literal",
    "load_aliases",
    "match_places",
    "thai_key",
    "thai_literal",
)
