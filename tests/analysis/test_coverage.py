"""Coverage gaps as an analyst meets them (``locator.analysis.coverage``), against the session's
database with the demo registry: distances checked against PostGIS by brute force, the
no-copy subset, aggregation sums, greedy siting, and travel times on Monaco's real roads
checked against an independent Dijkstra over ``road_edge``."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pytest
from sqlalchemy import Connection, Engine, text

from locator import geo
from locator.analysis import coverage as cv
from locator.errors import InvalidInput
from locator.query.filters import PointFilter
from locator.settings import Settings, get_settings

RARE = "passport_issue"  # 24 offices in the demo registry
COMMON = "vaccination"  # about 10,800


@pytest.fixture(scope="module")
def rare(engine: Engine) -> cv.CoverageResult:
    with engine.connect() as conn:
        return cv.coverage(conn, get_settings(), PointFilter(service=RARE))


def test_a_rare_service_leaves_big_gaps_and_distances_match_postgis(
    rare: cv.CoverageResult, connection: Connection
) -> None:
    units = rare.units
    assert rare.mode == "distance" and rare.thresholds == [5.0, 10.0, 20.0]
    assert 10 <= rare.points <= 30
    assert len(units) > 7000 and (units["population"] > 0).all()
    assert units.crs is not None and units.crs.to_epsg() == 4326
    for column in ("code", "name_th", "name_en", "district_code", "province_code",
                   "distance_m", "nearest_point_id", "travel_s", "beyond_5", "beyond_10",
                   "beyond_20"):  # fmt: skip
        assert column in units.columns
    assert units["travel_s"].isna().all()
    s = cv.summary(rare)
    by_t = {b["threshold"]: b for b in s["beyond"]}
    # two dozen passport offices: most people live more than 20 km from one
    assert by_t[20.0]["share"] > 0.5
    assert by_t[5.0]["people"] >= by_t[10.0]["people"] >= by_t[20.0]["people"]
    assert s["population"] == int(units["population"].sum())
    # brute force: ST_Distance (spheroid) from a sample of tambons to every selected point
    sample = units.sample(40, random_state=13)
    for row in sample.itertuples():
        nearest = connection.execute(
            text(
                "SELECT p.id, ST_Distance(o.geog, ST_SetSRID(ST_MakePoint(:lon, :lat), "
                "4326)::geography) AS d FROM offering o JOIN service_point p ON p.id = "
                "o.point_id WHERE o.service_code = :s AND p.status = 'active' "
                "ORDER BY d LIMIT 1"
            ),
            {"lon": row.geometry.x, "lat": row.geometry.y, "s": RARE},
        ).one()
        assert row.distance_m == pytest.approx(nearest.d, abs=0.5)
        assert row.nearest_point_id == nearest.id
        assert row.beyond_10 == (nearest.d > 10_000)


def test_tambon_points_lie_in_their_tambon(rare: cv.CoverageResult, connection: Connection) -> None:
    sample = rare.units.sample(30, random_state=1)
    for row in sample.itertuples():
        inside = connection.execute(
            text(
                "SELECT ST_Contains(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) "
                "FROM admin_area WHERE code = :code"
            ),
            {"lon": row.geometry.x, "lat": row.geometry.y, "code": row.code},
        ).scalar_one()
        assert inside, row.code


def test_no_copy_selects_a_subset_so_gaps_only_grow(
    rare: cv.CoverageResult, engine: Engine
) -> None:
    with engine.connect() as conn:
        strict = cv.coverage(conn, get_settings(), PointFilter(service=RARE, no_copy=True))
    assert strict.no_copy and strict.points < rare.points
    plain, only = cv.summary(rare)["beyond"], cv.summary(strict)["beyond"]
    for a, b in zip(plain, only, strict=True):
        assert b["share"] >= a["share"]
    assert (strict.units["distance_m"].to_numpy() >= rare.units["distance_m"].to_numpy()).all()


def test_a_common_service_and_any_service_cover_almost_everyone(engine: Engine) -> None:
    with engine.connect() as conn:
        common = cv.coverage(conn, get_settings(), PointFilter(service=COMMON))
        anything = cv.coverage(conn, get_settings(), PointFilter())
    assert common.points > 5000 and anything.points > common.points
    assert cv.summary(common)["beyond"][-1]["share"] < 0.01
    assert (anything.units["distance_m"] <= common.units["distance_m"] + 1e-6).all()
    assert anything.service is None


def test_aggregation_adds_up(rare: cv.CoverageResult, connection: Connection) -> None:
    units = rare.units
    provinces = cv.aggregate(rare, "province")
    districts = cv.aggregate(rare, "district")
    tambons = cv.aggregate(rare, "tambon")
    assert len(provinces) == 77 and len(tambons) == len(units)
    assert provinces["population"].sum() == districts["population"].sum() == rare.population
    for t in rare.thresholds:
        col = f"population_beyond_{t:g}"
        assert provinces[col].sum() == districts[col].sum() == tambons[col].sum()
        assert (
            provinces[col].sum() == cv.summary(rare)["beyond"][rare.thresholds.index(t)]["people"]
        )
        share = provinces[f"share_beyond_{t:g}"]
        assert ((share >= 0) & (share <= 1)).all()
    # one province by hand: its population is the sum of its tambons in the result
    bangkok = provinces.set_index("code").loc["10"]
    mine = units[units["province_code"] == "10"]
    assert bangkok["population"] == mine["population"].sum()
    assert bangkok["units"] == len(mine)
    assert bangkok["max_distance_m"] == pytest.approx(mine["distance_m"].max())
    assert bangkok["name_en"] == "Bangkok" and bangkok["name_th"] == "กรุงเทพมหานคร"
    # the same areas as admin_area holds, with their polygons on request
    with_polygons = cv.aggregate(rare, "province", db=connection, with_polygons=True)
    assert set(with_polygons.geom_type) <= {"MultiPolygon", "Polygon"}
    assert with_polygons.crs is not None and with_polygons.crs.to_epsg() == 4326
    assert set(provinces.geom_type) == {"Point"}


def test_worst_units_are_the_most_people_beyond(rare: cv.CoverageResult) -> None:
    worst = cv.worst_units(rare, n=10)
    assert len(worst) == 10
    people = np.where(worst["beyond_20"], worst["population"], 0)
    assert list(people) == sorted(people, reverse=True)
    beyond = rare.units[rare.units["beyond_20"]]
    assert people[0] == beyond["population"].max()


def test_siting_closes_gaps_greedily(rare: cv.CoverageResult) -> None:
    sites = cv.suggest_sites(rare, k=5)
    assert sites.threshold == 20.0 and sites.population == rare.population
    s = sites.sites
    assert list(s["order"]) == [1, 2, 3, 4, 5]
    gained = list(s["people_gained"])
    assert gained == sorted(gained, reverse=True) and gained[0] > 0
    uncovered = sites.population - sites.covered_before
    assert sites.covered_after - sites.covered_before == sum(gained) <= uncovered
    assert sites.covered_before == rare.population - cv.summary(rare)["beyond"][-1]["people"]
    # the first site gains exactly the uncovered people within 20 km of it
    first = s.iloc[0].geometry
    units = rare.units
    d = geo.distances_m(
        np.full(len(units), first.x), np.full(len(units), first.y),
        units.geometry.x.to_numpy(), units.geometry.y.to_numpy(),
    )  # fmt: skip
    mask = (d <= 20_000) & units["beyond_20"].to_numpy()
    assert gained[0] == int(units["population"].to_numpy()[mask].sum())
    # and no candidate would have gained more
    bigger = cv.suggest_sites(rare, k=1, threshold=20)
    assert bigger.sites.iloc[0]["code"] == s.iloc[0]["code"]
    assert set(s.columns) >= {"order", "code", "name_th", "name_en", "people_gained"}


def test_siting_everyone_covered_is_no_site(engine: Engine) -> None:
    with engine.connect() as conn:
        anything = cv.coverage(conn, get_settings(), PointFilter(), thresholds=[50])
    sites = cv.suggest_sites(anything, k=3)
    assert len(sites.sites) == 0 and sites.covered_after == sites.covered_before


def test_no_matching_point_is_everyone_beyond(engine: Engine) -> None:
    with engine.connect() as conn:
        none = cv.coverage(conn, get_settings(), PointFilter(service=RARE, status="closed"))
    assert none.points == 0 and none.notes
    assert np.isinf(none.units["distance_m"]).all()
    assert cv.summary(none)["beyond"][0]["share"] == 1.0


def test_bad_arguments_say_what_to_fix(rare: cv.CoverageResult, engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValueError, match="thresholds"):
        cv.coverage(conn, get_settings(), PointFilter(service=RARE), thresholds=[0])
    with engine.connect() as conn, pytest.raises(InvalidInput, match="unknown service"):
        cv.coverage(conn, get_settings(), PointFilter(service="no_such_service"))
    with pytest.raises(ValueError, match="level"):
        cv.aggregate(rare, "village")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="with_polygons"):
        cv.aggregate(rare, "district", with_polygons=True)


# --- travel time on Monaco's real roads ---------------------------------------------------
def _edges(engine: Engine) -> dict[int, list[tuple[int, float]]]:
    """The drivable graph as adjacency lists, read straight from road_edge."""
    out: dict[int, list[tuple[int, float]]] = {}
    with engine.connect() as conn:
        for s, t, cost, reverse in conn.execute(
            text("SELECT source, target, cost, reverse_cost FROM road_edge")
        ):
            if cost >= 0:
                out.setdefault(int(s), []).append((int(t), float(cost)))
            if reverse >= 0:
                out.setdefault(int(t), []).append((int(s), float(reverse)))
    return out


def _dijkstra(adj: dict[int, list[tuple[int, float]]], start: int) -> dict[int, float]:
    """Textbook Dijkstra with a heap: the independent check."""
    best = {start: 0.0}
    heap = [(0.0, start)]
    while heap:
        d, v = heapq.heappop(heap)
        if d > best.get(v, math.inf):
            continue
        for w, c in adj.get(v, ()):
            nd = d + max(c, 1e-6)
            if nd < best.get(w, math.inf):
                best[w] = nd
                heapq.heappush(heap, (nd, w))
    return best


@pytest.fixture(scope="module")
def monaco_setup(
    monaco_roads: Settings, engine: Engine
) -> Iterator[tuple[Settings, list[int], gpd.GeoDataFrame, dict[int, list[tuple[int, float]]]]]:
    """Two committed passport offices on Monaco's road vertices, and synthetic units on
    other vertices of the main strongly connected part (plus one at sea); deleted again
    when the module ends."""
    adj = _edges(engine)
    reverse: dict[int, list[tuple[int, float]]] = {}
    for v, out in adj.items():
        for w, c in out:
            reverse.setdefault(w, []).append((v, c))
    with engine.connect() as conn:
        vertices = {
            int(i): (float(x), float(y))
            for i, x, y in conn.execute(text("SELECT id, ST_X(geom), ST_Y(geom) FROM road_vertex"))
        }
    # the strongly connected part holding the vertex nearest the casino
    casino = min(vertices, key=lambda v: math.dist(vertices[v], (7.4246, 43.7396)))
    core = sorted(set(_dijkstra(adj, casino)) & set(_dijkstra(reverse, casino)))
    assert len(core) > 1000
    rng = np.random.default_rng(13)
    picked = rng.choice(core, size=14, replace=False).tolist()
    offices, places = picked[:2], picked[2:]
    ids: list[int] = []
    with engine.begin() as conn:
        for n, v in enumerate(offices):
            lon, lat = vertices[v]
            point_id = conn.execute(
                text(
                    "INSERT INTO service_point (agency_id, kind, name_th, name_en, geog, "
                    "  address_en, source, opening_hours) "
                    "SELECT id, 'district_office', 'สำนักงานทดสอบความครอบคลุม', :name, "
                    "  ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, "
                    "  'Monaco', 'imported', '{}'::jsonb "
                    "FROM agency ORDER BY id LIMIT 1 RETURNING id"
                ),
                {"lon": lon, "lat": lat, "name": f"Coverage test office {n}"},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO offering (point_id, service_code, copies_required) "
                    "VALUES (:p, :s, '{}')"
                ),
                {"p": point_id, "s": RARE},
            )
            ids.append(int(point_id))
    xs = [vertices[v][0] for v in places] + [7.45]
    ys = [vertices[v][1] for v in places] + [43.70]  # the last one at sea, 3 km out
    units = gpd.GeoDataFrame(
        {
            "code": [f"MC{i:02d}" for i in range(len(xs))],
            "name_th": [f"หน่วยทดสอบ {i}" for i in range(len(xs))],
            "name_en": [f"Test unit {i}" for i in range(len(xs))],
            "district_code": ["MC1"] * len(xs),
            "province_code": ["MC"] * len(xs),
            "population": [1000 * (i + 1) for i in range(len(xs))],
            "vertex": [*places, -1],
        },
        geometry=gpd.points_from_xy(xs, ys),
        crs="EPSG:4326",
    )
    try:
        yield monaco_roads, offices, units, adj
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM service_point WHERE id = ANY(:ids)"), {"ids": ids})


def test_travel_times_match_an_independent_dijkstra(
    monaco_setup: tuple[Settings, list[int], gpd.GeoDataFrame, dict[int, list[tuple[int, float]]]],
    engine: Engine,
) -> None:
    settings, offices, units, adj = monaco_setup
    thresholds = [1, 3, 6]
    with engine.connect() as conn:
        result = cv.coverage(
            conn,
            settings,
            PointFilter(service=RARE),
            thresholds=thresholds,
            mode="travel_time",
            units=units.drop(columns="vertex"),
        )
    assert result.mode == "travel_time" and result.points >= 2 + 20  # the Thai ones too
    # the Thai offices lie off Monaco's network: said, and left out of travel times
    assert any("points are more than" in n for n in result.notes)
    assert any("1 of 13 units" in n for n in result.notes)
    got = result.units.set_index("code")
    limit = max(thresholds) * 60
    for row in units.itertuples():
        travel = got.loc[row.code, "travel_s"]
        if row.vertex < 0:
            assert math.isnan(travel)  # at sea: no road within the snap radius
            assert got.loc[row.code, "beyond_6"] is pd_na()
            continue
        reach = _dijkstra(adj, row.vertex)
        expected = min(reach.get(o, math.inf) for o in offices)
        if expected <= limit:
            assert travel == pytest.approx(expected, rel=1e-6, abs=1e-3)
        else:
            assert math.isinf(travel)
        for t in thresholds:
            assert bool(got.loc[row.code, f"beyond_{t}"]) == (expected > t * 60)
        # the distance is still the geodesic one, to the nearer office in a straight line
        assert got.loc[row.code, "distance_m"] < 5000
    finite = np.isfinite(result.units["travel_s"].to_numpy(dtype=float))
    assert finite.sum() >= 6  # most of Monaco's centre is within 6 minutes of an office
    s = cv.summary(result)
    assert s["beyond"][0]["people_unknown"] == int(units["population"].iloc[-1])
    sites = cv.suggest_sites(result, k=2)
    assert sites.covered_after >= sites.covered_before
    district = cv.aggregate(result, "tambon")
    assert district["population"].sum() == units["population"].sum()


def pd_na() -> object:
    import pandas as pd

    return pd.NA


def test_the_road_graph_is_read_once_per_process_and_import(
    monaco_setup: tuple[Settings, list[int], gpd.GeoDataFrame, dict[int, list[tuple[int, float]]]],
    engine: Engine,
) -> None:
    """Two travel-time runs share the graph in memory: a stamp that never matched made
    every run read the whole graph again (5 s on the 2M-vertex bench graph)."""
    with engine.connect() as conn:
        first = cv.road_graph(conn)
        again = cv.road_graph(conn)
    assert first is not None and again is first
