"""GET /v1/isochrone as a client calls it, on the real Monaco roads imported into the
session's database: the reach by car and on foot as a GeoJSON polygon, a labelled circle
where no imported network covers the place, and clear errors for everything else."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point, shape
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from locator.api.schemas import IsochroneResponse
from locator.geo import GEOD
from locator.settings import Settings
from locator.travel import isochrone, roads
from tests.support.places import LIECHTENSTEIN, MONACO

CASINO = {"lat": 43.7396, "lon": 7.4246}
PALACE = {"lat": 43.7315, "lon": 7.4206}


def get(client: TestClient, **params: object) -> dict:
    r = client.get("/v1/isochrone", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    IsochroneResponse.model_validate(body)
    return body


def polygon(body: dict) -> shapely.Polygon:
    area = shape(body["geometry"])
    assert isinstance(area, shapely.Polygon)
    return area


def test_the_reach_by_car_is_a_valid_polygon_around_the_origin(on_monaco: TestClient) -> None:
    body = get(on_monaco, **CASINO, minutes=5)
    assert body["type"] == "Feature"
    props = body["properties"]
    assert props["method"] == "road_graph" and props["mode"] == "drive"
    assert props["minutes"] == 5 and props["estimate"] is None
    assert props["snap_distance_m"] < 20 and props["reached_vertices"] > 500
    area = polygon(body)
    assert area.is_valid and area.exterior.is_ccw
    assert area.contains(Point(CASINO["lon"], CASINO["lat"]))
    assert area.contains(Point(PALACE["lon"], PALACE["lat"]))  # 2.5 km by road
    # Monaco and its neighbours' streets, not a disc: well under the convex hull of
    # 5 minutes at 50 km/h
    assert 1 < props["area_km2"] < 20
    assert all(7.3 < lon < 7.6 and 43.6 < lat < 43.9 for lon, lat in area.exterior.coords)


@pytest.mark.parametrize("mode", ["drive", "walk"])
def test_more_minutes_reach_farther_and_hold_the_nearer_reach(
    on_monaco: TestClient, mode: str
) -> None:
    near = polygon(get(on_monaco, **CASINO, minutes=5, mode=mode))
    far = polygon(get(on_monaco, **CASINO, minutes=10, mode=mode))
    assert far.area > 1.5 * near.area
    assert near.difference(far).area <= 0.01 * near.area


def test_walking_reaches_less_than_driving(on_monaco: TestClient) -> None:
    walk = get(on_monaco, **CASINO, minutes=10, mode="walk")
    drive = get(on_monaco, **CASINO, minutes=10, mode="drive")
    assert walk["properties"]["mode"] == "walk"
    assert 0.1 < walk["properties"]["area_km2"] < drive["properties"]["area_km2"] / 5
    # ten minutes on foot: about 800 m, so the palace (1 km away) is out of reach
    area = polygon(walk)
    assert area.contains(Point(CASINO["lon"], CASINO["lat"]))
    assert not area.contains(Point(PALACE["lon"], PALACE["lat"]))


def test_every_vertex_dijkstra_reaches_lies_inside(on_monaco: TestClient, engine: Engine) -> None:
    """An independent Dijkstra over road_edge.walk_cost from the nearest walkable road:
    the same vertices reached, all of them inside the polygon."""
    minutes = 8
    body = get(on_monaco, **CASINO, minutes=minutes, mode="walk")
    with engine.connect() as conn:
        edges = conn.execute(
            text("SELECT source, target, walk_cost FROM road_edge WHERE walk_cost >= 0")
        ).all()
        vertices = {
            v: wkt for v, wkt in conn.execute(text("SELECT id, ST_AsText(geom) FROM road_vertex"))
        }
        source, target, cost, fraction = conn.execute(
            text(
                "SELECT source, target, walk_cost, ST_LineLocatePoint(geom, p) FROM road_edge, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS p WHERE walk_cost >= 0 "
                "ORDER BY ST_Distance(geom::geography, p::geography) LIMIT 1"
            ),
            CASINO,
        ).one()
    n = max(vertices) + 1
    fastest: dict[tuple[int, int], float] = {}
    for a, b, w in edges:  # of two ways between the same junctions, the faster
        for pair in ((a, b), (b, a)):
            fastest[pair] = min(w, fastest.get(pair, np.inf))
    (rows, cols), costs = zip(*fastest, strict=True), list(fastest.values())
    graph = csr_matrix((costs, (rows, cols)), shape=(n, n))
    times = dijkstra(graph, directed=True, indices=[source, target], limit=minutes * 60)
    best = np.minimum(times[0] + fraction * cost, times[1] + (1 - fraction) * cost)
    reached = np.flatnonzero(best <= minutes * 60)
    assert len(reached) == body["properties"]["reached_vertices"] > 100
    area = polygon(body)
    points = shapely.from_wkt([vertices[int(v)] for v in reached])
    inside = shapely.contains(area, points)
    assert inside.all(), f"{(~inside).sum()} of {len(reached)} reached vertices outside"


def test_a_place_far_from_any_road_is_refused_saying_how_far(on_monaco: TestClient) -> None:
    # in the sea off Monaco, 1-2 km from the nearest road: inside the network's reach
    # (5 km), beyond the snap radius (500 m)
    r = on_monaco.get("/v1/isochrone", params={"lat": 43.7280, "lon": 7.4420, "minutes": 10})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["message"].startswith("lat, lon: the nearest road is")
    assert error["details"]["snap_distance_m"] > 500
    assert error["details"]["max_snap_distance_m"] == 500


def test_a_place_outside_the_network_gets_a_labelled_circle(on_monaco: TestClient) -> None:
    body = get(on_monaco, lat=13.7466, lon=100.5347, minutes=15, mode="walk")
    props = body["properties"]
    assert props["method"] == "straight_line" and props["reached_vertices"] == 0
    assert "no imported road network covers this place" in props["estimate"]["reason"]
    assert props["estimate"]["assumed_speed_kmh"] == 5
    assert props["estimate"]["radius_m"] == pytest.approx(1250)
    area = polygon(body)
    assert area.is_valid and area.contains(Point(100.5347, 13.7466))
    assert props["area_km2"] == pytest.approx(np.pi * 1.25**2, rel=0.01)


def test_without_any_network_every_isochrone_is_a_circle(
    on_monaco: TestClient, session: Session
) -> None:
    # the graph emptied inside this test's transaction (rolled back after): the stamp
    # changes with it, so the graph held in memory is not used
    session.execute(text("TRUNCATE road_edge, road_vertex"))
    started = time.perf_counter()
    body = get(on_monaco, **CASINO, minutes=30)
    assert time.perf_counter() - started < 2
    props = body["properties"]
    assert props["method"] == "straight_line"
    assert props["estimate"]["reason"] == "no road network is imported"
    assert props["estimate"]["radius_m"] == pytest.approx(20_000)  # 30 min at 40 km/h
    assert polygon(body).contains(Point(CASINO["lon"], CASINO["lat"]))


def test_a_network_imported_before_walking_says_to_import_it_again(
    on_monaco: TestClient, session: Session
) -> None:
    session.execute(text("UPDATE road_edge SET walk_cost = -1"))
    props = get(on_monaco, **CASINO, minutes=10, mode="walk")["properties"]
    assert props["method"] == "straight_line"
    assert "locator roads import" in props["estimate"]["reason"]


def test_near_a_pole_the_circle_is_still_a_polygon(client: TestClient) -> None:
    body = get(client, lat=89.9, lon=170, minutes=60)
    assert polygon(body).is_valid
    assert body["properties"]["method"] == "straight_line"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"lon": 7.42, "minutes": 10}, "lat"),
        ({"lat": 91, "lon": 7.42, "minutes": 10}, "lat"),
        ({"lat": 43.7, "lon": 181, "minutes": 10}, "lon"),
        ({"lat": 43.7, "lon": 7.42}, "minutes"),
        ({"lat": 43.7, "lon": 7.42, "minutes": 0}, "minutes"),
        ({"lat": 43.7, "lon": 7.42, "minutes": 61}, "minutes"),
        ({"lat": 43.7, "lon": 7.42, "minutes": "nan"}, "minutes"),
        ({"lat": "nan", "lon": 7.42, "minutes": 5}, "lat"),
        ({"lat": 43.7, "lon": 7.42, "minutes": "a while"}, "minutes"),
        ({"lat": 43.7, "lon": 7.42, "minutes": 5, "mode": "fly"}, "mode"),
        ({"lat": 43.7, "lon": 7.42, "minutes": 5, "colour": "red"}, "colour"),
    ],
)
def test_mistakes_are_clear(client: TestClient, params: dict[str, object], says: str) -> None:
    r = client.get("/v1/isochrone", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert says in r.json()["error"]["message"]


def test_an_isochrone_is_quick_once_the_graph_is_read(
    monaco_roads: Settings, engine: Engine
) -> None:
    with engine.connect() as conn:
        isochrone.isochrone(monaco_roads, conn, CASINO["lat"], CASINO["lon"], 15, "drive")
        started = time.perf_counter()
        for _ in range(10):
            isochrone.isochrone(monaco_roads, conn, CASINO["lat"], CASINO["lon"], 15, "drive")
        each_ms = (time.perf_counter() - started) * 100
    print(f"a 15-minute drive isochrone on Monaco: {each_ms:.1f} ms")
    assert each_ms < 250


def test_isochrones_at_the_same_time_do_not_mix(monaco_roads: Settings, engine: Engine) -> None:
    """Each computation has a virtual origin of its own in the shared matrix."""
    places = [(CASINO["lat"], CASINO["lon"]), (PALACE["lat"], PALACE["lon"])]
    jobs = [(lat, lon, minutes) for lat, lon in places for minutes in (3, 6, 9)] * 3

    def area(job: tuple[float, float, int]) -> float:
        with engine.connect() as conn:
            body = isochrone.isochrone(monaco_roads, conn, *job, "walk")
        return float(body["properties"]["area_km2"])

    alone = [area(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(area, jobs))
    assert together == alone


def test_a_new_import_is_seen_by_the_next_isochrone(monaco_roads: Settings, engine: Engine) -> None:
    """The graph held in memory is not served after another import in the same process
    (last in this module: it leaves Monaco imported again)."""

    def method(lat: float, lon: float) -> str:
        with engine.connect() as conn:
            body = isochrone.isochrone(monaco_roads, conn, lat, lon, 10, "walk")
        return str(body["properties"]["method"])

    assert method(CASINO["lat"], CASINO["lon"]) == "road_graph"
    try:
        roads.import_graph(engine, LIECHTENSTEIN, monaco_roads)
        assert method(CASINO["lat"], CASINO["lon"]) == "straight_line"
        assert method(47.1410, 9.5209) == "road_graph"  # Vaduz
    finally:
        roads.import_graph(engine, MONACO, monaco_roads)
    assert method(CASINO["lat"], CASINO["lon"]) == "road_graph"


@pytest.mark.parametrize(
    ("lat", "lon"), [(0.0, 179.9), (-16.5, -179.95), (65.0, 180.0), (89.9, 170.0), (-89.95, -60.0)]
)
def test_every_area_is_valid_geojson_near_the_antimeridian_and_the_poles(
    client: TestClient, lat: float, lon: float
) -> None:
    """RFC 7946: longitudes within -180..180, an area across the antimeridian cut there
    (issue 20, item 11); the parts are the whole circle, the origin inside."""
    body = get(client, lat=lat, lon=lon, minutes=60)
    coordinates = shapely.get_coordinates(shape(body["geometry"]))
    assert (np.abs(coordinates[:, 0]) <= 180).all() and (np.abs(coordinates[:, 1]) <= 90).all()
    area = shape(body["geometry"])
    assert area.is_valid and area.intersects(Point(lon, lat))
    on_spheroid = abs(GEOD.geometry_area_perimeter(area)[0]) / 1e6
    assert on_spheroid == pytest.approx(body["properties"]["area_km2"], rel=0.02)
