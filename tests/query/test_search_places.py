"""Search finds the places people type, however they spell them (issue 9, part 3).

The same table of real variant spellings as the gazetteer's own test, through the route
a citizen uses: every one answers points that lie in the intended place.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.place_names import VARIANTS


def _search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/points/search", params={"q": q, "limit": 20, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("query", "codes"), VARIANTS, ids=[q for q, _ in VARIANTS])
def test_a_variant_spelling_answers_points_in_its_place(
    client: TestClient, query: str, codes: tuple[str, ...]
) -> None:
    body = _search(client, query)
    named = [p["code"] for p in body["places"]]
    assert any(code.startswith(codes) or codes[0].startswith(code) for code in named[:5]), (
        query,
        named,
    )
    results = body["results"]
    assert results, query
    in_place = [r for r in results[:5] if r.get("tambon_code", "").startswith(codes)]
    # the detail-free result has no tambon code; ask the detail of the first results
    if not in_place:
        for r in results[:5]:
            detail = client.get(f"/v1/points/{r['id']}").json()
            if str(detail["tambon_code"]).startswith(codes):
                in_place.append(r)
    assert in_place, (query, [r["name_en"] for r in results[:5]])


def test_a_place_alone_puts_its_government_first(client: TestClient) -> None:
    chiang_mai = _search(client, "Chaing Mai")["results"]
    assert chiang_mai[0]["kind"] == "province_hall"
    bang_rak = _search(client, "Bangrak")["results"]
    assert bang_rak[0]["kind"] == "district_office" and "Bang Rak" in bang_rak[0]["name_en"]


def test_a_place_inside_a_longer_query_narrows_the_name_search(client: TestClient) -> None:
    body = _search(client, "post office bangrak")
    assert body["places"][0]["how"] == "in_query"
    assert body["results"][0]["kind"] == "post_office"


def test_with_a_location_the_place_is_ordered_by_distance(client: TestClient) -> None:
    body = _search(client, "Korat", lat=14.97, lon=102.10)
    distances = [r["distance_m"] for r in body["results"]]
    assert distances == sorted(distances) and distances[0] < 10_000


def test_words_that_name_no_place_are_a_name_search(client: TestClient) -> None:
    body = _search(client, "office")
    assert body["places"] == []
    assert all("office" in r["name_en"].lower() for r in body["results"])
