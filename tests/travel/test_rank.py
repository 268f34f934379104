"""GET /v1/points/nearest?rank=travel_time: the nearest by distance re-ranked by the trip
on real roads (Monaco's, through a running OSRM), with "open" judged on arrival."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.api.schemas import NearestResponse
from locator.registry.hours import weekly
from locator.settings import Settings
from tests.support.api import with_settings
from tests.support.ports import free_port_pair

CASINO = {"lat": 43.7396, "lon": 7.4246}
# Monaco places, straight-line distance from the casino and the drive there: the Jardin
# Exotique is 7th by distance but the quickest to reach; the station, 370 m away across
# the railway, takes three minutes
PLACES = {
    "station": (43.7391, 7.4200),
    "port": (43.7350, 7.4230),
    "palace": (43.7315, 7.4206),
    "oceanographic": (43.7308, 7.4255),
    "larvotto": (43.7460, 7.4340),
    "cathedral": (43.7300, 7.4230),
    "exotique": (43.7311, 7.4125),
    "fontvieille": (43.7277, 7.4155),
}
KIND = "monaco_test_office"
MONDAY_1628 = "2026-11-23T16:28:00"
CLOSES_1630 = weekly([("08:30", "16:30")])
CLOSES_1700 = weekly([("08:30", "17:00")])


@pytest.fixture
def monaco_points(session: Session) -> dict[str, int]:
    """Offices at the Monaco places (in the test's transaction), all closing at 16:30
    except the port's, which closes at 17:00."""
    agency = session.execute(text("SELECT id FROM agency ORDER BY id LIMIT 1")).scalar_one()
    ids = {}
    for n, (name, (lat, lon)) in enumerate(PLACES.items()):
        ids[name] = 9_100_000 + n
        hours = CLOSES_1700 if name == "port" else CLOSES_1630
        session.execute(
            text(
                "INSERT INTO service_point (id, agency_id, kind, name_th, name_en, geog, "
                "source, opening_hours) VALUES (:id, :agency, :kind, :name, :name, "
                "ST_MakePoint(:lon, :lat)::geography, 'generated', CAST(:hours AS jsonb))"
            ),
            {
                "id": ids[name],
                "agency": agency,
                "kind": KIND,
                "name": name,
                "lat": lat,
                "lon": lon,
                "hours": json.dumps(hours),
            },
        )
    return ids


def _nearest(client: TestClient, **params: object) -> dict[str, object]:
    r = client.get("/v1/points/nearest", params={**CASINO, "kind": KIND, **params})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    NearestResponse.model_validate(body)
    return body


def _names(body: dict[str, object]) -> list[str]:
    return [p["name_en"] for p in body["results"]]  # type: ignore[attr-defined, index]


def test_ranked_by_the_drive_not_the_crow(
    on_monaco: TestClient, monaco_points: dict[str, int]
) -> None:
    by_distance = _nearest(on_monaco, k=8)
    assert _names(by_distance)[0] == "station" and _names(by_distance)[-2:] == [
        "exotique",
        "fontvieille",
    ]
    ranked = _nearest(on_monaco, k=8, rank="travel_time")
    assert ranked["ranking"]["by"] == "travel_time"  # type: ignore[index]
    assert ranked["ranking"]["method"] == "osrm"  # type: ignore[index]
    names = _names(ranked)
    assert sorted(names) == sorted(PLACES) and names[0] == "exotique"
    # the order is the one the route API measures, trip by trip
    trips = [p["travel"] for p in ranked["results"]]  # type: ignore[attr-defined]
    assert all(t["method"] == "osrm" for t in trips)
    durations = [t["duration_s"] for t in trips]
    assert durations == sorted(durations)
    for point in ranked["results"][:3]:  # type: ignore[index]
        route = on_monaco.get(
            "/v1/route", params={"from": "43.7396,7.4246", "to": str(point["id"])}
        ).json()
        assert route["duration_s"] == pytest.approx(point["travel"]["duration_s"], rel=0.02)
        assert route["distance_m"] == pytest.approx(point["travel"]["distance_m"], rel=0.02)


def test_k_of_the_candidates(on_monaco: TestClient, monaco_points: dict[str, int]) -> None:
    ranked = _nearest(on_monaco, k=2, rank="travel_time")
    # the 7th by distance is among the candidates (at least 3k of them) and wins
    assert ranked["count"] == 2 and _names(ranked)[0] == "exotique"
    assert ranked["ranking"]["candidates"] >= 6  # type: ignore[index]


def test_open_is_judged_on_arrival(on_monaco: TestClient, monaco_points: dict[str, int]) -> None:
    """At 16:28 every office is open; only the port (till 17:00) is still open when a
    citizen driving from the casino gets there: every trip takes over two minutes."""
    open_now = _nearest(on_monaco, k=8, open_now="true", at=MONDAY_1628)
    assert sorted(_names(open_now)) == sorted(PLACES)
    ranked = _nearest(on_monaco, k=8, open_now="true", at=MONDAY_1628, rank="travel_time")
    assert _names(ranked) == ["port"]
    (port,) = ranked["results"]  # type: ignore[misc]
    arrives = dt.datetime.fromisoformat(port["travel"]["arrives_at"])
    departs = dt.datetime.fromisoformat(ranked["ranking"]["departs_at"])  # type: ignore[index]
    assert (arrives - departs).total_seconds() == pytest.approx(port["travel"]["duration_s"], 0.01)
    assert port["travel"]["open_on_arrival"] is True and "arrival" in ranked["ranking"]["note"]  # type: ignore[index]
    # closed on arrival: the others, the opposite question
    closed = _nearest(on_monaco, k=8, open_now="false", at=MONDAY_1628, rank="travel_time")
    assert sorted(_names(closed)) == sorted(set(PLACES) - {"port"})
    # an hour earlier all are open on arrival, still in travel-time order
    early = _nearest(on_monaco, k=8, open_now="true", at="2026-11-23T15:28:00", rank="travel_time")
    assert len(_names(early)) == 8 and _names(early)[0] == "exotique"


def test_walking_takes_longer(on_monaco: TestClient, monaco_points: dict[str, int]) -> None:
    drive = _nearest(on_monaco, k=3, rank="travel_time")
    walk = _nearest(on_monaco, k=3, rank="travel_time", mode="walk")
    assert walk["ranking"]["mode"] == "walk"  # type: ignore[index]
    assert (
        walk["results"][0]["travel"]["duration_s"]  # type: ignore[index]
        > drive["results"][0]["travel"]["duration_s"]  # type: ignore[index]
    )


def test_points_the_roads_do_not_reach_rank_last(
    on_monaco: TestClient, monaco_points: dict[str, int]
) -> None:
    """Without the kind filter the candidates include Thai offices, 9,000 km from any
    Monaco road: estimated in a straight line, labelled, after every routed point."""
    r = on_monaco.get("/v1/points/nearest", params={**CASINO, "k": 20, "rank": "travel_time"})
    assert r.status_code == 200, r.text
    body = r.json()
    methods = [p["travel"]["method"] for p in body["results"]]
    assert methods[:8] == ["osrm"] * 8 and set(methods[8:]) == {"straight_line"}
    assert "ranked last" in body["ranking"]["note"]


def test_without_roads_it_is_a_labelled_distance_order(
    no_roads: TestClient, monaco_points: dict[str, int]
) -> None:
    ranked = _nearest(no_roads, k=8, rank="travel_time")
    by_distance = _nearest(no_roads, k=8)
    assert ranked["ranking"]["method"] == "straight_line"  # type: ignore[index]
    assert "no road network" in ranked["ranking"]["estimate_reason"]  # type: ignore[index]
    assert ranked["ranking"]["estimate_code"] == "no_network"  # type: ignore[index]
    assert _names(ranked) == _names(by_distance)
    assert {p["travel"]["method"] for p in ranked["results"]} == {"straight_line"}  # type: ignore[attr-defined]


def test_bangkok_before_thai_roads_are_imported(on_monaco: TestClient) -> None:
    """The Thai registry with only Monaco imported: the origin is outside the network."""
    r = on_monaco.get(
        "/v1/points/nearest", params={"lat": 13.7466, "lon": 100.5347, "rank": "travel_time"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ranking"]["method"] == "straight_line" and body["count"] == 10
    assert "covers the origin" in body["ranking"]["estimate_reason"]
    assert body["ranking"]["estimate_code"] == "outside_network"


def test_an_origin_far_from_a_road_keeps_the_distance_order(
    on_monaco: TestClient, monaco_points: dict[str, int]
) -> None:
    """In the sea off Monaco: no trip can start there, but the search still answers."""
    r = on_monaco.get(
        "/v1/points/nearest",
        params={"lat": 43.7280, "lon": 7.4420, "kind": KIND, "k": 8, "rank": "travel_time"},
    )
    assert r.status_code == 200, r.text
    ranking = r.json()["ranking"]
    assert ranking["method"] == "straight_line" and ranking["estimate_code"] == "far_from_road"
    assert 500 < ranking["origin_snap_distance_m"] < 5000
    assert (
        f"{ranking['origin_snap_distance_m']:.0f} m from the nearest road"
        in (ranking["estimate_reason"])
    )


def test_an_engine_that_is_down_leaves_the_distance_order_labelled(
    client: TestClient, monaco_roads: Settings, monaco_points: dict[str, int]
) -> None:
    """The citizen page ranks by travel time: the search must not fail with the engine."""
    dead = monaco_roads.model_copy(update={"osrm_port": free_port_pair()})
    api = with_settings(client, dead)
    ranked = _nearest(api, k=8, rank="travel_time")
    assert ranked["ranking"]["method"] == "straight_line"  # type: ignore[index]
    assert "does not answer" in ranked["ranking"]["estimate_reason"]  # type: ignore[index]
    assert ranked["ranking"]["estimate_code"] == "engine_unavailable"  # type: ignore[index]
    assert _names(ranked) == _names(_nearest(api, k=8))


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"radius_m": 1000, "rank": "travel_time"}, "give k"),
        ({"rank": "time"}, "rank"),
        ({"rank": "travel_time", "mode": "fly"}, "mode"),
    ],
)
def test_mistakes(on_monaco: TestClient, params: dict[str, object], says: str) -> None:
    r = on_monaco.get("/v1/points/nearest", params={**CASINO, **params})
    assert r.status_code == 422, r.text
    assert says in r.text
