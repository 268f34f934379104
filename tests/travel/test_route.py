"""GET /v1/route as a citizen's app calls it: on the real Monaco roads through a running
OSRM engine, a labelled straight-line estimate where no imported network covers the
place (the Thai registry today), and clear errors for everything else."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.settings import Settings
from tests.support.api import with_settings
from tests.support.ports import free_port_pair

CASINO = "43.7396,7.4246"
PALACE = "43.7315,7.4206"


def test_a_route_on_real_roads(on_monaco: TestClient) -> None:
    r = on_monaco.get("/v1/route", params={"from": CASINO, "to": PALACE, "steps": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "osrm" and body["mode"] == "drive"
    line = body["geometry"]
    assert line["type"] == "LineString" and len(line["coordinates"]) > 10
    assert all(7.40 < lon < 7.45 and 43.72 < lat < 43.76 for lon, lat in line["coordinates"])
    # longer than the straight line (1 km), as roads are
    assert 1_000 < body["distance_m"] < 5_000 and body["duration_s"] > 60
    assert body["steps"][0]["instruction"] == "depart"
    assert body["steps"][-1]["instruction"].startswith("arrive")
    assert body["snap_distance_m"]["from"] < 50 and body["snap_distance_m"]["to"] < 50
    # where the engine joined each end to the road: the line's own ends
    assert body["snapped"]["from"] == pytest.approx(line["coordinates"][0], abs=1e-5)
    assert body["snapped"]["to"] == pytest.approx(line["coordinates"][-1], abs=1e-5)
    assert body["estimate"] is None


def test_walking_is_slower_than_driving(on_monaco: TestClient) -> None:
    drive = on_monaco.get("/v1/route", params={"from": CASINO, "to": PALACE}).json()
    walk = on_monaco.get("/v1/route", params={"from": CASINO, "to": PALACE, "mode": "walk"})
    assert walk.status_code == 200
    assert walk.json()["duration_s"] > 2 * drive["duration_s"]
    assert drive["steps"] == []  # only when asked


def test_an_end_far_from_a_road_is_refused_saying_how_far(on_monaco: TestClient) -> None:
    # in the sea off Monaco, 1-2 km from the nearest road: inside the network's reach
    # (5 km), beyond the snap radius (500 m)
    r = on_monaco.get("/v1/route", params={"from": "43.7280,7.4420", "to": PALACE})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["message"].startswith("from: the nearest road is")
    assert error["details"]["snap_distance_m"] > 500


def test_a_place_outside_the_network_gets_a_labelled_estimate(
    on_monaco: TestClient, session: Session
) -> None:
    point_id, lat, lon = session.execute(
        text("SELECT id, ST_Y(geog::geometry), ST_X(geog::geometry) FROM service_point LIMIT 1")
    ).one()
    r = on_monaco.get("/v1/route", params={"from": "13.7466,100.5347", "to": str(point_id)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "straight_line"
    assert "no imported road network covers" in body["estimate"]["reason"]
    assert body["destination_point_id"] == point_id
    assert body["geometry"]["coordinates"][-1] == [pytest.approx(lon), pytest.approx(lat)]
    assert body["snapped"] == {
        "from": [100.5347, 13.7466],
        "to": body["geometry"]["coordinates"][-1],
    }


def test_without_any_network_every_route_is_an_estimate(no_roads: TestClient) -> None:
    r = no_roads.get("/v1/route", params={"from": "13.7466,100.5347", "to": "13.7563,100.5018"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "straight_line"
    assert body["estimate"]["reason"] == "no road network is imported"
    # about 3.7 km as the crow flies, at 40 km/h
    assert 3_500 < body["distance_m"] < 3_900
    assert body["duration_s"] == pytest.approx(body["distance_m"] / (40 / 3.6), rel=0.01)


def test_an_engine_that_is_down_is_a_503(client: TestClient, monaco_roads: Settings) -> None:
    # the network is imported, but nothing listens on these ports
    dead = monaco_roads.model_copy(update={"osrm_port": free_port_pair()})
    r = with_settings(client, dead).get("/v1/route", params={"from": CASINO, "to": PALACE})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "routing_unavailable"
    assert "Retry-After" in r.headers


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"from": "13.7,100.5", "to": "999999999"}, 404, "no service point"),
        ({"from": "north", "to": "1"}, 422, "from: 'north' is not lat,lon"),
        ({"from": "100.5,13.7", "to": "1"}, 422, "latitude is -90..90"),
        ({"from": "13.7,100.5", "to": "nan,1"}, 422, "is not lat,lon or a point id"),
        ({"from": "12345", "to": "1"}, 422, "from: give lat,lon"),
        ({"from": "13.7,100.5", "to": "1", "mode": "fly"}, 422, "mode"),
        ({"to": "1"}, 422, "from"),
        ({"from": "13.7,100.5", "to": "1", "colour": "red"}, 422, "colour"),
    ],
)
def test_mistakes_are_clear(
    no_roads: TestClient, params: dict[str, str], status: int, says: str
) -> None:
    r = no_roads.get("/v1/route", params=params)
    assert r.status_code == status, r.text
    assert says in r.text
