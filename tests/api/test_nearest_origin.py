"""Nearest from an origin outside the served area (issue 20, item 6): a bad GPS fix such
as 0,0 is a 422 that says so, on every form of the request, while places just across
the border are answered as before. (It was a 200 ranking offices 11,000 km away, after a
KNN scan that walked the whole index: 0.4-0.8 s against 7 ms.)"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from locator.settings import get_settings
from tests.support.api import with_settings

FAR = [
    {"lat": 0, "lon": 0},  # "null island", the classic bad fix
    {"lat": 51.5072, "lon": -0.1276},  # London
    {"lat": -13.7563, "lon": -100.5018},  # Bangkok with the signs lost: the Pacific
]
NEAR_THE_BORDER = {
    "Vientiane, Laos": {"lat": 17.9757, "lon": 102.6331},
    "Myawaddy, Myanmar": {"lat": 16.6880, "lon": 98.5080},
    "Poipet, Cambodia": {"lat": 13.6593, "lon": 102.5650},
    "Gulf of Thailand": {"lat": 9.5, "lon": 101.5},
}


@pytest.mark.parametrize("origin", FAR)
@pytest.mark.parametrize(
    "form",
    [
        {},
        {"k": 5},
        {"service": "passport_issue"},
        {"radius_m": 50_000},
        {"radius_m": 50_000, "k": 3},
    ],
)
def test_an_origin_far_from_every_service_point_is_a_422_saying_so(
    client: TestClient, origin: dict[str, float], form: dict[str, object]
) -> None:
    response = client.get("/v1/points/nearest", params={**origin, **form})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "km from every service point" in error["message"]
    assert error["details"]["parameter"] == "lat"
    assert error["details"]["max_origin_gap_m"] == get_settings().max_origin_gap_m


def test_ranking_by_travel_time_from_far_away_is_the_same_422(client: TestClient) -> None:
    response = client.get("/v1/points/nearest", params={"lat": 0, "lon": 0, "rank": "travel_time"})
    assert response.status_code == 422, response.text
    assert "km from every service point" in response.json()["error"]["message"]


@pytest.mark.parametrize("place", NEAR_THE_BORDER)
def test_places_across_the_border_still_find_the_nearest_thai_offices(
    client: TestClient, place: str
) -> None:
    response = client.get("/v1/points/nearest", params={**NEAR_THE_BORDER[place], "k": 5})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 5
    assert results[0]["distance_m"] < get_settings().max_origin_gap_m


def test_the_bound_is_the_setting(client: TestClient) -> None:
    """Vientiane's nearest Thai office lies across the Mekong: a bound short of it refuses
    the origin, a bound beyond it answers."""
    vientiane = NEAR_THE_BORDER["Vientiane, Laos"]
    gap = client.get("/v1/points/nearest", params={**vientiane, "k": 1, "status": "any"})
    gap_m = gap.json()["results"][0]["distance_m"]
    settings = get_settings()
    short = with_settings(client, settings.model_copy(update={"max_origin_gap_m": gap_m * 0.9}))
    response = short.get("/v1/points/nearest", params=vientiane)
    assert response.status_code == 422, response.text
    assert "km from every service point" in response.json()["error"]["message"]
    beyond = with_settings(client, settings.model_copy(update={"max_origin_gap_m": gap_m * 1.1}))
    assert beyond.get("/v1/points/nearest", params=vientiane).status_code == 200
