"""One read model: the same filters select the same points on every door (issue 9)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

CENTRE = {"lat": 15.0, "lon": 101.0}

# sets small enough that every door can return all of them at once (nearest: k <= 100)
FILTER_SETS: list[dict[str, Any]] = [
    {"service": "passport_issue", "no_copy": "true"},
    {"service": "passport_issue", "no_copy": "false"},
    {"kind": "passport_office", "wheelchair": "true"},
    {"kind": "passport_office", "agency": "mfa"},  # a ministry: its departments' offices
    {"kind": "passport_office", "open_now": "true", "at": "2026-03-30T10:00"},
    {"kind": "passport_office", "open_now": "false", "at": "2026-03-29T10:00"},  # a Sunday
    {"kind": "passport_office", "status": "any", "gecc": "false"},
]


def _ids(results: list[dict[str, Any]]) -> set[int]:
    return {int(r["id"]) for r in results}


@pytest.mark.parametrize(
    "filters", FILTER_SETS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.items())
)
def test_the_same_filters_give_the_same_points_everywhere(
    client: TestClient, filters: dict[str, Any]
) -> None:
    nearest = client.get("/v1/points/nearest", params={**CENTRE, "k": 100, **filters})
    assert nearest.status_code == 200, nearest.text
    search = client.get("/v1/points/search", params={"q": "passport", "limit": 100, **filters})
    assert search.status_code == 200, search.text
    items = client.get("/collections/service_points/items", params={"limit": 1000, **filters})
    assert items.status_code == 200, items.text
    by_nearest = _ids(nearest.json()["results"])
    by_search = _ids(search.json()["results"])
    by_items = {int(f["id"]) for f in items.json()["features"]}
    assert by_nearest, "a filter set that selects nothing proves nothing"
    assert len(by_nearest) < 100
    assert by_nearest == by_search == by_items


def test_an_agency_includes_its_sub_agencies(client: TestClient, session: Session) -> None:
    ministry = client.get(
        "/v1/points/nearest",
        params={**CENTRE, "k": 100, "kind": "passport_office", "agency": "mfa"},
    ).json()["results"]
    offices = session.execute(
        text(
            "SELECT count(*) FROM service_point "
            "WHERE kind = 'passport_office' AND status = 'active'"
        )
    ).scalar_one()
    assert len(ministry) == offices
    assert {r["agency"]["code"] for r in ministry} != {"mfa"}  # provincial offices below it


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/points/nearest", CENTRE),
        ("/v1/points/search", {"q": "passport"}),
        ("/collections/service_points/items", {}),
    ],
)
@pytest.mark.parametrize(
    ("name", "value"),
    [("service", "teleportation"), ("agency", "nobody"), ("kind", "space_port"),
     ("status", "demolished"), ("colour", "red")],
)  # fmt: skip
def test_the_same_mistake_gets_the_same_answer_everywhere(
    client: TestClient, path: str, params: dict[str, Any], name: str, value: str
) -> None:
    response = client.get(path, params={**params, name: value})
    assert response.status_code == 422, (path, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and name in error["message"], (path, error)
    assert set(error) == {"code", "message", "details"}


def test_within_a_radius_every_point_comes_a_page_at_a_time(
    client: TestClient, session: Session
) -> None:
    params = {"lat": 13.7563, "lon": 100.5018, "radius_m": 3000}
    within = session.execute(
        text(
            "SELECT count(*) FROM service_point WHERE status = 'active' AND ST_DWithin(geog, "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :radius_m)"
        ),
        params,
    ).scalar_one()
    assert within > 25
    seen: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(
            "/v1/points/nearest", params={**params, "limit": 10, "offset": offset}
        ).json()
        assert page["total"] == within
        seen += page["results"]
        offset = page["next_offset"]
    assert len(seen) == len({r["id"] for r in seen}) == within
    distances = [r["distance_m"] for r in seen]
    assert distances == sorted(distances) and distances[-1] <= 3000
    # with k as well: the k nearest within the radius, and no paging
    capped = client.get("/v1/points/nearest", params={**params, "k": 5}).json()
    assert capped["count"] == 5 and capped["total"] is None and capped["next_offset"] is None
    assert [r["id"] for r in capped["results"]] == [r["id"] for r in seen[:5]]


def test_the_documented_moment_is_the_accepted_one(client: TestClient) -> None:
    """``at``'s pattern in the OpenAPI document admits no month 85, hour 24 or minute 61:
    a client that follows the document is not refused, one that does not is told why."""
    doc = client.get("/openapi.json").json()
    params = doc["paths"]["/v1/points/nearest"]["get"]["parameters"]
    schema = next(p for p in params if p["name"] == "at")["schema"]
    pattern = next(s["pattern"] for s in schema.get("anyOf", [schema]) if "pattern" in s)
    for bad in ("2026-85-01", "2026-12-00", "2026-12-07T24:00", "2026-12-07T10:61"):
        assert not re.fullmatch(pattern, bad), bad
        r = client.get("/v1/points/nearest", params={**CENTRE, "open_now": "true", "at": bad})
        assert r.status_code == 422, (bad, r.text)
    for good in ("2026-12-07", "2026-12-07T10:00", "2026-12-07 10:00:05.5+07:00"):
        assert re.fullmatch(pattern, good), good
        r = client.get("/v1/points/nearest", params={**CENTRE, "open_now": "true", "at": good})
        assert r.status_code == 200, (good, r.text)
