"""Every name search is bounded, whatever is typed (issue 20, item 6): a query the trigram
index cannot look up is refused with what to type, and the near-miss step reads a bounded
number of names however common the query's trigrams are.

What a search costs is read from PostgreSQL's own counters for the test's transaction
(``pg_stat_xact_user_tables``: the rows scans read from ``service_point``), not timed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.api import create_app
from locator.query.name_search import FUZZY_GRAMS
from locator.settings import get_settings
from tests.support.api import in_transaction

CANDIDATES = 20


@pytest.fixture
def small(db_url: str, session: Session) -> Iterator[TestClient]:
    """The API ranking at most CANDIDATES matches a search."""
    settings = get_settings().model_copy(update={"search_candidates": CANDIDATES})
    with in_transaction(create_app(settings, owner_url=db_url), session) as test_client:
        yield test_client


def _rows_read(session: Session) -> int:
    return int(
        session.execute(
            text(
                "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                "FROM pg_stat_xact_user_tables WHERE relname = 'service_point'"
            )
        ).scalar_one()
    )


@pytest.mark.parametrize(
    "q", ["\u0e48\u0e48\u0e48", "\u0e48\u0e48\u0e48 \u0e49\u0e49", "\u0301\u0301\u0301", "ก่า", "ที่ ่่่"]
)
def test_marks_without_three_letters_in_a_row_are_refused_with_what_to_type(
    client: TestClient, q: str
) -> None:
    response = client.get("/v1/points/search", params={"q": q})
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert (
        message.startswith("q:") and "3 or more Thai or Latin letters or digits in a row" in message
    )


@pytest.mark.parametrize(
    "q",
    [
        "ที่ว่าการ" * 8 + "x",  # one common word, again and again: no name has it
        "ที่ว่าการอำเภอเมืองx",  # a common name, misspelt at the end
        "offi ce districz",
    ],
)
def test_near_misses_read_a_bounded_number_of_names(
    small: TestClient, session: Session, q: str
) -> None:
    before = _rows_read(session)
    response = small.get("/v1/points/search", params={"q": q})
    assert response.status_code == 200, response.text
    # each of at most FUZZY_GRAMS trigrams brings CANDIDATES / grams names, read twice
    # (looked up, then joined); a trigram in many names ("ทีว" of ที่ว่าการ, tone marks
    # folded) the planner looks up by a sequential scan that stops at its share, a few
    # dozen rows in (cheaper than the index's posting list); a scan of every name sharing
    # a trigram reads thousands
    assert _rows_read(session) - before <= 4 * CANDIDATES + 100 + FUZZY_GRAMS * CANDIDATES


def test_near_misses_still_find_a_misspelt_name(client: TestClient) -> None:
    body = client.get("/v1/points/search", params={"q": "Bang Rak Distrct Ofice"}).json()
    assert any("Bang Rak" in r["name_en"] for r in body["results"][:3]), body["results"][:3]


def test_the_documented_pattern_of_q_is_what_the_search_takes(client: TestClient) -> None:
    """A client (or a fuzzer) that follows the document never sends a query the search
    refuses: ``q=0`` and three tone marks are outside the pattern, names inside it."""
    document = client.get("/openapi.json").json()
    (q,) = [
        p for p in document["paths"]["/v1/points/search"]["get"]["parameters"] if p["name"] == "q"
    ]
    pattern = re.compile(q["schema"]["pattern"])
    for text_ in ["0", "ab", "\u0e48\u0e48\u0e48", "ก่า", "...", "แม่", "น่ ่าน"]:
        assert not pattern.search(text_), text_
        assert client.get("/v1/points/search", params={"q": text_}).status_code == 422
    for text_ in ["ที่ว่าการ", "Bang Rak", "สุข", "10110", "น่าน", "แม่สา", "บ้าน", "เก้า"]:
        assert pattern.search(text_), text_
        assert client.get("/v1/points/search", params={"q": text_}).status_code == 200


def test_a_search_from_far_outside_the_served_area_is_refused_naming_the_origin(
    client: TestClient, session: Session
) -> None:
    """From a bad GPS fix (0, 0) the GiST walk outwards reads every point (issue 20,
    item 6): the search answers the 422 nearest answers, from the same bounded probe."""
    before = _rows_read(session)
    response = client.get("/v1/points/search", params={"q": "office", "lat": 0, "lon": 0})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["message"].startswith("lat, lon: (0, 0) is more than 300 km"), error
    assert error["details"]["max_origin_gap_m"] == get_settings().max_origin_gap_m
    assert _rows_read(session) - before <= 10


@pytest.fixture
def small_far(db_url: str, session: Session) -> Iterator[TestClient]:
    """``small``, serving origins up to 2,000 km from every point."""
    settings = get_settings().model_copy(
        update={"search_candidates": CANDIDATES, "max_origin_gap_m": 2_000_000}
    )
    with in_transaction(create_app(settings, owner_url=db_url), session) as test_client:
        yield test_client


def test_a_common_word_from_far_away_reads_each_point_at_most_once(
    small_far: TestClient, session: Session
) -> None:
    """From far away (the sea off Sumatra, 700 km from the nearest point, an origin a
    looser ``max_origin_gap_m`` admits) "within 1 % of the farthest nearest match" is a
    band wider than the country: the answer is ordered from the CANDIDATES nearest
    matches of the walk outwards, not by a second pass over every match in that band
    (issue 20, item 6)."""
    points = session.execute(text("SELECT count(*) FROM service_point")).scalar_one()
    before = _rows_read(session)
    body = small_far.get(
        "/v1/points/search", params={"q": "office", "lat": 0, "lon": 100, "limit": 10}
    ).json()
    assert body["count"] == 10 and body["truncated"] is False
    distances = [r["distance_m"] for r in body["results"]]
    assert distances == sorted(distances)
    assert _rows_read(session) - before <= points + 10 * CANDIDATES + 200
